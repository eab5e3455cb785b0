"""Projections of the deals, billing, gateway and marketing events. The consumer commits each handler's
writes with its inbox row.

Every handler is order-tolerant and idempotent: a field is taken only from an event at least as new as the
one it came from (`domain.current`), facts that never change (a transition, an allocation, a credit note) are
keyed by their own identity and written once, and sums are recomputed from the stored facts, never added to.
"""

from __future__ import annotations

import uuid
from datetime import UTC

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import domain
from mercator.analytics.tables import (Allocation, Credit, Deal, DealLine, Department, Invoice, MarketingEvent,
                                       Participant, Product, Transition, User)
from mercator.common.bus.consumer import Delivery, Handler
from mercator.common.events import catalogue as ev
from mercator.common.uow import UnitOfWork


async def _row(session: AsyncSession, table, key, **blank):
    """The projected row, locked, or a new placeholder (something about it came before its creation)."""
    row = await session.get(table, key, with_for_update=True)
    if row is None:
        row = table(**blank)
        session.add(row)
        # Written now, so the next event of the same batch finds it instead of adding it a second time.
        await session.flush()
    return row


def _utc(moment):
    return moment.astimezone(UTC) if moment is not None else None


# --- deals ---------------------------------------------------------------------------------------

async def _deal(session: AsyncSession, deal_id: uuid.UUID) -> Deal:
    return await _row(session, Deal, deal_id, deal_id=deal_id, card_version=0, stage_version=0, lost_version=0,
                      closed_version=0, lines_version=0)


async def _transition(session: AsyncSession, deal_id: uuid.UUID, sequence: int, **fields) -> None:
    if await session.get(Transition, (deal_id, sequence)) is None:
        session.add(Transition(deal_id=deal_id, sequence=sequence, **fields))
        await session.flush()


async def _lines(session: AsyncSession, deal: Deal, lines: list[ev.DealLinePayload], sequence: int) -> None:
    if not domain.current(sequence, deal.lines_version):
        return
    await session.flush()
    await session.execute(delete(DealLine).where(DealLine.deal_id == deal.deal_id))
    totals: dict[uuid.UUID, list] = {}
    for line in lines:  # one product on two lines counts as one line of the product
        q, t = totals.setdefault(line.product_id, [0, 0])
        totals[line.product_id] = [q + line.quantity, t + line.total]
    session.add_all(DealLine(deal_id=deal.deal_id, product_id=p, quantity=q, total=t) for p, (q, t) in totals.items())
    deal.lines_version = sequence


def _stage(deal: Deal, sequence: int, stage: str | None, status: domain.DealStatus) -> None:
    if domain.current(sequence, deal.stage_version):
        if stage is not None:
            deal.stage = stage
        deal.status, deal.stage_version = status.value, sequence


def _closed(deal: Deal, sequence: int, at) -> None:
    if domain.current(sequence, deal.closed_version):
        deal.closed_at, deal.closed_version = _utc(at), sequence


async def deal_card(uow: UnitOfWork, delivery: Delivery) -> None:
    card: ev.DealOpened | ev.DealUpdated = delivery.payload
    seq = delivery.envelope.sequence
    s = uow.session
    deal = await _deal(s, card.deal_id)
    if domain.current(seq, deal.card_version):
        for field in ("company_id", "owner_id", "department_id", "title", "amount", "currency",
                      "expected_close_date", "source_id", "marketing_event_id"):
            setattr(deal, field, getattr(card, field))
        deal.opened_at, deal.card_version = _utc(card.opened_at), seq
    _stage(deal, seq, card.stage, domain.DealStatus(card.status))
    if isinstance(card, ev.DealOpened):
        await _transition(s, card.deal_id, seq, from_stage=None, to_stage=card.stage, at=_utc(card.opened_at),
                          seconds_in_previous=None, kind="open")
    await _lines(s, deal, card.lines, seq)


async def stage_changed(uow: UnitOfWork, delivery: Delivery) -> None:
    event: ev.DealStageChanged = delivery.payload
    seq = delivery.envelope.sequence
    deal = await _deal(uow.session, event.deal_id)
    await _transition(uow.session, event.deal_id, seq, from_stage=event.from_stage, to_stage=event.to_stage,
                      at=_utc(event.at), seconds_in_previous=event.seconds_in_previous, kind=event.kind)
    status = domain.status_after(event.kind)
    _stage(deal, seq, event.to_stage, status)
    if status is not domain.DealStatus.OPEN:
        _closed(deal, seq, event.at)


async def deal_won(uow: UnitOfWork, delivery: Delivery) -> None:
    event: ev.DealWon = delivery.payload
    seq = delivery.envelope.sequence
    deal = await _deal(uow.session, event.deal_id)
    if domain.current(seq, deal.card_version):
        # The amount it was won for is the revenue; the card's other fields wait for their snapshot.
        deal.amount, deal.currency = event.amount, event.currency
        deal.owner_id, deal.department_id, deal.company_id = event.owner_id, event.department_id, event.company_id
    _stage(deal, seq, None, domain.DealStatus.WON)
    _closed(deal, seq, event.won_at)
    await _lines(uow.session, deal, event.lines, seq)


async def deal_lost(uow: UnitOfWork, delivery: Delivery) -> None:
    event: ev.DealLost = delivery.payload
    seq = delivery.envelope.sequence
    deal = await _deal(uow.session, event.deal_id)
    if deal.company_id is None:
        deal.owner_id, deal.department_id, deal.company_id = event.owner_id, event.department_id, event.company_id
    _stage(deal, seq, None, domain.DealStatus.LOST)
    _closed(deal, seq, event.lost_at)
    if domain.current(seq, deal.lost_version):
        deal.lost_reason, deal.lost_at_stage, deal.lost_version = event.reason, event.lost_at_stage, seq


async def deal_reopened(uow: UnitOfWork, delivery: Delivery) -> None:
    event: ev.DealReopened = delivery.payload
    deal = await _deal(uow.session, event.deal_id)
    _stage(deal, delivery.envelope.sequence, event.to_stage, domain.DealStatus.OPEN)


async def product(uow: UnitOfWork, delivery: Delivery) -> None:
    card: ev.ProductCreated = delivery.payload
    row = await _row(uow.session, Product, card.product_id, product_id=card.product_id, version=0)
    if domain.current(delivery.envelope.sequence, row.version):
        row.code, row.name, row.group_id, row.group_name = card.code, card.name, card.group_id, card.group_name
        row.version = delivery.envelope.sequence


# --- billing -------------------------------------------------------------------------------------

async def _invoice(session: AsyncSession, invoice_id: uuid.UUID) -> Invoice:
    return await _row(session, Invoice, invoice_id, invoice_id=invoice_id, paid=0, credited=0, cancelled=False)


async def invoice_issued(uow: UnitOfWork, delivery: Delivery) -> None:
    event: ev.InvoiceIssued = delivery.payload
    invoice = await _invoice(uow.session, event.invoice_id)
    # An issued invoice never changes (corrections are credit notes), so any copy of this event says the same.
    for field in ("number", "deal_id", "company_id", "issue_date", "due_date", "total", "currency"):
        setattr(invoice, field, getattr(event, field))


async def invoice_cancelled(uow: UnitOfWork, delivery: Delivery) -> None:
    event: ev.InvoiceCancelled = delivery.payload
    invoice = await _invoice(uow.session, event.invoice_id)
    invoice.cancelled = True
    invoice.company_id = invoice.company_id or event.company_id


async def invoice_credited(uow: UnitOfWork, delivery: Delivery) -> None:
    event: ev.InvoiceCredited = delivery.payload
    s = uow.session
    invoice = await _invoice(s, event.invoice_id)
    if await s.get(Credit, event.credit_note_id) is None:
        s.add(Credit(credit_note_id=event.credit_note_id, invoice_id=event.invoice_id, amount=event.amount))
    await s.flush()
    invoice.credited = await s.scalar(select(func.coalesce(func.sum(Credit.amount), 0))
                                      .where(Credit.invoice_id == event.invoice_id))


async def payment_received(uow: UnitOfWork, delivery: Delivery) -> None:
    event: ev.PaymentReceived = delivery.payload
    s = uow.session
    for a in event.allocations:
        invoice = await _invoice(s, a.invoice_id)
        if await s.get(Allocation, (event.payment_id, a.invoice_id)) is None:
            s.add(Allocation(payment_id=event.payment_id, invoice_id=a.invoice_id, amount=a.amount,
                             paid_on=event.paid_on))
        await s.flush()
        invoice.paid = await s.scalar(select(func.coalesce(func.sum(Allocation.amount), 0))
                                      .where(Allocation.invoice_id == a.invoice_id))


# --- gateway -------------------------------------------------------------------------------------

async def user(uow: UnitOfWork, delivery: Delivery) -> None:
    card: ev.UserCreated = delivery.payload
    row = await _row(uow.session, User, card.user_id, user_id=card.user_id, version=0)
    if domain.current(delivery.envelope.sequence, row.version):
        row.name, row.department_id, row.active = card.name, card.department_id, card.active
        row.version = delivery.envelope.sequence


async def department(uow: UnitOfWork, delivery: Delivery) -> None:
    card: ev.DepartmentChanged = delivery.payload
    row = await _row(uow.session, Department, card.department_id, department_id=card.department_id, version=0)
    if domain.current(delivery.envelope.sequence, row.version):
        row.name, row.parent_id, row.version = card.name, card.parent_id, delivery.envelope.sequence


# --- marketing events (contacts) -------------------------------------------------------------------

async def marketing_event(uow: UnitOfWork, delivery: Delivery) -> None:
    card: ev.MarketingEventCreated = delivery.payload
    row = await _row(uow.session, MarketingEvent, card.marketing_event_id,
                     marketing_event_id=card.marketing_event_id, version=0)
    if domain.current(delivery.envelope.sequence, row.version):
        for field in ("name", "kind", "starts_on", "ends_on", "cost", "currency", "organiser_id", "department_id"):
            setattr(row, field, getattr(card, field))
        row.version = delivery.envelope.sequence


async def _participant(uow: UnitOfWork, event_id: uuid.UUID, company_id: uuid.UUID, status: str,
                       sequence: int) -> None:
    row = await _row(uow.session, Participant, (event_id, company_id), marketing_event_id=event_id,
                     company_id=company_id, status=status, status_version=0)
    if domain.current(sequence, row.status_version):
        row.status, row.status_version = status, sequence


async def participant_added(uow: UnitOfWork, delivery: Delivery) -> None:
    e: ev.ParticipantAdded = delivery.payload
    await _participant(uow, e.marketing_event_id, e.company_id, e.status, delivery.envelope.sequence)


async def participant_status_changed(uow: UnitOfWork, delivery: Delivery) -> None:
    e: ev.ParticipantStatusChanged = delivery.payload
    await _participant(uow, e.marketing_event_id, e.company_id, e.to_status, delivery.envelope.sequence)


async def not_projected(uow: UnitOfWork, delivery: Delivery) -> None:
    """In no report yet; analytics still follows the event (DESIGN §3), so a later report can be rebuilt."""


DEALS: dict[str, Handler] = {
    "DealOpened": deal_card,
    "DealUpdated": deal_card,
    "DealStageChanged": stage_changed,
    "DealWon": deal_won,
    "DealLost": deal_lost,
    "DealReopened": deal_reopened,
    "DealInterestRated": not_projected,
    "ProposalSent": not_projected,
    "PriceOffered": not_projected,
    "OfferAccepted": not_projected,
    "ProductCreated": product,
    "ProductUpdated": product,
}

BILLING: dict[str, Handler] = {
    "InvoiceIssued": invoice_issued,
    "InvoiceCancelled": invoice_cancelled,
    "InvoiceCredited": invoice_credited,
    "PaymentReceived": payment_received,
    # Paid and overdue follow from the allocations and the due date; kept for a later report.
    "InvoicePaid": not_projected,
    "InvoiceOverdue": not_projected,
    "ContractSigned": not_projected,
    "DeliveryShipped": not_projected,
    "DeliveryDelivered": not_projected,
}

GATEWAY: dict[str, Handler] = {
    "UserCreated": user,
    "UserUpdated": user,
    "DepartmentChanged": department,
}

MARKETING: dict[str, Handler] = {
    "MarketingEventCreated": marketing_event,
    "MarketingEventUpdated": marketing_event,
    "ParticipantAdded": participant_added,
    "ParticipantStatusChanged": participant_status_changed,
    "MailingRequested": not_projected,
}
