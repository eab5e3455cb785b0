"""Report 10, CEO: revenue, count and average of the deals won, in any slice."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import distinct, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import domain
from mercator.analytics.domain import DealStatus, Period
from mercator.analytics.reports.slicing import (
    NO_PRODUCT,
    SEGMENTS,
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
from mercator.analytics.tables import Client, ClosedDeals, Deal, DealLine, Department, Product, User
from mercator.common.auth import Caller

Dimension = Literal["department", "manager", "product_group", "product", "region", "industry", "source", "period"]


async def volume(
    session: AsyncSession, caller: Caller, scope: Scope, *, by: list[str], period: Period, facts: bool = False
) -> dict:
    by = list(dict.fromkeys(by))
    by_product = bool({"product", "product_group"} & set(by))
    raw: Sequence[Any]
    if not facts and scope.on_months() and set(by) <= {"department", "manager", "period"}:
        raw = await _volume_cells(session, caller, scope, by)
    else:
        raw = await _volume_facts(session, caller, scope, by)
    return await _volume_report(session, by, period, by_product, raw)


async def _volume_cells(session: AsyncSession, caller: Caller, scope: Scope, by: list[str]) -> list:
    """Rows shaped as `_volume_facts` gives them, from the closed deals aggregate."""
    c = ClosedDeals
    columns = []
    for d in by:
        columns.append({"department": c.department_id, "manager": c.owner_id, "period": c.month}[d])
    n = func.coalesce(func.sum(c.deals), 0)
    stmt = select(*columns, n, func.sum(c.amount)).where(
        c.status == DealStatus.WON.value,
        c.currency == scope.currency,
        *months(scope, c.month),
        *await owned(session, caller, scope, c.owner_id, c.department_id),
    )
    if columns:  # without any, one row over everything, as the facts' query gives, also when it is empty
        stmt = stmt.group_by(*columns).having(n > 0)
    out = []
    for r in (await session.execute(stmt)).all():
        values = []
        # `r` holds the measures after the dimensions: those are left for below.
        for d, v in zip(by, r, strict=False):
            values += [v.year, v.month] if d == "period" and v is not None else [None, None] if d == "period" else [v]
        out.append((*values, *r[len(by) :]))
    return out


async def _volume_facts(session: AsyncSession, caller: Caller, scope: Scope, by: list[str]) -> Sequence[Any]:
    by_product = bool({"product", "product_group"} & set(by))
    columns: list[Any] = []
    year, month = extract("year", Deal.closed_at), extract("month", Deal.closed_at)
    for d in by:
        if d == "department":
            columns.append(Deal.department_id)
        elif d == "manager":
            columns.append(Deal.owner_id)
        elif d == "product":
            columns.append(DealLine.product_id)
        elif d == "product_group":
            columns.append(Product.group_id)
        elif d in ("region", "industry", "source"):
            columns.append(SEGMENTS[d][0] if d != "source" else func.coalesce(Deal.source_id, Client.source_id))
        elif d == "period":
            columns += [year, month]
    revenue = func.sum(line_or_deal_amount()) if by_product else func.sum(Deal.amount)
    stmt = select(*columns, func.count(distinct(Deal.deal_id)), revenue).select_from(Deal)
    if by_product:
        stmt = stmt.outerjoin(DealLine, DealLine.deal_id == Deal.deal_id)
        if "product_group" in by:
            stmt = stmt.outerjoin(Product, Product.product_id == DealLine.product_id)
    if {"region", "industry", "source"} & set(by):
        stmt = stmt.outerjoin(Client, Client.company_id == Deal.company_id)
    stmt = stmt.where(*won_in(scope), *await deals_seen(session, caller, scope))
    if columns:
        stmt = stmt.group_by(*columns)
    return (await session.execute(stmt)).all()


async def _volume_report(
    session: AsyncSession, by: list[str], period: Period, by_product: bool, raw: Sequence[Any]
) -> dict:
    labels_of = {d: await _dimension_names(session, d) for d in by if d != "period"}
    cells: dict = defaultdict(lambda: [0, ZERO])
    for r in raw:
        values, i = [], 0
        for d in by:
            if d == "period":
                y, m = r[i], r[i + 1]
                values.append(domain.period_key(date(int(y), int(m), 1), period) if y is not None else None)
                i += 2
            else:
                values.append(r[i])
                i += 1
        cell = cells[tuple(values)]
        cell[0] += r[i]
        cell[1] += r[i + 1] or ZERO
    rows = []
    for values, (n, rev) in cells.items():
        row = {}
        for d, v in zip(by, values, strict=True):
            row[d] = key_of(v)
            if d != "period":
                row[f"{d}_name"] = NO_PRODUCT[d] if v is None and d in NO_PRODUCT else labels_of[d].get(v)
        rows.append({**row, "deals": n, "revenue": money(rev), "average": money(rev / n) if n else None})
    rows.sort(key=lambda r: (-Decimal(r["revenue"]), *[r[d] or "" for d in by]))
    total_deals = sum(r["deals"] for r in rows) if not by_product else None
    return {
        "by": by,
        "period": period.value,
        "rows": rows,
        "total": {"revenue": money(sum((c[1] for c in cells.values()), ZERO)), "deals": total_deals},
    }


async def _dimension_names(session: AsyncSession, d: str) -> dict:
    if d == "manager":
        return dict((await session.execute(select(User.user_id, User.name))).all())
    if d == "department":
        return dict((await session.execute(select(Department.department_id, Department.name))).all())
    if d in ("product", "product_group"):
        return await names_of(session, d, set())
    key, label = SEGMENTS[d]
    return dict((await session.execute(select(key, func.max(label)).where(key.is_not(None)).group_by(key))).all())
