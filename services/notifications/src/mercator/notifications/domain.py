"""The rules of notifications, pure Python: a message's life (queued → sending → sent | failed), retries
with backoff, which address a person is reached at by which channel, when a reminder goes out, how a
mailing is spread out in time, who the head of a manager is."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import phonenumbers

from mercator.common.errors import InvalidValue, RuleViolation


class Channel(StrEnum):
    EMAIL = "email"
    FAX = "fax"


class Status(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TemplateKind(StrEnum):
    EMAIL = "email"  # subject and plain-text body of an e-mail
    DOCUMENT = "document"  # a title (the file name) and an HTML body, rendered to PDF


# What a message may become from what it is: anything else is a bug or a race, refused.
MOVES = {
    Status.QUEUED: {Status.SENDING, Status.CANCELLED, Status.FAILED},
    Status.SENDING: {Status.SENT, Status.QUEUED, Status.FAILED},
    Status.FAILED: {Status.QUEUED},  # a person retries it by hand
    Status.SENT: set(),
    Status.CANCELLED: set(),
}


def check_move(current: str, new: Status) -> None:
    if new not in MOVES[Status(current)]:
        raise RuleViolation("message_status", f"a {current} message cannot become {new.value}", "status")


def retry_delay(attempts: int, base_seconds: float, max_seconds: float) -> timedelta:
    """Exponential backoff after the n-th failed attempt: base, 2·base, 4·base ... capped."""
    return timedelta(seconds=min(max_seconds, base_seconds * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to. `permanent`: trying again cannot help (the server refused the address)."""

    ok: bool
    error: str | None = None
    permanent: bool = False


@dataclass(frozen=True)
class NextStep:
    status: Status
    next_attempt_at: datetime | None = None


def after_attempt(
    outcome: Outcome, attempts: int, now: datetime, max_attempts: int, base_seconds: float, max_seconds: float
) -> NextStep:
    """`attempts` counts the one just made."""
    if outcome.ok:
        return NextStep(Status.SENT)
    if outcome.permanent or attempts >= max_attempts:
        return NextStep(Status.FAILED)
    return NextStep(Status.QUEUED, now + retry_delay(attempts, base_seconds, max_seconds))


def give_up_reason(outcome: Outcome, attempts: int) -> str:
    """What a finally failed message says: the last error and why no more attempts follow."""
    why = "refused for good" if outcome.permanent else f"gave up after {attempts} attempts"
    return f"{why}: {outcome.error}"


# --- addresses -----------------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def check_email(value: str, field: str = "to") -> str:
    value = value.strip()
    if not _EMAIL.match(value):
        raise InvalidValue("invalid_email", f"'{value}' is not an e-mail address", field)
    return value


def fax_number(value: str, region: str = "RU", field: str = "to") -> str:
    """A fax number as E.164 (+74951234567); a number that cannot be dialled is refused."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidValue("invalid_fax_number", f"'{value}' is not a phone number: {exc}", field) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidValue("invalid_fax_number", f"'{value}' is not a valid phone number", field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class NoAddress(Exception):
    """The person cannot be reached by that channel: the message is made failed, saying why."""


def address_of(channel: Channel, name: str, emails: list[str], phones: list[str], region: str) -> str:
    """A contact person's first usable address for the channel (the card lists the main one first)."""
    if channel is Channel.EMAIL:
        for e in emails:
            if _EMAIL.match(e.strip()):
                return e.strip()
        raise NoAddress(f"{name} has no e-mail address")
    for p in phones:
        try:
            return fax_number(p, region)
        except InvalidValue:
            continue
    raise NoAddress(f"{name} has no phone number a fax can be sent to")


def fax_gateway_address(e164: str, domain: str) -> str:
    """<number>@<domain>: the digits without '+', as e-mail-to-fax providers take them."""
    return f"{e164.lstrip('+')}@{domain}"


# --- timing -------------------------------------------------------------------------------------


def reminder_at(starts_at: datetime, minutes_before: int | None, default_minutes: int) -> datetime:
    return starts_at - timedelta(minutes=default_minutes if minutes_before is None else minutes_before)


def mailing_slots(n: int, start: datetime, rate_per_second: float) -> list[datetime]:
    """When each of n mailing messages may go: one every 1/rate seconds from `start`, so the mail
    server (and the recipients' spam filters) see a steady trickle, not a burst."""
    if rate_per_second <= 0:
        raise ValueError("the mailing rate must be positive")
    step = timedelta(seconds=1 / rate_per_second)
    return [start + step * i for i in range(n)]


# --- who hears about what -------------------------------------------------------------------------


@dataclass(frozen=True)
class Staff:
    user_id: uuid.UUID
    roles: frozenset[str]
    department_id: uuid.UUID | None
    active: bool = True


def head_of(manager: Staff, staff: list[Staff], parents: dict[uuid.UUID, uuid.UUID | None]) -> Staff | None:
    """The head of sales over a manager: a head of their department, else of the nearest one above."""
    department = manager.department_id
    seen: set[uuid.UUID] = set()
    while department is not None and department not in seen:
        seen.add(department)
        heads = sorted(
            (
                s
                for s in staff
                if s.active and "head" in s.roles and s.department_id == department and s.user_id != manager.user_id
            ),
            key=lambda s: str(s.user_id),
        )
        if heads:
            return heads[0]
        department = parents.get(department)
    return None
