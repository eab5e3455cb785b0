"""Users: made and changed by an admin, each change a UserCreated or UserUpdated; the first admin from the
settings."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.changes import apply_changes
from mercator.common.clock import now
from mercator.common.errors import BadReference, Conflict, InvalidValue, NotFound
from mercator.common.events import catalogue as ev
from mercator.common.pagination import keyset_page
from mercator.common.uow import UnitOfWork
from mercator.common.versions import check_version
from mercator.gateway import identity, schemas
from mercator.gateway.departments import open_department
from mercator.gateway.identity import Role
from mercator.gateway.passwords import hash_secret
from mercator.gateway.sessions import sign_out_everywhere
from mercator.gateway.settings import GatewaySettings
from mercator.gateway.tables import User

log = logging.getLogger(__name__)


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


async def _email_free(s: AsyncSession, email: str) -> None:
    if await s.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"a user with the e-mail {email} exists already", field="email")


async def _write_user(uow: UnitOfWork, email: str) -> None:
    # Written now, not at the edge's commit: a concurrent request that took the e-mail between the check and
    # here is answered 409, not 500.
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a user with the e-mail {email} exists already", field="email") from exc


async def create_user(uow: UnitOfWork, data: schemas.UserCreate) -> User:
    email = identity.normalise_email(data.email)
    identity.check_password(data.password, email=email)
    roles = identity.user_roles(data.roles)
    await open_department(uow.session, data.department_id, "department_id")
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
    await _write_user(uow, email)
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
        await open_department(s, changes["department_id"], "department_id")
    stays_admin = changes.get("active", row.active) and Role.ADMIN.value in changes.get("roles", row.roles)
    if row.active and Role.ADMIN.value in row.roles and not stays_admin:
        identity.must_keep_an_admin(await _active_admins(s, except_id=row.id), False)
    # Sorted: the event names what changed in one order, whatever order the request gave.
    changed = apply_changes(row, dict(sorted(changes.items())), versioned=False)
    if not changed and password is None:
        return row
    if password is not None:
        row.password_hash = await hash_secret(password)
    row.version += 1  # a new password alone is a new version too, though no event tells of it
    row.updated_at = now()
    if password is not None or not row.active:
        await sign_out_everywhere(s, row.id)  # a new password or a deactivation ends every session
    if changed:  # a password change alone is nobody else's business
        uow.emit(ev.UserUpdated(**_card(row), changed=changed), subject=row.id, sequence=row.version)
    await _write_user(uow, row.email)
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
    except InvalidValue as exc:
        raise InvalidValue(
            exc.rule or "invalid_value", f"settings.admin_{exc.field}: {exc.message}", f"admin_{exc.field}"
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
        await sign_out_everywhere(s, row.id)
        uow.emit(ev.UserUpdated(**_card(row), changed=changed), subject=row.id, sequence=row.version)
    try:
        await s.flush()
    except IntegrityError:  # another gateway process created the same admin a moment before
        await s.rollback()
        uow.events.clear()
        return False
    log.info("first admin ready", extra={"user_id": str(row.id)})
    return True
