"""Projections of the deals events: the deals with their lines and stage moves, and the product catalogue."""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import aggregates, bulk, domain, following
from mercator.analytics.projections.rows import blank_deal, placeholder, utc
from mercator.analytics.tables import Deal, DealLine, Product, Transition
from mercator.common.bus.consumer import Delivery
from mercator.common.events import catalogue as ev
from mercator.common.uow import UnitOfWork


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
        # Every deal event names its deal and the deal's client card.
        events: list[Any] = [d.payload for d in deliveries]
        cards = await following.client_keys(session, {e.company_id for e in events})
        deals = await bulk.lock(session, Deal, (e.deal_id for e in events), blank_deal)
        facts = _DealFacts()
        for d, e in zip(deliveries, events, strict=True):
            apply(deals[e.deal_id], e, d.envelope.sequence, facts)
        for row in deals.values():
            if row.company_id is not None:
                if row.company_id not in cards:  # a deal whose events name another card than its row (never yet)
                    cards.update(await following.client_keys(session, [row.company_id]))
                for field, value in cards[row.company_id].items():
                    setattr(row, field, value)
        await bulk.save(session, deals)
        new_steps = await facts.write(session)
        tally = aggregates.Tally()
        await following.follow_stages(session, deals, new_steps, tally)
        moved = {}
        for deal_id, row in deals.items():
            old = deals.loaded[deal_id]
            if vars(row) != old:
                tally.change(aggregates.deal_cells(old), aggregates.deal_cells(vars(row)))
            if (row.owner_id, row.department_id) != (old["owner_id"], old["department_id"]):
                moved[deal_id] = {"owner_id": row.owner_id, "department_id": row.department_id}
        await following.follow_owners(session, "deal_id", aggregates.DEAL_OWNER, moved, tally)
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
        deal.closed_at, deal.closed_version = utc(at), sequence


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
        deal.opened_at, deal.card_version = utc(card.opened_at), seq
    _stage(deal, seq, card.stage, domain.DealStatus(card.status), card.stage_probability)
    if isinstance(card, ev.DealOpened):
        facts.transition(
            deal,
            seq,
            from_stage=None,
            to_stage=card.stage,
            at=utc(card.opened_at),
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
        at=utc(event.at),
        seconds_in_previous=event.seconds_in_previous,
        kind=event.kind,
    )
    status = domain.status_after(event.kind)
    if status is domain.DealStatus.OPEN and _closed_after(deal, event.at):
        # A step from before the close read after it (deals splices a late billing fact into the kept path and
        # publishes it with the deal's next version): history, not the stage the deal is at now.
        return
    _stage(deal, seq, event.to_stage, status, event.to_probability)
    if status is not domain.DealStatus.OPEN:
        _closed(deal, seq, event.at)


def _closed_after(deal, at) -> bool:
    return (
        deal.status in (domain.DealStatus.WON.value, domain.DealStatus.LOST.value)
        and deal.closed_at is not None
        and utc(at) < utc(deal.closed_at)
    )


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
    card = cast(ev.ProductCreated, delivery.payload)
    row = await placeholder(uow.session, Product, card.product_id, product_id=card.product_id, version=0)
    if domain.current(delivery.envelope.sequence, row.version):
        row.code, row.name, row.group_id, row.group_name = card.code, card.name, card.group_id, card.group_name
        row.version = delivery.envelope.sequence
