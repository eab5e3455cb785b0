"""What the client card and its export answer, section by section, with the field names the services return.

The gateway keeps its own copy of each section's shape rather than importing the services' models: it is
deployed apart from them, and this copy is what it promises its callers. Every name starts with `ClientCard`
so that none meets a service's schema of the same name in the merged OpenAPI document.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from mercator.common.money import PLAIN_DECIMAL

# As the services write a decimal: a string, never a JSON number (a float would round the kopecks).
Money = Annotated[
    str, Field(pattern=PLAIN_DECIMAL, description='a decimal string, e.g. "1220.00"', examples=["1220.00"])
]
Quantity = Annotated[str, Field(pattern=PLAIN_DECIMAL, description='a decimal string, e.g. "2.5"', examples=["2.5"])]
Cursor = Annotated[
    str | None, Field(description="pass it back as this section's cursor for the next page; null on the last page")
]


class ClientCardRef(BaseModel):
    id: uuid.UUID
    name: str


class ClientCardCompany(BaseModel):
    id: uuid.UUID
    name: str
    legal_name: str | None
    tax_id: str | None
    status: Literal["prospect", "client", "former"]
    owner_id: uuid.UUID
    department_id: uuid.UUID | None
    region: ClientCardRef | None
    industry: ClientCardRef | None
    source: ClientCardRef | None
    phones: list[str]
    emails: list[str]
    address: str | None
    website: str | None
    notes: str | None
    last_activity_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class ClientCardPerson(BaseModel):
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


class ClientCardHistoryEntry(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    kind: Literal["meeting", "call", "letter", "fax", "email", "note", "demo", "support", "system"]
    direction: Literal["inbound", "outbound", "internal"]
    subject: str | None
    summary: str
    happened_at: datetime
    author_id: uuid.UUID
    deal_id: uuid.UUID | None
    person_id: uuid.UUID | None
    meeting_id: uuid.UUID | None
    created_at: datetime


class ClientCardMeeting(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    kind: Literal["meeting", "call"]
    subject: str | None
    starts_at: datetime
    duration_minutes: int
    place: str | None
    owner_id: uuid.UUID
    person_ids: list[uuid.UUID]
    participant_user_ids: list[uuid.UUID]
    reminder_minutes_before: int | None
    deal_id: uuid.UUID | None
    status: Literal["planned", "done", "cancelled"]
    activity_id: uuid.UUID | None
    cancel_reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class ClientCardDealLine(BaseModel):
    product_id: uuid.UUID
    quantity: Quantity
    unit_price: Money
    discount_percent: Quantity
    total: Money


class ClientCardDealOffer(BaseModel):
    id: uuid.UUID
    side: Literal["ours", "client"]
    amount: Money
    discount_percent: Quantity
    valid_until: date | None
    comment: str | None
    made_at: datetime
    author_id: uuid.UUID | None
    status: Literal["open", "accepted", "superseded"]


class ClientCardDeal(BaseModel):
    id: uuid.UUID
    title: str
    company_id: uuid.UUID
    owner_id: uuid.UUID
    department_id: uuid.UUID | None
    pipeline_id: uuid.UUID
    stage: str = Field(description="the stage's code in its pipeline")
    status: Literal["open", "won", "lost"]
    amount: Money | None
    weighted_amount: Money | None
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
    lines: list[ClientCardDealLine] = Field(description="filled in the export; the card's list leaves them empty")
    offers: list[ClientCardDealOffer] = Field(description="filled in the export; the card's list leaves them empty")


class ClientCardInvoiceLine(BaseModel):
    product_id: uuid.UUID | None
    description: str | None
    quantity: Quantity
    unit_price: Money
    vat_rate: str
    net: Money
    vat: Money
    gross: Money


class ClientCardInvoice(BaseModel):
    id: uuid.UUID
    number: str | None = Field(description="null while a draft")
    deal_id: uuid.UUID | None
    company_id: uuid.UUID
    contract_id: uuid.UUID | None
    currency: str
    status: Literal["draft", "issued", "partly_paid", "paid", "overdue", "cancelled"]
    issue_date: date | None
    due_date: date | None
    net: Money
    vat: Money
    total: Money
    paid: Money
    credited: Money
    outstanding: Money
    version: int
    lines: list[ClientCardInvoiceLine]


class ClientCardHistoryPage(BaseModel):
    """The client's history, newest first, one page of it."""

    items: list[ClientCardHistoryEntry]
    next_cursor: Cursor


class ClientCardMeetingPage(BaseModel):
    """The planned meetings and calls, one page of them."""

    items: list[ClientCardMeeting]
    next_cursor: Cursor


class ClientCardDealPage(BaseModel):
    """The client's deals, newest first, one page of them."""

    items: list[ClientCardDeal]
    next_cursor: Cursor


class ClientCard(BaseModel):
    """A section whose service is down is null, and that service is named in `missing`."""

    company: ClientCardCompany
    persons: list[ClientCardPerson] | None = Field(description="every contact person")
    history: ClientCardHistoryPage | None = Field(
        description="one page, newest first; its `next_cursor` goes back as `history_cursor`"
    )
    meetings: ClientCardMeetingPage | None = Field(
        description="one page, soonest first; its `next_cursor` goes back as `meetings_cursor`"
    )
    deals: ClientCardDealPage | None = Field(
        description="one page, newest first; its `next_cursor` goes back as `deals_cursor`"
    )
    invoices: list[ClientCardInvoice] | None = Field(description="every invoice, by due date")
    debt: dict[str, Money] | None = Field(
        description="per currency, what the issued, partly paid and overdue "
        "invoices still owe; null when billing is down"
    )
    partial: bool = Field(description="true when a section is missing")
    missing: list[Literal["contacts", "deals", "billing"]] = Field(description="the services that did not answer")


# --- the export ------------------------------------------------------------------------------------------------


class ClientCardPaymentAllocation(BaseModel):
    invoice_id: uuid.UUID
    amount: Money


class ClientCardPayment(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    amount: Money
    currency: str
    received_on: date
    method: Literal["bank_transfer", "card", "cash"]
    bank_reference: str | None
    credit: Money = Field(description="what is left unallocated, the client's credit")
    allocations: list[ClientCardPaymentAllocation]


class ClientCardDeliveryItem(BaseModel):
    product_id: uuid.UUID
    quantity: Quantity


class ClientCardDelivery(BaseModel):
    id: uuid.UUID
    deal_id: uuid.UUID | None
    company_id: uuid.UUID
    waybill_number: str
    shipped_on: date
    delivered_on: date | None
    carrier: str | None
    status: Literal["shipped", "delivered"]
    items: list[ClientCardDeliveryItem]


class ClientCardDealTransition(BaseModel):
    type: Literal["transition"]
    at: datetime
    id: str
    kind: Literal["open", "move", "won", "lost", "reopen"]
    from_stage: str | None
    to_stage: str
    seconds_in_previous: int | None
    author_id: uuid.UUID | None
    comment: str | None
    cause: str | None


class ClientCardDealRating(BaseModel):
    type: Literal["interest_rating"]
    at: datetime
    id: str
    rating: int
    comment: str | None
    author_id: uuid.UUID | None


class ClientCardDealOfferMade(BaseModel):
    type: Literal["offer"]
    at: datetime
    id: str
    side: Literal["ours", "client"]
    amount: Money
    discount_percent: Quantity
    valid_until: date | None
    status: Literal["open", "accepted", "superseded"]
    comment: str | None
    author_id: uuid.UUID | None


class ClientCardDealProposal(BaseModel):
    type: Literal["proposal"]
    at: datetime
    id: str
    documents: list[str]
    recipient_person_ids: list[uuid.UUID]
    channel: str
    author_id: uuid.UUID | None


ClientCardDealEvent = Annotated[
    ClientCardDealTransition | ClientCardDealRating | ClientCardDealOfferMade | ClientCardDealProposal,
    Field(discriminator="type"),
]


class ClientCardExportDeal(ClientCardDeal):
    timeline: list[ClientCardDealEvent] = Field(description="what happened to the deal, in order")


class ClientCardExport(BaseModel):
    """Everything about one client; never partial."""

    exported_at: datetime
    company: ClientCardCompany
    persons: list[ClientCardPerson]
    history: list[ClientCardHistoryEntry] = Field(description="the whole history, newest first")
    meetings: list[ClientCardMeeting] = Field(description="every meeting and call, planned, done or cancelled")
    deals: list[ClientCardExportDeal]
    invoices: list[ClientCardInvoice]
    payments: list[ClientCardPayment]
    deliveries: list[ClientCardDelivery]
