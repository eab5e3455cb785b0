"""Templates: written by heads of sales, marketing and admins, each edit a new version; checked on sample
data within the render limits before it is saved."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.changes import apply_changes
from mercator.common.clock import now
from mercator.common.errors import Conflict, Forbidden, InvalidValue, NotFound
from mercator.common.pagination import keyset_page
from mercator.common.uow import UnitOfWork
from mercator.common.versions import check_version
from mercator.notifications import context as ctx
from mercator.notifications import rendering, schemas
from mercator.notifications.domain import TemplateKind
from mercator.notifications.settings import NotificationsSettings
from mercator.notifications.tables import (
    Template,
    TemplateVersion,
)

TEMPLATE_WRITERS = frozenset({"head", "marketing", "admin", "executive"})


def _check_writer(caller: Caller) -> None:
    if not caller.roles & TEMPLATE_WRITERS:
        raise Forbidden("templates are changed by heads of sales, marketing and admins")


async def check_template(settings: NotificationsSettings, kind: TemplateKind, subject: str, body: str) -> None:
    """Tried on sample data in a render worker, within the render limits: a template that is broken or over
    a limit is refused naming the field."""
    await rendering.renderer(settings).check(kind is TemplateKind.DOCUMENT, subject, body, ctx.sample())


async def create_template(
    uow: UnitOfWork, data: schemas.TemplateCreate, caller: Caller, settings: NotificationsSettings
) -> Template:
    _check_writer(caller)
    await check_template(settings, data.kind, data.subject, data.body)
    if (await uow.session.execute(select(Template.id).where(Template.name == data.name))).first():
        raise Conflict(f"a template named '{data.name}' exists", field="name")
    at = now()
    row = Template(
        id=uuid.uuid4(),
        name=data.name,
        kind=data.kind.value,
        description=data.description,
        subject=data.subject,
        body=data.body,
        active=True,
        version=1,
        created_at=at,
        updated_at=at,
        author_id=caller.user_id,
    )
    uow.session.add(row)
    _keep_version(uow, row, caller)
    return row


async def update_template(
    uow: UnitOfWork,
    template_id: uuid.UUID,
    data: schemas.TemplateUpdate,
    expected: int | None,
    caller: Caller,
    settings: NotificationsSettings,
) -> Template:
    _check_writer(caller)
    row = await get_template(uow.session, template_id)
    check_version(row, expected, "template")
    changes = data.model_dump(exclude_unset=True)
    subject, body = changes.get("subject", row.subject), changes.get("body", row.body)
    if subject is None or body is None:
        raise InvalidValue("required", "subject and body cannot be emptied", "subject" if subject is None else "body")
    kind, read = TemplateKind(row.kind), row.version
    # The check takes up to the render limits: not while holding the database (on SQLite its one connection).
    await uow.session.rollback()
    await check_template(settings, kind, subject, body)
    row = await get_template(uow.session, template_id, lock=True)
    check_version(row, read, "template")  # edited by someone else while this was checked
    fields = {"subject": subject, "body": body}
    if "description" in changes:
        fields["description"] = changes["description"]
    if changes.get("active") is not None:
        fields["active"] = changes["active"]
    apply_changes(row, fields, versioned=False)
    # Every edit is a version, even one that repeats what is stored: the versions are the history of edits.
    row.version += 1
    row.updated_at = now()
    _keep_version(uow, row, caller)
    return row


def _keep_version(uow: UnitOfWork, row: Template, caller: Caller) -> None:
    """The template as it now reads, kept readable under /versions."""
    uow.session.add(
        TemplateVersion(
            template_id=row.id,
            version=row.version,
            subject=row.subject,
            body=row.body,
            description=row.description,
            created_at=row.updated_at,
            author_id=caller.user_id,
        )
    )


async def get_template(session: AsyncSession, template_id: uuid.UUID, *, lock: bool = False) -> Template:
    row = await session.get(Template, template_id, with_for_update=lock or None)
    if row is None:
        raise NotFound(f"no template {template_id}")
    return row


async def template_named(session: AsyncSession, name: str, kind: TemplateKind) -> Template | None:
    return (
        await session.execute(
            select(Template).where(Template.name == name, Template.kind == kind.value, Template.active.is_(True))
        )
    ).scalar_one_or_none()


async def list_templates(session: AsyncSession, kind: TemplateKind | None, limit: int, cursor: str | None):
    stmt = select(Template)
    if kind is not None:
        stmt = stmt.where(Template.kind == kind.value)
    return await keyset_page(session, stmt, (Template.name, Template.id), limit, cursor)


async def template_versions(session: AsyncSession, template_id: uuid.UUID) -> list[TemplateVersion]:
    await get_template(session, template_id)
    return list(
        (
            await session.execute(
                select(TemplateVersion)
                .where(TemplateVersion.template_id == template_id)
                .order_by(TemplateVersion.version)
            )
        ).scalars()
    )


async def template_version(session: AsyncSession, template_id: uuid.UUID, version: int) -> TemplateVersion:
    row = await session.get(TemplateVersion, (template_id, version))
    if row is None:
        raise NotFound(f"template {template_id} has no version {version}")
    return row
