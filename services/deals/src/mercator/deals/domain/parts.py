"""The parts of a deal (lines, offers, transitions, proposals) and the facts a deal records about itself."""

# mypy.ini's strict section names `mercator.*.domain`, the package, not its modules: they say the same here.
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum

from mercator.common.errors import InvalidValue
from mercator.common.money import apply_discount, minor_units


class DealStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


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


def clean_text(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def utc(moment: datetime, name: str = "at") -> datetime:
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
