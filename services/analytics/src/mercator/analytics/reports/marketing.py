"""Report 8, marketing: each marketing event's participants, the deals they brought, revenue and return."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import domain
from mercator.analytics.domain import DealStatus, share
from mercator.analytics.reports.slicing import ZERO, Scope, deals_seen, money, seen_clients
from mercator.analytics.tables import Client, Deal, MarketingEvent, Participant
from mercator.common.auth import Caller


async def marketing(session: AsyncSession, caller: Caller, scope: Scope, *, window_days: int) -> dict:
    events = (
        (
            await session.execute(
                select(MarketingEvent)
                .where(MarketingEvent.name.is_not(None), *scope.within_dates(MarketingEvent.starts_on))
                .order_by(MarketingEvent.starts_on, MarketingEvent.marketing_event_id)
            )
        )
        .scalars()
        .all()
    )
    ids = [e.marketing_event_id for e in events]
    if not ids:
        return {"window_days": window_days, "rows": []}
    statuses = await _participants(session, caller, ids)
    per_event = await _deals_of(session, caller, scope, ids, window_days)
    rows = []
    for e in events:
        found = per_event.get(e.marketing_event_id, {}).values()
        won = [a or ZERO for s, a, c in found if s == DealStatus.WON.value and c == scope.currency]
        revenue = sum(won, ZERO)
        cost = e.cost if e.cost is not None else None
        rows.append(
            {
                "marketing_event_id": str(e.marketing_event_id),
                "name": e.name,
                "kind": e.kind,
                "starts_on": e.starts_on.isoformat() if e.starts_on else None,
                "participants": statuses[e.marketing_event_id],
                "deals": len(found),
                "won": len(won),
                "revenue": money(revenue),
                "cost": None if cost is None else money(cost),
                "return": share(revenue - cost, cost) if cost else None,
            }
        )
    return {"window_days": window_days, "rows": rows}


async def _participants(session: AsyncSession, caller: Caller, ids: list) -> dict:
    """Per event, its participants the caller sees by status."""
    seen = [*seen_clients(caller)]
    statuses: dict = defaultdict(lambda: {"invited": 0, "attended": 0, "responded": 0})
    pstmt = select(Participant.marketing_event_id, Participant.status, func.count()).where(
        Participant.marketing_event_id.in_(ids)
    )
    if seen:
        pstmt = pstmt.join(Client, Client.company_id == Participant.company_id).where(*seen)
    for event_id, status, n in (
        await session.execute(pstmt.group_by(Participant.marketing_event_id, Participant.status))
    ).all():
        statuses[event_id][status] = n
    return statuses


async def _deals_of(session: AsyncSession, caller: Caller, scope: Scope, ids: list, window_days: int) -> dict:
    """Per event, its deals (status, amount, currency) by id."""
    # The period chooses the events; their deals may come after it.
    deals = await deals_seen(session, caller, Scope(None, None, scope.department_id, scope.owner_id, scope.currency))
    # Deals a participant opened within the window after the event started, and deals that name the event.
    attributed = (
        select(MarketingEvent.marketing_event_id.label("event_id"), Deal.deal_id.label("deal_id"))
        .join(Participant, Participant.marketing_event_id == MarketingEvent.marketing_event_id)
        .join(Deal, Deal.company_id == Participant.company_id)
        .where(MarketingEvent.marketing_event_id.in_(ids), Deal.opened_at.is_not(None))
    )
    candidates: Sequence[Any] = (
        await session.execute(
            attributed.add_columns(
                MarketingEvent.starts_on, Deal.opened_at, Deal.status, Deal.amount, Deal.currency
            ).where(*deals)
        )
    ).all()
    named: Sequence[Any] = (
        await session.execute(
            select(Deal.marketing_event_id, Deal.deal_id, Deal.status, Deal.amount, Deal.currency).where(
                Deal.marketing_event_id.in_(ids), *deals
            )
        )
    ).all()
    per_event: dict = defaultdict(dict)
    for event_id, deal_id, starts_on, opened_at, status, amount, currency in candidates:
        opened = domain.as_utc(opened_at).date()
        if starts_on <= opened <= starts_on + timedelta(days=window_days):
            per_event[event_id][deal_id] = (status, amount, currency)
    for event_id, deal_id, status, amount, currency in named:
        per_event[event_id][deal_id] = (status, amount, currency)
    return per_event
