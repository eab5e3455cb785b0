"""Departments: a tree an admin grows, moves and closes, each change a DepartmentChanged."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.changes import apply_changes
from mercator.common.errors import BadReference, NotFound, RuleViolation
from mercator.common.events import catalogue as ev
from mercator.common.pagination import keyset_page
from mercator.common.uow import UnitOfWork
from mercator.common.versions import check_version
from mercator.gateway import identity, schemas
from mercator.gateway.tables import Department, User

log = logging.getLogger(__name__)


async def open_department(s: AsyncSession, department_id: uuid.UUID | None, field: str) -> None:
    if department_id is None:
        return
    row = await s.get(Department, department_id)
    if row is None:
        raise BadReference(f"there is no department {department_id}", field=field)
    if not row.active:
        raise BadReference(f"the department {row.name!r} is closed", field=field)


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
    await open_department(uow.session, data.parent_id, "parent_id")
    row = Department(id=uuid.uuid4(), name=data.name, parent_id=data.parent_id, active=True, version=1)
    uow.session.add(row)
    _department_changed(uow, row)
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
        await open_department(s, changes["parent_id"], "parent_id")
        identity.check_parent(row.id, changes["parent_id"], await department_parents(s))
    if changes.get("active") is False and row.active:
        if await s.scalar(select(Department.id).where(Department.parent_id == row.id, Department.active.is_(True))):
            raise RuleViolation(
                "department_has_subdepartments", "close or move its open subdepartments first", "active"
            )
        if await s.scalar(select(User.id).where(User.department_id == row.id, User.active.is_(True))):
            raise RuleViolation("department_has_users", "move its active users to another department first", "active")
    if apply_changes(row, changes):
        _department_changed(uow, row)
    return row
