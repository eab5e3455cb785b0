"""History entries and meetings: what a client's history holds, how meetings are scheduled and done, and
other services' facts as system entries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum

from mercator.common.errors import InvalidValue, RuleViolation


class ActivityKind(StrEnum):
    MEETING = "meeting"
    CALL = "call"
    LETTER = "letter"
    FAX = "fax"
    EMAIL = "email"
    NOTE = "note"
    DEMO = "demo"
    SUPPORT = "support"
    SYSTEM = "system"  # written by contacts from other services' facts, never typed in by a user


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class MeetingKind(StrEnum):
    MEETING = "meeting"
    CALL = "call"


class MeetingStatus(StrEnum):
    PLANNED = "planned"
    DONE = "done"
    CANCELLED = "cancelled"


# --- history and meetings --------------------------------------------------


@dataclass(frozen=True)
class ActivityDraft:
    """A history entry ready to be written."""

    kind: ActivityKind
    direction: Direction
    happened_at: datetime
    subject: str | None
    summary: str


def _require_aware(moment: datetime, field: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidValue("naive_time", "time must carry a time zone", field)


def validate_schedule(starts_at: datetime, duration_minutes: int, reminder_minutes_before: int | None) -> None:
    _require_aware(starts_at, "starts_at")
    if isinstance(duration_minutes, bool) or not 1 <= duration_minutes <= 24 * 60:
        raise InvalidValue("invalid_duration", "duration must be 1 minute to 24 hours", "duration_minutes")
    if reminder_minutes_before is not None and (
        isinstance(reminder_minutes_before, bool) or not 0 <= reminder_minutes_before <= 7 * 24 * 60
    ):
        raise InvalidValue("invalid_reminder", "reminder must be 0 minutes to 7 days before", "reminder_minutes_before")


@dataclass
class Meeting:
    kind: MeetingKind
    starts_at: datetime
    duration_minutes: int
    status: MeetingStatus = MeetingStatus.PLANNED

    def __post_init__(self) -> None:
        self.kind = MeetingKind(self.kind)
        self.status = MeetingStatus(self.status)
        validate_schedule(self.starts_at, self.duration_minutes, None)
        self.starts_at = self.starts_at.astimezone(UTC)

    def _require_planned(self) -> None:
        if self.status is not MeetingStatus.PLANNED:
            raise RuleViolation("meeting_not_planned", f"the meeting is already {self.status}", "status")

    def complete(self, summary: str, done_at: datetime) -> ActivityDraft:
        self._require_planned()
        if not summary or not summary.strip():
            raise InvalidValue("summary_required", "say what came of it", "summary")
        _require_aware(done_at, "done_at")
        self.status = MeetingStatus.DONE
        kind = ActivityKind.CALL if self.kind is MeetingKind.CALL else ActivityKind.MEETING
        return ActivityDraft(kind, Direction.OUTBOUND, done_at, None, summary.strip())

    def cancel(self) -> None:
        self._require_planned()
        self.status = MeetingStatus.CANCELLED

    def reschedule(self, starts_at: datetime, duration_minutes: int) -> None:
        self._require_planned()
        validate_schedule(starts_at, duration_minutes, None)
        self.starts_at = starts_at.astimezone(UTC)
        self.duration_minutes = duration_minutes


# --- system entries (facts of other services in the client's history) -------

# Author of an entry no person caused (an automatic stage move, a nightly billing run).
SYSTEM_AUTHOR = uuid.UUID(int=0)
# An entry's id is uuid5(this, event id): one event can only ever be one entry, however often it comes.
SYSTEM_ENTRY_NAMESPACE = uuid.UUID("6f1c3c52-8f0e-4d7e-9a55-3b0f6c2d9e41")


@dataclass(frozen=True)
class SystemEntry:
    id: uuid.UUID
    subject: str
    summary: str
    happened_at: datetime
    author_id: uuid.UUID
    deal_id: uuid.UUID | None = None


def system_entry(
    event_id: uuid.UUID,
    event_type: str,
    summary: str,
    happened_at: datetime,
    actor: str | None,
    deal_id: uuid.UUID | None = None,
) -> SystemEntry:
    try:
        author = uuid.UUID(actor) if actor else SYSTEM_AUTHOR
    except ValueError:  # an actor that is no user id (a service, a job): the system wrote it
        author = SYSTEM_AUTHOR
    # A naive time in a payload can only be UTC here; comparing naive with aware would fail.
    at = happened_at.replace(tzinfo=UTC) if happened_at.tzinfo is None else happened_at
    return SystemEntry(
        uuid.uuid5(SYSTEM_ENTRY_NAMESPACE, str(event_id)), event_type, summary, at.astimezone(UTC), author, deal_id
    )


def day_start(day: date) -> datetime:
    """A business date as a moment: 00:00 UTC of that day."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def money(amount: Decimal, currency: str) -> str:
    """'120 000,00 RUB': how amounts read in Russian documents."""
    return f"{amount:,.2f}".replace(",", " ").replace(".", ",") + f" {currency}"
