"""Report 12, CEO: the open pipeline weighted by each stage's probability, by expected close month."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import domain
from mercator.analytics.domain import DealStatus
from mercator.analytics.reports.slicing import ZERO, Scope, deals_seen, money, owned
from mercator.analytics.tables import Deal, OpenDeals
from mercator.common.auth import Caller


async def forecast(session: AsyncSession, caller: Caller, scope: Scope, *, facts: bool = False) -> dict:
    """Each open deal weighs its amount times its stage's probability (`domain.weight`)."""
    if facts or not scope.on_month_dates():
        year, month = extract("year", Deal.expected_close_date), extract("month", Deal.expected_close_date)
        default = case(dict(domain.DEFAULT_STAGES), value=Deal.stage, else_=ZERO)
        weight = func.coalesce(Deal.probability, default)
        raw: Sequence[Any] = (
            await session.execute(
                select(year, month, func.count(), func.sum(Deal.amount), func.sum(Deal.amount * weight))
                .where(
                    Deal.status == DealStatus.OPEN.value,
                    Deal.currency == scope.currency,
                    *scope.within_dates(Deal.expected_close_date),
                    *await deals_seen(session, caller, scope),
                )
                .group_by(year, month)
            )
        ).all()
    else:
        o, summed = OpenDeals, func.sum(OpenDeals.deals)
        raw = [
            (m.year if m else None, m.month if m else None, count, amount, weighted)
            for m, count, amount, weighted in (
                await session.execute(
                    select(o.close_month, summed, func.sum(o.amount), func.sum(o.weighted))
                    .where(
                        o.currency == scope.currency,
                        *scope.within_dates(o.close_month),
                        *await owned(session, caller, scope, o.owner_id, o.department_id),
                    )
                    .group_by(o.close_month)
                    .having(summed > 0)
                )
            ).all()
        ]
    months: dict = defaultdict(lambda: {"deals": 0, "amount": ZERO, "weighted": ZERO})
    for y, m, n, amount, weighted in raw:
        key = f"{int(y)}-{int(m):02d}" if y is not None else "unscheduled"
        cell = months[key]
        cell["deals"] += n
        cell["amount"] += amount or ZERO
        cell["weighted"] += weighted or ZERO
    rows = [
        {"month": k, "deals": v["deals"], "amount": money(v["amount"]), "weighted": money(v["weighted"])}
        for k, v in sorted(months.items(), key=lambda kv: (kv[0] == "unscheduled", kv[0]))
    ]
    return {
        "rows": rows,
        "total": {
            "deals": sum(v["deals"] for v in months.values()),
            "amount": money(sum((v["amount"] for v in months.values()), ZERO)),
            "weighted": money(sum((v["weighted"] for v in months.values()), ZERO)),
        },
    }
