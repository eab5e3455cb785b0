"""Use cases of the notifications service: each one function, one transaction (its `uow.commit()`, or the
consumer's commit for event handlers)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.db import insert_if_absent
from mercator.common.errors import Conflict, Forbidden, InvalidValue, NotFound
from mercator.common.events import catalogue as ev
from mercator.common.pagination import keyset_page
from mercator.common.uow import UnitOfWork
from mercator.common.versions import check_version
from mercator.common.visibility import Kind, sight
from mercator.notifications import context as ctx
from mercator.notifications import domain, rendering, schemas
from mercator.notifications.domain import Channel, Status, TemplateKind
from mercator.notifications.rendering import TemplateTooCostly
from mercator.notifications.settings import NotificationsSettings
from mercator.notifications.tables import (
    Attachment,
    CompanyView,
    DealView,
    DepartmentView,
    InvoiceView,
    MarketingEventView,
    MeetingView,
    Message,
    PersonView,
    ProductView,
    Template,
    TemplateVersion,
    UserView,
)
from mercator.notifications.transports import Outgoing

PDF = "application/pdf"


def now() -> datetime:
    return datetime.now(UTC)


# --- templates --------------------------------------------------------------------------------------

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
    uow.session.add(
        TemplateVersion(
            template_id=row.id,
            version=1,
            subject=row.subject,
            body=row.body,
            description=row.description,
            created_at=at,
            author_id=caller.user_id,
        )
    )
    await uow.commit()
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
    row.subject, row.body = subject, body
    if "description" in changes:
        row.description = changes["description"]
    if changes.get("active") is not None:
        row.active = changes["active"]
    at = now()
    row.version += 1
    row.updated_at = at
    uow.session.add(
        TemplateVersion(
            template_id=row.id,
            version=row.version,
            subject=row.subject,
            body=row.body,
            description=row.description,
            created_at=at,
            author_id=caller.user_id,
        )
    )
    await uow.commit()
    return row


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


# --- read models: each row keeps the newest version it saw; an older event arriving late changes nothing ----


async def _upsert(session: AsyncSession, model, key: dict, values: dict, sequence: int | None) -> None:
    row = await insert_if_absent(
        session,
        model,
        **key,
        **values,
        **({"version": 0} if hasattr(model, "version") and "version" not in values else {}),
    )
    if hasattr(model, "version"):
        if sequence is not None and row.version and sequence < row.version:
            return
        values = {**values, "version": sequence or row.version}
    for k, v in values.items():
        setattr(row, k, v)


async def apply_company(session: AsyncSession, p: ev.CompanyCard, sequence: int) -> None:
    await _upsert(
        session,
        CompanyView,
        {"company_id": p.company_id},
        dict(
            name=p.name,
            legal_name=p.legal_name,
            tax_id=p.tax_id,
            owner_id=p.owner_id,
            department_id=p.department_id,
            emails=list(p.emails),
            phones=list(p.phones),
        ),
        sequence,
    )


async def apply_reassigned(session: AsyncSession, p: ev.CompanyReassigned) -> None:
    row = await session.get(CompanyView, p.company_id)
    if row is not None:
        row.owner_id, row.department_id = p.to_owner_id, p.department_id


async def apply_merged(session: AsyncSession, p: ev.CompanyMerged) -> None:
    row = await session.get(CompanyView, p.absorbed_id)
    if row is not None:
        row.merged_into_id = p.company_id
    await session.execute(
        update(PersonView).where(PersonView.company_id == p.absorbed_id).values(company_id=p.company_id)
    )


async def apply_person(session: AsyncSession, p: ev.PersonAdded, sequence: int) -> None:
    await _upsert(
        session,
        PersonView,
        {"person_id": p.person_id},
        dict(company_id=p.company_id, name=p.name, position=p.position, emails=list(p.emails), phones=list(p.phones)),
        sequence,
    )


async def apply_deal(session: AsyncSession, p: ev.DealCard, sequence: int, at: datetime) -> None:
    await _upsert(
        session,
        DealView,
        {"deal_id": p.deal_id},
        dict(
            title=p.title,
            company_id=p.company_id,
            owner_id=p.owner_id,
            department_id=p.department_id,
            stage=p.stage,
            status=p.status,
            amount=p.amount,
            currency=p.currency,
            expected_close_date=p.expected_close_date,
            changed_at=at,
            lines=[line.model_dump(mode="json") for line in getattr(p, "lines", [])],
        ),
        sequence,
    )


async def apply_deal_moved(
    session: AsyncSession, deal_id: uuid.UUID, *, stage: str | None = None, status: str | None = None, at: datetime
) -> None:
    """A stage change or a close: the deal is not stalled, whatever its card says."""
    row = await session.get(DealView, deal_id)
    if row is None:
        return
    if stage:
        row.stage = stage
    if status:
        row.status = status
    row.changed_at = max(row.changed_at, at)


async def apply_product(session: AsyncSession, p: ev.ProductCard, sequence: int) -> None:
    await _upsert(
        session,
        ProductView,
        {"product_id": p.product_id},
        dict(
            code=p.code,
            name=p.name,
            group_name=p.group_name,
            unit=p.unit,
            list_price=p.list_price,
            currency=p.currency,
            active=p.active,
        ),
        sequence,
    )


async def apply_user(session: AsyncSession, p: ev.UserCard, sequence: int) -> None:
    await _upsert(
        session,
        UserView,
        {"user_id": p.user_id},
        dict(name=p.name, email=p.email, roles=list(p.roles), department_id=p.department_id, active=p.active),
        sequence,
    )


async def apply_department(session: AsyncSession, p: ev.DepartmentChanged) -> None:
    await _upsert(
        session, DepartmentView, {"department_id": p.department_id}, dict(name=p.name, parent_id=p.parent_id), None
    )


async def apply_marketing_event(session: AsyncSession, p: ev.MarketingEventCard, sequence: int) -> None:
    await _upsert(
        session,
        MarketingEventView,
        {"marketing_event_id": p.marketing_event_id},
        dict(name=p.name, kind=p.kind, starts_on=p.starts_on, ends_on=p.ends_on, offer=p.offer),
        sequence,
    )


async def apply_invoice_issued(session: AsyncSession, p: ev.InvoiceIssued) -> None:
    await _upsert(
        session,
        InvoiceView,
        {"invoice_id": p.invoice_id},
        dict(
            number=p.number,
            deal_id=p.deal_id,
            company_id=p.company_id,
            issue_date=p.issue_date,
            due_date=p.due_date,
            net=p.net,
            vat=p.vat,
            total=p.total,
            outstanding=p.total,
            currency=p.currency,
            status="issued",
            lines=[l.model_dump(mode="json") for l in p.lines],
        ),
        None,
    )


async def apply_invoice_status(session: AsyncSession, invoice_id: uuid.UUID, status: str, outstanding=None) -> None:
    row = await session.get(InvoiceView, invoice_id)
    if row is None or row.status in ("paid", "cancelled"):
        return
    row.status = status
    if outstanding is not None:
        row.outstanding = outstanding


# --- messages ---------------------------------------------------------------------------------------


@dataclass
class Draft:
    channel: Channel
    kind: str
    recipient: str
    subject: str
    body: str
    cause_type: str
    cause_key: str
    recipient_name: str | None = None
    cause_event_id: uuid.UUID | None = None
    company_id: uuid.UUID | None = None
    person_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None
    meeting_id: uuid.UUID | None = None
    author_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    attachments: list[tuple[str, bytes]] = field(default_factory=list)
    not_before: datetime | None = None
    error: str | None = None  # known at once: the message is made failed, saying why
    pending: dict | None = None  # what to fill it in from, once what it needs is known


async def enqueue(uow: UnitOfWork, d: Draft) -> tuple[Message, bool]:
    """Makes the message unless its cause already made one for this recipient; (message, made now)."""
    existing = (
        await uow.session.execute(
            select(Message).where(Message.cause_key == d.cause_key, Message.recipient == d.recipient)
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing, False
    at = now()
    m = Message(
        id=uuid.uuid4(),
        channel=d.channel.value,
        kind=d.kind,
        recipient=d.recipient,
        recipient_name=d.recipient_name,
        subject=d.subject,
        body=d.body,
        status=Status.QUEUED.value,
        attempts=0,
        last_error=None,
        next_attempt_at=d.not_before or at,
        cause_type=d.cause_type,
        cause_event_id=d.cause_event_id,
        cause_key=d.cause_key,
        company_id=d.company_id,
        person_id=d.person_id,
        deal_id=d.deal_id,
        meeting_id=d.meeting_id,
        author_id=d.author_id,
        owner_id=d.owner_id,
        department_id=d.department_id,
        documents=[name for name, _ in d.attachments],
        pending=d.pending,
        created_at=at,
        updated_at=at,
    )
    uow.session.add(m)
    await uow.session.flush()  # the message row before its attachments (their foreign key)
    for i, (name, content) in enumerate(d.attachments):
        uow.session.add(Attachment(message_id=m.id, position=i, filename=name, content_type=PDF, content=content))
    if d.error is not None:
        m.status, m.last_error, m.failed_at = Status.FAILED.value, d.error, at
        _emit_outcome(uow, m)
    await uow.session.flush()
    return m, True


def _emit_outcome(uow: UnitOfWork, m: Message) -> None:
    common = dict(
        message_id=m.id,
        channel=m.channel,
        recipient=m.recipient,
        subject=m.subject,
        documents=list(m.documents or []),
        company_id=m.company_id,
        person_id=m.person_id,
        deal_id=m.deal_id,
        author_id=m.author_id,
        cause_type=m.cause_type,
        cause_event_id=m.cause_event_id,
        attempts=m.attempts,
    )
    if m.status == Status.SENT:
        uow.emit(ev.MessageSent(**common, sent_at=m.sent_at), subject=m.id, sequence=m.attempts + 1)
    else:
        uow.emit(
            ev.MessageFailed(**common, error=m.last_error or "unknown error", failed_at=m.failed_at),
            subject=m.id,
            sequence=m.attempts + 1,
        )


async def _products(session: AsyncSession, ids) -> dict[uuid.UUID, ProductView]:
    ids = list(ids)
    if not ids:
        return {}
    rows = (await session.execute(select(ProductView).where(ProductView.product_id.in_(ids)))).scalars()
    return {r.product_id: r for r in rows}


async def document_context(
    session: AsyncSession,
    settings: NotificationsSettings,
    *,
    company_id: uuid.UUID | None,
    deal_id: uuid.UUID | None = None,
    person_id: uuid.UUID | None = None,
    invoice_id: uuid.UUID | None = None,
    manager_id: uuid.UUID | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """Everything a document about a deal is filled from: the client card, the person, the deal and its
    product lines, the newest invoice of the deal, the manager, the price list."""
    deal = await session.get(DealView, deal_id) if deal_id else None
    company_id = company_id or (deal.company_id if deal else None)
    company = await session.get(CompanyView, company_id) if company_id else None
    person = await session.get(PersonView, person_id) if person_id else None
    manager = await session.get(
        UserView,
        manager_id or (deal.owner_id if deal else None) or (company.owner_id if company else None) or uuid.UUID(int=0),
    )
    lines = list(deal.lines) if deal else []
    products = await _products(session, {uuid.UUID(str(l["product_id"])) for l in lines})
    if invoice_id:
        invoice = await session.get(InvoiceView, invoice_id)
    elif deal_id:
        invoice = (
            await session.execute(
                select(InvoiceView)
                .where(InvoiceView.deal_id == deal_id)
                .order_by(InvoiceView.issue_date.desc(), InvoiceView.number.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
    else:
        invoice = None
    catalogue = (
        (
            await session.execute(
                select(ProductView)
                .where(ProductView.active.is_(True))
                .order_by(ProductView.group_name, ProductView.name)
            )
        )
        .scalars()
        .all()
    )
    line_ctx = [ctx.line_ctx(l, products) for l in lines]
    today = datetime.now(ZoneInfo(settings.time_zone)).date()
    total = sum((l["total"] for l in line_ctx), start=0) if line_ctx else (deal.amount if deal else None)
    return {
        "company": ctx.company_ctx(company),
        "person": ctx.person_ctx(person),
        "recipient": {
            "name": person.name if person else (company.name if company else ""),
            "email": (person.emails[0] if person and person.emails else None),
        },
        "deal": ctx.deal_ctx(deal),
        "lines": line_ctx,
        "total": total,
        "currency": deal.currency if deal else (invoice.currency if invoice else "RUB"),
        "manager": ctx.user_ctx(manager),
        "invoice": ctx.invoice_ctx(invoice),
        "products": [ctx.product_ctx(p) for p in catalogue],
        "today": today,
        "valid_until": today + timedelta(days=settings.offer_validity_days),
        "message": message,
        "documents": [],
    }


@dataclass(frozen=True)
class Source:
    """A template's text as read: what a render needs once the transaction that read it is over."""

    name: str
    subject: str
    body: str

    @classmethod
    def of(cls, template: Template) -> Source:
        return cls(template.name, template.subject, template.body)


async def document_sources(session: AsyncSession, names: list[str]) -> list[Source]:
    out = []
    for name in names:
        template = await template_named(session, name, TemplateKind.DOCUMENT)
        if template is None:
            raise InvalidValue("unknown_document", f"no document template named '{name}'", "documents")
        out.append(Source.of(template))
    return out


async def email_source(session: AsyncSession, name: str) -> Source:
    template = await template_named(session, name, TemplateKind.EMAIL)
    if template is None:
        raise InvalidValue("unknown_template", f"no e-mail template named '{name}'", "template")
    return Source.of(template)


async def render_document_sources(
    sources: list[Source], context: dict[str, Any], settings: NotificationsSettings
) -> list[tuple[str, bytes]]:
    """(file name, PDF) of each; one over a render limit is TemplateTooCostly."""
    out = []
    for source in sources:
        try:
            out.append(await rendering.renderer(settings).document(source.subject, source.body, context))
        except rendering.TooCostly as exc:
            raise TemplateTooCostly(f"document '{source.name}' is over a limit: {exc.reason}", "documents") from None
    return out


async def render_email_source(
    source: Source, context: dict[str, Any], settings: NotificationsSettings
) -> tuple[str, str]:
    """(subject, body); over a render limit, TemplateTooCostly."""
    try:
        return await rendering.renderer(settings).email(source.subject, source.body, context)
    except rendering.TooCostly as exc:
        raise TemplateTooCostly(f"e-mail template '{source.name}' is over a limit: {exc.reason}", "template") from None


async def render_documents(
    session: AsyncSession, names: list[str], context: dict[str, Any], settings: NotificationsSettings
) -> list[tuple[str, bytes]]:
    return await render_document_sources(await document_sources(session, names), context, settings)


async def render_email(
    session: AsyncSession, name: str, context: dict[str, Any], settings: NotificationsSettings
) -> tuple[str, str]:
    return await render_email_source(await email_source(session, name), context, settings)


def _person_address(
    p: PersonView | None, person_id: uuid.UUID, channel: Channel, region: str
) -> tuple[str, str | None]:
    """(address, error): a person who cannot be reached gets a failed message saying why, under a
    placeholder address that keeps the message unique per person."""
    if p is None:
        return f"person:{person_id}", f"contact person {person_id} is unknown to notifications"
    try:
        return domain.address_of(channel, p.name, p.emails, p.phones, region), None
    except domain.NoAddress as exc:
        return f"person:{person_id}", str(exc)


# --- what triggers what -----------------------------------------------------------------------------


async def _proposal_content(
    s: AsyncSession, settings: NotificationsSettings, spec: dict, person: PersonView | None
) -> tuple[str, str | None, list[tuple[str, bytes]], str, str]:
    """(address, error, documents, subject, body) of a proposal to one contact person."""
    person_id = uuid.UUID(spec["person_id"])
    address, error = _person_address(person, person_id, Channel(spec["channel"]), settings.phone_region)
    context = await document_context(
        s,
        settings,
        company_id=uuid.UUID(spec["company_id"]),
        deal_id=uuid.UUID(spec["deal_id"]),
        person_id=person_id,
        manager_id=uuid.UUID(spec["author_id"]),
        message=spec.get("message"),
    )
    files: list[tuple[str, bytes]] = []
    if error is None:
        try:
            files = await render_documents(s, spec["documents"], context, settings)
        except InvalidValue as exc:
            error = exc.message
    context["documents"] = [f for f, _ in files]
    try:
        subject, body = await render_email(s, "proposal_email", context, settings)
    except TemplateTooCostly as exc:
        subject, body, error = "", "", error or exc.message
    return address, error, files, subject, body


async def on_proposal_sent(
    uow: UnitOfWork, p: ev.ProposalSent, event_id: uuid.UUID, settings: NotificationsSettings
) -> None:
    """The documents go to each chosen contact person by the proposal's channel. A person or deal this
    service has not heard of yet (their event is on another topic, read at its own pace) is waited for:
    the message is made pending and the sender fills it in once they are known."""
    s = uow.session
    channel = Channel(p.channel) if p.channel in ("email", "fax") else Channel.EMAIL
    deal = await s.get(DealView, p.deal_id)
    company = await s.get(CompanyView, p.company_id)
    for person_id in p.recipient_person_ids:
        person = await s.get(PersonView, person_id)
        spec = {
            "channel": channel.value,
            "person_id": str(person_id),
            "company_id": str(p.company_id),
            "deal_id": str(p.deal_id),
            "author_id": str(p.author_id),
            "message": p.message,
            "documents": list(p.documents),
        }
        common = dict(
            channel=channel,
            kind="proposal",
            cause_type="ProposalSent",
            cause_event_id=event_id,
            cause_key=str(event_id),
            company_id=p.company_id,
            person_id=person_id,
            deal_id=p.deal_id,
            author_id=p.author_id,
            owner_id=deal.owner_id if deal else (company.owner_id if company else p.author_id),
            department_id=deal.department_id if deal else None,
        )
        if person is None or deal is None:
            await enqueue(uow, Draft(recipient=f"person:{person_id}", subject="", body="", pending=spec, **common))
            continue
        address, error, files, subject, body = await _proposal_content(s, settings, spec, person)
        await enqueue(
            uow,
            Draft(
                recipient=address,
                recipient_name=person.name,
                subject=subject,
                body=body,
                attachments=files,
                error=error,
                **common,
            ),
        )


async def _fill_pending(uow: UnitOfWork, m: Message, settings: NotificationsSettings, at: datetime) -> bool:
    """A pending proposal whose person and deal are now known gets its address, documents and text (True);
    one still waiting tries again later, and fails saying why after the last attempt."""
    s = uow.session
    spec = m.pending
    person = await s.get(PersonView, uuid.UUID(spec["person_id"]))
    deal = await s.get(DealView, uuid.UUID(spec["deal_id"]))
    if person is None or deal is None:
        m.attempts += 1
        missing = f"contact person {spec['person_id']}" if person is None else f"deal {spec['deal_id']}"
        outcome = domain.Outcome(False, f"{missing} is not known to notifications yet")
        step = domain.after_attempt(
            outcome, m.attempts, at, settings.send_max_attempts, settings.retry_base_seconds, settings.retry_max_seconds
        )
        m.status, m.updated_at, m.last_error = step.status.value, at, outcome.error
        if step.status is Status.FAILED:
            m.failed_at, m.last_error = at, domain.give_up_reason(outcome, m.attempts)
            _emit_outcome(uow, m)
        else:
            m.next_attempt_at = step.next_attempt_at
        return False
    address, error, files, subject, body = await _proposal_content(s, settings, spec, person)
    m.recipient, m.recipient_name, m.subject, m.body, m.pending = address, person.name, subject, body, None
    m.owner_id, m.department_id = deal.owner_id, deal.department_id
    m.documents = [name for name, _ in files]
    for i, (name, content) in enumerate(files):
        s.add(Attachment(message_id=m.id, position=i, filename=name, content_type=PDF, content=content))
    if error is not None:
        m.status, m.last_error, m.failed_at, m.updated_at = Status.FAILED.value, error, at, at
        _emit_outcome(uow, m)
        return False
    return True


async def _reminder(
    uow: UnitOfWork, meeting: MeetingView, settings: NotificationsSettings, event_id: uuid.UUID
) -> tuple[str | None, str, str, datetime, str | None]:
    """(address, subject, body, when, error): the error of a template over a render limit."""
    s = uow.session
    owner = await s.get(UserView, meeting.owner_id)
    company = await s.get(CompanyView, meeting.company_id)
    minutes = meeting.reminder_minutes_before
    minutes = settings.reminder_minutes_before if minutes is None else minutes
    context = {
        "recipient": ctx.user_ctx(owner),
        "company": ctx.company_ctx(company),
        "today": date.today(),
        "meeting": {
            "subject": meeting.subject,
            "kind": meeting.kind,
            "kind_ru": "звонок" if meeting.kind == "call" else "встреча",
            "place": meeting.place,
            "starts_local": ctx.local(meeting.starts_at, settings.time_zone),
            "duration_minutes": meeting.duration_minutes,
            "minutes_before": minutes,
        },
    }
    error = None
    try:
        subject, body = await render_email(s, "meeting_reminder", context, settings)
    except TemplateTooCostly as exc:
        subject, body, error = "", "", exc.message
    at = domain.reminder_at(meeting.starts_at, minutes, settings.reminder_minutes_before)
    return (owner.email if owner and owner.email else None), subject, body, at, error


async def on_meeting_scheduled(
    uow: UnitOfWork, p: ev.MeetingScheduled, event_id: uuid.UUID, settings: NotificationsSettings
) -> None:
    meeting = await insert_if_absent(
        uow.session,
        MeetingView,
        meeting_id=p.meeting_id,
        company_id=p.company_id,
        owner_id=p.owner_id,
        kind=p.kind,
        subject=p.subject,
        place=p.place,
        starts_at=p.starts_at,
        duration_minutes=p.duration_minutes,
        reminder_minutes_before=p.reminder_minutes_before,
        status="planned",
        deal_id=p.deal_id,
    )
    if meeting.status != "planned":  # cancelled before this event was read
        return
    await _plan_reminder(uow, meeting, settings, event_id)


async def _plan_reminder(
    uow: UnitOfWork, meeting: MeetingView, settings: NotificationsSettings, event_id: uuid.UUID
) -> None:
    """One reminder per meeting: made on scheduling, moved with the meeting, dropped with it."""
    address, subject, body, at, error = await _reminder(uow, meeting, settings, event_id)
    current = (
        await uow.session.execute(
            select(Message).where(
                Message.cause_key == f"meeting:{meeting.meeting_id}", Message.status == Status.QUEUED.value
            )
        )
    ).scalar_one_or_none()
    if current is not None:
        current.next_attempt_at, current.subject, current.body, current.updated_at = at, subject, body, now()
        if error is not None:
            current.status, current.last_error, current.failed_at = Status.FAILED.value, error, now()
            _emit_outcome(uow, current)
        return
    if meeting.starts_at <= now():
        return  # it has begun: a reminder now reminds of nothing
    sent = (
        await uow.session.execute(select(Message.id).where(Message.cause_key == f"meeting:{meeting.meeting_id}"))
    ).first()
    key = f"meeting:{meeting.meeting_id}" if sent is None else f"meeting:{meeting.meeting_id}:{event_id}"
    await enqueue(
        uow,
        Draft(
            channel=Channel.EMAIL,
            kind="reminder",
            recipient=address or f"user:{meeting.owner_id}",
            subject=subject,
            body=body,
            cause_type="MeetingScheduled",
            cause_event_id=event_id,
            cause_key=key,
            company_id=meeting.company_id,
            deal_id=meeting.deal_id,
            meeting_id=meeting.meeting_id,
            owner_id=meeting.owner_id,
            not_before=at,
            error=error or (None if address else f"the manager {meeting.owner_id} has no e-mail address"),
        ),
    )


async def on_meeting_rescheduled(
    uow: UnitOfWork, p: ev.MeetingRescheduled, event_id: uuid.UUID, settings: NotificationsSettings
) -> None:
    meeting = await uow.session.get(MeetingView, p.meeting_id)
    if meeting is None or meeting.status != "planned":
        return
    meeting.starts_at, meeting.duration_minutes = p.starts_at, p.duration_minutes
    if p.reminder_minutes_before is not None:
        meeting.reminder_minutes_before = p.reminder_minutes_before
    await _plan_reminder(uow, meeting, settings, event_id)


async def on_meeting_closed(uow: UnitOfWork, meeting_id: uuid.UUID, status: str) -> None:
    """Cancelled or done: its reminder, if not yet sent, is dropped."""
    meeting = await uow.session.get(MeetingView, meeting_id)
    if meeting is not None:
        meeting.status = status
    await uow.session.execute(
        update(Message)
        .where(Message.meeting_id == meeting_id, Message.status == Status.QUEUED.value)
        .values(status=Status.CANCELLED.value, updated_at=now())
    )


async def on_mailing_requested(
    uow: UnitOfWork, p: ev.MailingRequested, event_id: uuid.UUID, settings: NotificationsSettings
) -> None:
    """The template to every recipient, spread out at the configured rate after whatever mailing is
    already waiting, so several mailings at once still keep to it."""
    s = uow.session
    template = await s.get(Template, p.template_id) if p.template_id else None
    if template is None or template.kind != TemplateKind.EMAIL.value:
        template = await template_named(s, p.template_name or "mailing", TemplateKind.EMAIL)
    if template is None:
        raise InvalidValue("unknown_template", f"no e-mail template for mailing {p.mailing_id}", "template_id")
    last = (
        await s.execute(
            select(func.max(Message.next_attempt_at)).where(
                Message.kind == "mailing", Message.status == Status.QUEUED.value
            )
        )
    ).scalar()
    start = max(now(), last + timedelta(seconds=1 / settings.mailing_rate_per_second)) if last else now()
    slots = iter(domain.mailing_slots(len(p.recipients), start, settings.mailing_rate_per_second))
    event = await s.get(MarketingEventView, p.marketing_event_id)
    event_ctx = (
        {"name": event.name, "kind": event.kind, "starts_on": event.starts_on, "ends_on": event.ends_on}
        if event
        else {"name": "", "kind": "mailing", "starts_on": None, "ends_on": None}
    )
    offer = p.offer or (event.offer if event else None)
    # Over a limit for one recipient, the template is not tried again for each of the others: a mailing costs
    # the service one render's limit, not one per recipient.
    over: str | None = None
    for r in p.recipients:
        company = await s.get(CompanyView, r.company_id)
        person = await s.get(PersonView, r.person_id)
        context = {
            "recipient": {"name": r.name, "email": r.email},
            "person": ctx.person_ctx(person),
            "company": ctx.company_ctx(company),
            "offer": offer,
            "today": date.today(),
            "event": event_ctx,
        }
        error = None
        try:
            address = domain.check_email(r.email)
        except InvalidValue as exc:
            address, error = f"person:{r.person_id}", exc.message
        subject = body = ""
        if over is None:
            try:
                subject, body = await render_email_source(Source.of(template), context, settings)
            except TemplateTooCostly as exc:
                over = exc.message
        await enqueue(
            uow,
            Draft(
                channel=Channel.EMAIL,
                kind="mailing",
                recipient=address,
                recipient_name=r.name,
                subject=subject,
                body=body,
                error=error or over,
                cause_type="MailingRequested",
                cause_event_id=event_id,
                cause_key=f"mailing:{p.mailing_id}",
                company_id=r.company_id,
                person_id=r.person_id,
                author_id=p.requested_by,
                owner_id=company.owner_id if company else p.requested_by,
                not_before=next(slots),
            ),
        )


async def _staff(session: AsyncSession) -> tuple[list[domain.Staff], dict[uuid.UUID, uuid.UUID | None]]:
    users = (await session.execute(select(UserView))).scalars().all()
    parents = dict((await session.execute(select(DepartmentView.department_id, DepartmentView.parent_id))).all())
    return [domain.Staff(u.user_id, frozenset(u.roles), u.department_id, u.active) for u in users], parents


async def _alert(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    template: str,
    context: dict,
    settings: NotificationsSettings,
    *,
    cause_type: str,
    event_id: uuid.UUID,
    company_id: uuid.UUID | None,
    deal_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
) -> None:
    user = await uow.session.get(UserView, user_id)
    context = {**context, "recipient": ctx.user_ctx(user)}
    error = None
    try:
        subject, body = await render_email(uow.session, template, context, settings)
    except TemplateTooCostly as exc:
        subject, body, error = "", "", exc.message
    address = user.email if user and user.email else None
    await enqueue(
        uow,
        Draft(
            channel=Channel.EMAIL,
            kind="alert",
            recipient=address or f"user:{user_id}",
            recipient_name=user.name if user else None,
            subject=subject,
            body=body,
            cause_type=cause_type,
            cause_event_id=event_id,
            cause_key=str(event_id),
            company_id=company_id,
            deal_id=deal_id,
            owner_id=owner_id or user_id,
            error=error or (None if address else f"the user {user_id} has no e-mail address"),
        ),
    )


async def on_invoice_overdue(
    uow: UnitOfWork, p: ev.InvoiceOverdue, event_id: uuid.UUID, settings: NotificationsSettings
) -> None:
    """To the manager of the deal (or of the card) and to their head of sales."""
    s = uow.session
    await apply_invoice_status(s, p.invoice_id, "overdue", p.outstanding)
    deal = await s.get(DealView, p.deal_id) if p.deal_id else None
    company = await s.get(CompanyView, p.company_id)
    manager_id = deal.owner_id if deal else (company.owner_id if company else None)
    if manager_id is None:
        return  # no one known to tell yet; the digest lists it once the card is known
    invoice = await s.get(InvoiceView, p.invoice_id)
    manager = await s.get(UserView, manager_id)
    context = {
        "company": ctx.company_ctx(company),
        "manager": ctx.user_ctx(manager),
        "today": date.today(),
        "invoice": {
            **(ctx.invoice_ctx(invoice) or {}),
            "number": p.number,
            "due_date": p.due_date,
            "outstanding": p.outstanding,
            "currency": p.currency,
            "days_overdue": p.days_overdue,
        },
    }
    targets = [manager_id]
    staff, parents = await _staff(s)
    me = next((x for x in staff if x.user_id == manager_id), domain.Staff(manager_id, frozenset(), None))
    head = domain.head_of(me, staff, parents)
    if head is not None:
        targets.append(head.user_id)
    for user_id in targets:
        await _alert(
            uow,
            user_id,
            "invoice_overdue",
            context,
            settings,
            cause_type="InvoiceOverdue",
            event_id=event_id,
            company_id=p.company_id,
            deal_id=p.deal_id,
            owner_id=manager_id,
        )


async def on_inactivity(
    uow: UnitOfWork, p: ev.InactivityDetected, event_id: uuid.UUID, settings: NotificationsSettings
) -> None:
    company = await uow.session.get(CompanyView, p.company_id)
    company_ctx = ctx.company_ctx(company)
    company_ctx["name"] = company_ctx["name"] or p.company_name or str(p.company_id)
    await _alert(
        uow,
        p.owner_id,
        "inactivity",
        {
            "company": company_ctx,
            "today": date.today(),
            "inactivity": {
                "days_inactive": p.days_inactive,
                "threshold_days": p.threshold_days,
                "last_activity_at": p.last_activity_at,
            },
        },
        settings,
        cause_type="InactivityDetected",
        event_id=event_id,
        company_id=p.company_id,
    )


async def make_digests(uow: UnitOfWork, settings: NotificationsSettings, at: datetime | None = None) -> int:
    """The morning digest of every active manager with an e-mail and something to say: today's meetings,
    overdue invoices and stalled deals of their clients. Once a day each (keyed by user and date)."""
    s = uow.session
    zone = ZoneInfo(settings.time_zone)
    at = at or now()
    today = at.astimezone(zone).date()
    day_start = datetime(today.year, today.month, today.day, tzinfo=zone)
    users = (await s.execute(select(UserView).where(UserView.active.is_(True), UserView.email.is_not(None)))).scalars()
    made = 0
    over: str | None = None  # as in a mailing: over a limit once, the template is not tried for every manager
    for user in users:
        if not {"manager", "head"} & set(user.roles):
            continue
        key = f"digest:{user.user_id}:{today.isoformat()}"
        if (await s.execute(select(Message.id).where(Message.cause_key == key))).first():
            continue
        meetings = (
            await s.execute(
                select(MeetingView, CompanyView.name)
                .outerjoin(CompanyView, CompanyView.company_id == MeetingView.company_id)
                .where(
                    MeetingView.owner_id == user.user_id,
                    MeetingView.status == "planned",
                    MeetingView.starts_at >= day_start,
                    MeetingView.starts_at < day_start + timedelta(days=1),
                )
                .order_by(MeetingView.starts_at)
            )
        ).all()
        overdue = (
            await s.execute(
                select(InvoiceView, CompanyView.name)
                .join(CompanyView, CompanyView.company_id == InvoiceView.company_id)
                .outerjoin(DealView, DealView.deal_id == InvoiceView.deal_id)
                .where(
                    InvoiceView.status.in_(("issued", "overdue")),
                    InvoiceView.due_date < today,
                    or_(
                        DealView.owner_id == user.user_id,
                        and_(DealView.deal_id.is_(None), CompanyView.owner_id == user.user_id),
                    ),
                )
                .order_by(InvoiceView.due_date)
            )
        ).all()
        stalled_before = at - timedelta(days=settings.stalled_deal_days)
        stalled = (
            await s.execute(
                select(DealView, CompanyView.name)
                .outerjoin(CompanyView, CompanyView.company_id == DealView.company_id)
                .where(
                    DealView.owner_id == user.user_id, DealView.status == "open", DealView.changed_at < stalled_before
                )
                .order_by(DealView.changed_at)
            )
        ).all()
        if not (meetings or overdue or stalled):
            continue
        context = {
            "recipient": ctx.user_ctx(user),
            "today": today,
            "digest": {
                "meetings": [
                    {
                        "starts_local": m.starts_at.astimezone(zone).strftime("%H:%M"),
                        "company": name,
                        "subject": m.subject,
                    }
                    for m, name in meetings
                ],
                "overdue": [
                    {
                        "number": i.number,
                        "company": name,
                        "outstanding": i.outstanding or i.total,
                        "currency": i.currency,
                        "due_date": i.due_date,
                    }
                    for i, name in overdue
                ],
                "stalled": [
                    {"title": d.title, "company": name, "stage": d.stage, "days": (at - d.changed_at).days}
                    for d, name in stalled
                ],
            },
        }
        subject = body = ""
        if over is None:
            try:
                subject, body = await render_email(s, "digest", context, settings)
            except TemplateTooCostly as exc:
                over = exc.message
        await enqueue(
            uow,
            Draft(
                channel=Channel.EMAIL,
                kind="digest",
                recipient=user.email,
                recipient_name=user.name,
                subject=subject,
                body=body,
                error=over,
                cause_type="digest",
                cause_key=key,
                owner_id=user.user_id,
                department_id=user.department_id,
            ),
        )
        made += 1
    await uow.commit()
    return made


# --- sending ----------------------------------------------------------------------------------------


async def claim_due(uow: UnitOfWork, settings: NotificationsSettings) -> list[Outgoing]:
    """Takes the due messages (queued and due, or left sending by a process that died) and marks them
    sending, in one transaction; rows another sender holds are skipped."""
    at = now()
    stale = at - timedelta(seconds=settings.sending_lease_seconds)
    rows = (
        (
            await uow.session.execute(
                select(Message)
                .where(
                    or_(
                        and_(Message.status == Status.QUEUED.value, Message.next_attempt_at <= at),
                        and_(Message.status == Status.SENDING.value, Message.updated_at < stale),
                    )
                )
                .order_by(Message.next_attempt_at)
                .limit(settings.send_batch_size)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    out = []
    for m in rows:
        if m.pending is not None and not await _fill_pending(uow, m, settings, at):
            continue
        m.status, m.updated_at = Status.SENDING.value, at
        files = (
            (
                await uow.session.execute(
                    select(Attachment).where(Attachment.message_id == m.id).order_by(Attachment.position)
                )
            )
            .scalars()
            .all()
        )
        out.append(
            Outgoing(
                id=str(m.id),
                channel=m.channel,
                recipient=m.recipient,
                recipient_name=m.recipient_name,
                subject=m.subject,
                body=m.body,
                attachments=[(f.filename, f.content_type, f.content) for f in files],
            )
        )
    await uow.commit()
    return out


async def record_outcome(
    uow: UnitOfWork, message_id: uuid.UUID, outcome: domain.Outcome, settings: NotificationsSettings
) -> Message | None:
    m = await uow.session.get(Message, message_id, with_for_update=True)
    if m is None or m.status != Status.SENDING.value:
        return None
    at = now()
    m.attempts += 1
    step = domain.after_attempt(
        outcome, m.attempts, at, settings.send_max_attempts, settings.retry_base_seconds, settings.retry_max_seconds
    )
    m.status, m.updated_at = step.status.value, at
    if step.status is Status.SENT:
        m.sent_at, m.last_error = at, None
        _emit_outcome(uow, m)
    elif step.status is Status.FAILED:
        m.failed_at, m.last_error = at, domain.give_up_reason(outcome, m.attempts)
        _emit_outcome(uow, m)
    else:
        m.last_error, m.next_attempt_at = outcome.error, step.next_attempt_at
    await uow.commit()
    return m


# --- by hand ----------------------------------------------------------------------------------------


def message_sight(caller: Caller, *, write: bool = False):
    return sight(caller, Kind.HISTORY, write=write)


@dataclass(frozen=True)
class NamedRecords:
    """What a document or a message is about, each record checked."""

    company_id: uuid.UUID | None
    deal: DealView | None
    person: PersonView | None
    invoice: InvoiceView | None


async def named_records(
    session: AsyncSession,
    caller: Caller,
    *,
    company_id: uuid.UUID | None,
    deal_id: uuid.UUID | None,
    person_id: uuid.UUID | None,
    invoice_id: uuid.UUID | None,
    write: bool = False,
) -> NamedRecords:
    """Every record a request names, within the caller's sight and all of one client card. Checked one by one, a
    manager could name another manager's contact person or invoice beside their own card and have its PDF
    rendered, or mailed to any address. Whatever is not the caller's, or not of that card, is 404, naming it."""
    seen = sight(caller, Kind.CARD, write=write)
    deal = await session.get(DealView, deal_id) if deal_id else None
    if deal_id and (deal is None or not seen.sees(deal.owner_id, deal.department_id)):
        raise NotFound(f"no deal {deal_id}", field="deal_id")
    person = await session.get(PersonView, person_id) if person_id else None
    if person_id and person is None:
        raise NotFound(f"no contact person {person_id}", field="person_id")
    invoice = await session.get(InvoiceView, invoice_id) if invoice_id else None
    if invoice_id and invoice is None:
        raise NotFound(f"no invoice {invoice_id}", field="invoice_id")
    claims = [
        (company_id, "company_id"),
        (deal.company_id if deal else None, "deal_id"),
        (person.company_id if person else None, "person_id"),
        (invoice.company_id if invoice else None, "invoice_id"),
    ]
    claims = [(card, name) for card, name in claims if card is not None]
    card = claims[0][0] if claims else None
    for other, name in claims:
        if other != card:
            raise NotFound(f"the {name.removesuffix('_id')} named is not of client card {card}", field=name)
    if invoice is not None and deal is not None and invoice.deal_id not in (None, deal.deal_id):
        raise NotFound(f"invoice {invoice.number} is not of deal {deal.deal_id}", field="invoice_id")
    if card is not None:
        company = await session.get(CompanyView, card)
        if company is None or not seen.sees(company.owner_id, company.department_id):
            raise NotFound(f"no client card {card}", field=claims[0][1])
    return NamedRecords(card, deal, person, invoice)


async def send_by_hand(
    uow: UnitOfWork, data: schemas.MessageCreate, caller: Caller, settings: NotificationsSettings
) -> Message:
    """An e-mail or fax to a contact person (or an address typed in), with documents, from a manager."""
    s = uow.session
    about = await named_records(
        s,
        caller,
        company_id=data.company_id,
        deal_id=data.deal_id,
        person_id=data.person_id,
        invoice_id=data.invoice_id,
        write=True,
    )
    person, deal, company_id = about.person, about.deal, about.company_id
    if person is not None and data.to is None:
        try:
            address = domain.address_of(data.channel, person.name, person.emails, person.phones, settings.phone_region)
        except domain.NoAddress as exc:
            raise InvalidValue("no_address", str(exc), "person_id") from exc
    elif data.to is not None:
        address = (
            domain.check_email(data.to)
            if data.channel is Channel.EMAIL
            else domain.fax_number(data.to, settings.phone_region)
        )
    else:
        raise InvalidValue("required", "name a contact person or an address", "person_id")
    context = await document_context(
        s,
        settings,
        company_id=company_id,
        deal_id=data.deal_id,
        person_id=data.person_id,
        invoice_id=data.invoice_id,
        manager_id=caller.user_id,
        message=data.message,
    )
    sources = await document_sources(s, data.documents)
    if data.channel is Channel.FAX and not sources:
        raise InvalidValue("fax_without_documents", "a fax carries documents: name at least one", "documents")
    text = await email_source(s, data.template) if data.template else None
    recipient_name = person.name if person else None
    subject, body = data.subject or (deal.title if deal else "Документы"), data.message or ""
    # Rendering takes up to the render limits: not while holding the database (on SQLite its one connection).
    await s.rollback()
    files = await render_document_sources(sources, context, settings)
    context["documents"] = [f for f, _ in files]
    if text is not None:
        subject, body = await render_email_source(text, context, settings)
    m, _ = await enqueue(
        uow,
        Draft(
            channel=data.channel,
            kind="manual",
            recipient=address,
            recipient_name=recipient_name,
            subject=subject,
            body=body,
            cause_type="manual",
            cause_key=f"manual:{uuid.uuid4()}",
            company_id=company_id,
            person_id=data.person_id,
            deal_id=data.deal_id,
            author_id=caller.user_id,
            owner_id=caller.user_id,
            department_id=caller.department_id,
            attachments=files,
        ),
    )
    await uow.commit()
    return m


async def get_message(session: AsyncSession, message_id: uuid.UUID, caller: Caller, *, lock: bool = False) -> Message:
    m = await session.get(Message, message_id, with_for_update=lock or None)
    if m is None or not (message_sight(caller).sees(m.owner_id, m.department_id) or m.author_id == caller.user_id):
        raise NotFound(f"no message {message_id}")
    return m


async def list_messages(
    session: AsyncSession,
    caller: Caller,
    *,
    status: Status | None,
    company_id,
    deal_id,
    kind: str | None,
    limit: int,
    cursor: str | None,
):
    seen = message_sight(caller)
    stmt = select(Message)
    if not seen.everything:
        stmt = stmt.where(
            or_(
                Message.owner_id == seen.owner_id,
                Message.author_id == caller.user_id,
                Message.department_id.in_(seen.departments),
            )
        )
    for column, value in (
        (Message.status, status.value if status else None),
        (Message.company_id, company_id),
        (Message.deal_id, deal_id),
        (Message.kind, kind),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return await keyset_page(session, stmt, (Message.created_at, Message.id), limit, cursor, descending=True)


async def retry_message(uow: UnitOfWork, message_id: uuid.UUID, caller: Caller) -> Message:
    """A finally failed message, tried again by a person (after fixing the address, the server...)."""
    m = await get_message(uow.session, message_id, caller, lock=True)
    domain.check_move(m.status, Status.QUEUED)
    if m.recipient.startswith(("person:", "user:")):
        raise InvalidValue("no_address", f"the message has no address to try again: {m.last_error}", "recipient")
    m.status, m.next_attempt_at, m.updated_at, m.failed_at = Status.QUEUED.value, now(), now(), None
    await uow.commit()
    return m


async def attachment(session: AsyncSession, message_id: uuid.UUID, position: int, caller: Caller) -> Attachment:
    await get_message(session, message_id, caller)
    row = await session.get(Attachment, (message_id, position))
    if row is None:
        raise NotFound(f"message {message_id} has no document {position}")
    return row


async def preview_document(
    session: AsyncSession, data: schemas.DocumentRequest, caller: Caller, settings: NotificationsSettings
) -> tuple[str, bytes]:
    company_id = (
        await named_records(
            session,
            caller,
            company_id=data.company_id,
            deal_id=data.deal_id,
            person_id=data.person_id,
            invoice_id=data.invoice_id,
        )
    ).company_id
    context = await document_context(
        session,
        settings,
        company_id=company_id,
        deal_id=data.deal_id,
        person_id=data.person_id,
        invoice_id=data.invoice_id,
        manager_id=caller.user_id,
        message=data.message,
    )
    sources = await document_sources(session, [data.template])
    await session.rollback()  # as in send_by_hand: the database is not held while rendering
    ((filename, content),) = await render_document_sources(sources, context, settings)
    return filename, content
