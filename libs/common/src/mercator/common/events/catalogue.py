"""The one catalogue of integration event payloads, shared by publishers and consumers.

Changes are additive only: a new optional field is fine; renaming, removing or
retyping a field is a new event type. Consumers ignore fields they do not know.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema


class EventPayload(BaseModel):
    """Base of every payload. `owner` is the publishing service, `aggregate` the subject kind."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    owner: ClassVar[str]
    aggregate: ClassVar[str]

    @classmethod
    def type_name(cls) -> str:
        return cls.__name__


CATALOGUE: dict[str, type[EventPayload]] = {}


def event(owner: str, aggregate: str):
    def register(cls: type[EventPayload]) -> type[EventPayload]:
        cls.owner = owner
        cls.aggregate = aggregate
        if cls.__name__ in CATALOGUE:
            raise ValueError(f"event type {cls.__name__} registered twice")
        CATALOGUE[cls.__name__] = cls
        return cls

    return register


def payload_model(type_name: str) -> type[EventPayload] | None:
    return CATALOGUE.get(type_name)


def types_owned_by(service: str) -> list[str]:
    return [name for name, cls in CATALOGUE.items() if cls.owner == service]


# --- contacts -----------------------------------------------------------------------


class CompanyCard(EventPayload):
    """The client card as it stands after the change (event-carried state)."""

    company_id: uuid.UUID
    name: str
    legal_name: str | None = None
    tax_id: str | None = None
    status: str
    owner_id: uuid.UUID
    department_id: uuid.UUID | None = None
    region_id: uuid.UUID | None = None
    region_name: str | None = None
    industry_id: uuid.UUID | None = None
    industry_name: str | None = None
    source_id: uuid.UUID | None = None
    source_name: str | None = None
    phones: list[str] = []
    emails: list[str] = []
    website: str | None = None
    created_at: datetime
    last_activity_at: datetime | None = None


@event("contacts", "company")
class CompanyCreated(CompanyCard):
    pass


@event("contacts", "company")
class CompanyUpdated(CompanyCard):
    changed: list[str] = []


@event("contacts", "company")
class CompanyReassigned(EventPayload):
    company_id: uuid.UUID
    from_owner_id: uuid.UUID
    to_owner_id: uuid.UUID
    department_id: uuid.UUID | None = None


@event("contacts", "company")
class CompanyMerged(EventPayload):
    """`absorbed_id` no longer exists; everything it had now belongs to `company_id`."""

    company_id: uuid.UUID
    absorbed_id: uuid.UUID
    moved_persons: int = 0
    moved_activities: int = 0
    moved_meetings: int = 0


@event("contacts", "person")
class PersonAdded(EventPayload):
    person_id: uuid.UUID
    company_id: uuid.UUID
    name: str
    position: str | None = None
    phones: list[str] = []
    emails: list[str] = []


@event("contacts", "person")
class PersonUpdated(PersonAdded):
    pass


@event("contacts", "activity")
class ActivityLogged(EventPayload):
    activity_id: uuid.UUID
    company_id: uuid.UUID
    kind: str
    direction: str
    subject: str | None = None
    summary: str
    happened_at: datetime
    author_id: uuid.UUID
    deal_id: uuid.UUID | None = None
    person_id: uuid.UUID | None = None
    meeting_id: uuid.UUID | None = None


@event("contacts", "meeting")
class MeetingScheduled(EventPayload):
    meeting_id: uuid.UUID
    company_id: uuid.UUID
    kind: str
    subject: str | None = None
    starts_at: datetime
    duration_minutes: int
    place: str | None = None
    owner_id: uuid.UUID
    person_ids: list[uuid.UUID] = []
    participant_user_ids: list[uuid.UUID] = []
    reminder_minutes_before: int | None = None
    deal_id: uuid.UUID | None = None


@event("contacts", "meeting")
class MeetingRescheduled(EventPayload):
    meeting_id: uuid.UUID
    company_id: uuid.UUID
    starts_at: datetime
    duration_minutes: int
    reminder_minutes_before: int | None = None


@event("contacts", "meeting")
class MeetingCompleted(EventPayload):
    meeting_id: uuid.UUID
    company_id: uuid.UUID
    activity_id: uuid.UUID
    done_at: datetime


@event("contacts", "meeting")
class MeetingCancelled(EventPayload):
    meeting_id: uuid.UUID
    company_id: uuid.UUID
    reason: str | None = None


# --- deals --------------------------------------------------------------------------------
# Money is a Decimal, serialised as a decimal string beside its ISO 4217 currency: never a float.
Amount = Annotated[
    Decimal,
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "description": "decimal string, e.g. 120000.00"}),
]


class DealCard(EventPayload):
    """The deal as it stands after the change (event-carried state)."""

    deal_id: uuid.UUID
    title: str
    company_id: uuid.UUID
    owner_id: uuid.UUID
    department_id: uuid.UUID | None = None
    pipeline_id: uuid.UUID
    stage: str
    status: str
    amount: Amount | None = None
    currency: str
    expected_close_date: date | None = None
    source_id: uuid.UUID | None = None
    marketing_event_id: uuid.UUID | None = None
    opened_at: datetime
    # The win probability of `stage` in the deal's pipeline when this was written: stages are data, and a
    # forecast elsewhere needs no copy of the pipelines to weigh the deal.
    stage_probability: Amount | None = None


class DealLinePayload(BaseModel):
    """`total` is the line's part of the deal's amount: the lines of a deal add up to its amount exactly."""

    product_id: uuid.UUID
    quantity: Amount
    unit_price: Amount
    discount_percent: Amount = Decimal(0)
    total: Amount


@event("deals", "deal")
class DealOpened(DealCard):
    lines: list[DealLinePayload] = []


@event("deals", "deal")
class DealUpdated(DealCard):
    changed: list[str] = []
    lines: list[DealLinePayload] = []


@event("deals", "deal")
class DealStageChanged(EventPayload):
    """`kind` is move, automatic (caused by `cause_event_id`), won, lost or reopen."""

    deal_id: uuid.UUID
    company_id: uuid.UUID
    owner_id: uuid.UUID
    pipeline_id: uuid.UUID
    from_stage: str | None = None
    to_stage: str
    at: datetime
    seconds_in_previous: int | None = None
    kind: str = "move"
    comment: str | None = None
    cause_event_id: uuid.UUID | None = None
    author_id: uuid.UUID | None = None
    to_probability: Amount | None = Field(None, description="the win probability of `to_stage` in the pipeline")


@event("deals", "deal")
class DealInterestRated(EventPayload):
    deal_id: uuid.UUID
    company_id: uuid.UUID
    rating: int
    comment: str | None = None
    at: datetime


@event("deals", "deal")
class ProposalSent(EventPayload):
    """Notifications sends the documents; deals only records that the proposal went out."""

    proposal_id: uuid.UUID
    deal_id: uuid.UUID
    company_id: uuid.UUID
    documents: list[str]
    recipient_person_ids: list[uuid.UUID]
    channel: str = "email"
    message: str | None = None
    sent_at: datetime
    author_id: uuid.UUID


@event("deals", "deal")
class PriceOffered(EventPayload):
    offer_id: uuid.UUID
    deal_id: uuid.UUID
    company_id: uuid.UUID
    side: str
    amount: Amount
    discount_percent: Amount = Decimal(0)
    currency: str
    valid_until: date | None = None
    comment: str | None = None
    at: datetime


@event("deals", "deal")
class OfferAccepted(EventPayload):
    """`amount` becomes the deal's amount, and its lines are re-priced pro rata to add up to it exactly."""

    offer_id: uuid.UUID
    deal_id: uuid.UUID
    company_id: uuid.UUID
    amount: Amount
    currency: str
    at: datetime
    lines: list[DealLinePayload] | None = Field(
        None,
        description="the deal's lines re-priced to `amount` (empty: a deal without lines); "
        "absent from events written before lines were re-priced",
    )


@event("deals", "deal")
class DealWon(EventPayload):
    deal_id: uuid.UUID
    company_id: uuid.UUID
    owner_id: uuid.UUID
    department_id: uuid.UUID | None = None
    amount: Amount | None = None
    currency: str
    won_at: datetime
    from_stage: str
    lines: list[DealLinePayload] = []


@event("deals", "deal")
class DealLost(EventPayload):
    deal_id: uuid.UUID
    company_id: uuid.UUID
    owner_id: uuid.UUID
    department_id: uuid.UUID | None = None
    reason_id: uuid.UUID | None = None
    reason: str
    lost_at_stage: str
    lost_at: datetime
    amount: Amount | None = None
    currency: str


@event("deals", "deal")
class DealReopened(EventPayload):
    deal_id: uuid.UUID
    company_id: uuid.UUID
    to_stage: str
    at: datetime
    comment: str | None = None
    to_probability: Amount | None = Field(None, description="the win probability of `to_stage` in the pipeline")


class ProductCard(EventPayload):
    product_id: uuid.UUID
    code: str
    name: str
    group_id: uuid.UUID | None = None
    group_name: str | None = None
    unit: str
    list_price: Amount
    currency: str
    active: bool = True


@event("deals", "product")
class ProductCreated(ProductCard):
    pass


@event("deals", "product")
class ProductUpdated(ProductCard):
    changed: list[str] = []


# --- gateway ------------------------------------------------------------------------------


class UserCard(EventPayload):
    user_id: uuid.UUID
    name: str
    email: str | None = None
    roles: list[str] = []
    department_id: uuid.UUID | None = None
    active: bool = True


@event("gateway", "user")
class UserCreated(UserCard):
    pass


@event("gateway", "user")
class UserUpdated(UserCard):
    changed: list[str] = []


@event("gateway", "department")
class DepartmentChanged(EventPayload):
    """A department as it stands after it was created or changed (departments form a tree)."""

    department_id: uuid.UUID
    name: str
    parent_id: uuid.UUID | None = None
    active: bool = True


# --- billing ------------------------------------------------------------------------------


class Instalment(BaseModel):
    due_date: date
    amount: Amount


@event("billing", "contract")
class ContractSigned(EventPayload):
    contract_id: uuid.UUID
    number: str
    deal_id: uuid.UUID
    company_id: uuid.UUID
    signed_on: date
    amount: Amount
    currency: str
    due_in_days: int | None = None
    instalments: list[Instalment] = []


class InvoiceLinePayload(BaseModel):
    product_id: uuid.UUID | None = None
    description: str
    quantity: Amount
    unit_price: Amount
    vat_rate: str
    net: Amount
    vat: Amount
    gross: Amount


@event("billing", "invoice")
class InvoiceIssued(EventPayload):
    invoice_id: uuid.UUID
    number: str
    deal_id: uuid.UUID | None = None
    company_id: uuid.UUID
    contract_id: uuid.UUID | None = None
    issue_date: date
    due_date: date
    net: Amount
    vat: Amount
    total: Amount
    currency: str
    lines: list[InvoiceLinePayload] = []


@event("billing", "invoice")
class InvoiceCancelled(EventPayload):
    invoice_id: uuid.UUID
    number: str
    deal_id: uuid.UUID | None = None
    company_id: uuid.UUID
    reason: str | None = None


@event("billing", "invoice")
class InvoiceCredited(EventPayload):
    invoice_id: uuid.UUID
    number: str
    credit_note_id: uuid.UUID
    deal_id: uuid.UUID | None = None
    company_id: uuid.UUID
    amount: Amount
    currency: str
    reason: str | None = None


class AllocationPayload(BaseModel):
    invoice_id: uuid.UUID
    deal_id: uuid.UUID | None = None
    amount: Amount


@event("billing", "payment")
class PaymentReceived(EventPayload):
    payment_id: uuid.UUID
    company_id: uuid.UUID
    amount: Amount
    currency: str
    paid_on: date
    bank_reference: str
    method: str
    allocations: list[AllocationPayload] = []
    credit: Amount = Decimal(0)


@event("billing", "invoice")
class InvoicePaid(EventPayload):
    invoice_id: uuid.UUID
    number: str
    deal_id: uuid.UUID | None = None
    company_id: uuid.UUID
    total: Amount
    currency: str
    paid_on: date


@event("billing", "invoice")
class InvoiceOverdue(EventPayload):
    """Emitted once per invoice, the first time it is found past due with something outstanding."""

    invoice_id: uuid.UUID
    number: str
    deal_id: uuid.UUID | None = None
    company_id: uuid.UUID
    outstanding: Amount
    currency: str
    due_date: date
    days_overdue: int


class DeliveryItemPayload(BaseModel):
    product_id: uuid.UUID | None = None
    description: str | None = None
    quantity: Amount


@event("billing", "delivery")
class DeliveryShipped(EventPayload):
    delivery_id: uuid.UUID
    deal_id: uuid.UUID | None = None
    company_id: uuid.UUID
    waybill: str
    shipped_on: date
    carrier: str | None = None
    items: list[DeliveryItemPayload] = []


@event("billing", "delivery")
class DeliveryDelivered(EventPayload):
    delivery_id: uuid.UUID
    deal_id: uuid.UUID | None = None
    company_id: uuid.UUID
    waybill: str
    delivered_on: date


# --- contacts: marketing events ---------------------------------------------------------
# Kept after the deals section only because they use `Amount`; the contacts service owns them.


class MarketingEventCard(EventPayload):
    """An exhibition, presentation, webinar or mailing as it stands after the change."""

    marketing_event_id: uuid.UUID
    name: str
    kind: str  # exhibition | presentation | webinar | mailing
    starts_on: date
    ends_on: date | None = None
    cost: Amount | None = None
    currency: str
    organiser_id: uuid.UUID
    department_id: uuid.UUID | None = None
    template_id: uuid.UUID | None = None
    offer: str | None = None
    created_at: datetime


@event("contacts", "marketing_event")
class MarketingEventCreated(MarketingEventCard):
    pass


@event("contacts", "marketing_event")
class MarketingEventUpdated(MarketingEventCard):
    changed: list[str] = []


@event("contacts", "marketing_event")
class ParticipantAdded(EventPayload):
    marketing_event_id: uuid.UUID
    company_id: uuid.UUID
    status: str  # invited | attended | responded
    added_at: datetime


@event("contacts", "marketing_event")
class ParticipantStatusChanged(EventPayload):
    marketing_event_id: uuid.UUID
    company_id: uuid.UUID
    from_status: str
    to_status: str
    at: datetime


class MailingRecipient(BaseModel):
    company_id: uuid.UUID
    person_id: uuid.UUID
    name: str
    email: str


@event("contacts", "marketing_event")
class MailingRequested(EventPayload):
    """Carries its recipients, so the notifications service needs no copy of the client base."""

    mailing_id: uuid.UUID
    marketing_event_id: uuid.UUID
    template_id: uuid.UUID | None = None
    template_name: str | None = None
    offer: str | None = None
    recipients: list[MailingRecipient]
    requested_by: uuid.UUID
    requested_at: datetime


# --- analytics ------------------------------------------------------------------------------


@event("analytics", "company")
class InactivityDetected(EventPayload):
    """Once per crossing: a client card with no history entry for `threshold_days`."""

    company_id: uuid.UUID
    company_name: str | None = None
    owner_id: uuid.UUID
    department_id: uuid.UUID | None = None
    last_activity_at: datetime | None = None
    threshold_days: int
    days_inactive: int
    detected_at: datetime


# --- notifications --------------------------------------------------------------------------


class MessageOutcome(EventPayload):
    message_id: uuid.UUID
    channel: str  # email | fax
    recipient: str  # the address or E.164 number it went to
    subject: str | None = None
    documents: list[str] = []
    company_id: uuid.UUID | None = None
    person_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None
    author_id: uuid.UUID | None = None
    cause_type: str | None = None  # the event type that asked for it, or "manual"
    cause_event_id: uuid.UUID | None = None
    attempts: int


@event("notifications", "message")
class MessageSent(MessageOutcome):
    sent_at: datetime


@event("notifications", "message")
class MessageFailed(MessageOutcome):
    error: str
    failed_at: datetime
