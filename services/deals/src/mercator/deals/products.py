"""The product catalogue and its groups: what deal lines are made of; every change is published."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.changes import apply_changes
from mercator.common.clock import now
from mercator.common.errors import BadReference, NotFound
from mercator.common.events import catalogue as ev
from mercator.common.money import check_currency, parse_amount
from mercator.common.pagination import keyset_page
from mercator.common.uow import UnitOfWork
from mercator.common.versions import check_version
from mercator.deals import schemas
from mercator.deals.policy import may_edit_settings
from mercator.deals.tables import Product, ProductGroup


async def list_groups(session: AsyncSession) -> list[ProductGroup]:
    return list((await session.execute(select(ProductGroup).order_by(ProductGroup.name))).scalars())


async def _group(session: AsyncSession, group_id: uuid.UUID | None, field: str) -> ProductGroup | None:
    if group_id is None:
        return None
    group = await session.get(ProductGroup, group_id)
    if group is None:
        raise BadReference(f"there is no product group {group_id}", field=field)
    return group


async def add_group(uow: UnitOfWork, data: schemas.ProductGroupCreate, caller: Caller) -> ProductGroup:
    may_edit_settings(caller)
    await _group(uow.session, data.parent_id, "parent_id")
    row = ProductGroup(id=uuid.uuid4(), name=data.name, parent_id=data.parent_id)
    uow.session.add(row)
    return row


async def _subgroups(session: AsyncSession, group_id: uuid.UUID) -> set[uuid.UUID]:
    """A group and all the groups under it."""
    groups = frontier = {group_id}
    while frontier:
        below = select(ProductGroup.id).where(ProductGroup.parent_id.in_(frontier))
        frontier = set((await session.execute(below)).scalars()) - groups
        groups = groups | frontier
    return groups


async def list_products(
    session: AsyncSession, *, group_id: uuid.UUID | None, include_inactive: bool, limit: int, cursor: str | None
) -> tuple[list[Product], str | None]:
    stmt = select(Product)
    if group_id is not None:  # a group's products include those of its subgroups
        stmt = stmt.where(Product.group_id.in_(await _subgroups(session, group_id)))
    if not include_inactive:
        stmt = stmt.where(Product.active.is_(True))
    return await keyset_page(session, stmt, (Product.code, Product.id), limit, cursor)


def _card(row: Product, group: ProductGroup | None) -> dict[str, Any]:
    return dict(
        product_id=row.id,
        code=row.code,
        name=row.name,
        group_id=row.group_id,
        group_name=group.name if group else None,
        unit=row.unit,
        list_price=row.list_price,
        currency=row.currency,
        active=row.active,
    )


async def create_product(uow: UnitOfWork, data: schemas.ProductCreate, caller: Caller) -> Product:
    may_edit_settings(caller)
    s = uow.session
    group = await _group(s, data.group_id, "group_id")
    if await s.scalar(select(Product.id).where(Product.code == data.code)):
        raise BadReference(f"a product with code {data.code!r} exists already", field="code")
    currency = check_currency(data.currency)
    at = now()
    row = Product(
        id=uuid.uuid4(),
        code=data.code,
        name=data.name,
        group_id=data.group_id,
        unit=data.unit,
        list_price=parse_amount(data.list_price, currency, "list_price"),
        currency=currency,
        active=True,
        version=1,
        created_at=at,
        updated_at=at,
    )
    s.add(row)
    uow.emit(ev.ProductCreated(**_card(row, group)), subject=row.id, sequence=1)
    return row


async def update_product(
    uow: UnitOfWork, product_id: uuid.UUID, data: schemas.ProductUpdate, expected_version: int | None, caller: Caller
) -> Product:
    may_edit_settings(caller)
    s = uow.session
    row = await s.get(Product, product_id)
    if row is None:
        raise NotFound(f"no product {product_id}")
    check_version(row, expected_version, "product")
    changes = {f: getattr(data, f) for f in data.model_fields_set}
    if changes.get("group_id") is not None:
        await _group(s, changes["group_id"], "group_id")
    currency = check_currency(changes.get("currency") or row.currency)
    if "list_price" in changes or "currency" in changes:
        changes["list_price"] = parse_amount(changes.get("list_price", row.list_price), currency, "list_price")
        changes["currency"] = currency
    for required in ("name", "unit", "list_price", "currency", "active"):
        if required in changes and changes[required] is None:
            raise BadReference(f"a product must have a {required}", field=required)
    changed = apply_changes(row, dict(sorted(changes.items())))
    if changed:
        group = await s.get(ProductGroup, row.group_id) if row.group_id else None
        uow.emit(ev.ProductUpdated(**_card(row, group), changed=changed), subject=row.id, sequence=row.version)
    return row
