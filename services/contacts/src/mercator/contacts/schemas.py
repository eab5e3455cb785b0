"""What the HTTP API takes and gives: Create / Update / Public families."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from mercator.common.errors import DomainError
from mercator.common.http.fields import Currency, DecimalText, Exact, Input
from mercator.contacts import domain
from mercator.contacts.domain import (
    ActivityKind,
    CompanyStatus,
    Direction,
    MeetingKind,
    MeetingStatus,
)


def _phone(value: str) -> str:
    try:
        return domain.normalise_phone(value)
    except DomainError as exc:
        raise ValueError(exc.message) from None


def _email(value: str) -> str:
    try:
        return domain.normalise_email(value)
    except DomainError as exc:
        raise ValueError(exc.message) from None


def _tax_id(value: str | None) -> str | None:
    try:
        return domain.normalise_tax_id(value)
    except DomainError as exc:
        raise ValueError(exc.message) from None


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("a time must carry its UTC offset (RFC 3339)")
    return value


Phone = Annotated[str, Field(max_length=40), AfterValidator(_phone)]
Email = Annotated[str, Field(max_length=320), AfterValidator(_email)]
TaxId = Annotated[str | None, Field(max_length=20), AfterValidator(_tax_id)]
AwareTime = Annotated[datetime, AfterValidator(_aware)]
Name = Annotated[str, Field(min_length=1, max_length=300)]
Text = Annotated[str, Field(max_length=10_000)]


# --- dictionaries -------------------------------------------------------------------


class DictionaryEntryCreate(Input):
    name: Name
    position: int = Field(0, ge=0, le=10_000)


class DictionaryEntryUpdate(Input):
    name: Name | None = None
    active: bool | None = None
    position: int | None = Field(None, ge=0, le=10_000)


class DictionaryEntryPublic(BaseModel):
    id: uuid.UUID
    name: str
    active: bool
    position: int


class Ref(BaseModel):
    id: uuid.UUID
    name: str


# --- persons --------------------------------------------------------------------------


class PersonCreate(Input):
    name: Name
    position: str | None = Field(None, max_length=300)
    phones: list[Phone] = Field(default_factory=list, max_length=20)
    emails: list[Email] = Field(default_factory=list, max_length=20)
    notes: Text | None = None


class PersonUpdate(Input):
    name: Name | None = None
    position: str | None = Field(None, max_length=300)
    phones: list[Phone] | None = Field(None, max_length=20)
    emails: list[Email] | None = Field(None, max_length=20)
    notes: Text | None = None


class PersonPublic(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    name: str
    position: str | None
    phones: list[str]
    emails: list[str]
    notes: str | None
    version: int
    created_at: datetime
    updated_at: datetime


# --- companies (client cards) ---------------------------------------------------------


class CompanyCreate(Input):
    name: Name
    legal_name: str | None = Field(None, max_length=500)
    tax_id: TaxId = None
    status: CompanyStatus = CompanyStatus.PROSPECT
    owner_id: uuid.UUID | None = Field(None, description="defaults to the caller")
    department_id: uuid.UUID | None = Field(None, description="defaults to the caller's department")
    region_id: uuid.UUID | None = None
    industry_id: uuid.UUID | None = None
    source_id: uuid.UUID | None = Field(None, description="the contact source: how the client found us")
    phones: list[Phone] = Field(default_factory=list, max_length=20)
    emails: list[Email] = Field(default_factory=list, max_length=20)
    address: str | None = Field(None, max_length=1000)
    website: str | None = Field(None, max_length=300)
    notes: Text | None = None
    persons: list[PersonCreate] = Field(default_factory=list, max_length=50)


class CompanyUpdate(Input):
    """Only the fields sent change; `null` clears an optional field."""

    name: Name | None = None
    legal_name: str | None = Field(None, max_length=500)
    tax_id: TaxId = None
    status: CompanyStatus | None = None
    region_id: uuid.UUID | None = None
    industry_id: uuid.UUID | None = None
    source_id: uuid.UUID | None = None
    phones: list[Phone] | None = Field(None, max_length=20)
    emails: list[Email] | None = Field(None, max_length=20)
    address: str | None = Field(None, max_length=1000)
    website: str | None = Field(None, max_length=300)
    notes: Text | None = None


class Reassign(Input):
    owner_id: uuid.UUID
    department_id: uuid.UUID | None = None


class Merge(Input):
    absorbed_id: uuid.UUID = Field(description="the duplicate card; its persons, history and meetings move here")


class LikelyDuplicatePublic(BaseModel):
    company_id: uuid.UUID
    name: str
    reasons: list[str]
    score: float


class CompanyPublic(BaseModel):
    id: uuid.UUID
    name: str
    legal_name: str | None
    tax_id: str | None
    status: CompanyStatus
    owner_id: uuid.UUID
    department_id: uuid.UUID | None
    region: Ref | None
    industry: Ref | None
    source: Ref | None
    phones: list[str]
    emails: list[str]
    address: str | None
    website: str | None
    notes: str | None
    last_activity_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class CompanyCreatedPublic(CompanyPublic):
    persons: list[PersonPublic] = []
    likely_duplicates: list[LikelyDuplicatePublic] = []


# --- history and meetings --------------------------------------------------------------


def _typed_in(kind: ActivityKind) -> ActivityKind:
    if kind is ActivityKind.SYSTEM:  # system entries record other services' facts; nobody types them in
        raise ValueError("system entries are written by the system")
    return kind


class ActivityCreate(Input):
    kind: Annotated[ActivityKind, AfterValidator(_typed_in)]
    direction: Direction = Direction.OUTBOUND
    subject: str | None = Field(None, max_length=500)
    summary: Annotated[str, Field(min_length=1, max_length=20_000)]
    happened_at: AwareTime | None = Field(None, description="defaults to now")
    deal_id: uuid.UUID | None = None
    person_id: uuid.UUID | None = None


class ActivityBatchEntry(ActivityCreate):
    company_id: uuid.UUID


class ActivityBatch(Input):
    """Many history entries in one request: a phone that was offline syncs what it logged."""

    entries: list[ActivityBatchEntry] = Field(min_length=1, max_length=500)


class ActivityPublic(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    kind: ActivityKind
    direction: Direction
    subject: str | None
    summary: str
    happened_at: datetime
    author_id: uuid.UUID
    deal_id: uuid.UUID | None
    person_id: uuid.UUID | None
    meeting_id: uuid.UUID | None
    created_at: datetime


class MeetingCreate(Input):
    kind: MeetingKind = MeetingKind.MEETING
    subject: str | None = Field(None, max_length=500)
    starts_at: AwareTime
    duration_minutes: int = Field(60, ge=1, le=24 * 60)
    place: str | None = Field(None, max_length=500)
    owner_id: uuid.UUID | None = Field(None, description="defaults to the caller")
    person_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    participant_user_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    reminder_minutes_before: int | None = Field(None, ge=0, le=7 * 24 * 60)
    deal_id: uuid.UUID | None = None


class MeetingReschedule(Input):
    starts_at: AwareTime
    duration_minutes: int | None = Field(None, ge=1, le=24 * 60)
    reminder_minutes_before: int | None = Field(None, ge=0, le=7 * 24 * 60)


class MeetingComplete(Input):
    summary: Annotated[str, Field(min_length=1, max_length=20_000)]
    done_at: AwareTime | None = Field(None, description="defaults to now")


class MeetingCancel(Input):
    reason: str | None = Field(None, max_length=2000)


class MeetingPublic(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    kind: MeetingKind
    subject: str | None
    starts_at: datetime
    duration_minutes: int
    place: str | None
    owner_id: uuid.UUID
    person_ids: list[uuid.UUID]
    participant_user_ids: list[uuid.UUID]
    reminder_minutes_before: int | None
    deal_id: uuid.UUID | None
    status: MeetingStatus
    activity_id: uuid.UUID | None
    cancel_reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime


# --- marketing events ------------------------------------------------------------------


class MarketingEventCreate(Input):
    name: Name
    kind: domain.MarketingEventKind
    starts_on: date
    ends_on: date | None = None
    cost: Exact | None = Field(None, ge=0, max_digits=18, decimal_places=2)
    currency: Currency = "RUB"
    organiser_id: uuid.UUID | None = Field(None, description="who runs it; the caller by default")
    template_id: uuid.UUID | None = Field(None, description="a mailing's message template (notifications)")
    offer: Text | None = Field(None, description="the special offer a mailing carries")
    description: Text | None = None


class MarketingEventUpdate(Input):
    name: Name | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    cost: Exact | None = Field(None, ge=0, max_digits=18, decimal_places=2)
    currency: Currency | None = None
    organiser_id: uuid.UUID | None = None
    template_id: uuid.UUID | None = None
    offer: Text | None = None
    description: Text | None = None


class MarketingEventPublic(BaseModel):
    id: uuid.UUID
    name: str
    kind: domain.MarketingEventKind
    starts_on: date
    ends_on: date | None
    cost: DecimalText | None
    currency: str
    organiser_id: uuid.UUID
    department_id: uuid.UUID | None
    template_id: uuid.UUID | None
    offer: str | None
    description: str | None
    audience_filter: dict | None
    participants: dict[str, int] = Field(description="participants by status")
    created_at: datetime
    updated_at: datetime
    version: int


class AudienceFilter(Input):
    """A slice of the client base: every live card matching all the given fields."""

    region_id: uuid.UUID | None = None
    industry_id: uuid.UUID | None = None
    source_id: uuid.UUID | None = None
    status: CompanyStatus | None = None


class ParticipantsAdd(Input):
    """Client cards by hand (`company_ids`), or every card of a saved filter of the client base, or both."""

    company_ids: list[uuid.UUID] = Field([], max_length=1000)
    filter: AudienceFilter | None = None
    status: domain.ParticipantStatus = domain.ParticipantStatus.INVITED


class ParticipantChange(Input):
    status: domain.ParticipantStatus


class ParticipantPublic(BaseModel):
    company_id: uuid.UUID
    company_name: str
    status: domain.ParticipantStatus
    added_at: datetime
    updated_at: datetime


class ParticipantsAdded(BaseModel):
    added: int
    already: int = Field(description="cards that were participants already (left as they were)")


class MailingCreate(Input):
    template_id: uuid.UUID | None = Field(None, description="the event's template by default")
    template_name: Name | None = None
    offer: Text | None = Field(None, description="the event's special offer by default")


class MailingPublic(BaseModel):
    id: uuid.UUID
    marketing_event_id: uuid.UUID
    template_id: uuid.UUID | None
    offer: str | None
    recipients: int
    requested_at: datetime
