"""HTTP routes of the admin: users, departments and partner API keys (and `/people`, who is who, for everyone)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from mercator.common.http.deps import SessionDep, UowDep
from mercator.common.pagination import Page
from mercator.common.versions import etag, expected_version
from mercator.gateway import api_keys, departments, schemas, users
from mercator.gateway.auth_api import AdminDep, AuditedRoute, PrincipalDep
from mercator.gateway.tables import ApiKey, Department, User

router = APIRouter(prefix="/api/v1", route_class=AuditedRoute)
IfMatch = Annotated[str | None, Header(alias="If-Match")]
Limit = Annotated[int, Query(ge=1, le=200)]


# --- users -------------------------------------------------------------------------------------------


def _user(row: User, response: Response | None = None) -> schemas.UserPublic:
    if response is not None:
        response.headers["ETag"] = etag(row.version)
    return schemas.UserPublic.model_validate(row, from_attributes=True)


@router.post("/users", status_code=201, response_model=schemas.UserPublic, tags=["users"])
async def create_user(_: AdminDep, body: schemas.UserCreate, uow: UowDep, response: Response):
    row = await users.create_user(uow, body)
    response.headers["Location"] = f"/api/v1/users/{row.id}"
    return _user(row, response)


@router.get("/users", response_model=Page[schemas.UserPublic], tags=["users"])
async def list_users(
    _: AdminDep,
    session: SessionDep,
    limit: Limit = 50,
    cursor: str | None = None,
    department_id: uuid.UUID | None = None,
    active: bool | None = None,
):
    """By e-mail."""
    rows, nxt = await users.list_users(session, department_id=department_id, active=active, limit=limit, cursor=cursor)
    return Page(items=[_user(r) for r in rows], next_cursor=nxt)


@router.get("/people", response_model=Page[schemas.ColleaguePublic], tags=["users"])
async def list_people(
    _: PrincipalDep, session: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 200, cursor: str | None = None
):
    """Who is who, for every signed-in caller: id, name and department of each user (also those who left,
    who still own old deals), by name. No e-mails or roles: those are the admin's `/users`."""
    rows, nxt = await users.list_people(session, limit=limit, cursor=cursor)
    return Page(items=[schemas.ColleaguePublic.model_validate(r, from_attributes=True) for r in rows], next_cursor=nxt)


@router.get("/users/{user_id}", response_model=schemas.UserPublic, tags=["users"])
async def get_user(_: AdminDep, user_id: uuid.UUID, session: SessionDep, response: Response):
    return _user(await users.get_user(session, user_id), response)


@router.patch("/users/{user_id}", response_model=schemas.UserPublic, tags=["users"])
async def update_user(
    _: AdminDep, user_id: uuid.UUID, body: schemas.UserUpdate, uow: UowDep, response: Response, if_match: IfMatch = None
):
    """Change a user; a new password or `active: false` ends all their sessions."""
    return _user(await users.update_user(uow, user_id, body, expected_version(if_match)), response)


# --- departments --------------------------------------------------------------------------------------


def _department(row: Department, response: Response | None = None) -> schemas.DepartmentPublic:
    if response is not None:
        response.headers["ETag"] = etag(row.version)
    return schemas.DepartmentPublic.model_validate(row, from_attributes=True)


@router.post("/departments", status_code=201, response_model=schemas.DepartmentPublic, tags=["departments"])
async def create_department(_: AdminDep, body: schemas.DepartmentCreate, uow: UowDep, response: Response):
    row = await departments.create_department(uow, body)
    response.headers["Location"] = f"/api/v1/departments/{row.id}"
    return _department(row, response)


@router.get("/departments", response_model=Page[schemas.DepartmentPublic], tags=["departments"])
async def list_departments(
    _: AdminDep, session: SessionDep, limit: Limit = 50, cursor: str | None = None, include_inactive: bool = False
):
    """By name."""
    rows, nxt = await departments.list_departments(
        session, include_inactive=include_inactive, limit=limit, cursor=cursor
    )
    return Page(items=[_department(r) for r in rows], next_cursor=nxt)


@router.get("/departments/{department_id}", response_model=schemas.DepartmentPublic, tags=["departments"])
async def get_department(_: AdminDep, department_id: uuid.UUID, session: SessionDep, response: Response):
    return _department(await departments.get_department(session, department_id), response)


@router.patch("/departments/{department_id}", response_model=schemas.DepartmentPublic, tags=["departments"])
async def update_department(
    _: AdminDep,
    department_id: uuid.UUID,
    body: schemas.DepartmentUpdate,
    uow: UowDep,
    response: Response,
    if_match: IfMatch = None,
):
    """Rename, move in the tree (never under itself) or close (once empty)."""
    return _department(
        await departments.update_department(uow, department_id, body, expected_version(if_match)), response
    )


# --- partner API keys -----------------------------------------------------------------------------------


@router.post("/api-keys", status_code=201, response_model=schemas.ApiKeyCreated, tags=["api-keys"])
async def create_api_key(principal: AdminDep, body: schemas.ApiKeyCreate, uow: UowDep, response: Response):
    """A key for a partner system, sent as `X-API-Key`. The answer holds the whole key, this once."""
    row, key = await api_keys.create_api_key(uow, body, principal.caller)
    response.headers["Location"] = f"/api/v1/api-keys/{row.id}"
    response.headers["Cache-Control"] = "no-store"
    return schemas.ApiKeyCreated(**_api_key(row).model_dump(), key=key)


def _api_key(row: ApiKey) -> schemas.ApiKeyPublic:
    return schemas.ApiKeyPublic.model_validate(row, from_attributes=True)


@router.get("/api-keys", response_model=Page[schemas.ApiKeyPublic], tags=["api-keys"])
async def list_api_keys(
    _: AdminDep, session: SessionDep, limit: Limit = 50, cursor: str | None = None, include_revoked: bool = False
):
    rows, nxt = await api_keys.list_api_keys(session, include_revoked=include_revoked, limit=limit, cursor=cursor)
    return Page(items=[_api_key(r) for r in rows], next_cursor=nxt)


@router.post("/api-keys/{api_key_id}/revoke", response_model=schemas.ApiKeyPublic, tags=["api-keys"])
async def revoke_api_key(_: AdminDep, api_key_id: uuid.UUID, uow: UowDep):
    """Refused from its next request on."""
    return _api_key(await api_keys.revoke_api_key(uow, api_key_id))
