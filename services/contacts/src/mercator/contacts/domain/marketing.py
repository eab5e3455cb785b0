"""Marketing events: their dates and costs, who takes part and how, and whom a mailing goes to."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from mercator.common.errors import InvalidValue, RuleViolation


class MarketingEventKind(StrEnum):
    EXHIBITION = "exhibition"
    PRESENTATION = "presentation"
    WEBINAR = "webinar"
    MAILING = "mailing"


class ParticipantStatus(StrEnum):
    INVITED = "invited"
    ATTENDED = "attended"
    RESPONDED = "responded"


# Who organises marketing events; everyone who works with client cards may read them.
MARKETING_ROLES = frozenset({"marketing", "head", "executive", "admin"})


def check_event_dates(starts_on: date, ends_on: date | None) -> None:
    if ends_on is not None and ends_on < starts_on:
        raise InvalidValue("ends_before_start", "an event cannot end before it starts", "ends_on")


def check_event_cost(cost: Decimal | None) -> None:
    if cost is not None and cost < 0:
        raise InvalidValue("negative_cost", "a cost cannot be negative", "cost")


def check_participant_status(
    kind: MarketingEventKind, current: ParticipantStatus | None, new: ParticipantStatus
) -> bool:
    """Whether `new` changes anything. A participant never goes back to merely invited: once a client
    came or answered, that fact stays in the event's figures. Nobody attends a mailing."""
    if kind is MarketingEventKind.MAILING and new is ParticipantStatus.ATTENDED:
        raise RuleViolation(
            "nobody_attends_a_mailing", "a mailing has no attendance; mark the client responded", "status"
        )
    if current is None or current == new:
        return current is None
    if new is ParticipantStatus.INVITED:
        raise RuleViolation(
            "participant_status_back", f"a participant who {current.value} cannot go back to invited", "status"
        )
    return True


@dataclass(frozen=True)
class MailingContact:
    company_id: uuid.UUID
    person_id: uuid.UUID
    name: str
    emails: tuple[str, ...]


def mailing_recipients(kind: MarketingEventKind, contacts: Iterable[MailingContact]) -> list[MailingContact]:
    """One message per contact person with an e-mail (to their first address), in a stable order.
    Only a mailing sends mail: an exhibition's invitations are not a mass mailing."""
    if kind is not MarketingEventKind.MAILING:
        raise RuleViolation("not_a_mailing", f"only a mailing sends messages, this is a {kind.value}", "kind")
    seen: set[str] = set()
    chosen = []
    for c in sorted(contacts, key=lambda c: (str(c.company_id), c.name, str(c.person_id))):
        address = next((e for e in c.emails if e), None)
        if address is None or address in seen:  # two persons sharing a mailbox get one message
            continue
        seen.add(address)
        chosen.append(MailingContact(c.company_id, c.person_id, c.name, (address,)))
    if not chosen:
        raise RuleViolation("no_recipients", "no participant has a contact person with an e-mail", "participants")
    return chosen
