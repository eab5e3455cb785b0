"""Who is calling: the public access token (JWT, its own key and audience) of a front end, or a partner's
API key, each turned into a `Principal` by `authenticate`."""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import jwt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mercator.common.auth import Caller, InvalidToken, bearer
from mercator.common.clock import now
from mercator.common.context import current_cause
from mercator.common.errors import InvalidValue, Unauthorized
from mercator.gateway import identity, passwords
from mercator.gateway.identity import Principal, Role
from mercator.gateway.settings import GatewaySettings
from mercator.gateway.tables import ApiKey

log = logging.getLogger(__name__)


# A partner key's last use is written at most this often, not on every request.
LAST_USED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_in: int
    refresh_token: str
    user_id: uuid.UUID


def mint_access_token(settings: GatewaySettings, user, *, at: datetime | None = None) -> str:
    """A public access token for a user row (anything with id, name, roles, department_id)."""
    at = at or now()
    claims = {
        "sub": str(user.id),
        "name": user.name,
        "roles": sorted(user.roles),
        "dept": str(user.department_id) if user.department_id else None,
        "iss": settings.token_issuer,
        "aud": settings.public_audience,
        "iat": at,
        "exp": at + timedelta(minutes=settings.access_token_minutes),
    }
    return jwt.encode(claims, settings.public_token_secret, algorithm="HS256")


def read_access_token(settings: GatewaySettings, token: str) -> Caller:
    try:
        claims = jwt.decode(
            token,
            settings.public_token_secret,
            algorithms=["HS256"],
            audience=settings.public_audience,
            issuer=settings.token_issuer,
            options={"require": ["sub", "exp", "iss", "aud"]},
        )
        return Caller(
            uuid.UUID(claims["sub"]),
            claims.get("name") or "",
            frozenset(claims.get("roles") or ()),
            uuid.UUID(claims["dept"]) if claims.get("dept") else None,
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("the access token has expired; refresh it") from exc
    except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
        raise InvalidToken("the access token is not valid") from exc


def unauthorized(detail: str, error: str | None = "invalid_token") -> Unauthorized:
    challenge = 'Bearer realm="mercator"' + (f', error="{error}"' if error else "")  # RFC 6750 §3
    return Unauthorized(detail, headers={"WWW-Authenticate": challenge})


async def authenticate(request, sessionmaker: async_sessionmaker[AsyncSession], settings: GatewaySettings) -> Principal:
    """The caller of a request, from `Authorization: Bearer <access token>` or `X-API-Key: mk_...`; 401 else."""
    authorization, api_key = request.headers.get("authorization"), request.headers.get("x-api-key")
    token = bearer(authorization)
    if token and api_key:
        raise unauthorized("send a bearer token or an API key, not both", "invalid_request")
    if token:
        try:
            principal = Principal(read_access_token(settings, token))
        except InvalidToken as exc:
            raise unauthorized(str(exc)) from exc
    elif api_key:
        principal = await _key_principal(sessionmaker, api_key)
    elif authorization:
        raise unauthorized("the Authorization header must be `Bearer <access token>`", "invalid_request")
    else:
        raise unauthorized("sign in: send a bearer access token or an X-API-Key", None)
    # The caller is the actor of every event this request causes.
    current_cause.set(replace(current_cause.get(), actor=str(principal.caller.user_id)))
    return principal


# key row id and secret hash -> SHA-256 of the secret once argon2 accepted it: a partner's steady
# stream of requests costs one argon2 check per process, not one per request.
_verified_keys: dict[tuple[uuid.UUID, str], bytes] = {}


async def _key_principal(sessionmaker: async_sessionmaker[AsyncSession], value: str) -> Principal:
    refused = unauthorized("the API key is not valid or was revoked")
    try:
        key = identity.parse_api_key(value)
    except InvalidValue:
        raise refused from None
    async with sessionmaker() as s:
        row = await s.scalar(select(ApiKey).where(ApiKey.key_id == key.key_id))
        # The revocation is read from the row on every request: it takes effect at once.
        if row is None or row.revoked_at is not None:
            raise refused
        digest = hashlib.sha256(key.secret.encode()).digest()
        known = _verified_keys.get((row.id, row.secret_hash))
        if known is not None:
            if not hmac.compare_digest(known, digest):
                raise refused
        elif await passwords.verify_secret(row.secret_hash, key.secret):
            _verified_keys[(row.id, row.secret_hash)] = digest
        else:
            raise refused
        at = now()
        if row.last_used_at is None or at - row.last_used_at > LAST_USED_EVERY:
            row.last_used_at = at
            await s.commit()
        return Principal(Caller(row.id, row.name, frozenset({Role.PARTNER.value})), frozenset(row.scopes), row.id)
