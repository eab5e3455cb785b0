"""Proposals: the documents of a ProposalSent to each chosen contact person."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.errors import InvalidValue
from mercator.common.events import catalogue as ev
from mercator.common.uow import UnitOfWork
from mercator.notifications import domain
from mercator.notifications.composition import document_context, render_documents, render_email
from mercator.notifications.domain import Channel
from mercator.notifications.messages import PDF, Draft, attempted, enqueue, fail
from mercator.notifications.rendering import TemplateTooCostly
from mercator.notifications.settings import NotificationsSettings
from mercator.notifications.tables import (
    Attachment,
    CompanyView,
    DealView,
    Message,
    PersonView,
)


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
        waiting = Draft(
            channel=channel,
            kind="proposal",
            recipient=f"person:{person_id}",
            subject="",
            body="",
            cause_type="ProposalSent",
            cause_event_id=event_id,
            cause_key=str(event_id),
            company_id=p.company_id,
            person_id=person_id,
            deal_id=p.deal_id,
            author_id=p.author_id,
            owner_id=deal.owner_id if deal else (company.owner_id if company else p.author_id),
            department_id=deal.department_id if deal else None,
            pending=spec,
        )
        if person is None or deal is None:
            await enqueue(uow, waiting)
            continue
        address, error, files, subject, body = await _proposal_content(s, settings, spec, person)
        await enqueue(
            uow,
            replace(
                waiting,
                recipient=address,
                recipient_name=person.name,
                subject=subject,
                body=body,
                attachments=files,
                error=error,
                pending=None,
            ),
        )


async def fill_pending(
    uow: UnitOfWork, m: Message, spec: dict[str, Any], settings: NotificationsSettings, at: datetime
) -> bool:
    """A pending proposal (`spec`, its `pending`) whose person and deal are now known gets its address,
    documents and text (True); one still waiting tries again later, and fails saying why after the last attempt."""
    s = uow.session
    person = await s.get(PersonView, uuid.UUID(spec["person_id"]))
    deal = await s.get(DealView, uuid.UUID(spec["deal_id"]))
    if person is None or deal is None:
        missing = f"contact person {spec['person_id']}" if person is None else f"deal {spec['deal_id']}"
        attempted(uow, m, domain.Outcome(False, f"{missing} is not known to notifications yet"), settings, at)
        return False
    address, error, files, subject, body = await _proposal_content(s, settings, spec, person)
    m.recipient, m.recipient_name, m.subject, m.body, m.pending = address, person.name, subject, body, None
    m.owner_id, m.department_id = deal.owner_id, deal.department_id
    m.documents = [name for name, _ in files]
    for i, (name, content) in enumerate(files):
        s.add(Attachment(message_id=m.id, position=i, filename=name, content_type=PDF, content=content))
    if error is not None:
        fail(uow, m, error, at)
        return False
    return True
