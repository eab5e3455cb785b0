"""Report 3, head of sales: what clients owe, with ageing buckets, and the overdue invoices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import domain
from mercator.analytics.reports.slicing import ZERO, Scope, key_of, money, owned, user_names
from mercator.analytics.tables import Client, Deal, Invoice, Receivables
from mercator.common.auth import Caller


async def receivables(
    session: AsyncSession, caller: Caller, scope: Scope, *, by: str, today: date, facts: bool = False
) -> dict:
    if by == "manager" and not facts:
        return await _receivables_by_manager(session, caller, scope, today)
    outstanding = Invoice.total - Invoice.credited - Invoice.paid
    manager = func.coalesce(Deal.owner_id, Client.owner_id)
    dept = func.coalesce(Deal.department_id, Client.department_id)
    buckets = _ageing(Invoice.due_date, today)
    base = (
        Invoice.total.is_not(None),
        Invoice.cancelled.is_(False),
        Invoice.currency == scope.currency,
        outstanding > 0,
        *await owned(session, caller, scope, manager, dept),
    )
    source = (
        select()
        .select_from(Invoice)
        .outerjoin(Deal, Deal.deal_id == Invoice.deal_id)
        .outerjoin(Client, Client.company_id == Invoice.company_id)
    )
    if by == "invoice":
        return await _overdue_invoices(session, source, base, manager, outstanding, today)
    key = manager if by == "manager" else Invoice.company_id
    columns: list[Any] = [
        func.count(),
        func.sum(outstanding),
        func.count().filter(Invoice.due_date < today),
        *(func.coalesce(func.sum(outstanding).filter(cond), 0) for cond in buckets.values()),
    ]
    if by == "client":
        columns.append(func.max(Client.name))
    rows = (await session.execute(source.add_columns(key, *columns).where(*base).group_by(key))).all()
    return await _receivable_rows(session, by, rows)


async def _overdue_invoices(session: AsyncSession, source, base: tuple, manager, outstanding, today: date) -> dict:
    """The overdue invoices one by one, the longest overdue first."""
    stmt = (
        source.add_columns(
            Invoice.invoice_id,
            Invoice.number,
            Invoice.company_id,
            Client.name,
            manager,
            Invoice.issue_date,
            Invoice.due_date,
            Invoice.total,
            outstanding,
        )
        .where(*base, Invoice.due_date < today)
        .order_by(Invoice.due_date, Invoice.invoice_id)
        .limit(10_000)
    )
    rows = (await session.execute(stmt)).all()
    names = await user_names(session, {r[4] for r in rows})
    return {
        "by": "invoice",
        "rows": [
            {
                "invoice_id": str(i),
                "number": n,
                "company_id": key_of(c),
                "client": cn,
                "manager_id": key_of(m),
                "manager": names.get(m),
                "issue_date": issued.isoformat() if issued else None,
                "due_date": due.isoformat(),
                "days_overdue": (today - due).days,
                "total": money(t),
                "outstanding": money(o),
                "bucket": domain.ageing_bucket(due, today),
            }
            for i, n, c, cn, m, issued, due, t, o in rows
        ],
    }


def _ageing(due, today: date) -> dict:
    """The ageing buckets as conditions on a due date column, the oldest last."""
    return {
        "current": due >= today,
        "1-30": and_(due < today, due >= today - timedelta(days=30)),
        "31-60": and_(due < today - timedelta(days=30), due >= today - timedelta(days=60)),
        "61-90": and_(due < today - timedelta(days=60), due >= today - timedelta(days=90)),
        "90+": due < today - timedelta(days=90),
    }


async def _receivables_by_manager(session: AsyncSession, caller: Caller, scope: Scope, today: date) -> dict:
    """Per manager from the receivables aggregate: the ageing follows from each cell's due date, today."""
    r = Receivables
    n = func.sum(r.invoices)
    columns = [
        n,
        func.sum(r.outstanding),
        func.coalesce(func.sum(r.invoices).filter(r.due_date < today), 0),
        *(func.coalesce(func.sum(r.outstanding).filter(cond), 0) for cond in _ageing(r.due_date, today).values()),
    ]
    rows = (
        await session.execute(
            select(r.manager_id, *columns)
            .where(r.currency == scope.currency, *await owned(session, caller, scope, r.manager_id, r.department_id))
            .group_by(r.manager_id)
            .having(n > 0)
        )
    ).all()
    return await _receivable_rows(session, "manager", rows)


async def _receivable_rows(session: AsyncSession, by: str, rows: Sequence[Any]) -> dict:
    names = await user_names(session, {r[0] for r in rows}) if by == "manager" else {}
    out = []
    for r in rows:
        k, n, total, overdue_n, *amounts = r
        name = amounts.pop() if by == "client" else names.get(k)
        out.append(
            {
                "key": key_of(k),
                "name": name,
                "invoices": n,
                "overdue_invoices": overdue_n,
                "outstanding": money(total),
                "overdue": money(sum(amounts[1:], ZERO)),
                "ageing": {b: money(a) for b, a in zip(domain.AGEING_BUCKETS, amounts, strict=True)},
            }
        )
    out.sort(key=lambda r: (-Decimal(r["overdue"]), -Decimal(r["outstanding"]), r["key"] or ""))
    return {"by": by, "rows": out}
