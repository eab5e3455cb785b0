"""Rules of the analytics service: what a late or repeated event may still change, and report inputs.

Pure: no storage, no web framework. Events of one client card reach analytics out of order
across topics (one topic per event type) and any of them may come twice, so every rule here
is written against the aggregate's `sequence`, never against arrival order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import overload

from mercator.common.errors import InvalidValue


class ClientBaseBy(StrEnum):
    REGION = "region"
    INDUSTRY = "industry"
    SOURCE = "source"
    OWNER = "owner"
    STATUS = "status"
    DEPARTMENT = "department"


class ActivityBy(StrEnum):
    AUTHOR = "author"
    KIND = "kind"
    COMPANY = "company"


class MeetingStatus(StrEnum):
    PLANNED = "planned"
    DONE = "done"
    CANCELLED = "cancelled"


# --- client cards ------------------------------------------------------------------------


@dataclass(frozen=True)
class CardVersions:
    """The sequences the projected card's fields come from; `card` 0 means a placeholder.

    Owner and department keep their own version because a reassignment carries only them:
    a snapshot that arrives after a newer reassignment must still bring its rename, without
    handing the client back to the previous manager.
    """

    card: int = 0
    owner: int = 0

    def snapshot(self, sequence: int) -> tuple[CardVersions, bool, bool]:
        """A whole card at `sequence`: (new versions, take its card fields?, take its owner?)."""
        take_card, take_owner = sequence > self.card, sequence > self.owner
        return CardVersions(max(self.card, sequence), max(self.owner, sequence)), take_card, take_owner

    def reassignment(self, sequence: int) -> tuple[CardVersions, bool]:
        take = sequence > self.owner
        return replace(self, owner=max(self.owner, sequence)), take


# --- meetings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingView:
    """A projected meeting; `status`/`starts_at` are None while only other events are known.

    `schedule_version` is the sequence `starts_at` comes from, apart from `version` (the
    highest applied): a completion may overtake the reschedule before it, and the reschedule
    must still move the time.
    """

    status: MeetingStatus | None = None
    starts_at: datetime | None = None
    version: int = 0
    schedule_version: int = 0

    def scheduled(self, starts_at: datetime, sequence: int) -> MeetingView:
        view = self.rescheduled(starts_at, sequence)
        # A completion or cancellation that came first outranks 'planned'.
        return view if view.status is not None else replace(view, status=MeetingStatus.PLANNED)

    def rescheduled(self, starts_at: datetime, sequence: int) -> MeetingView:
        version = max(self.version, sequence)
        if sequence <= self.schedule_version:
            return replace(self, version=version)
        return replace(self, starts_at=starts_at, schedule_version=sequence, version=version)

    def settled(self, status: MeetingStatus, sequence: int) -> MeetingView:
        # Done and cancelled are final in contacts, so one only ever replaces 'planned' or
        # nothing; the sequence check only matters for a corrupt stream.
        if self.status in (None, MeetingStatus.PLANNED) or sequence > self.version:
            return replace(self, status=status, version=max(self.version, sequence))
        return self


# --- report inputs -----------------------------------------------------------------------


def check_period(start: datetime | None, end: datetime | None) -> None:
    for value, field in ((start, "from"), (end, "to")):
        # A time without an offset means a different instant in every office of the company.
        if value is not None and value.utcoffset() is None:
            raise InvalidValue("naive_time", "a time must carry its UTC offset (RFC 3339)", field)
    if start is not None and end is not None and end <= start:
        raise InvalidValue("empty_period", "`to` must be later than `from`", "to")


@overload
def as_utc(value: datetime) -> datetime: ...


@overload
def as_utc(value: None) -> None: ...


@overload
def as_utc(value: datetime | None) -> datetime | None: ...


def as_utc(value: datetime | None) -> datetime | None:
    # The days and months of the reports are UTC's; an event's time may carry another offset.
    if value is None:
        return None
    if value.utcoffset() is None:  # astimezone would take it for the server's local time
        raise ValueError(f"a time without its zone: {value!r}")
    return value.astimezone(UTC)


def days_since(last: datetime | None, now: datetime) -> int | None:
    """Whole days without a history entry; None when the client never had one."""
    return None if last is None else max(0, (now - as_utc(last)).days)


# --- deals -------------------------------------------------------------------------------


class DealStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


def current(sequence: int, version: int) -> bool:
    """May an event at `sequence` set what was last set at `version`? Events of one version of an
    aggregate agree with each other (a win is a DealStageChanged and a DealWon at one sequence),
    so only an older version is stale."""
    return sequence >= version


def status_after(kind: str) -> DealStatus:
    """The deal's status after a transition of this kind (move, automatic, open, won, lost, reopen)."""
    return {"won": DealStatus.WON, "lost": DealStatus.LOST}.get(kind, DealStatus.OPEN)


# The default pipeline's order and probabilities (deals' Sales Expert pipeline): the stage
# order of the funnel and the weights of the forecast. Stages of other pipelines follow, unweighted.
DEFAULT_STAGES: tuple[tuple[str, Decimal], ...] = (
    ("interest", Decimal("0.10")),
    ("needs", Decimal("0.20")),
    ("demo", Decimal("0.30")),
    ("tech_proposal", Decimal("0.40")),
    ("commercial_proposal", Decimal("0.50")),
    ("contract", Decimal("0.70")),
    ("payment", Decimal("0.85")),
    ("delivery", Decimal("0.95")),
)

_DEFAULT_WEIGHTS = dict(DEFAULT_STAGES)
# The funnel's order: the default pipeline's stages, then won.
FUNNEL_POSITIONS: dict[str, int] = {
    **{code: i for i, (code, _) in enumerate(DEFAULT_STAGES)},
    "won": len(DEFAULT_STAGES),
}


def weight(stage: str | None, probability: Decimal | None) -> Decimal:
    """What an open deal at `stage` weighs in the forecast: the probability its pipeline gave the stage (carried
    by the deal's events), else the default pipeline's, else nothing."""
    if probability is not None:
        return probability
    return _DEFAULT_WEIGHTS.get(stage, Decimal(0)) if stage is not None else Decimal(0)


def first_of_month(moment: datetime | date | None) -> date | None:
    """The month a moment falls in (UTC), as its first day: the time grain of the aggregates."""
    if moment is None:
        return None
    day = as_utc(moment).date() if isinstance(moment, datetime) else moment
    return day.replace(day=1)


# --- report arithmetic --------------------------------------------------------------------


def median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def share(part: int | Decimal, whole: int | Decimal) -> float | None:
    """part / whole rounded to four places; None (not 0) when there is nothing to divide by."""
    return round(float(part) / float(whole), 4) if whole else None


def ageing_bucket(due: date, today: date) -> str:
    """Receivables by how long they are past due, in the buckets accountants use."""
    late = (today - due).days
    if late <= 0:
        return "current"
    if late <= 30:
        return "1-30"
    if late <= 60:
        return "31-60"
    if late <= 90:
        return "61-90"
    return "90+"


AGEING_BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")


class Period(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


def period_key(moment: datetime | date, period: Period) -> str:
    if period is Period.YEAR:
        return f"{moment.year}"
    if period is Period.QUARTER:
        return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"
    return f"{moment.year}-{moment.month:02d}"


def trend(values: list[Decimal]) -> list[float | None]:
    """Change of each period against the one before it, as a share (None for the first, or after nothing)."""
    return [None] + [share(b - a, a) if a else None for a, b in itertools.pairwise(values)]


def below_team(count: int, team_mean: float | None, low_share: float) -> bool:
    """A manager whose logged activities fall under `low_share` of the team's mean."""
    return team_mean is not None and team_mean > 0 and count < low_share * team_mean


def crossed_inactivity(
    last_activity_at: datetime | None, created_at: datetime | None, now: datetime, threshold_days: int
) -> bool:
    """A card is inactive once `threshold_days` pass without a history entry (counted from its creation
    when it never had one)."""
    since = as_utc(last_activity_at) or as_utc(created_at)
    return since is not None and now - since >= timedelta(days=threshold_days)


def already_announced(announced_for: datetime | None, has_alert: bool, last_activity_at: datetime | None) -> bool:
    """One InactivityDetected per silence: the alert recorded for this last entry (or for none) still holds."""
    return has_alert and as_utc(announced_for) == as_utc(last_activity_at)
