"""Reports: receivables and their ageing, and the period lists the accounting system takes in."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.billing import domain, repository
from mercator.billing.sight import billing_sight, only_seen
from mercator.billing.tables import Allocation, ClientReplica, DealReplica, Invoice, Payment
from mercator.common.auth import Caller
from mercator.common.money import quantize
from mercator.common.pagination import keyset_page
from mercator.common.visibility import Sight


async def receivables(session: AsyncSession, caller: Caller, *, by: str, day: date) -> list[dict[str, Any]]:
    """Debt and its ageing per client, or per manager (the owner of the deal the invoice is for, or of the
    client card when it is for none), beside the client's credit: money received that no invoice has taken
    yet. Only what the caller sees: a manager gets their own clients, or their own row."""
    seen = billing_sight(caller)
    stmt = (
        select(Invoice, DealReplica.owner_id, ClientReplica.owner_id)
        .outerjoin(DealReplica, DealReplica.deal_id == Invoice.deal_id)
        .outerjoin(ClientReplica, ClientReplica.company_id == Invoice.company_id)
        .where(Invoice.status.in_([*repository.OPEN, domain.InvoiceStatus.PAID.value]))
    )
    rows = (await session.execute(only_seen(stmt, seen, Invoice.deal_id, Invoice.company_id))).all()
    balances = [
        domain.Balance(
            invoice.company_id if by == "client" else (deal_owner if invoice.deal_id is not None else card_owner),
            invoice.currency,
            domain.InvoiceStatus(invoice.status),
            invoice.total,
            invoice.credited,
            invoice.paid,
            invoice.due_date,
        )
        for invoice, deal_owner, card_owner in rows
    ]
    out: dict[tuple[uuid.UUID | None, str], dict[str, Any]] = {}
    for r in domain.receivables(balances):
        ageing = domain.ageing([b for b in balances if b.client_id == r.client_id], day).get(
            r.currency, {bucket: quantize(0, r.currency) for bucket in domain.AGEING_BUCKETS}
        )
        out[r.client_id, r.currency] = {
            "key": r.client_id,
            "currency": r.currency,
            "invoiced": r.invoiced,
            "credited": r.credited,
            "paid": r.paid,
            "debt": r.debt,
            "ageing": ageing,
            "credit": quantize(0, r.currency),
        }
    if by == "client":
        await _with_credit(session, seen, out)
    return sorted(out.values(), key=lambda r: (-r["debt"], str(r["key"]), r["currency"]))


async def _with_credit(
    session: AsyncSession, seen: Sight, out: dict[tuple[uuid.UUID | None, str], dict[str, Any]]
) -> None:
    """Adds each client's credit to its rows, with a row of its own for a client who owes nothing."""
    stmt = select(Payment.company_id, Payment.currency, Payment.credit).where(Payment.credit > 0)
    for company_id, currency, credit in (await session.execute(only_seen(stmt, seen, None, Payment.company_id))).all():
        zero = quantize(0, currency)
        row = out.setdefault(
            (company_id, currency),
            {
                "key": company_id,
                "currency": currency,
                "invoiced": zero,
                "credited": zero,
                "paid": zero,
                "debt": zero,
                "ageing": dict.fromkeys(domain.AGEING_BUCKETS, zero),
                "credit": zero,
            },
        )
        row["credit"] += quantize(credit, currency)


async def accounting_invoices(
    session: AsyncSession, caller: Caller, *, period_from: date, period_to: date, limit: int, cursor: str | None
) -> tuple[list[tuple[domain.Invoice, ClientReplica | None]], str | None]:
    """Invoices issued in the period (cancelled ones too: accounting reverses them), by issue date and number."""
    stmt = only_seen(
        select(Invoice).where(
            Invoice.issue_date >= period_from, Invoice.issue_date <= period_to, Invoice.number.is_not(None)
        ),
        billing_sight(caller),
        Invoice.deal_id,
        Invoice.company_id,
    )
    rows, next_cursor = await keyset_page(session, stmt, (Invoice.issue_date, Invoice.id), limit, cursor)
    clients = await _clients(session, {r.company_id for r in rows})
    invoices = await repository.Invoices(session).of_rows(rows)
    return [(i, clients.get(i.client_id)) for i in invoices], next_cursor


async def accounting_payments(
    session: AsyncSession, caller: Caller, *, period_from: date, period_to: date, limit: int, cursor: str | None
) -> tuple[list[tuple[Payment, ClientReplica | None, list[tuple[str, Decimal]]]], str | None]:
    """Payments received in the period, each with the invoices it paid (by number) and what is left as credit."""
    stmt = only_seen(
        select(Payment).where(Payment.received_on >= period_from, Payment.received_on <= period_to),
        billing_sight(caller),
        None,
        Payment.company_id,
    )
    rows, next_cursor = await keyset_page(session, stmt, (Payment.received_on, Payment.id), limit, cursor)
    clients = await _clients(session, {r.company_id for r in rows})
    paid: dict[uuid.UUID, list[tuple[str, Decimal]]] = {}
    if rows:
        parts = await session.execute(
            select(Allocation.payment_id, Invoice.number, Allocation.amount)
            .join(Invoice, Invoice.id == Allocation.invoice_id)
            .where(Allocation.payment_id.in_([r.id for r in rows]))
            .order_by(Allocation.id)
        )
        for payment_id, number, amount in parts.all():
            paid.setdefault(payment_id, []).append((number or "", amount))
    return [(r, clients.get(r.company_id), paid.get(r.id, [])) for r in rows], next_cursor


async def _clients(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, ClientReplica]:
    if not ids:
        return {}
    found = await session.execute(select(ClientReplica).where(ClientReplica.company_id.in_(ids)))
    return {c.company_id: c for c in found.scalars()}
