"""Rules of the analytics service: what a late or repeated event may still change, and report inputs.

Pure: no storage, no web framework. Events of one client card reach analytics out of order
across topics (one topic per event type) and any of them may come twice, so every rule here
is written against the aggregate's `sequence`, never against arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from mercator.common.rules import InvalidValue  # noqa: F401 - part of this API


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


def as_utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive values; everything is stored in UTC, so naive means UTC here.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def days_since(last: datetime | None, now: datetime) -> int | None:
    """Whole days without a history entry; None when the client never had one."""
    return None if last is None else max(0, (now - as_utc(last)).days)
