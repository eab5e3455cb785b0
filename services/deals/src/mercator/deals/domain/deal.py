"""The deal: the aggregate every change of a deal goes through."""

# mypy.ini's strict section names `mercator.*.domain`, the package, not its modules: they say the same here.
from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import cast

from mercator.common.errors import InvalidValue, RuleViolation
from mercator.common.money import MAX_AMOUNT, check_currency, check_percent, parse_amount, parse_decimal, quantize
from mercator.deals.domain.parts import (
    CARD_FIELDS,
    DealLine,
    DealStatus,
    Edited,
    Fact,
    InterestRated,
    Lost,
    Offer,
    OfferAccepted,
    OfferMade,
    OfferSide,
    OfferStatus,
    Opened,
    Proposal,
    ProposalSent,
    Reopened,
    StageChanged,
    Transition,
    TransitionKind,
    Won,
    clean_text,
    reprice,
    utc,
)
from mercator.deals.domain.pipelines import Pipeline, Requirement, Stage, StageKind, require_open_stage
from mercator.deals.domain.views import splice_late_fact


@dataclass
class Deal:
    id: uuid.UUID
    pipeline: Pipeline
    stage_code: str
    status: DealStatus
    currency: str
    amount: Decimal | None
    expected_close_date: date | None
    entered_stage_at: datetime
    interest_rating: int | None = None
    lines: list[DealLine] = field(default_factory=list)
    offers: list[Offer] = field(default_factory=list)
    lost_reason: str | None = None
    lost_at_stage: str | None = None
    closed_at: datetime | None = None
    closed_from_stage: str | None = None
    interest_comment: str | None = None
    interest_rated_at: datetime | None = None
    lost_reason_id: uuid.UUID | None = None
    title: str = ""
    company_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    source_id: uuid.UUID | None = None
    marketing_event_id: uuid.UUID | None = None
    opened_at: datetime | None = None
    version: int = 0
    events: list[Fact] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def open(
        cls,
        id: uuid.UUID,
        pipeline: Pipeline,
        at: datetime,
        author_id: uuid.UUID | None,
        currency: str,
        amount: str | Decimal | int | None = None,
        expected_close_date: date | None = None,
        stage_code: str | None = None,
        lines: Iterable[DealLine] = (),
        *,
        title: str = "",
        company_id: uuid.UUID | None = None,
        owner_id: uuid.UUID | None = None,
        department_id: uuid.UUID | None = None,
        source_id: uuid.UUID | None = None,
        marketing_event_id: uuid.UUID | None = None,
    ) -> tuple[Deal, Transition]:
        at = utc(at)
        currency = check_currency(currency)
        stage = pipeline.stage(stage_code) if stage_code is not None else pipeline.first_stage
        require_open_stage(stage)
        deal = cls(id, pipeline, stage.code, DealStatus.OPEN, currency, None, expected_close_date, at)
        deal.title, deal.company_id, deal.owner_id, deal.department_id = title, company_id, owner_id, department_id
        deal.source_id, deal.marketing_event_id, deal.opened_at, deal.version = source_id, marketing_event_id, at, 1
        deal._price(deal._checked_lines(lines), None if amount is None else parse_amount(amount, currency))
        # Opening straight into a later stage (an import, a late entry) is entering it.
        deal._require(stage.require_to_enter, f"cannot enter stage {stage.name!r}")
        transition = Transition(None, stage.code, at, None, author_id, None, TransitionKind.OPEN)
        deal.events.append(Opened(transition))
        return deal, transition

    @property
    def stage(self) -> Stage:
        return self.pipeline.stage(self.stage_code)

    # -- guards

    def _require_status_open(self) -> None:
        if self.status != DealStatus.OPEN:
            raise RuleViolation("deal_closed", f"the deal is {self.status}; reopen it first", "status")

    def _met(self, requirement: Requirement) -> bool:
        return {
            Requirement.INTEREST_RATED: self.interest_rating is not None,
            Requirement.OFFER_ACCEPTED: any(o.status == OfferStatus.ACCEPTED for o in self.offers),
            Requirement.AMOUNT_SET: self.amount is not None,
            Requirement.LINES_SET: bool(self.lines),
            Requirement.CLOSE_DATE_SET: self.expected_close_date is not None,
        }[Requirement(requirement)]

    def _require(self, requirements: Iterable[Requirement], context: str) -> None:
        for requirement in sorted(requirements):  # sorted: the same refusal every time
            if not self._met(requirement):
                raise RuleViolation("requirement_missing", f"{context}: {requirement} is missing", str(requirement))

    def _checked_lines(self, lines: Iterable[DealLine]) -> list[DealLine]:
        checked = []
        for i, line in enumerate(lines):
            at = f"lines[{i}]"
            quantity = parse_decimal(line.quantity, f"{at}.quantity")
            if quantity <= 0:
                raise InvalidValue("bad_quantity", "the quantity must be above zero", f"{at}.quantity")
            price = parse_amount(line.unit_price, self.currency, f"{at}.unit_price")
            if quantity * price > MAX_AMOUNT:
                raise InvalidValue("amount_too_large", "the line total is absurd", at)
            discount = check_percent(line.discount_percent, f"{at}.discount_percent")
            checked.append(replace(line, quantity=quantity, unit_price=price, discount_percent=discount))
        return checked

    def _transition(
        self,
        to: Stage,
        at: datetime,
        author_id: uuid.UUID | None,
        comment: str | None,
        kind: TransitionKind,
        cause: str | None = None,
    ) -> Transition:
        seconds = max(0, int((at - self.entered_stage_at).total_seconds()))  # clocks drift
        transition = Transition(self.stage_code, to.code, at, seconds, author_id, clean_text(comment), kind, cause)
        self.stage_code, self.entered_stage_at = to.code, at
        self.events.append(StageChanged(transition))
        return transition

    def check_recorded_time(self, at: datetime, field: str = "at") -> datetime:
        """A fact brought in from the past (history) comes no earlier than the deal's latest move, so the kept
        path stays in the order of time and every duration is one that really passed."""
        at = utc(at, field)
        since = self.entered_stage_at
        if at < since:
            raise InvalidValue(
                "before_previous_move",
                f"the deal has been at {self.stage.name!r} since {since.isoformat()}; "
                "a later fact cannot have happened before that",
                field,
            )
        return at

    # -- moving

    def move_to(
        self, stage_code: str, at: datetime, author_id: uuid.UUID | None, comment: str | None = None
    ) -> Transition:
        at = utc(at)
        self._require_status_open()
        current, target = self.stage, self.pipeline.stage(stage_code)
        if target.code == current.code:
            raise RuleViolation("same_stage", f"the deal is already at {target.name!r}", "stage")
        require_open_stage(target)
        # Exit criteria bind only going forward: stepping back from a premature demo
        # must not demand a rating for a demo that did not happen.
        if target.position > current.position:
            self._require(current.require_to_leave, f"cannot leave stage {current.name!r}")
        self._require(target.require_to_enter, f"cannot enter stage {target.name!r}")
        return self._transition(target, at, author_id, comment, TransitionKind.MOVE)

    def advance_automatically(self, stage_code: str, at: datetime, cause: str) -> Transition | None:
        # Billing facts arrive late and out of order: anything that is not a step forward
        # into an open stage of this pipeline is simply not news.
        # A fact known by its day (00:00 UTC of it) may come from the day the deal last moved: it is placed no
        # earlier than that move, so the path keeps its order.
        at = max(utc(at), self.entered_stage_at)
        if self.status != DealStatus.OPEN:
            return None
        target = next((s for s in self.pipeline.stages if s.code == stage_code), None)
        if target is None or target.kind != StageKind.OPEN or target.position <= self.stage.position:
            return None
        return self._transition(target, at, None, None, TransitionKind.AUTOMATIC, cause)

    def splice_late_fact(
        self, kept: list[Transition], stage_code: str, at: datetime, cause: str
    ) -> tuple[int, Transition] | None:
        """A billing fact that came too late to move the deal (see `splice_late_fact`): the step it missed,
        recorded in its place in the kept path. Returns the index in `kept` of the transition that follows the
        step, and that one as it must now read; None when the fact does not fit the path."""
        spliced = splice_late_fact(self.pipeline, kept, stage_code, at, cause)
        if spliced is None:
            return None
        inserted, index, rewritten = spliced
        self.events.append(StageChanged(inserted))
        return index, rewritten

    def win(self, at: datetime, author_id: uuid.UUID | None, comment: str | None = None) -> Transition:
        at = utc(at)
        self._require_status_open()
        won = self.pipeline.won_stage
        self._require(won.require_to_enter, f"cannot enter stage {won.name!r}")
        self.closed_from_stage = self.stage_code
        transition = self._transition(won, at, author_id, comment, TransitionKind.WON)
        self.status, self.closed_at = DealStatus.WON, at
        self.events.append(Won(transition))
        return transition

    def lose(
        self,
        reason: str | None,
        at: datetime,
        author_id: uuid.UUID | None,
        comment: str | None = None,
        reason_id: uuid.UUID | None = None,
    ) -> Transition:
        """`reason`: the name of a lost reason of the dictionary (`reason_id`), as it reads today."""
        at = utc(at)
        self._require_status_open()
        if not clean_text(reason):
            raise InvalidValue("reason_required", "say why the deal was lost: pick a lost reason", "reason_id")
        lost = self.pipeline.lost_stage
        self.closed_from_stage = self.lost_at_stage = self.stage_code
        transition = self._transition(lost, at, author_id, comment, TransitionKind.LOST)
        self.status, self.closed_at, self.lost_reason = DealStatus.LOST, at, clean_text(reason)
        self.lost_reason_id = reason_id
        self.events.append(Lost(transition))
        return transition

    def reopen(
        self, at: datetime, author_id: uuid.UUID | None, comment: str | None = None, stage_code: str | None = None
    ) -> Transition:
        at = utc(at)
        if self.status == DealStatus.OPEN:
            raise RuleViolation("deal_not_closed", "only a won or lost deal can be reopened", "status")
        back_to = stage_code or self.lost_at_stage or self.closed_from_stage
        target = self.pipeline.stage(back_to) if back_to else self.pipeline.first_stage
        require_open_stage(target)
        self._require(target.require_to_enter, f"cannot enter stage {target.name!r}")
        transition = self._transition(target, at, author_id, comment, TransitionKind.REOPEN)
        # The closure lives on in the 'won'/'lost' transition; on an open deal it would lie.
        self.status = DealStatus.OPEN
        self.lost_reason = self.lost_at_stage = self.closed_at = self.closed_from_stage = None
        self.lost_reason_id = None
        self.events.append(Reopened(transition))
        return transition

    # -- facts gathered on the way

    def rate_interest(self, rating: int, comment: str | None, at: datetime, author_id: uuid.UUID | None = None) -> None:
        at = utc(at)
        self._require_status_open()
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise InvalidValue("bad_rating", "rate the interest from 1 to 5", "rating")
        self.interest_rating, self.interest_rated_at = rating, at
        self.interest_comment = clean_text(comment)
        self.events.append(InterestRated(rating, self.interest_comment, at, author_id))

    def send_proposal(
        self,
        proposal_id: uuid.UUID,
        documents: Iterable[str],
        recipient_person_ids: Iterable[uuid.UUID],
        channel: str,
        message: str | None,
        at: datetime,
        author_id: uuid.UUID,
    ) -> Proposal:
        self._require_status_open()
        proposal = Proposal(
            proposal_id, tuple(documents), tuple(recipient_person_ids), channel, message, utc(at), author_id
        )
        self.events.append(ProposalSent(proposal))
        return proposal

    def edit(self, changes: Mapping[str, object]) -> None:
        """A PATCH of the deal: its card's own fields, the lines and amount, the expected close date; the names of
        what was sent are recorded, whatever they were before (as they always were)."""
        if "title" in changes and not changes["title"]:
            raise InvalidValue("title_required", "a deal must have a title", "title")
        if "lines" in changes:
            lines = changes["lines"]
            amount = changes.get("amount")
            self.set_lines(cast("list[DealLine]", lines or []), cast("Decimal | str | None", amount))
        elif "amount" in changes:
            self.set_amount(cast("Decimal | str | None", changes["amount"]))
        if "expected_close_date" in changes:
            self.set_expected_close_date(cast("date | None", changes["expected_close_date"]))
        for name in CARD_FIELDS:
            if name in changes:
                setattr(self, name, changes[name])
        self.events.append(Edited(tuple(sorted(changes))))

    def reassign(self, owner_id: uuid.UUID, department_id: uuid.UUID | None) -> None:
        self.owner_id, self.department_id = owner_id, department_id
        self.events.append(Edited(("owner_id",)))

    def _price(self, lines: list[DealLine], amount: Decimal | None) -> None:
        """One truth for money: a deal with lines is worth what they add up to, at their own prices or re-priced
        to an agreed amount; a deal without lines has an amount of its own (or none yet)."""
        if not lines:
            self.lines, self.amount = [], amount
        elif amount is None:
            total = sum((line.list_total(self.currency) for line in lines), Decimal(0))
            if total > MAX_AMOUNT:
                raise InvalidValue("amount_too_large", "the lines add up to an absurd amount", "lines")
            self.lines, self.amount = [replace(line, agreed_total=None) for line in lines], total
        else:
            self.lines, self.amount = reprice(lines, amount, self.currency), amount

    def set_lines(self, lines: Iterable[DealLine], amount: str | Decimal | int | None = None) -> None:
        """New lines bring their own total, unless an agreed `amount` comes with them; no lines keep the amount."""
        self._require_status_open()
        checked = self._checked_lines(lines)
        if amount is not None:
            amount = parse_amount(amount, self.currency)
        elif not checked:
            amount = self.amount
        self._price(checked, amount)

    def set_amount(self, amount: str | Decimal | int | None) -> None:
        self._require_status_open()
        if amount is None and self.lines:
            raise InvalidValue(
                "amount_required",
                "a deal with lines is worth what they add up to; remove the lines to leave the amount open",
                "amount",
            )
        self._price(self.lines, None if amount is None else parse_amount(amount, self.currency))

    def set_expected_close_date(self, expected_close_date: date | None) -> None:
        self._require_status_open()
        self.expected_close_date = expected_close_date

    def make_offer(
        self,
        offer_id: uuid.UUID,
        side: OfferSide | str,
        amount: str | Decimal | int,
        discount_percent: str | Decimal | int,
        valid_until: date | None,
        comment: str | None,
        at: datetime,
        author_id: uuid.UUID | None,
        today: date,
    ) -> Offer:
        at = utc(at)
        self._require_status_open()
        if side not in OfferSide.__members__.values():
            raise InvalidValue("bad_offer_side", "an offer is 'ours' or the 'client''s", "side")
        amount = parse_amount(amount, self.currency)
        if not amount:
            raise InvalidValue("zero_amount", "an offer must name a price", "amount")
        discount = check_percent(discount_percent)
        if valid_until is not None and valid_until < today:
            raise InvalidValue("offer_expired_on_arrival", "the offer would already be expired", "valid_until")
        if any(o.id == offer_id for o in self.offers):
            raise RuleViolation("duplicate_offer", "this offer is already recorded", "offer_id")
        # A counter-offer replaces the standing one; the chain itself is kept.
        for earlier in self.offers:
            if earlier.status == OfferStatus.OPEN:
                earlier.status = OfferStatus.SUPERSEDED
        offer = Offer(offer_id, OfferSide(side), amount, discount, valid_until, clean_text(comment), at, author_id)
        self.offers.append(offer)
        self.events.append(OfferMade(replace(offer)))
        return offer

    def accept_offer(self, offer_id: uuid.UUID, today: date, at: datetime | None = None) -> Offer:
        """`at`: when it was accepted, if not today (history brought in): not before the offer was made."""
        self._require_status_open()
        offer = next((o for o in self.offers if o.id == offer_id), None)
        if offer is None:
            raise InvalidValue("unknown_offer", "no such offer on this deal", "offer_id")
        if at is not None and utc(at) < offer.made_at:
            raise InvalidValue("before_offer", "an offer is accepted after it is made", "at")
        if offer.status != OfferStatus.OPEN:
            raise RuleViolation("offer_not_open", f"the offer is {offer.status}", "offer_id")
        if offer.valid_until is not None and today > offer.valid_until:
            raise RuleViolation("offer_expired", "the offer has expired", "valid_until")
        # One price stands at a time: a newly accepted offer retires an earlier acceptance.
        for other in self.offers:
            if other is not offer and other.status != OfferStatus.SUPERSEDED:
                other.status = OfferStatus.SUPERSEDED
        offer.status = OfferStatus.ACCEPTED
        self._price(self.lines, offer.net(self.currency))
        self.events.append(OfferAccepted(replace(offer), utc(at) if at is not None else None))
        return offer

    def weighted_amount(self) -> Decimal | None:
        if self.amount is None:
            return None
        return quantize(self.amount * self.stage.probability, self.currency)
