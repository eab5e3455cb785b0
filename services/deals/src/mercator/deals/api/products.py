"""Routes of the product catalogue and its groups."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from mercator.common.http.deps import CurrentUser, SessionDep, UowDep
from mercator.common.pagination import Page
from mercator.common.versions import etag, expected_version
from mercator.deals import products, schemas
from mercator.deals.api.deps import IfMatch, Limit
from mercator.deals.tables import Product

router = APIRouter()


@router.get("/product-groups", response_model=list[schemas.ProductGroupPublic], tags=["products"])
async def list_groups(session: SessionDep, _: CurrentUser):
    return await products.list_groups(session)


@router.post("/product-groups", status_code=201, response_model=schemas.ProductGroupPublic, tags=["products"])
async def add_group(body: schemas.ProductGroupCreate, uow: UowDep, caller: CurrentUser):
    return await products.add_group(uow, body, caller)


@router.get("/products", response_model=Page[schemas.ProductPublic], tags=["products"])
async def list_products(
    session: SessionDep,
    _: CurrentUser,
    limit: Limit = 50,
    cursor: str | None = None,
    group_id: uuid.UUID | None = None,
    include_inactive: bool = False,
):
    """The catalogue by code; a group includes its subgroups."""
    rows, nxt = await products.list_products(
        session, group_id=group_id, include_inactive=include_inactive, limit=limit, cursor=cursor
    )
    return Page(items=[schemas.ProductPublic.model_validate(r, from_attributes=True) for r in rows], next_cursor=nxt)


@router.post("/products", status_code=201, response_model=schemas.ProductPublic, tags=["products"])
async def create_product(body: schemas.ProductCreate, uow: UowDep, caller: CurrentUser, response: Response):
    row: Product = await products.create_product(uow, body, caller)
    response.headers["ETag"] = etag(row.version)
    return schemas.ProductPublic.model_validate(row, from_attributes=True)


@router.patch("/products/{product_id}", response_model=schemas.ProductPublic, tags=["products"])
async def update_product(
    product_id: uuid.UUID,
    body: schemas.ProductUpdate,
    uow: UowDep,
    caller: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
):
    row = await products.update_product(uow, product_id, body, expected_version(if_match, required=False), caller)
    response.headers["ETag"] = etag(row.version)
    return schemas.ProductPublic.model_validate(row, from_attributes=True)
