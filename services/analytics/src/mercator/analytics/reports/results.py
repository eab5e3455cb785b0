"""Report 6, head of sales: won deals and revenue by month or quarter, per manager, product or product group."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import distinct, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import domain
from mercator.analytics.domain import DealStatus, Period
from mercator.analytics.reports.slicing import (
    NO_PRODUCT,
    ZERO,
    Scope,
    deals_seen,
    key_of,
    line_or_deal_amount,
    money,
    months,
    names_of,
    owned,
    won_in,
)
from mercator.analytics.tables import ClosedDeals, Deal, DealLine, Product
from mercator.common.auth import Caller


async def results(
    session: AsyncSession, caller: Caller, scope: Scope, *, by: str, period: Period, facts: bool = False
) -> dict:
    if by == "manager" and not facts and scope.on_months():
        raw = await _won_cells(session, caller, scope)
    else:
        raw = await _won_facts(session, caller, scope, by)
    cells: dict = defaultdict(lambda: [0, ZERO])
    periods: set[str] = set()
    for k, y, m, n, revenue in raw:
        p = domain.period_key(date(int(y), int(m), 1), period)
        periods.add(p)
        cells[(k, p)][0] += n
        cells[(k, p)][1] += revenue or ZERO
    names = await names_of(session, by, {k for k, _ in cells})
    keys = set(names) | {k for k, _ in cells} if by != "manager" else {k for k, _ in cells}
    if None in keys and by in NO_PRODUCT:
        names[None] = NO_PRODUCT[by]
    rows, totals = _rows(keys, names, cells, sorted(periods))
    return {"by": by, "period": period.value, "rows": rows, "totals": totals}


async def _won_cells(session: AsyncSession, caller: Caller, scope: Scope) -> Sequence[Any]:
    """(manager, year, month, won, revenue) from the closed deals aggregate."""
    c, summed = ClosedDeals, func.sum(ClosedDeals.deals)
    return [
        (k, m.year if m else None, m.month if m else None, count, revenue)
        for k, m, count, revenue in (
            await session.execute(
                select(c.owner_id, c.month, summed, func.sum(c.amount))
                .where(
                    c.status == DealStatus.WON.value,
                    c.currency == scope.currency,
                    *months(scope, c.month),
                    *await owned(session, caller, scope, c.owner_id, c.department_id),
                )
                .group_by(c.owner_id, c.month)
                .having(summed > 0)
            )
        ).all()
    ]


async def _won_facts(session: AsyncSession, caller: Caller, scope: Scope, by: str) -> Sequence[Any]:
    """(key, year, month, won, revenue) from the deals themselves, per manager, product or product group."""
    deals = await deals_seen(session, caller, scope)
    year, month = extract("year", Deal.closed_at), extract("month", Deal.closed_at)
    if by == "manager":
        key, amount = Deal.owner_id, Deal.amount
        stmt = select(key, year, month, func.count(distinct(Deal.deal_id)), func.sum(amount))
    else:
        key = DealLine.product_id if by == "product" else Product.group_id
        stmt = select(key, year, month, func.count(distinct(Deal.deal_id)), func.sum(line_or_deal_amount())).outerjoin(
            DealLine, DealLine.deal_id == Deal.deal_id
        )
        if by == "product_group":
            stmt = stmt.outerjoin(Product, Product.product_id == DealLine.product_id)
    return (await session.execute(stmt.where(*won_in(scope), *deals).group_by(key, year, month))).all()


def _rows(keys: set, names: dict, cells: dict, ordered: list[str]) -> tuple[list, list]:
    """Per key and period, what was won and the change against the period before; per key, the totals."""
    rows, totals = [], []
    for k in keys:
        revenues = [cells[(k, p)][1] if (k, p) in cells else ZERO for p in ordered]
        changes = domain.trend(revenues)
        for p, rev, change in zip(ordered, revenues, changes, strict=False):
            if (k, p) in cells:
                rows.append(
                    {
                        "key": key_of(k),
                        "name": names.get(k),
                        "period": p,
                        "won": cells[(k, p)][0],
                        "revenue": money(rev),
                        "change": change,
                    }
                )
        totals.append(
            {
                "key": key_of(k),
                "name": names.get(k),
                "won": sum(cells[(k, p)][0] for p in ordered if (k, p) in cells),
                "revenue": money(sum(revenues, ZERO)),
            }
        )
    rows.sort(key=lambda r: (r["key"] or "", r["period"]))
    totals.sort(key=lambda r: (-Decimal(r["revenue"]), -r["won"], r["key"] or ""))
    return rows, totals
