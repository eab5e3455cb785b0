"""Use cases of identity (each one function, one transaction), tokens, and who is calling.

Front ends hold a short-lived public access token (JWT, its own key and audience) and a rotating
refresh token; partner systems hold an API key. `authenticate` turns either into a `Principal`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mercator.common.auth import Caller, InvalidToken, bearer
from mercator.common.context import current_cause
from mercator.common.errors import (
    BadReference,
    Conflict,
    NotFound,
    Unauthorized,
)
from mercator.common.events import catalogue as ev
from mercator.common.pagination import keyset_page
from mercator.common.uow import UnitOfWork
from mercator.common.versions import check_version
from mercator.gateway import identity, schemas
from mercator.gateway.identity import Principal, Role
from mercator.gateway.settings import GatewaySettings
from mercator.gateway.tables import ApiKey, AuditEntry, Department, RefreshToken, User

log = logging.getLogger(__name__)

# argon2id with the library's defaults (RFC 9106, low-memory profile). Looked up at call time: tests
# swap in a cheaper one.
HASHER = PasswordHasher()
# A partner key's last use is written at most this often, not on every request.
LAST_USED_EVERY = timedelta(minutes=1)


def now() -> datetime:
    return datetime.now(UTC)


# --- hashing ----------------------------------------------------------------------------------

# Argon2 takes 64 MiB a check: without a bound, six sign-ins at once added ~320 MB to the gateway, and a
# flood of them could exhaust it. Set from the settings when the app is built.
_password_checks = asyncio.Semaphore(2)


def bound_password_checks(at_once: int) -> None:
    global _password_checks
    _password_checks = asyncio.Semaphore(max(1, at_once))


async def hash_secret(secret: str) -> str:
    # Off the event loop: one argon2 hash is tens of milliseconds of CPU (argon2-cffi drops the GIL).
    async with _password_checks:
        return await asyncio.to_thread(HASHER.hash, secret)


async def verify_secret(hashed: str, secret: str) -> bool:
    try:
        async with _password_checks:
            return await asyncio.to_thread(HASHER.verify, hashed, secret)
    except (VerificationError, InvalidHashError):
        return False


@functools.lru_cache(maxsize=4)
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash(secrets.token_urlsafe(16))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- access tokens and the principal --------------------------------------------------------------


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


def _unauthorized(detail: str, error: str | None = "invalid_token") -> Unauthorized:
    challenge = 'Bearer realm="mercator"' + (f', error="{error}"' if error else "")  # RFC 6750 §3
    return Unauthorized(detail, headers={"WWW-Authenticate": challenge})


async def authenticate(request, sessionmaker: async_sessionmaker[AsyncSession], settings: GatewaySettings) -> Principal:
    """The caller of a request, from `Authorization: Bearer <access token>` or `X-API-Key: mk_...`; 401 else."""
    authorization, api_key = request.headers.get("authorization"), request.headers.get("x-api-key")
    token = bearer(authorization)
    if token and api_key:
        raise _unauthorized("send a bearer token or an API key, not both", "invalid_request")
    if token:
        try:
            principal = Principal(read_access_token(settings, token))
        except InvalidToken as exc:
            raise _unauthorized(str(exc)) from exc
    elif api_key:
        principal = await _key_principal(sessionmaker, api_key)
    elif authorization:
        raise _unauthorized("the Authorization header must be `Bearer <access token>`", "invalid_request")
    else:
        raise _unauthorized("sign in: send a bearer access token or an X-API-Key", None)
    # The caller is the actor of every event this request causes.
    current_cause.set(replace(current_cause.get(), actor=str(principal.caller.user_id)))
    return principal


# key row id and secret hash -> SHA-256 of the secret once argon2 accepted it: a partner's steady
# stream of requests costs one argon2 check per process, not one per request.
_verified_keys: dict[tuple[uuid.UUID, str], bytes] = {}


async def _key_principal(sessionmaker: async_sessionmaker[AsyncSession], value: str) -> Principal:
    refused = _unauthorized("the API key is not valid or was revoked")
    try:
        key = identity.parse_api_key(value)
    except identity.InvalidValue:
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
        elif await verify_secret(row.secret_hash, key.secret):
            _verified_keys[(row.id, row.secret_hash)] = digest
        else:
            raise refused
        at = now()
        if row.last_used_at is None or at - row.last_used_at > LAST_USED_EVERY:
            row.last_used_at = at
            await s.commit()
        return Principal(Caller(row.id, row.name, frozenset({Role.PARTNER.value})), frozenset(row.scopes), row.id)


# --- signing in, refreshing, signing out -------------------------------------------------------------


def _bad_credentials() -> Unauthorized:
    return _unauthorized("the e-mail or the password is wrong", "invalid_grant")


def bad_refresh() -> Unauthorized:
    return _unauthorized("the refresh token is not valid, expired or was revoked; sign in again", "invalid_grant")


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
    except identity.InvalidValue:
        email = ""
    user = await uow.session.scalar(select(User).where(User.email == email)) if email else None
    known = (user.id, user.password_hash) if user is not None and user.active else None
    # The check is tens of milliseconds of CPU: not while holding the database (on SQLite its one connection).
    await uow.session.rollback()
    if known is None:
        await verify_secret(_dummy_hash(HASHER), password)  # the same work as a real check
        raise _bad_credentials()
    if not await verify_secret(known[1], password):
        raise _bad_credentials()
    user = await uow.session.get(User, known[0])
    if user is None or not user.active or user.password_hash != known[1]:  # changed during the check
        raise _bad_credentials()
    if HASHER.check_needs_rehash(user.password_hash):  # the hashing parameters went up since
        user.password_hash = await hash_secret(password)
    tokens = _issue(uow, settings, user)
    await uow.commit()
    return tokens


async def refresh(uow: UnitOfWork, settings: GatewaySettings, refresh_token: str) -> Tokens:
    """A new access token and a new refresh token; the one presented is spent."""
    s = uow.session
    row = await s.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == _digest(refresh_token)).with_for_update()
    )
    if row is None:
        raise bad_refresh()
    if row.revoked_at is not None:
        # A spent token came back: it was copied. Whoever holds its successors may be the thief,
        # so the whole chain after it is revoked and the user signs in again.
        await _revoke_chain(s, row)
        await uow.commit()
        log.warning("refresh token reused; its chain is revoked", extra={"user_id": str(row.user_id)})
        raise bad_refresh()
    if row.expires_at <= now():
        raise bad_refresh()
    user = await s.get(User, row.user_id)
    if user is None or not user.active:
        row.revoked_at = now()
        await uow.commit()
        raise bad_refresh()
    tokens = _issue(uow, settings, user, previous=row)
    await uow.commit()
    return tokens


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
        await uow.commit()


async def _sign_out_everywhere(s: AsyncSession, user_id: uuid.UUID) -> None:
    await s.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now())
    )


# --- users ----------------------------------------------------------------------------------------


def _card(row: User) -> dict:
    return dict(
        user_id=row.id,
        name=row.name,
        email=row.email,
        roles=list(row.roles),
        department_id=row.department_id,
        active=row.active,
    )


async def _active_admins(s: AsyncSession, except_id: uuid.UUID | None = None) -> int:
    # Roles are a JSON list (no portable "contains"); the active users of one company are few.
    rows = (await s.execute(select(User.id, User.roles).where(User.active.is_(True)))).all()
    return sum(1 for user_id, roles in rows if user_id != except_id and Role.ADMIN.value in roles)


async def _open_department(s: AsyncSession, department_id: uuid.UUID | None, field: str) -> None:
    if department_id is None:
        return
    row = await s.get(Department, department_id)
    if row is None:
        raise BadReference(f"there is no department {department_id}", field=field)
    if not row.active:
        raise BadReference(f"the department {row.name!r} is closed", field=field)


async def _email_free(s: AsyncSession, email: str) -> None:
    if await s.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"a user with the e-mail {email} exists already", field="email")


async def _commit_user(uow: UnitOfWork, email: str) -> None:
    try:
        await uow.commit()
    except IntegrityError as exc:  # a concurrent request took the e-mail between our check and commit
        raise Conflict(f"a user with the e-mail {email} exists already", field="email") from exc


async def create_user(uow: UnitOfWork, data: schemas.UserCreate) -> User:
    email = identity.normalise_email(data.email)
    identity.check_password(data.password, email=email)
    roles = identity.user_roles(data.roles)
    await _open_department(uow.session, data.department_id, "department_id")
    await _email_free(uow.session, email)
    at = now()
    row = User(
        id=uuid.uuid4(),
        name=data.name,
        email=email,
        password_hash=await hash_secret(data.password),
        roles=roles,
        department_id=data.department_id,
        active=True,
        version=1,
        created_at=at,
        updated_at=at,
    )
    uow.session.add(row)
    uow.emit(ev.UserCreated(**_card(row)), subject=row.id, sequence=row.version)
    await _commit_user(uow, email)
    return row


async def get_user(s: AsyncSession, user_id: uuid.UUID) -> User:
    row = await s.get(User, user_id)
    if row is None:
        raise NotFound(f"no user {user_id}")
    return row


async def list_users(
    s: AsyncSession, *, department_id: uuid.UUID | None, active: bool | None, limit: int, cursor: str | None
) -> tuple[list[User], str | None]:
    stmt = select(User)
    if department_id is not None:
        stmt = stmt.where(User.department_id == department_id)
    if active is not None:
        stmt = stmt.where(User.active.is_(active))
    return await keyset_page(s, stmt, (User.email, User.id), limit, cursor)


async def list_people(s: AsyncSession, *, limit: int, cursor: str | None) -> tuple[list[User], str | None]:
    return await keyset_page(s, select(User), (User.name, User.id), limit, cursor)


async def update_user(
    uow: UnitOfWork, user_id: uuid.UUID, data: schemas.UserUpdate, expected_version: int | None
) -> User:
    s = uow.session
    row = await s.get(User, user_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no user {user_id}")
    check_version(row, expected_version, "user")
    changes = {f: getattr(data, f) for f in data.model_fields_set}
    for required in ("name", "email", "password", "roles", "active"):
        if required in changes and changes[required] is None:
            raise BadReference(f"a user must have {required}", field=required)
    if "email" in changes:
        changes["email"] = identity.normalise_email(changes["email"])
        if changes["email"] != row.email:
            await _email_free(s, changes["email"])
    password = changes.pop("password", None)
    if password is not None:
        identity.check_password(password, email=changes.get("email", row.email))
    if "roles" in changes:
        changes["roles"] = identity.user_roles(changes["roles"])
    if changes.get("department_id") is not None and changes["department_id"] != row.department_id:
        await _open_department(s, changes["department_id"], "department_id")
    stays_admin = changes.get("active", row.active) and Role.ADMIN.value in changes.get("roles", row.roles)
    if row.active and Role.ADMIN.value in row.roles and not stays_admin:
        identity.must_keep_an_admin(await _active_admins(s, except_id=row.id), False)
    changed = sorted(f for f, v in changes.items() if getattr(row, f) != v)
    if not changed and password is None:
        return row
    for f in changed:
        setattr(row, f, changes[f])
    if password is not None:
        row.password_hash = await hash_secret(password)
    row.version += 1
    row.updated_at = now()
    if password is not None or not row.active:
        await _sign_out_everywhere(s, row.id)  # a new password or a deactivation ends every session
    if changed:  # a password change alone is nobody else's business
        uow.emit(ev.UserUpdated(**_card(row), changed=changed), subject=row.id, sequence=row.version)
    await _commit_user(uow, row.email)
    return row


async def ensure_first_admin(uow: UnitOfWork, settings: GatewaySettings) -> bool:
    """At start: when no active admin exists, make `settings.admin_email` one, with `settings.admin_password`.

    There is no default password: without both settings nothing is created (and a warning says why).
    An existing user with that e-mail is made an active admin with that password (the way back in).
    """
    s = uow.session
    if await _active_admins(s):
        return False
    if not settings.admin_email or not settings.admin_password:
        log.warning("there is no active admin and no admin_email/admin_password setting to create one")
        return False
    try:
        email = identity.normalise_email(settings.admin_email)
        identity.check_password(settings.admin_password, email=email)
    except identity.InvalidValue as exc:
        raise identity.InvalidValue(
            exc.rule, f"settings.admin_{exc.field}: {exc.message}", f"admin_{exc.field}"
        ) from None
    at, hashed = now(), await hash_secret(settings.admin_password)
    row = await s.scalar(select(User).where(User.email == email).with_for_update())
    if row is None:
        row = User(
            id=uuid.uuid4(),
            name=settings.admin_name,
            email=email,
            password_hash=hashed,
            roles=[Role.ADMIN.value],
            department_id=None,
            active=True,
            version=1,
            created_at=at,
            updated_at=at,
        )
        s.add(row)
        uow.emit(ev.UserCreated(**_card(row)), subject=row.id, sequence=row.version)
    else:
        changed = ([] if row.active else ["active"]) + ([] if Role.ADMIN.value in row.roles else ["roles"])
        row.roles, row.active = sorted(set(row.roles) | {Role.ADMIN.value}), True
        row.password_hash, row.version, row.updated_at = hashed, row.version + 1, at
        await _sign_out_everywhere(s, row.id)
        uow.emit(ev.UserUpdated(**_card(row), changed=changed), subject=row.id, sequence=row.version)
    try:
        await uow.commit()
    except IntegrityError:  # another gateway process created the same admin a moment before
        return False
    log.info("first admin ready", extra={"user_id": str(row.id)})
    return True


# --- departments --------------------------------------------------------------------------------


def _department_changed(uow: UnitOfWork, row: Department) -> None:
    uow.emit(
        ev.DepartmentChanged(department_id=row.id, name=row.name, parent_id=row.parent_id, active=row.active),
        subject=row.id,
        sequence=row.version,
    )


async def department_parents(s: AsyncSession) -> dict[uuid.UUID, uuid.UUID | None]:
    """The whole tree as child -> parent (departments are few), for `identity.subtree`."""
    return dict((await s.execute(select(Department.id, Department.parent_id))).all())


async def create_department(uow: UnitOfWork, data: schemas.DepartmentCreate) -> Department:
    await _open_department(uow.session, data.parent_id, "parent_id")
    row = Department(id=uuid.uuid4(), name=data.name, parent_id=data.parent_id, active=True, version=1)
    uow.session.add(row)
    _department_changed(uow, row)
    await uow.commit()
    return row


async def get_department(s: AsyncSession, department_id: uuid.UUID) -> Department:
    row = await s.get(Department, department_id)
    if row is None:
        raise NotFound(f"no department {department_id}")
    return row


async def list_departments(
    s: AsyncSession, *, include_inactive: bool, limit: int, cursor: str | None
) -> tuple[list[Department], str | None]:
    stmt = select(Department)
    if not include_inactive:
        stmt = stmt.where(Department.active.is_(True))
    return await keyset_page(s, stmt, (Department.name, Department.id), limit, cursor)


async def update_department(
    uow: UnitOfWork, department_id: uuid.UUID, data: schemas.DepartmentUpdate, expected_version: int | None
) -> Department:
    s = uow.session
    row = await s.get(Department, department_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no department {department_id}")
    check_version(row, expected_version, "department")
    changes = {f: getattr(data, f) for f in data.model_fields_set}
    for required in ("name", "active"):
        if required in changes and changes[required] is None:
            raise BadReference(f"a department must have {required}", field=required)
    if changes.get("parent_id") is not None and changes["parent_id"] != row.parent_id:
        await _open_department(s, changes["parent_id"], "parent_id")
        identity.check_parent(row.id, changes["parent_id"], await department_parents(s))
    if changes.get("active") is False and row.active:
        if await s.scalar(select(Department.id).where(Department.parent_id == row.id, Department.active.is_(True))):
            raise identity.RuleViolation(
                "department_has_subdepartments", "close or move its open subdepartments first", "active"
            )
        if await s.scalar(select(User.id).where(User.department_id == row.id, User.active.is_(True))):
            raise identity.RuleViolation(
                "department_has_users", "move its active users to another department first", "active"
            )
    changed = [f for f, v in changes.items() if getattr(row, f) != v]
    if not changed:
        return row
    for f in changed:
        setattr(row, f, changes[f])
    row.version += 1
    _department_changed(uow, row)
    await uow.commit()
    return row


# --- partner API keys ------------------------------------------------------------------------------


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
    await uow.commit()
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
        await uow.commit()
    return row


# --- the audit log --------------------------------------------------------------------------------


async def audit(
    session_maker: async_sessionmaker[AsyncSession],
    *,
    caller: Caller | None,
    api_key_id: uuid.UUID | None,
    method: str,
    path: str,
    status: int,
    request_id: str | None,
) -> None:
    """One row for one write request through the gateway, in its own transaction, after the answer is known.

    Never raises: the change it records is already made (or refused), and failing the request now would
    only invite a retry; a lost row is logged as an error instead.
    """
    try:
        async with session_maker() as s:
            s.add(
                AuditEntry(
                    at=now(),
                    user_id=caller.user_id if caller and api_key_id is None else None,
                    api_key_id=api_key_id,
                    method=method[:10],
                    path=path[:2000],
                    status=status,
                    request_id=request_id[:200] if request_id else None,
                )
            )
            await s.commit()
    except Exception:
        log.exception(
            "an audit entry was lost",
            extra={"method": method, "path": path, "status": status, "request_id": request_id},
        )
