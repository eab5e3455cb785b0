"""Bringing history in: the time a thing really happened, when that was before the request that records it.

A service stamps deals, stage moves and invoices with its own clock. A company moving to Mercator from another
system (or the demo filling one) needs them at the time they really happened, or every report by month, every
duration and every ageing bucket falls on the day of the import. Only people whose role is to record history
may say so (admin, importer): a manager's move happens when they make it, or the board's durations could be
tuned after the fact. Whatever is recorded is placed no later than now; each service's domain says what else
it may not precede (a move the deal's previous move, a payment its invoice's issue).

Dates a document carries (a contract's signing date, a payment order's value date, a waybill's date) are not
the service's clock: any writer copies them from the paper, as before.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from mercator.common.auth import Caller
from mercator.common.errors import Forbidden, InvalidValue

HISTORY_ROLES = frozenset({"admin", "importer"})


def may_record_history(caller: Caller) -> bool:
    return caller.has_role(*HISTORY_ROLES)


def _allowed(caller: Caller, field: str) -> None:
    if not may_record_history(caller):
        raise Forbidden(
            f"only an admin or an importer may record when something happened in the past; "
            f"leave {field} out and it is now",
            field=field,
            rule="history_not_allowed",
        )


def recorded_at(caller: Caller, at: datetime | None, now: datetime, field: str = "at") -> datetime:
    """The moment a fact happened: `now`, or the caller's `at` when their role records history."""
    if at is None:
        return now
    _allowed(caller, field)
    if at.utcoffset() is None:
        raise InvalidValue("naive_time", "a time must carry its UTC offset (RFC 3339)", field)
    at = at.astimezone(UTC)
    if at > now:
        raise InvalidValue("time_in_future", "this has not happened yet: the time is after now", field)
    return at


# A phone whose clock runs a little ahead still logs the call it just made.
CLOCK_SKEW = timedelta(minutes=2)


def happened_by_now(at: datetime | None, now: datetime, field: str) -> datetime:
    """When a logged thing (a call, a letter) happened: `now`, or an earlier time anyone may give. A later time is
    refused: an entry dated ahead would keep a client card from ever going silent. Within CLOCK_SKEW of now it
    is placed at now."""
    if at is None:
        return now
    if at.utcoffset() is None:
        raise InvalidValue("naive_time", "a time must carry its UTC offset (RFC 3339)", field)
    at = at.astimezone(UTC)
    if at > now + CLOCK_SKEW:
        raise InvalidValue("time_in_future", "this has not happened yet: the time is after now", field)
    return min(at, now)


def recorded_on(caller: Caller, day: date | None, today: date, field: str) -> date:
    """The day a fact happened: `today`, or the caller's earlier `day` when their role records history."""
    if day is None:
        return today
    _allowed(caller, field)
    if day > today:
        raise InvalidValue("date_in_future", "this has not happened yet: the date is after today", field)
    return day


def moment_of(day: date, now: datetime) -> datetime:
    """When a fact known by its day happened, as an event's time: now for today's (or a later day's: a document
    may be dated ahead), 00:00 UTC of its day for an earlier one, as the client's history places such a day."""
    now = now.astimezone(UTC)
    if day >= now.date():
        return now
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def fact_time(caller: Caller, day: date, now: datetime) -> datetime:
    """The time a document's fact moves things by (a deal's stage, the client's history, the month it counts in):
    its day (`moment_of`) when the one keying it in records history, otherwise now. A contract dated last quarter
    keeps its date on paper, but a manager cannot back-date a deal's move through it any more than by hand."""
    return moment_of(day, now) if may_record_history(caller) else now
