"""What the identity API takes and gives: Create / Update / Public families. No password hash ever leaves."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from mercator.common.http.fields import Input
from mercator.gateway.identity import PASSWORD_MAX, Role


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold U+0000: left in, it is the database's error (a 500), not the caller's 422.
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    return value


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_no_nul)]
# Policy (length, kinds of characters) is checked by `identity.check_password`, which names its rule.
Password = Annotated[str, Field(min_length=1, max_length=PASSWORD_MAX * 4)]
Email = Annotated[str, Field(min_length=3, max_length=320), AfterValidator(_no_nul)]


class Secret(BaseModel):
    # Passwords are taken as typed: no stripping.
    model_config = ConfigDict(extra="forbid")


# --- tokens -------------------------------------------------------------------------------------


class TokenResponse(BaseModel):
    """RFC 6749 §5.1."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str | None = Field(
        None,
        description="Absent when the request asked for `X-Refresh-Token-Transport: cookie` (the web app): "
        "then the refresh token travels only in an HttpOnly cookie.",
    )


class RefreshIn(Input):
    refresh_token: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=200,
            description="Omitted by the web app, whose refresh token is its cookie (then `X-CSRF-Token` is required)",
        ),
    ] = None


class MePublic(BaseModel):
    id: uuid.UUID
    name: str
    email: str | None = None
    roles: list[str]
    department_id: uuid.UUID | None = None
    scopes: list[str] | None = Field(None, description="a partner key's scopes; absent for people")
    api_key_id: uuid.UUID | None = None


# --- users --------------------------------------------------------------------------------------


class UserCreate(Secret):
    name: Name
    email: Email
    password: Password
    roles: list[Role] = Field(min_length=1, max_length=10)
    department_id: uuid.UUID | None = None


class UserUpdate(Secret):
    name: Name | None = None
    email: Email | None = None
    password: Password | None = None
    roles: list[Role] | None = Field(None, min_length=1, max_length=10)
    department_id: uuid.UUID | None = None
    active: bool | None = None


class UserPublic(BaseModel):
    id: uuid.UUID
    name: str
    email: str
    roles: list[str]
    department_id: uuid.UUID | None
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class ColleaguePublic(BaseModel):
    """A user as every colleague may see them."""

    id: uuid.UUID
    name: str
    department_id: uuid.UUID | None
    active: bool


# --- departments --------------------------------------------------------------------------------


class DepartmentCreate(Input):
    name: Name
    parent_id: uuid.UUID | None = None


class DepartmentUpdate(Input):
    name: Name | None = None
    parent_id: uuid.UUID | None = None
    active: bool | None = None


class DepartmentPublic(BaseModel):
    id: uuid.UUID
    name: str
    parent_id: uuid.UUID | None
    active: bool
    version: int


# --- partner API keys -----------------------------------------------------------------------------


class ApiKeyCreate(Input):
    name: Name
    scopes: list[str] = Field(min_length=1, max_length=50)


class ApiKeyPublic(BaseModel):
    id: uuid.UUID
    name: str
    key_id: str = Field(description="the public part of the key (`mk_<key_id>_...`), to tell keys apart")
    scopes: list[str]
    created_by: uuid.UUID
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="the whole key: shown this once, never again (only a hash is kept)")
