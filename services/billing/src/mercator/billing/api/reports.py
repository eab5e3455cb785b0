"""Routes of the reports: receivables, and the period lists for the accounting system."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from mercator.billing import reports, schemas
from mercator.billing.api.deps import TimeZone
from mercator.billing.days import today
from mercator.common.errors import BadReference
from mercator.common.http.deps import CurrentUser, SessionDep
from mercator.common.money import quantize
from mercator.common.pagination import Page

router = APIRouter()

Limit = Annotated[int, Query(ge=1, le=200)]
PeriodFrom = Annotated[date, Query(alias="from")]
PeriodTo = Annotated[date, Query(alias="to")]


def _period(period_from: date, period_to: date) -> None:
    if period_to < period_from:
        raise BadReference("the period ends before it starts", field="to")


@router.get("/accounting/invoices", response_model=Page[schemas.AccountingInvoice], tags=["accounting"])
async def accounting_invoices(
    session: SessionDep,
    caller: CurrentUser,
    period_from: PeriodFrom,
    period_to: PeriodTo,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Page[schemas.AccountingInvoice]:
    """Invoices issued in the period (both days included) for the accounting system, with their lines and
    the client's tax id; `?format=csv` or `xlsx` for a file of the whole period."""
    _period(period_from, period_to)
    rows, next_cursor = await reports.accounting_invoices(
        session, caller, period_from=period_from, period_to=period_to, limit=limit, cursor=cursor
    )
    return Page(
        items=[
            schemas.AccountingInvoice(
                number=i.number,
                issue_date=i.issue_date,
                due_date=i.due_date,
                status=i.status.value,
                client_id=i.client_id,
                client_name=c.name if c else None,
                client_tax_id=c.tax_id if c else None,
                currency=i.currency,
                net=i.net_total,
                vat=i.vat_total,
                total=i.total,
                credited=i.credited,
                paid=i.paid,
                cancel_reason=i.cancel_reason,
                invoice_id=i.id,
                deal_id=i.deal_id,
                lines=[
                    schemas.AccountingInvoiceLine(
                        description=l.description,
                        quantity=l.quantity,
                        unit_price=l.unit_price,
                        vat_rate=l.vat_rate,
                        net=l.net(i.currency),
                        vat=l.vat(i.currency),
                        gross=l.gross(i.currency),
                    )
                    for l in i.lines
                ],
            )
            for i, c in rows
        ],
        next_cursor=next_cursor,
    )


@router.get("/accounting/payments", response_model=Page[schemas.AccountingPayment], tags=["accounting"])
async def accounting_payments(
    session: SessionDep,
    caller: CurrentUser,
    period_from: PeriodFrom,
    period_to: PeriodTo,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Page[schemas.AccountingPayment]:
    """Payments received in the period (both days included), each with the invoices it paid; `?format=csv`
    or `xlsx` for a file of the whole period."""
    _period(period_from, period_to)
    rows, next_cursor = await reports.accounting_payments(
        session, caller, period_from=period_from, period_to=period_to, limit=limit, cursor=cursor
    )
    return Page(
        items=[
            schemas.AccountingPayment(
                received_on=r.received_on,
                bank_reference=r.bank_reference,
                method=r.method,
                client_id=r.company_id,
                client_name=c.name if c else None,
                client_tax_id=c.tax_id if c else None,
                amount=r.amount,
                currency=r.currency,
                invoices=[f"{n}: {quantize(a, r.currency)}" for n, a in parts],
                credit=r.credit,
                payment_id=r.id,
            )
            for r, c, parts in rows
        ],
        next_cursor=next_cursor,
    )


@router.get("/receivables", response_model=schemas.Receivables, tags=["receivables"])
async def receivables(
    session: SessionDep, time_zone: TimeZone, caller: CurrentUser, by: Literal["client", "manager"] = "client"
) -> schemas.Receivables:
    """What each client (or each manager's clients) owes, with ageing of the overdue part; a manager gets
    their own clients (their own row), a head their departments'."""
    day = today(time_zone)
    rows = await reports.receivables(session, caller, by=by, day=day)
    return schemas.Receivables(by=by, as_of=day, rows=[schemas.ReceivableRow(**r) for r in rows])
