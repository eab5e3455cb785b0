"""Sessions: signing in (OAuth2 password grant), refreshing with a rotating refresh token, signing out."""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.clock import now
from mercator.common.errors import InvalidValue, Unauthorized
from mercator.common.uow import UnitOfWork
from mercator.gateway import identity, passwords
from mercator.gateway.settings import GatewaySettings
from mercator.gateway.tables import RefreshToken, User
from mercator.gateway.tokens import Tokens, mint_access_token, unauthorized

log = logging.getLogger(__name__)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _bad_credentials() -> Unauthorized:
    return unauthorized("the e-mail or the password is wrong", "invalid_grant")


def bad_refresh() -> Unauthorized:
    return unauthorized("the refresh token is not valid, expired or was revoked; sign in again", "invalid_grant")


def _issue(uow: UnitOfWork, settings: GatewaySettings, user: User, previous: RefreshToken | None = None) -> Tokens:
    raw, at = secrets.token_urlsafe(32), now()
    token = RefreshToken(
        id=uuid.uuid4(),
        user_id=user.id,
        token_hash=_digest(raw),
        created_at=at,
        expires_at=at + timedelta(days=settings.refresh_token_days),
    )
    uow.session.add(token)
    if previous is not None:
        previous.revoked_at, previous.replaced_by = at, token.id
    return Tokens(mint_access_token(settings, user, at=at), settings.access_token_minutes * 60, raw, user.id)


async def sign_in(uow: UnitOfWork, settings: GatewaySettings, email: str, password: str) -> Tokens:
    """OAuth2 password grant. Unknown e-mail, inactive user and wrong password look and take the same."""
    try:
        email = identity.normalise_email(email)
    except InvalidValue:
        email = ""
    user = await uow.session.scalar(select(User).where(User.email == email)) if email else None
    known = (user.id, user.password_hash) if user is not None and user.active else None
    # The check is tens of milliseconds of CPU: not while holding the database (on SQLite its one connection).
    await uow.session.rollback()
    if known is None:
        await passwords.verify_secret(passwords.dummy_hash(passwords.HASHER), password)  # the same work as a real check
        raise _bad_credentials()
    if not await passwords.verify_secret(known[1], password):
        raise _bad_credentials()
    user = await uow.session.get(User, known[0])
    if user is None or not user.active or user.password_hash != known[1]:  # changed during the check
        raise _bad_credentials()
    if passwords.HASHER.check_needs_rehash(user.password_hash):  # the hashing parameters went up since
        user.password_hash = await passwords.hash_secret(password)
    return _issue(uow, settings, user)


async def refresh(uow: UnitOfWork, settings: GatewaySettings, refresh_token: str) -> Tokens | Unauthorized:
    """A new access token and a new refresh token; the one presented is spent.

    A refusal is returned, not raised: some refusals write (a reused token revokes its chain, a deactivated
    user's token is spent), and what they write must be committed with the answer, not rolled back."""
    s = uow.session
    row = await s.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == _digest(refresh_token)).with_for_update()
    )
    if row is None:
        return bad_refresh()
    if row.revoked_at is not None:
        # A spent token came back: it was copied. Whoever holds its successors may be the thief,
        # so the whole chain after it is revoked and the user signs in again.
        await _revoke_chain(s, row)
        log.warning("refresh token reused; its chain is revoked", extra={"user_id": str(row.user_id)})
        return bad_refresh()
    if row.expires_at <= now():
        return bad_refresh()
    user = await s.get(User, row.user_id)
    if user is None or not user.active:
        row.revoked_at = now()
        return bad_refresh()
    return _issue(uow, settings, user, previous=row)


async def _revoke_chain(s: AsyncSession, row: RefreshToken) -> None:
    at, seen, following = now(), set(), row.replaced_by
    while following is not None and following not in seen:
        seen.add(following)
        token = await s.get(RefreshToken, following, with_for_update=True)
        if token is None:
            break
        if token.revoked_at is None:
            token.revoked_at = at
        following = token.replaced_by


async def sign_out(uow: UnitOfWork, refresh_token: str) -> None:
    """Revokes the refresh token; an unknown or spent one is no error (RFC 7009 §2.2)."""
    row = await uow.session.scalar(select(RefreshToken).where(RefreshToken.token_hash == _digest(refresh_token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = now()


async def sign_out_everywhere(s: AsyncSession, user_id: uuid.UUID) -> None:
    await s.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now())
    )
