"""Mailings of a marketing event: one e-mail template to many recipients at a bounded rate."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.clock import now
from mercator.common.errors import InvalidValue
from mercator.common.events import catalogue as ev
from mercator.common.uow import UnitOfWork
from mercator.notifications import context as ctx
from mercator.notifications import domain
from mercator.notifications.composition import Source, render_email_source
from mercator.notifications.domain import Channel, Status, TemplateKind
from mercator.notifications.messages import Draft, enqueue
from mercator.notifications.rendering import TemplateTooCostly
from mercator.notifications.settings import NotificationsSettings
from mercator.notifications.tables import (
    CompanyView,
    MarketingEventView,
    Message,
    PersonView,
    Template,
)
from mercator.notifications.templates import template_named


async def on_mailing_requested(
    uow: UnitOfWork, p: ev.MailingRequested, event_id: uuid.UUID, settings: NotificationsSettings
) -> None:
    """The template to every recipient, spread out at the configured rate after whatever mailing is
    already waiting, so several mailings at once still keep to it."""
    s = uow.session
    template = await _template(s, p)
    start = await _after_the_queued(s, settings)
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


async def _template(s: AsyncSession, p: ev.MailingRequested) -> Template:
    """The e-mail template the mailing names, else the one of its name, else the one named "mailing"."""
    template = await s.get(Template, p.template_id) if p.template_id else None
    if template is None or template.kind != TemplateKind.EMAIL.value:
        template = await template_named(s, p.template_name or "mailing", TemplateKind.EMAIL)
    if template is None:
        raise InvalidValue("unknown_template", f"no e-mail template for mailing {p.mailing_id}", "template_id")
    return template


async def _after_the_queued(s: AsyncSession, settings: NotificationsSettings) -> datetime:
    """When a new mailing's first message may go: now, or one slot after the last one already queued."""
    last = (
        await s.execute(
            select(func.max(Message.next_attempt_at)).where(
                Message.kind == "mailing", Message.status == Status.QUEUED.value
            )
        )
    ).scalar()
    return max(now(), last + timedelta(seconds=1 / settings.mailing_rate_per_second)) if last else now()
