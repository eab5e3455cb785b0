"""Rules of the contacts service: the client card (the aggregate its persons, history and meetings hang off),
with the text keys it is found by (`keys`), its history and meetings (`history`) and marketing events
(`marketing`).

Pure domain layer: no storage, no web framework. Everything here can be tested without a database, and the
use cases call in here for every rule.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from mercator.common import clock
from mercator.common.changes import apply_changes
from mercator.common.errors import BadReference, DomainError, InvalidValue, RuleViolation
from mercator.contacts.domain.history import (
    SYSTEM_AUTHOR,
    SYSTEM_ENTRY_NAMESPACE,
    ActivityDraft,
    ActivityKind,
    Direction,
    Meeting,
    MeetingKind,
    MeetingStatus,
    SystemEntry,
    day_start,
    money,
    system_entry,
    validate_schedule,
)
from mercator.contacts.domain.keys import (
    NAME_SIMILARITY_THRESHOLD,
    CardFingerprint,
    LikelyDuplicate,
    candidate_name_prefix,
    find_likely_duplicates,
    matching_name,
    name_similarity,
    normalise_email,
    normalise_phone,
    normalise_tax_id,
    phone_digits,
    search_key,
)
from mercator.contacts.domain.marketing import (
    MARKETING_ROLES,
    MailingContact,
    MarketingEventKind,
    ParticipantStatus,
    check_event_cost,
    check_event_dates,
    check_participant_status,
    mailing_recipients,
)


class CompanyStatus(StrEnum):
    PROSPECT = "prospect"
    CLIENT = "client"
    FORMER = "former"


# --- merging cards ---------------------------------------------------------

_LIST_FIELDS = ("phones", "emails")


def _is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    # 0 and False are real values; only empty containers count as missing.
    return isinstance(value, (list, tuple, set, dict)) and not value


def merge_cards(survivor: dict[str, Any], absorbed: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key in [*survivor, *(k for k in absorbed if k not in survivor)]:
        mine: Any = survivor.get(key)
        theirs: Any = absorbed.get(key)
        if key in _LIST_FIELDS:
            merged[key] = list(dict.fromkeys([*(mine or []), *(theirs or [])]))
        elif key == "notes":
            if _is_blank(theirs) or (not _is_blank(mine) and mine.strip() == theirs.strip()):
                merged[key] = mine
            elif _is_blank(mine):
                merged[key] = theirs
            else:
                merged[key] = f"{mine}\n\n{theirs}"
        else:
            value = theirs if _is_blank(mine) else mine
            # Copy containers so callers mutating the result cannot touch the inputs.
            merged[key] = value.copy() if isinstance(value, (list, dict, set)) else value
    return merged


def check_status_change(current: CompanyStatus, new: CompanyStatus) -> None:
    # A former client coming back is a returning client, not a new lead.
    if current == CompanyStatus.FORMER and new == CompanyStatus.PROSPECT:
        raise RuleViolation(
            "status_change_not_allowed", "a former client can become a client again, not a prospect", "status"
        )


# --- the client card (the aggregate its persons, history and meetings hang off) -------------------------------

# What a PATCH of a card may change.
CARD_FIELDS = (
    "name",
    "legal_name",
    "tax_id",
    "status",
    "region_id",
    "industry_id",
    "source_id",
    "phones",
    "emails",
    "address",
    "website",
    "notes",
)
# What a merge takes from both cards (the status and the owner stay the survivor's).
_MERGED_FIELDS = (
    "name",
    "legal_name",
    "tax_id",
    "region_id",
    "industry_id",
    "source_id",
    "department_id",
    "phones",
    "emails",
    "address",
    "website",
    "notes",
)
# What an import's row may fill in where the card has nothing.
_FILLED_FIELDS = ("legal_name", "tax_id", "region_id", "industry_id", "source_id", "address", "website", "notes")


@dataclass(frozen=True)
class CardChanged:
    changed: tuple[str, ...]


@dataclass(frozen=True)
class CardReassigned:
    previous_owner_id: uuid.UUID


@dataclass(frozen=True)
class CardMerged:
    absorbed_id: uuid.UUID


CardFact = CardChanged | CardReassigned | CardMerged


def _unique(values: Iterable[str] | None) -> list[str]:
    return list(dict.fromkeys(values or []))


@dataclass
class ClientCard:
    """A client card. Every change of it is decided here and recorded in `events`, the facts the service
    publishes; a change that changes nothing is no new version and no fact."""

    id: uuid.UUID
    name: str
    status: str
    owner_id: uuid.UUID
    department_id: uuid.UUID | None
    legal_name: str | None
    tax_id: str | None
    region_id: uuid.UUID | None
    industry_id: uuid.UUID | None
    source_id: uuid.UUID | None
    phones: list[str]
    emails: list[str]
    address: str | None
    website: str | None
    notes: str | None
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime | None
    version: int
    merged_into_id: uuid.UUID | None = None
    events: list[CardFact] = field(default_factory=list, compare=False)

    def change(self, changes: dict[str, Any]) -> list[str]:
        """A PATCH: `changes` holds only fields of CARD_FIELDS. Returns the fields that changed."""
        if "name" in changes and changes["name"] is None:
            raise BadReference("a client card must have a name", field="name")
        if "status" in changes:
            if changes["status"] is None:
                raise BadReference("a client card must have a status", field="status")
            check_status_change(CompanyStatus(self.status), CompanyStatus(changes["status"]))
            changes = {**changes, "status": CompanyStatus(changes["status"]).value}
        for name in ("phones", "emails"):
            if name in changes:
                changes = {**changes, name: _unique(changes[name])}
        changed = apply_changes(self, changes)
        if changed:
            self.events.append(CardChanged(tuple(changed)))
        return changed

    def reassign(self, owner_id: uuid.UUID, department_id: uuid.UUID | None) -> bool:
        previous = self.owner_id
        if not apply_changes(self, {"owner_id": owner_id, "department_id": department_id}):
            return False
        self.events.append(CardReassigned(previous))
        return True

    def become_client(self) -> None:
        """A won deal makes a prospect (or a former client) a client."""
        if self.status != CompanyStatus.CLIENT:
            self.change({"status": CompanyStatus.CLIENT})

    def note_activity(self, happened_at: datetime) -> None:
        """The history has an entry of that time: the card's last activity never goes back."""
        if self.last_activity_at is None or happened_at > self.last_activity_at:
            self.last_activity_at = happened_at

    def absorb(self, other: ClientCard) -> None:
        """`other` is a duplicate of this card: its details fill this one's blanks, and it is merged away."""
        if other.id == self.id:
            raise BadReference("a client card cannot be merged into itself", field="absorbed_id")
        merged = merge_cards(
            {f: getattr(self, f) for f in _MERGED_FIELDS}, {f: getattr(other, f) for f in _MERGED_FIELDS}
        )
        for name in _MERGED_FIELDS:
            setattr(self, name, merged[name])
        if other.last_activity_at is not None:
            self.note_activity(other.last_activity_at)
        at = clock.now()
        other.merged_into_id = self.id
        other.version += 1
        other.updated_at = self.updated_at = at
        self.version += 1
        self.events.append(CardMerged(other.id))

    def fill_in(self, values: dict[str, Any], phones: Iterable[str], emails: Iterable[str]) -> list[str]:
        """An import's row: it fills what the card lacks and adds its phones and e-mails; what the card
        says stays."""
        changes = {f: values[f] for f in _FILLED_FIELDS if values.get(f) is not None and getattr(self, f) in (None, "")}
        changes["phones"] = _unique([*self.phones, *phones])
        changes["emails"] = _unique([*self.emails, *emails])
        changed = apply_changes(self, changes)
        if changed:
            self.events.append(CardChanged(tuple(changed)))
        return changed


__all__ = [
    "CARD_FIELDS",
    "MARKETING_ROLES",
    "NAME_SIMILARITY_THRESHOLD",
    "SYSTEM_AUTHOR",
    "SYSTEM_ENTRY_NAMESPACE",
    "ActivityDraft",
    "ActivityKind",
    "BadReference",
    "CardChanged",
    "CardFact",
    "CardFingerprint",
    "CardMerged",
    "CardReassigned",
    "ClientCard",
    "CompanyStatus",
    "Direction",
    "DomainError",
    "InvalidValue",
    "LikelyDuplicate",
    "MailingContact",
    "MarketingEventKind",
    "Meeting",
    "MeetingKind",
    "MeetingStatus",
    "ParticipantStatus",
    "RuleViolation",
    "SystemEntry",
    "candidate_name_prefix",
    "check_event_cost",
    "check_event_dates",
    "check_participant_status",
    "check_status_change",
    "day_start",
    "find_likely_duplicates",
    "mailing_recipients",
    "matching_name",
    "merge_cards",
    "money",
    "name_similarity",
    "normalise_email",
    "normalise_phone",
    "normalise_tax_id",
    "phone_digits",
    "search_key",
    "system_entry",
    "validate_schedule",
]
