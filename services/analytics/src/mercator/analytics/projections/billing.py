"""Projections of the billing events: invoices, their credit notes and the payments allocated to them."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import cast

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import aggregates, bulk, following
from mercator.analytics.projections.rows import blank_deal, placeholder
from mercator.analytics.tables import Allocation, Client, Credit, Deal, Invoice
from mercator.common.bus.consumer import Delivery
from mercator.common.events import catalogue as ev
from mercator.common.uow import UnitOfWork


async def _invoice(session: AsyncSession, invoice_id: uuid.UUID) -> Invoice:
    return await placeholder(session, Invoice, invoice_id, **_blank_invoice(invoice_id))


def _blank_invoice(invoice_id: uuid.UUID) -> dict:
    return {"invoice_id": invoice_id, "paid": 0, "credited": 0, "cancelled": False}


def _invoice_cells(invoice: Invoice) -> list:
    return aggregates.invoice_cells({c: getattr(invoice, c) for c in aggregates.INVOICE_COLUMNS})


@bulk.set_based
async def invoice_issued(session: AsyncSession, deliveries: list[Delivery]) -> None:
    events = [cast(ev.InvoiceIssued, d.payload) for d in deliveries]
    cards = await following.owners(session, Client, (e.company_id for e in events), following.blank_card)
    deals = await following.owners(session, Deal, (e.deal_id for e in events), blank_deal)
    invoices = await bulk.lock(session, Invoice, (e.invoice_id for e in events), _blank_invoice)
    for event in events:
        invoice = invoices[event.invoice_id]
        # An issued invoice never changes (corrections are credit notes), so any copy of this event says the same.
        for field in ("number", "deal_id", "company_id", "issue_date", "due_date", "total", "currency"):
            setattr(invoice, field, getattr(event, field))
    tally = aggregates.Tally()
    for invoice_id, invoice in invoices.items():
        for copies, source, key in (
            (aggregates.DEAL_OWNER, deals, invoice.deal_id),
            (aggregates.CARD_OWNER, cards, invoice.company_id),
        ):
            if key in source:
                for field, column in copies.items():
                    setattr(invoice, field, source[key][column])
        tally.change(aggregates.invoice_cells(invoices.loaded[invoice_id]), aggregates.invoice_cells(vars(invoice)))
    await bulk.save(session, invoices)
    await tally.write(session)


async def invoice_cancelled(uow: UnitOfWork, delivery: Delivery) -> None:
    event = cast(ev.InvoiceCancelled, delivery.payload)
    invoice = await _invoice(uow.session, event.invoice_id)
    before = _invoice_cells(invoice)
    invoice.cancelled = True
    invoice.company_id = invoice.company_id or event.company_id
    tally = aggregates.Tally()
    tally.change(before, _invoice_cells(invoice))
    await tally.write(uow.session)


async def invoice_credited(uow: UnitOfWork, delivery: Delivery) -> None:
    event = cast(ev.InvoiceCredited, delivery.payload)
    s = uow.session
    invoice = await _invoice(s, event.invoice_id)
    before = _invoice_cells(invoice)
    if await s.get(Credit, event.credit_note_id) is None:
        s.add(Credit(credit_note_id=event.credit_note_id, invoice_id=event.invoice_id, amount=event.amount))
    await s.flush()
    credited = await s.scalar(
        select(func.coalesce(func.sum(Credit.amount), 0)).where(Credit.invoice_id == event.invoice_id)
    )
    invoice.credited = credited if credited is not None else Decimal(0)
    tally = aggregates.Tally()
    tally.change(before, _invoice_cells(invoice))
    await tally.write(s)


@bulk.set_based
async def payment_received(session: AsyncSession, deliveries: list[Delivery]) -> None:
    allocations: dict[tuple[uuid.UUID, uuid.UUID], dict] = {}
    for d in deliveries:
        event = cast(ev.PaymentReceived, d.payload)
        for a in event.allocations:
            allocations.setdefault(
                (event.payment_id, a.invoice_id),
                dict(payment_id=event.payment_id, invoice_id=a.invoice_id, amount=a.amount, paid_on=event.paid_on),
            )
    invoice_ids = {invoice_id for _, invoice_id in allocations}
    # Locked before the allocations are summed, so the sum sees those of a batch that held the lock before.
    invoices = await bulk.lock(session, Invoice, invoice_ids, _blank_invoice)
    await bulk.add_new(session, Allocation, allocations)
    i, alloc = Invoice.__table__, Allocation.__table__
    tally = aggregates.Tally()
    for part in bulk.chunks(sorted(invoice_ids)):
        result = await session.execute(
            update(i)
            .where(bulk.among(session, i.c.invoice_id, part))
            .values(
                paid=select(func.coalesce(func.sum(alloc.c.amount), 0))
                .where(alloc.c.invoice_id == i.c.invoice_id)
                .scalar_subquery()
            )
            .returning(i.c.invoice_id, i.c.paid)
        )
        for invoice_id, paid in result.all():
            old = invoices.loaded[invoice_id]
            tally.change(aggregates.invoice_cells(old), aggregates.invoice_cells({**old, "paid": paid}))
    await tally.write(session)
