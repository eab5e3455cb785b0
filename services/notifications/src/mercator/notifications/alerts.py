"""Alerts to staff: an overdue invoice (to its manager and their head of sales), a client gone quiet."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.events import catalogue as ev
from mercator.common.uow import UnitOfWork
from mercator.notifications import context as ctx
from mercator.notifications import domain
from mercator.notifications.composition import render_email
from mercator.notifications.domain import Channel
from mercator.notifications.messages import Draft, enqueue
from mercator.notifications.read_models import apply_invoice_status
from mercator.notifications.rendering import TemplateTooCostly
from mercator.notifications.settings import NotificationsSettings
from mercator.notifications.tables import (
    CompanyView,
    DealView,
    DepartmentView,
    InvoiceView,
    UserView,
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
