"""Rules of the contacts service: client cards, contact persons, history, meetings.

Pure domain layer: no storage, no web framework. Everything here can be tested
without a database, and the repositories/handlers call in here for every rule.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import phonenumbers
from rapidfuzz import fuzz

from mercator.common import clock
from mercator.common.changes import apply_changes
from mercator.common.errors import BadReference, DomainError, InvalidValue, RuleViolation  # noqa: F401 - part of this API


class CompanyStatus(StrEnum):
    PROSPECT = "prospect"
    CLIENT = "client"
    FORMER = "former"


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


# --- text keys -------------------------------------------------------------


def search_key(text: str) -> str:
    # Users type 'е' for 'ё' and mix cases freely; both must find the same card.
    folded = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    return " ".join(folded.split())


def phone_digits(text: str) -> str:
    # NFKC first so full-width digits count, but only ASCII 0-9 survive.
    return "".join(c for c in unicodedata.normalize("NFKC", text) if c in "0123456789")


def normalise_phone(raw: str, default_region: str = "RU", field: str = "phone") -> str:
    try:
        number = phonenumbers.parse(raw, default_region)
    except (phonenumbers.NumberParseException, TypeError):
        raise InvalidValue("invalid_phone", f"not a phone number: {raw!r}", field) from None
    # Validity (not just plausible length) keeps '+7 000 000-00-00' placeholders out.
    if not phonenumbers.is_valid_number(number):
        raise InvalidValue("invalid_phone", f"not a valid phone number: {raw!r}", field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str, field: str = "email") -> str:
    # Mailboxes are case-insensitive in practice; lower-casing avoids twin contacts.
    email = (raw or "").strip().lower()
    local, _, domain = email.partition("@")
    labels = domain.split(".")
    if email.count("@") != 1 or not local or any(c.isspace() for c in email) or len(labels) < 2 or not all(labels):
        raise InvalidValue("invalid_email", f"not an e-mail address: {raw!r}", field)
    return email


_INN10_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_WEIGHTS_1 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_WEIGHTS_2 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_FOREIGN_TAX_ID = re.compile(r"[A-Z0-9-]{4,20}")


def _inn_check_digit(digits: str, weights: tuple[int, ...]) -> str:
    return str(sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10)


def _is_valid_inn(inn: str) -> bool:
    if len(inn) == 10:
        return inn[9] == _inn_check_digit(inn, _INN10_WEIGHTS)
    if len(inn) == 12:
        return inn[10] == _inn_check_digit(inn, _INN12_WEIGHTS_1) and inn[11] == _inn_check_digit(inn, _INN12_WEIGHTS_2)
    return False


def normalise_tax_id(raw: str | None, field: str = "tax_id") -> str | None:
    if raw is None or not raw.strip():
        return None
    # INNs are often written in groups ('7707 083 893'), so drop all inner spaces.
    tax_id = "".join(raw.split()).upper()
    if tax_id.isascii() and tax_id.isdigit():
        # An all-digit id is read as an INN; a typo must not slip in as "foreign".
        if not _is_valid_inn(tax_id):
            raise InvalidValue("invalid_tax_id", f"not a valid INN: {raw!r}", field)
        return tax_id
    if not _FOREIGN_TAX_ID.fullmatch(tax_id):
        raise InvalidValue("invalid_tax_id", f"not a valid tax id: {raw!r}", field)
    return tax_id


# --- duplicate detection ---------------------------------------------------

_LEGAL_FORM_PHRASES = sorted(
    (
        "общество с ограниченной ответственностью",
        "публичное акционерное общество",
        "закрытое акционерное общество",
        "открытое акционерное общество",
        "акционерное общество",
        "индивидуальный предприниматель",
        "limited liability company",
    ),
    key=len,
    reverse=True,  # longest first, so 'акционерное общество' cannot eat a longer form's tail
)
_LEGAL_FORM_WORDS = frozenset(
    ["ооо", "оао", "зао", "пао", "ао", "ип", "нпо", "гк", "llc", "ltd", "inc", "gmbh", "jsc", "cjsc", "ooo"]
)
# Latin letters that look like Cyrillic ones: 'Ромашкa' typed with a Latin 'a'
# is a classic source of duplicates nobody can see.
_LATIN_TO_CYRILLIC = str.maketrans("aeopcxykmthb", "аеорсхукмтнв")
_CYRILLIC = re.compile(r"[а-я]")


def _unmix_script(word: str) -> str:
    return word.translate(_LATIN_TO_CYRILLIC) if _CYRILLIC.search(word) else word


def matching_name(raw: str) -> str:
    key = search_key(raw)
    # Quotes, punctuation and symbols become spaces so 'Ромашка,ООО' splits into words.
    key = "".join(" " if unicodedata.category(c)[0] in "PS" else c for c in key)
    padded = " " + " ".join(key.split()) + " "
    for phrase in _LEGAL_FORM_PHRASES:
        padded = padded.replace(f" {phrase} ", " ")
    words = (_unmix_script(w) for w in padded.split())
    return " ".join(w for w in words if w not in _LEGAL_FORM_WORDS)


def name_similarity(a: str, b: str) -> float:
    left, right = matching_name(a), matching_name(b)
    if not left or not right:  # a bare legal form says nothing about identity
        return 0.0
    # token_sort: 'Иванов Пётр' and 'Пётр Иванов' are the same card.
    return fuzz.token_sort_ratio(left, right) / 100


# One typo in a seven-letter name (0.857) still warns; false alarms are cheap,
# a duplicate card splits the client history.
NAME_SIMILARITY_THRESHOLD: float = 0.85
_CONTACT_MATCH_SCORE = 0.95


@dataclass(frozen=True)
class CardFingerprint:
    """What is compared to find duplicates; phones/emails already normalised."""

    company_id: uuid.UUID | None
    name: str
    tax_id: str | None = None
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class LikelyDuplicate:
    company_id: uuid.UUID
    name: str
    reasons: tuple[str, ...]
    score: float


def find_likely_duplicates(new: CardFingerprint, existing: Iterable[CardFingerprint]) -> list[LikelyDuplicate]:
    found = []
    for other in existing:
        # A card without an id cannot be pointed at, and a card never duplicates itself.
        if other.company_id is None or other.company_id == new.company_id:
            continue
        # Whole-address equality only: on gmail.com or mail.ru a shared domain means nothing.
        signals: dict[str, float] = {}
        if new.tax_id and new.tax_id == other.tax_id:
            signals["same_tax_id"] = 1.0
        if set(new.phones) & set(other.phones):
            signals["same_phone"] = _CONTACT_MATCH_SCORE
        if set(new.emails) & set(other.emails):
            signals["same_email"] = _CONTACT_MATCH_SCORE
        similarity = name_similarity(new.name, other.name)
        if similarity >= NAME_SIMILARITY_THRESHOLD:
            signals["similar_name"] = similarity
        if signals:
            found.append(LikelyDuplicate(other.company_id, other.name, tuple(signals), max(signals.values())))
    return sorted(found, key=lambda d: (-d.score, search_key(d.name), str(d.company_id)))


def candidate_name_prefix(name: str) -> str:
    """Prefix for a repository's `matching_name LIKE '%<prefix>%'` pre-selection.

    Fuzzy scoring cannot run over the whole table, so the repository narrows by
    this prefix (plus exact tax id / phone / e-mail matches) and lets
    find_likely_duplicates score the rest. The longest word is the most
    distinctive; three letters survive endings and typos later in the word.
    The column searched must hold matching_name() and the LIKE must be a
    'contains' match, since the longest word need not come first.
    """
    words = matching_name(name).split() or search_key(name).split()
    return max(words, key=len)[:3] if words else ""


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


# --- marketing events ------------------------------------------------------------------------


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
