"""The morning digest of each manager."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.clock import now
from mercator.common.uow import UnitOfWork
from mercator.notifications import context as ctx
from mercator.notifications.composition import render_email
from mercator.notifications.domain import Channel
from mercator.notifications.messages import Draft, enqueue
from mercator.notifications.rendering import TemplateTooCostly
from mercator.notifications.settings import NotificationsSettings
from mercator.notifications.tables import (
    CompanyView,
    DealView,
    InvoiceView,
    MeetingView,
    Message,
    UserView,
)


async def make_digests(uow: UnitOfWork, settings: NotificationsSettings, at: datetime | None = None) -> int:
    """The morning digest of every active manager with an e-mail and something to say: today's meetings,
    overdue invoices and stalled deals of their clients. Once a day each (keyed by user and date)."""
    s = uow.session
    at = at or now()
    today = at.astimezone(ZoneInfo(settings.time_zone)).date()
    users = (await s.execute(select(UserView).where(UserView.active.is_(True), UserView.email.is_not(None)))).scalars()
    made = 0
    over: str | None = None  # as in a mailing: over a limit once, the template is not tried for every manager
    for user in users:
        if user.email is None or not {"manager", "head"} & set(user.roles):
            continue
        key = f"digest:{user.user_id}:{today.isoformat()}"
        if (await s.execute(select(Message.id).where(Message.cause_key == key))).first():
            continue
        digest = await _digest(s, user, settings, at, today)
        if digest is None:
            continue
        subject = body = ""
        if over is None:
            try:
                context = {"recipient": ctx.user_ctx(user), "today": today, "digest": digest}
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
    return made


async def _digest(
    s: AsyncSession, user: UserView, settings: NotificationsSettings, at: datetime, today: date
) -> dict[str, Any] | None:
    """The user's meetings of the day, overdue invoices and stalled deals; None when there are none."""
    zone = ZoneInfo(settings.time_zone)
    day_start = datetime(today.year, today.month, today.day, tzinfo=zone)
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
            .where(DealView.owner_id == user.user_id, DealView.status == "open", DealView.changed_at < stalled_before)
            .order_by(DealView.changed_at)
        )
    ).all()
    if not (meetings or overdue or stalled):
        return None
    return {
        "meetings": [
            {"starts_local": m.starts_at.astimezone(zone).strftime("%H:%M"), "company": name, "subject": m.subject}
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
    }
