"""What the HTTP API takes and gives: Create / Update / Public families. Money is a decimal string."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from mercator.common.http.fields import Currency, Exact, Input
from mercator.deals.domain import OfferSide, Requirement, StageKind

Title = Annotated[str, Field(min_length=1, max_length=300)]
HAPPENED_AT = (
    "when it really happened, if before now (RFC 3339): history brought in, for admins and importers "
    "only; not before the deal's previous move"
)


# --- reference data ---------------------------------------------------------------------------


class StageIn(Input):
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,49}$")]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    position: int = Field(ge=0, le=1000)
    probability: Exact = Field(ge=0, le=1)
    stalled_after_days: int | None = Field(None, ge=1, le=3650)
    kind: StageKind = StageKind.OPEN
    require_to_enter: list[Requirement] = Field(default=[])
    require_to_leave: list[Requirement] = Field(default=[])


class StageUpdate(Input):
    """Only the fields sent change; a stage's code and kind are its identity in kept transitions."""

    name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    position: int | None = Field(None, ge=0, le=1000)
    probability: Exact | None = Field(None, ge=0, le=1)
    stalled_after_days: int | None = Field(None, ge=1, le=3650)
    require_to_enter: list[Requirement] | None = None
    require_to_leave: list[Requirement] | None = None


class PipelineCreate(Input):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    stages: list[StageIn] = Field(min_length=3, max_length=50)


class StagePublic(BaseModel):
    code: str
    name: str
    position: int
    probability: Decimal
    stalled_after_days: int | None
    kind: StageKind
    require_to_enter: list[Requirement]
    require_to_leave: list[Requirement]


class PipelinePublic(BaseModel):
    id: uuid.UUID
    name: str
    is_default: bool
    stages: list[StagePublic]


class LostReasonCreate(Input):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    position: int = Field(0, ge=0, le=10_000)


class LostReasonUpdate(Input):
    name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    active: bool | None = None
    position: int | None = Field(None, ge=0, le=10_000)


class LostReasonPublic(BaseModel):
    id: uuid.UUID
    name: str
    active: bool
    position: int


class ProductGroupCreate(Input):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    parent_id: uuid.UUID | None = None


class ProductGroupPublic(BaseModel):
    id: uuid.UUID
    name: str
    parent_id: uuid.UUID | None


class ProductCreate(Input):
    code: Annotated[str, Field(min_length=1, max_length=50)]
    name: Annotated[str, Field(min_length=1, max_length=300)]
    group_id: uuid.UUID | None = None
    unit: Annotated[str, Field(min_length=1, max_length=20)] = "pcs"
    list_price: Exact
    currency: Currency = "RUB"


class ProductUpdate(Input):
    name: Annotated[str | None, Field(min_length=1, max_length=300)] = None
    group_id: uuid.UUID | None = None
    unit: Annotated[str | None, Field(min_length=1, max_length=20)] = None
    list_price: Exact | None = None
    currency: Currency | None = None
    active: bool | None = None


class ProductPublic(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    group_id: uuid.UUID | None
    unit: str
    list_price: Decimal
    currency: str
    active: bool
    version: int


# --- deals --------------------------------------------------------------------------------------


class DealLineIn(Input):
    product_id: uuid.UUID
    quantity: Exact
    unit_price: Exact
    discount_percent: Exact = Decimal(0)


class DealCreate(Input):
    title: Title
    company_id: uuid.UUID
    owner_id: uuid.UUID | None = Field(None, description="defaults to the caller")
    department_id: uuid.UUID | None = Field(None, description="defaults to the caller's department")
    pipeline_id: uuid.UUID | None = Field(None, description="defaults to the default pipeline")
    stage: str | None = Field(None, max_length=50, description="defaults to the pipeline's first stage")
    source_id: uuid.UUID | None = Field(None, description="the contact source the client came from")
    marketing_event_id: uuid.UUID | None = Field(None, description="the marketing event the client came from")
    amount: Exact | None = Field(
        None,
        description="expected amount, a decimal string; with lines, the price "
        "they are re-priced to (without: what the lines add up to)",
    )
    currency: Currency = "RUB"
    expected_close_date: date | None = None
    lines: list[DealLineIn] = Field(default_factory=list, max_length=200)
    opened_at: datetime | None = Field(
        None,
        description="when the deal was really opened, if before now (RFC "
        "3339): history brought in, for admins and importers only",
    )


class DealUpdate(Input):
    """Only the fields sent change."""

    title: Title | None = None
    amount: Exact | None = None
    expected_close_date: date | None = None
    source_id: uuid.UUID | None = None
    marketing_event_id: uuid.UUID | None = None
    lines: list[DealLineIn] | None = Field(None, max_length=200)


class DealReassign(Input):
    owner_id: uuid.UUID
    department_id: uuid.UUID | None = None


class Move(Input):
    stage: Annotated[str, Field(min_length=1, max_length=50)]
    comment: str | None = Field(None, max_length=5000)
    at: datetime | None = Field(None, description=HAPPENED_AT)


class InterestRating(Input):
    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(None, max_length=5000)
    at: datetime | None = Field(None, description=HAPPENED_AT)


class ProposalCreate(Input):
    documents: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(
        min_length=1, max_length=20, description="document names or template ids"
    )
    recipient_person_ids: list[uuid.UUID] = Field(min_length=1, max_length=20)
    channel: Literal["email", "fax"] = "email"
    message: str | None = Field(None, max_length=20_000)


class OfferCreate(Input):
    side: OfferSide
    amount: Exact
    discount_percent: Exact = Decimal(0)
    valid_until: date | None = None
    comment: str | None = Field(None, max_length=5000)
    at: datetime | None = Field(None, description=HAPPENED_AT)


class Accept(Input):
    at: datetime | None = Field(None, description=HAPPENED_AT)


class Close(Input):
    comment: str | None = Field(None, max_length=5000)
    at: datetime | None = Field(None, description=HAPPENED_AT)


class Lose(Input):
    reason_id: uuid.UUID | None = Field(description="a lost reason from the dictionary")
    comment: str | None = Field(None, max_length=5000)
    at: datetime | None = Field(None, description=HAPPENED_AT)


class Reopen(Input):
    stage: str | None = Field(None, max_length=50, description="defaults to the stage it was closed at")
    comment: str | None = Field(None, max_length=5000)
    at: datetime | None = Field(None, description=HAPPENED_AT)


class DealLinePublic(BaseModel):
    product_id: uuid.UUID
    quantity: Decimal
    unit_price: Decimal
    discount_percent: Decimal
    total: Decimal = Field(
        description="the line's part of the deal's amount: its own price, or its share of an "
        "agreed price; the lines add up to the amount"
    )


class OfferPublic(BaseModel):
    id: uuid.UUID
    side: OfferSide
    amount: Decimal
    discount_percent: Decimal
    valid_until: date | None
    comment: str | None
    made_at: datetime
    author_id: uuid.UUID | None
    status: str


class ProposalPublic(BaseModel):
    id: uuid.UUID
    deal_id: uuid.UUID
    documents: list[str]
    recipient_person_ids: list[uuid.UUID]
    channel: str
    message: str | None
    sent_at: datetime
    author_id: uuid.UUID


class DealPublic(BaseModel):
    id: uuid.UUID
    title: str
    company_id: uuid.UUID
    owner_id: uuid.UUID
    department_id: uuid.UUID | None
    pipeline_id: uuid.UUID
    stage: str
    status: str
    amount: Decimal | None
    weighted_amount: Decimal | None
    currency: str
    expected_close_date: date | None
    source_id: uuid.UUID | None
    marketing_event_id: uuid.UUID | None
    interest_rating: int | None
    lost_reason: str | None
    lost_at_stage: str | None
    entered_stage_at: datetime
    opened_at: datetime
    closed_at: datetime | None
    version: int
    lines: list[DealLinePublic] = []
    offers: list[OfferPublic] = []


class BoardCardPublic(BaseModel):
    """What a card on the board shows, and what a move needs (the version); the rest is read on opening."""

    id: uuid.UUID
    title: str
    amount: Decimal | None
    currency: str
    owner_id: uuid.UUID
    owner_name: str | None
    stage: str
    version: int
    stalled: bool


class BoardColumnPublic(BaseModel):
    stage: str
    name: str
    probability: Decimal
    count: int
    amounts: dict[str, Decimal]
    weighted: dict[str, Decimal]
    stalled: int
    stalled_deal_ids: list[uuid.UUID]


class BoardPublic(BaseModel):
    pipeline_id: uuid.UUID
    as_of: datetime
    columns: list[BoardColumnPublic]


class TimelineItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    at: datetime
