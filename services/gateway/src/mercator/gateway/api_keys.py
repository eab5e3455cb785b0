"""Partner API keys: shown whole once, kept as an argon2 hash of their secret, revoked at once."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.clock import now
from mercator.common.errors import NotFound
from mercator.common.pagination import keyset_page
from mercator.common.uow import UnitOfWork
from mercator.gateway import identity, schemas
from mercator.gateway.passwords import hash_secret
from mercator.gateway.tables import ApiKey

log = logging.getLogger(__name__)


async def create_api_key(uow: UnitOfWork, data: schemas.ApiKeyCreate, caller: Caller) -> tuple[ApiKey, str]:
    """The new key's row and the whole key, which is shown this once: only an argon2 hash of its secret is kept."""
    scopes = identity.check_scopes(data.scopes)
    key = identity.new_api_key()
    row = ApiKey(
        id=uuid.uuid4(),
        name=data.name,
        key_id=key.key_id,
        secret_hash=await hash_secret(key.secret),
        scopes=scopes,
        created_by=caller.user_id,
        created_at=now(),
    )
    uow.session.add(row)
    return row, str(key)


async def list_api_keys(
    s: AsyncSession, *, include_revoked: bool, limit: int, cursor: str | None
) -> tuple[list[ApiKey], str | None]:
    stmt = select(ApiKey)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return await keyset_page(s, stmt, (ApiKey.name, ApiKey.id), limit, cursor)


async def revoke_api_key(uow: UnitOfWork, api_key_id: uuid.UUID) -> ApiKey:
    """Takes effect at the key's next request; revoking twice is no error."""
    row = await uow.session.get(ApiKey, api_key_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no API key {api_key_id}")
    if row.revoked_at is None:
        row.revoked_at = now()
    return row
