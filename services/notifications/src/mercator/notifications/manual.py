"""What a person asks for by hand: a document to preview, a message with documents, a failed one again."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.clock import now
from mercator.common.errors import InvalidValue
from mercator.common.uow import UnitOfWork
from mercator.notifications import domain, schemas
from mercator.notifications.composition import (
    document_context,
    document_sources,
    email_source,
    render_document_sources,
    render_email_source,
)
from mercator.notifications.domain import Channel, Status
from mercator.notifications.history import get_message
from mercator.notifications.messages import Draft, enqueue
from mercator.notifications.records import named_records
from mercator.notifications.settings import NotificationsSettings
from mercator.notifications.tables import Message, PersonView


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
    address = _address(data, person, settings)
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
    return m


def _address(data: schemas.MessageCreate, person: PersonView | None, settings: NotificationsSettings) -> str:
    """The address typed in, else the contact person's by the message's channel."""
    if data.to is not None:
        if data.channel is Channel.EMAIL:
            return domain.check_email(data.to)
        return domain.fax_number(data.to, settings.phone_region)
    if person is None:
        raise InvalidValue("required", "name a contact person or an address", "person_id")
    try:
        return domain.address_of(data.channel, person.name, person.emails, person.phones, settings.phone_region)
    except domain.NoAddress as exc:
        raise InvalidValue("no_address", str(exc), "person_id") from exc


async def retry_message(uow: UnitOfWork, message_id: uuid.UUID, caller: Caller) -> Message:
    """A finally failed message, tried again by a person (after fixing the address, the server...)."""
    m = await get_message(uow.session, message_id, caller, lock=True)
    domain.check_move(m.status, Status.QUEUED)
    if m.recipient.startswith(("person:", "user:")):
        raise InvalidValue("no_address", f"the message has no address to try again: {m.last_error}", "recipient")
    m.status, m.next_attempt_at, m.updated_at, m.failed_at = Status.QUEUED.value, now(), now(), None
    return m


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
