"""Projections of the deals, billing, gateway and marketing events. The consumer commits each handler's
writes with its inbox row.

Every handler is order-tolerant and idempotent: a field is taken only from an event at least as new as the
one it came from (`domain.current`), facts that never change (a transition, an allocation, a credit note) are
keyed by their own identity and written once, and sums are recomputed from the stored facts, never added to.
"""

from __future__ import annotations

import uuid
from datetime import UTC

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import aggregates, bulk, domain
from mercator.analytics.tables import (
    Allocation,
    Client,
    Credit,
    Deal,
    DealLine,
    Department,
    Invoice,
    MarketingEvent,
    Participant,
    Product,
    Transition,
    User,
)
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


def _blank_deal(deal_id: uuid.UUID) -> dict:
    return {
        "deal_id": deal_id,
        "card_version": 0,
        "stage_version": 0,
        "lost_version": 0,
        "closed_version": 0,
        "lines_version": 0,
    }


class _DealFacts:
    """What a batch of deal events adds beside the deal rows: transitions (written once) and each deal's
    newest lines (replacing what it had)."""

    def __init__(self):
        self.transitions: dict[tuple[uuid.UUID, int], dict] = {}
        self.lines: dict[uuid.UUID, list[dict]] = {}

    def transition(self, deal, sequence: int, **fields) -> None:
        self.transitions.setdefault((deal.deal_id, sequence), dict(deal_id=deal.deal_id, sequence=sequence, **fields))
        # The furthest step is a maximum over the steps, which are only ever added: a repeated or late one
        # leaves it as right as it was.
        position = domain.FUNNEL_POSITIONS.get(fields["to_stage"], -1)
        deal.reached = position if deal.reached is None else max(deal.reached, position)

    def replace_money(self, deal, amount, lines: list[ev.DealLinePayload] | None, sequence: int) -> None:
        """The deal's amount and its lines, which add up to it, taken together from the newest event that
        carries them (`lines_version`): a card, an accepted offer, the win."""
        if not domain.current(sequence, deal.lines_version):
            return
        deal.amount, deal.lines_version = amount, sequence
        if lines is None:  # an acceptance published before it carried the re-priced lines: the amount alone
            return
        totals: dict[uuid.UUID, list] = {}
        for line in lines:  # one product on two lines counts as one line of the product
            q, t = totals.setdefault(line.product_id, [0, 0])
            totals[line.product_id] = [q + line.quantity, t + line.total]
        self.lines[deal.deal_id] = [
            dict(deal_id=deal.deal_id, product_id=p, quantity=q, total=t) for p, (q, t) in totals.items()
        ]

    async def write(self, session: AsyncSession) -> list[dict]:
        """Returns the transitions that were new."""
        added = await bulk.add_new(session, Transition, self.transitions, returning=True)
        replaced = sorted(self.lines)
        for part in bulk.chunks(replaced):
            lines = DealLine.__table__
            await session.execute(delete(lines).where(bulk.among(session, lines.c.deal_id, part)))
        await bulk.add_new(
            session,
            DealLine,
            {(line["deal_id"], line["product_id"]): line for deal_id in replaced for line in self.lines[deal_id]},
        )
        return [self.transitions[key] for key in added]


def _deals(apply):
    """A set-based handler of one deal event type: `apply(deal, payload, sequence, facts)` is its rule for one
    event, run in delivery order over the batch's locked deal rows."""

    @bulk.set_based
    async def handler(session: AsyncSession, deliveries: list[Delivery]) -> None:
        cards = await aggregates.client_keys(session, {d.payload.company_id for d in deliveries})
        deals = await bulk.lock(session, Deal, (d.payload.deal_id for d in deliveries), _blank_deal)
        facts = _DealFacts()
        for d in deliveries:
            apply(deals[d.payload.deal_id], d.payload, d.envelope.sequence, facts)
        for row in deals.values():
            if row.company_id is not None:
                if row.company_id not in cards:  # a deal whose events name another card than its row (never yet)
                    cards.update(await aggregates.client_keys(session, [row.company_id]))
                for field, value in cards[row.company_id].items():
                    setattr(row, field, value)
        await bulk.save(session, deals)
        new_steps = await facts.write(session)
        tally = aggregates.Tally()
        await aggregates.follow_stages(session, deals, new_steps, tally)
        moved = {}
        for deal_id, row in deals.items():
            old = deals.loaded[deal_id]
            if vars(row) != old:
                tally.change(aggregates.deal_cells(old), aggregates.deal_cells(vars(row)))
            if (row.owner_id, row.department_id) != (old["owner_id"], old["department_id"]):
                moved[deal_id] = {"owner_id": row.owner_id, "department_id": row.department_id}
        await aggregates.follow_owners(session, "deal_id", aggregates.DEAL_OWNER, moved, tally)
        await tally.write(session)

    handler.__name__ = handler.__qualname__ = apply.__name__
    handler.__doc__ = apply.__doc__
    return handler


def _stage(deal, sequence: int, stage: str | None, status: domain.DealStatus, probability=None) -> None:
    if domain.current(sequence, deal.stage_version):
        if stage is not None:
            deal.stage, deal.probability = stage, probability
        deal.status, deal.stage_version = status.value, sequence


def _closed(deal, sequence: int, at) -> None:
    if domain.current(sequence, deal.closed_version):
        deal.closed_at, deal.closed_version = _utc(at), sequence


@_deals
def deal_card(deal, card: ev.DealOpened | ev.DealUpdated, seq: int, facts: _DealFacts) -> None:
    if domain.current(seq, deal.card_version):
        for field in (
            "company_id",
            "owner_id",
            "department_id",
            "title",
            "currency",
            "expected_close_date",
            "source_id",
            "marketing_event_id",
        ):
            setattr(deal, field, getattr(card, field))
        deal.opened_at, deal.card_version = _utc(card.opened_at), seq
    _stage(deal, seq, card.stage, domain.DealStatus(card.status), card.stage_probability)
    if isinstance(card, ev.DealOpened):
        facts.transition(
            deal,
            seq,
            from_stage=None,
            to_stage=card.stage,
            at=_utc(card.opened_at),
            seconds_in_previous=None,
            kind="open",
        )
    facts.replace_money(deal, card.amount, card.lines, seq)


@_deals
def stage_changed(deal, event: ev.DealStageChanged, seq: int, facts: _DealFacts) -> None:
    facts.transition(
        deal,
        seq,
        from_stage=event.from_stage,
        to_stage=event.to_stage,
        at=_utc(event.at),
        seconds_in_previous=event.seconds_in_previous,
        kind=event.kind,
    )
    status = domain.status_after(event.kind)
    _stage(deal, seq, event.to_stage, status, event.to_probability)
    if status is not domain.DealStatus.OPEN:
        _closed(deal, seq, event.at)


@_deals
def deal_won(deal, event: ev.DealWon, seq: int, facts: _DealFacts) -> None:
    if domain.current(seq, deal.card_version):
        # The card's other fields wait for their snapshot.
        deal.currency = event.currency
        deal.owner_id, deal.department_id, deal.company_id = event.owner_id, event.department_id, event.company_id
    _stage(deal, seq, None, domain.DealStatus.WON)
    _closed(deal, seq, event.won_at)
    # The amount it was won for is the revenue.
    facts.replace_money(deal, event.amount, event.lines, seq)


@_deals
def offer_accepted(deal, event: ev.OfferAccepted, seq: int, facts: _DealFacts) -> None:
    """The accepted price is the deal's amount from now on, in the open pipeline already."""
    facts.replace_money(deal, event.amount, event.lines, seq)


@_deals
def deal_lost(deal, event: ev.DealLost, seq: int, facts: _DealFacts) -> None:
    if deal.company_id is None:
        deal.owner_id, deal.department_id, deal.company_id = event.owner_id, event.department_id, event.company_id
    _stage(deal, seq, None, domain.DealStatus.LOST)
    _closed(deal, seq, event.lost_at)
    if domain.current(seq, deal.lost_version):
        deal.lost_reason, deal.lost_at_stage, deal.lost_version = event.reason, event.lost_at_stage, seq


@_deals
def deal_reopened(deal, event: ev.DealReopened, seq: int, facts: _DealFacts) -> None:
    _stage(deal, seq, event.to_stage, domain.DealStatus.OPEN, event.to_probability)


async def product(uow: UnitOfWork, delivery: Delivery) -> None:
    card: ev.ProductCreated = delivery.payload
    row = await _row(uow.session, Product, card.product_id, product_id=card.product_id, version=0)
    if domain.current(delivery.envelope.sequence, row.version):
        row.code, row.name, row.group_id, row.group_name = card.code, card.name, card.group_id, card.group_name
        row.version = delivery.envelope.sequence


# --- billing -------------------------------------------------------------------------------------


async def _invoice(session: AsyncSession, invoice_id: uuid.UUID) -> Invoice:
    return await _row(session, Invoice, invoice_id, **_blank_invoice(invoice_id))


def _blank_invoice(invoice_id: uuid.UUID) -> dict:
    return {"invoice_id": invoice_id, "paid": 0, "credited": 0, "cancelled": False}


def _invoice_cells(invoice: Invoice) -> list:
    return aggregates.invoice_cells({c: getattr(invoice, c) for c in aggregates.INVOICE_COLUMNS})


@bulk.set_based
async def invoice_issued(session: AsyncSession, deliveries: list[Delivery]) -> None:
    events: list[ev.InvoiceIssued] = [d.payload for d in deliveries]
    cards = await aggregates.owners(session, Client, (e.company_id for e in events), aggregates.blank_card)
    deals = await aggregates.owners(session, Deal, (e.deal_id for e in events), _blank_deal)
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
    event: ev.InvoiceCancelled = delivery.payload
    invoice = await _invoice(uow.session, event.invoice_id)
    before = _invoice_cells(invoice)
    invoice.cancelled = True
    invoice.company_id = invoice.company_id or event.company_id
    tally = aggregates.Tally()
    tally.change(before, _invoice_cells(invoice))
    await tally.write(uow.session)


async def invoice_credited(uow: UnitOfWork, delivery: Delivery) -> None:
    event: ev.InvoiceCredited = delivery.payload
    s = uow.session
    invoice = await _invoice(s, event.invoice_id)
    before = _invoice_cells(invoice)
    if await s.get(Credit, event.credit_note_id) is None:
        s.add(Credit(credit_note_id=event.credit_note_id, invoice_id=event.invoice_id, amount=event.amount))
    await s.flush()
    invoice.credited = await s.scalar(
        select(func.coalesce(func.sum(Credit.amount), 0)).where(Credit.invoice_id == event.invoice_id)
    )
    tally = aggregates.Tally()
    tally.change(before, _invoice_cells(invoice))
    await tally.write(s)


@bulk.set_based
async def payment_received(session: AsyncSession, deliveries: list[Delivery]) -> None:
    allocations: dict[tuple[uuid.UUID, uuid.UUID], dict] = {}
    for d in deliveries:
        event: ev.PaymentReceived = d.payload
        for a in event.allocations:
            allocations.setdefault(
                (event.payment_id, a.invoice_id),
                dict(payment_id=event.payment_id, invoice_id=a.invoice_id, amount=a.amount, paid_on=event.paid_on),
            )
    invoice_ids = {invoice_id for _, invoice_id in allocations}
    # Locked before the allocations are summed, so the sum sees those of a batch that held the lock before.
    invoices = await bulk.lock(session, Invoice, invoice_ids, _blank_invoice)
    await bulk.add_new(session, Allocation, allocations)
    i, a = Invoice.__table__, Allocation.__table__
    tally = aggregates.Tally()
    for part in bulk.chunks(sorted(invoice_ids)):
        result = await session.execute(
            update(i)
            .where(bulk.among(session, i.c.invoice_id, part))
            .values(
                paid=select(func.coalesce(func.sum(a.c.amount), 0))
                .where(a.c.invoice_id == i.c.invoice_id)
                .scalar_subquery()
            )
            .returning(i.c.invoice_id, i.c.paid)
        )
        for invoice_id, paid in result.all():
            old = invoices.loaded[invoice_id]
            tally.change(aggregates.invoice_cells(old), aggregates.invoice_cells({**old, "paid": paid}))
    await tally.write(session)


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
    row = await _row(
        uow.session, MarketingEvent, card.marketing_event_id, marketing_event_id=card.marketing_event_id, version=0
    )
    if domain.current(delivery.envelope.sequence, row.version):
        for field in ("name", "kind", "starts_on", "ends_on", "cost", "currency", "organiser_id", "department_id"):
            setattr(row, field, getattr(card, field))
        row.version = delivery.envelope.sequence


async def _participant(uow: UnitOfWork, event_id: uuid.UUID, company_id: uuid.UUID, status: str, sequence: int) -> None:
    row = await _row(
        uow.session,
        Participant,
        (event_id, company_id),
        marketing_event_id=event_id,
        company_id=company_id,
        status=status,
        status_version=0,
    )
    if domain.current(sequence, row.status_version):
        row.status, row.status_version = status, sequence


async def participant_added(uow: UnitOfWork, delivery: Delivery) -> None:
    e: ev.ParticipantAdded = delivery.payload
    await _participant(uow, e.marketing_event_id, e.company_id, e.status, delivery.envelope.sequence)


async def participant_status_changed(uow: UnitOfWork, delivery: Delivery) -> None:
    e: ev.ParticipantStatusChanged = delivery.payload
    await _participant(uow, e.marketing_event_id, e.company_id, e.to_status, delivery.envelope.sequence)


async def not_projected(uow: UnitOfWork, delivery: Delivery) -> None:
    """In no report yet; analytics still follows the event, so a later report can be rebuilt."""


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
    "OfferAccepted": offer_accepted,
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
