"""Report 1, head of sales: client cards in work and open deals per manager, by stage."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import domain
from mercator.analytics.domain import DealStatus
from mercator.analytics.reports.slicing import (
    ZERO,
    Scope,
    cards_seen,
    clients_seen,
    deals_seen,
    key_of,
    money,
    owned,
    user_names,
)
from mercator.analytics.tables import Client, ClientCards, Deal, OpenDeals
from mercator.common.auth import Caller


async def workload(session: AsyncSession, caller: Caller, scope: Scope, *, facts: bool = False) -> dict:
    if facts:
        deals = (
            await session.execute(
                select(Deal.owner_id, Deal.stage, func.count(), func.sum(Deal.amount))
                .where(Deal.status == DealStatus.OPEN.value, *await deals_seen(session, caller, scope))
                .group_by(Deal.owner_id, Deal.stage)
            )
        ).all()
        clients = (
            await session.execute(
                select(Client.owner_id, func.count())
                .where(*await clients_seen(session, caller, scope))
                .group_by(Client.owner_id)
            )
        ).all()
    else:
        summed = func.sum(OpenDeals.deals)
        deals = (
            await session.execute(
                select(OpenDeals.owner_id, OpenDeals.stage, summed, func.sum(OpenDeals.amount))
                .where(*await owned(session, caller, scope, OpenDeals.owner_id, OpenDeals.department_id))
                .group_by(OpenDeals.owner_id, OpenDeals.stage)
                .having(summed > 0)
            )
        ).all()
        cards = func.sum(ClientCards.clients)
        clients = (
            await session.execute(
                select(ClientCards.owner_id, cards)
                .where(*await cards_seen(session, caller, scope))
                .group_by(ClientCards.owner_id)
                .having(cards > 0)
            )
        ).all()
    rows: dict = defaultdict(
        lambda: {
            "clients": 0,
            "open_deals": 0,
            "open_amount": ZERO,
            "by_stage": {code: 0 for code, _ in domain.DEFAULT_STAGES},
        }
    )
    for owner, n in clients:
        rows[owner]["clients"] = n
    for owner, stage, n, amount in deals:
        row = rows[owner]
        row["open_deals"] += n
        row["open_amount"] += amount or ZERO
        row["by_stage"][stage or "unknown"] = row["by_stage"].get(stage or "unknown", 0) + n
    names = await user_names(session, rows)
    out = [
        {"manager_id": key_of(o), "manager": names.get(o), **r, "open_amount": money(r["open_amount"])}
        for o, r in rows.items()
    ]
    out.sort(key=lambda r: (-r["open_deals"], -r["clients"], r["manager_id"] or ""))
    return {"rows": out}
