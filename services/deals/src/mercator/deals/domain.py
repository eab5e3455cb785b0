"""Rules of the deals service: pipelines and stages, deals, offers, the board, history.

Pure domain layer: no storage, no web framework. A use case loads one Deal (the `repository`), calls one of
its methods and saves it; the deal decides, and records what happened in `events` (the facts below), from
which the repository writes the kept history and `events` the catalogue's payloads.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import cast

from mercator.common.errors import DomainError, InvalidValue, RuleViolation  # noqa: F401 - part of this API
from mercator.common.money import (
    MAX_AMOUNT,
    apply_discount,
    check_currency,
    check_percent,
    minor_units,
    parse_amount,
    parse_decimal,
    quantize,
)


class DealStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class StageKind(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class Requirement(StrEnum):
    INTEREST_RATED = "interest_rated"
    OFFER_ACCEPTED = "offer_accepted"
    AMOUNT_SET = "amount_set"
    LINES_SET = "lines_set"
    CLOSE_DATE_SET = "close_date_set"


class OfferSide(StrEnum):
    OURS = "ours"
    CLIENT = "client"


class OfferStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    SUPERSEDED = "superseded"


class TransitionKind(StrEnum):
    MOVE = "move"
    OPEN = "open"
    WON = "won"
    LOST = "lost"
    REOPEN = "reopen"
    AUTOMATIC = "automatic"


# --- pipelines -------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    code: str
    name: str
    position: int
    probability: Decimal
    stalled_after_days: int | None
    kind: StageKind = StageKind.OPEN
    require_to_enter: frozenset[Requirement] = frozenset()
    require_to_leave: frozenset[Requirement] = frozenset()


@dataclass(frozen=True)
class Pipeline:
    id: uuid.UUID
    name: str
    stages: tuple[Stage, ...]

    def stage(self, code: str) -> Stage:
        for stage in self.stages:
            if stage.code == code:
                return stage
        raise InvalidValue("unknown_stage", f"no stage {code!r} in pipeline {self.name!r}", "stage")

    def _single(self, kind: StageKind) -> Stage:
        found = [s for s in self.stages if s.kind == kind]
        if len(found) != 1:
            raise InvalidValue(f"{kind}_stage_count", f"a pipeline needs exactly one {kind} stage", "stages")
        return found[0]

    @property
    def won_stage(self) -> Stage:
        return self._single(StageKind.WON)

    @property
    def lost_stage(self) -> Stage:
        return self._single(StageKind.LOST)

    @property
    def open_stages(self) -> tuple[Stage, ...]:
        return tuple(sorted((s for s in self.stages if s.kind == StageKind.OPEN), key=lambda s: s.position))

    @property
    def first_stage(self) -> Stage:
        if not self.open_stages:
            raise InvalidValue("no_open_stage", "a pipeline needs an open stage", "stages")
        return self.open_stages[0]


_STAGE_CODE = re.compile(r"[a-z][a-z0-9_]{0,62}")


def validate_pipeline(pipeline: Pipeline) -> None:
    if not pipeline.name or not pipeline.name.strip():
        raise InvalidValue("name_required", "a pipeline needs a name", "name")
    codes: set[str] = set()
    positions: set[int] = set()
    for i, stage in enumerate(pipeline.stages):
        at = f"stages[{i}]"
        if not isinstance(stage.code, str) or not _STAGE_CODE.fullmatch(stage.code):
            raise InvalidValue("bad_stage_code", "a stage code is lower-case latin, digits and '_'", f"{at}.code")
        if stage.code in codes:
            raise InvalidValue("duplicate_stage_code", f"stage {stage.code!r} twice", f"{at}.code")
        if not stage.name or not stage.name.strip():
            raise InvalidValue("name_required", "a stage needs a name", f"{at}.name")
        if isinstance(stage.position, bool) or not isinstance(stage.position, int):
            raise InvalidValue("bad_position", "a position is a whole number", f"{at}.position")
        if stage.position in positions:
            raise InvalidValue("duplicate_position", f"position {stage.position} twice", f"{at}.position")
        # Floats are refused here too: 0.1 is not one tenth, and it multiplies money.
        p = stage.probability
        if not isinstance(p, Decimal) or not p.is_finite() or not 0 <= p <= 1:
            raise InvalidValue("bad_probability", "a probability is a Decimal from 0 to 1", f"{at}.probability")
        days = stage.stalled_after_days
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
            raise InvalidValue(
                "bad_stalled_after_days", "stalled after 1 day or more, or never", f"{at}.stalled_after_days"
            )
        if stage.kind not in StageKind.__members__.values():
            raise InvalidValue("bad_stage_kind", f"unknown stage kind {stage.kind!r}", f"{at}.kind")
        for side in ("require_to_enter", "require_to_leave"):
            unknown = set(getattr(stage, side)) - set(Requirement.__members__.values())
            if unknown:
                raise InvalidValue("unknown_requirement", f"unknown requirement {sorted(unknown)[0]!r}", f"{at}.{side}")
        codes.add(stage.code)
        positions.add(stage.position)
    for required in (StageKind.WON, StageKind.LOST):
        pipeline._single(required)
    pipeline.first_stage  # noqa: B018 - raises when no stage is open


def _stage(
    code: str,
    name: str,
    position: int,
    probability: str,
    stalled: int | None,
    kind: StageKind = StageKind.OPEN,
    enter: Iterable[Requirement] = (),
    leave: Iterable[Requirement] = (),
) -> Stage:
    return Stage(code, name, position, Decimal(probability), stalled, kind, frozenset(enter), frozenset(leave))


# Sales Expert's pipeline, from interest to delivery; companies copy and edit it as rows.
DEFAULT_PIPELINE_STAGES: tuple[Stage, ...] = (
    _stage("interest", "Interest", 1, "0.10", 14),
    _stage("needs", "Needs identified", 2, "0.20", 14),
    _stage("demo", "Demo", 3, "0.30", 14, leave=[Requirement.INTEREST_RATED]),
    _stage("tech_proposal", "Technical proposal", 4, "0.40", 21),
    _stage("commercial_proposal", "Commercial proposal", 5, "0.50", 21),
    _stage("contract", "Contract", 6, "0.70", 30, enter=[Requirement.OFFER_ACCEPTED]),
    _stage("payment", "Payment", 7, "0.85", 30),
    _stage("delivery", "Delivery", 8, "0.95", 30),
    _stage("won", "Won", 9, "1.00", None, StageKind.WON),
    _stage("lost", "Lost", 10, "0", None, StageKind.LOST),
)


# --- deal parts --------------------------------------------------------------


def _text(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def _utc(moment: datetime, name: str = "at") -> datetime:
    # Naive times would make stage durations depend on the server's zone.
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise InvalidValue("naive_time", "time must carry a time zone", name)
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class DealLine:
    """A catalogue product on a deal; checked (with 'lines[i].…' fields) as it joins one."""

    product_id: uuid.UUID
    quantity: Decimal
    unit_price: Decimal
    discount_percent: Decimal = Decimal(0)
    # The line's share of a price agreed for the whole deal (an accepted offer, an amount set by hand) when that
    # differs from its own price; the quantity and list price stay as they were sold.
    agreed_total: Decimal | None = None

    def list_total(self, currency: str) -> Decimal:
        return apply_discount(self.quantity * self.unit_price, self.discount_percent, currency)

    def total(self, currency: str) -> Decimal:
        return self.agreed_total if self.agreed_total is not None else self.list_total(currency)


def reprice(lines: list[DealLine], amount: Decimal, currency: str) -> list[DealLine]:
    """The lines re-priced to add up to `amount` exactly, each to the share of it its own price has of theirs.

    Always from the list prices, so a chain of offers ends where its last accepted one alone would. Shares are
    rounded down to the currency's minor unit and what that leaves (less than a unit per line) goes to the
    largest line: no line goes below zero, and the report by product adds up to the deal's amount.
    """
    if not lines:
        return []
    unit = Decimal(1).scaleb(-minor_units(currency))
    # In whole minor units: a product of two 15-digit amounts would outrun Decimal's 28 digits.
    weights = [int(line.list_total(currency) / unit) for line in lines]
    if not any(weights):  # lines given at no price share an agreed price equally
        weights = [1] * len(lines)
    whole, total_weight = int(amount / unit), sum(weights)
    shares = [whole * w // total_weight for w in weights]
    largest = weights.index(max(weights))
    shares[largest] += whole - sum(shares)
    out = []
    for line, share in zip(lines, shares, strict=True):
        agreed = (share * unit).quantize(unit)
        out.append(replace(line, agreed_total=None if agreed == line.list_total(currency) else agreed))
    return out


@dataclass
class Offer:
    id: uuid.UUID
    side: OfferSide
    amount: Decimal
    discount_percent: Decimal
    valid_until: date | None
    comment: str | None
    made_at: datetime
    author_id: uuid.UUID | None
    status: OfferStatus = OfferStatus.OPEN

    def net(self, currency: str) -> Decimal:
        return apply_discount(self.amount, self.discount_percent, currency)


@dataclass(frozen=True)
class Transition:
    from_stage: str | None
    to_stage: str
    at: datetime
    seconds_in_previous: int | None
    author_id: uuid.UUID | None
    comment: str | None
    kind: str  # a TransitionKind
    cause: str | None = None  # what moved it when no person did, e.g. the billing event id


@dataclass(frozen=True)
class Proposal:
    id: uuid.UUID
    documents: tuple[str, ...]
    recipient_person_ids: tuple[uuid.UUID, ...]
    channel: str
    message: str | None
    sent_at: datetime
    author_id: uuid.UUID


# --- what happened to a deal: recorded by it, kept and published by the service ---------------


@dataclass(frozen=True)
class Opened:
    transition: Transition


@dataclass(frozen=True)
class StageChanged:
    transition: Transition


@dataclass(frozen=True)
class Won:
    transition: Transition


@dataclass(frozen=True)
class Lost:
    transition: Transition


@dataclass(frozen=True)
class Reopened:
    transition: Transition


@dataclass(frozen=True)
class Edited:
    changed: tuple[str, ...]


@dataclass(frozen=True)
class InterestRated:
    rating: int
    comment: str | None
    at: datetime
    author_id: uuid.UUID | None


@dataclass(frozen=True)
class OfferMade:
    offer: Offer


@dataclass(frozen=True)
class OfferAccepted:
    offer: Offer
    at: datetime | None


@dataclass(frozen=True)
class ProposalSent:
    proposal: Proposal


Fact = Opened | StageChanged | Won | Lost | Reopened | Edited | InterestRated | OfferMade | OfferAccepted | ProposalSent

# What a deal's card says beside its rules: who holds it, where it came from.
CARD_FIELDS = ("title", "source_id", "marketing_event_id")


# --- the deal ------------------------------------------------------------------


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
        at = _utc(at)
        currency = check_currency(currency)
        stage = pipeline.stage(stage_code) if stage_code is not None else pipeline.first_stage
        _require_open_stage(stage)
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
        transition = Transition(self.stage_code, to.code, at, seconds, author_id, _text(comment), kind, cause)
        self.stage_code, self.entered_stage_at = to.code, at
        self.events.append(StageChanged(transition))
        return transition

    def check_recorded_time(self, at: datetime, field: str = "at") -> datetime:
        """A fact brought in from the past (history) comes no earlier than the deal's latest move, so the kept
        path stays in the order of time and every duration is one that really passed."""
        at = _utc(at, field)
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
        at = _utc(at)
        self._require_status_open()
        current, target = self.stage, self.pipeline.stage(stage_code)
        if target.code == current.code:
            raise RuleViolation("same_stage", f"the deal is already at {target.name!r}", "stage")
        _require_open_stage(target)
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
        at = max(_utc(at), self.entered_stage_at)
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
        at = _utc(at)
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
        at = _utc(at)
        self._require_status_open()
        if not _text(reason):
            raise InvalidValue("reason_required", "say why the deal was lost: pick a lost reason", "reason_id")
        lost = self.pipeline.lost_stage
        self.closed_from_stage = self.lost_at_stage = self.stage_code
        transition = self._transition(lost, at, author_id, comment, TransitionKind.LOST)
        self.status, self.closed_at, self.lost_reason = DealStatus.LOST, at, _text(reason)
        self.lost_reason_id = reason_id
        self.events.append(Lost(transition))
        return transition

    def reopen(
        self, at: datetime, author_id: uuid.UUID | None, comment: str | None = None, stage_code: str | None = None
    ) -> Transition:
        at = _utc(at)
        if self.status == DealStatus.OPEN:
            raise RuleViolation("deal_not_closed", "only a won or lost deal can be reopened", "status")
        back_to = stage_code or self.lost_at_stage or self.closed_from_stage
        target = self.pipeline.stage(back_to) if back_to else self.pipeline.first_stage
        _require_open_stage(target)
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
        at = _utc(at)
        self._require_status_open()
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise InvalidValue("bad_rating", "rate the interest from 1 to 5", "rating")
        self.interest_rating, self.interest_rated_at = rating, at
        self.interest_comment = _text(comment)
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
            proposal_id, tuple(documents), tuple(recipient_person_ids), channel, message, _utc(at), author_id
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
        at = _utc(at)
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
        offer = Offer(offer_id, OfferSide(side), amount, discount, valid_until, _text(comment), at, author_id)
        self.offers.append(offer)
        self.events.append(OfferMade(replace(offer)))
        return offer

    def accept_offer(self, offer_id: uuid.UUID, today: date, at: datetime | None = None) -> Offer:
        """`at`: when it was accepted, if not today (history brought in): not before the offer was made."""
        self._require_status_open()
        offer = next((o for o in self.offers if o.id == offer_id), None)
        if offer is None:
            raise InvalidValue("unknown_offer", "no such offer on this deal", "offer_id")
        if at is not None and _utc(at) < offer.made_at:
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
        self.events.append(OfferAccepted(replace(offer), _utc(at) if at is not None else None))
        return offer

    def weighted_amount(self) -> Decimal | None:
        if self.amount is None:
            return None
        return quantize(self.amount * self.stage.probability, self.currency)


def _require_open_stage(stage: Stage) -> None:
    if stage.kind != StageKind.OPEN:
        raise RuleViolation("use_win_or_lose", f"{stage.name!r} is reached only by winning or losing", "stage")


# --- views -----------------------------------------------------------------------


def splice_late_fact(
    pipeline: Pipeline, transitions: list[Transition], stage_code: str, at: datetime, cause: str
) -> tuple[Transition, int, Transition] | None:
    """A billing fact read after a later one (topics are read in no set order), with a business time
    before the deal's move past its stage: the kept path gets the step it missed, in its place in time.

    Returns the transition to insert, the index (in `transitions`) of the one that follows it, and that
    one as it must now read (it leaves the spliced stage); None when the fact does not fit the path.
    """
    at = _utc(at)
    target = next((s for s in pipeline.stages if s.code == stage_code), None)
    if target is None or target.kind != StageKind.OPEN:
        return None
    ordered = sorted(range(len(transitions)), key=lambda i: transitions[i].at)
    before = [transitions[i] for i in ordered if transitions[i].at <= at]
    after = [i for i in ordered if transitions[i].at > at]
    if not before or not after:
        return None
    then = pipeline.stage(before[-1].to_stage)
    following = transitions[after[0]]
    # Only a step that was really skipped: forward from where the deal stood then, and before the
    # deal went further still (not back, not elsewhere: then the kept path disagrees with the fact).
    if (
        then.kind != StageKind.OPEN
        or target.position <= then.position
        or pipeline.stage(following.to_stage).position <= target.position
    ):
        return None
    inserted = Transition(
        then.code,
        target.code,
        at,
        max(0, int((at - before[-1].at).total_seconds())),
        None,
        None,
        TransitionKind.AUTOMATIC,
        cause,
    )
    rewritten = replace(
        following, from_stage=target.code, seconds_in_previous=max(0, int((following.at - at).total_seconds()))
    )
    return inserted, after[0], rewritten


def is_stalled(stage: Stage, entered_stage_at: datetime, now: datetime) -> bool:
    return (
        stage.kind == StageKind.OPEN
        and stage.stalled_after_days is not None
        and now - entered_stage_at >= timedelta(days=stage.stalled_after_days)
    )


@dataclass(frozen=True)
class BoardDeal:
    deal_id: uuid.UUID
    stage_code: str
    amount: Decimal | None
    currency: str
    entered_stage_at: datetime


@dataclass(frozen=True)
class BoardColumn:
    stage: Stage
    count: int
    amounts: dict[str, Decimal]
    weighted: dict[str, Decimal]
    stalled: int
    stalled_ids: tuple[uuid.UUID, ...]


def board(pipeline: Pipeline, deals: Iterable[BoardDeal], now: datetime) -> list[BoardColumn]:
    by_stage: dict[str, list[BoardDeal]] = defaultdict(list)
    for deal in deals:
        by_stage[deal.stage_code].append(deal)
    columns = []
    for stage in sorted(pipeline.stages, key=lambda s: s.position):
        here = by_stage.pop(stage.code, [])
        amounts: dict[str, Decimal] = defaultdict(Decimal)
        weighted: dict[str, Decimal] = defaultdict(Decimal)
        for deal in here:
            if deal.amount is not None:
                amounts[deal.currency] += deal.amount
                # Per deal, then summed: the column then agrees with every deal card.
                weighted[deal.currency] += quantize(deal.amount * stage.probability, deal.currency)
        stalled = tuple(d.deal_id for d in here if is_stalled(stage, d.entered_stage_at, now))
        columns.append(
            BoardColumn(
                stage, len(here), dict(sorted(amounts.items())), dict(sorted(weighted.items())), len(stalled), stalled
            )
        )
    if by_stage:  # a deal in a stage the pipeline lacks is corrupt data, not a view to hide
        code = next(iter(by_stage))
        raise InvalidValue("unknown_stage", f"deals in stage {code!r}, not in this pipeline", "stage")
    return columns


@dataclass(frozen=True)
class StageAt:
    deal_id: uuid.UUID
    stage_code: str
    entered_at: datetime


def stages_as_of(transitions: Iterable[tuple[uuid.UUID, Transition]], when: datetime) -> dict[uuid.UUID, StageAt]:
    found: dict[uuid.UUID, StageAt] = {}
    for deal_id, transition in transitions:
        if transition.at > when:
            continue
        known = found.get(deal_id)
        if known is None or transition.at >= known.entered_at:  # '>=': later in the input wins ties
            found[deal_id] = StageAt(deal_id, transition.to_stage, transition.at)
    return found
