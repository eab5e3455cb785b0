"""What the HTTP API takes and gives."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from mercator.common.http.fields import Input
from mercator.notifications.domain import Channel, Status, TemplateKind

Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[a-z0-9][a-z0-9_\-]*$",
        description="lower-case letters, digits, '_' and '-': what events and the API name",
    ),
]
Source = Annotated[str, Field(min_length=1, max_length=200_000)]


class TemplateCreate(Input):
    name: Name
    kind: TemplateKind
    description: str | None = Field(None, max_length=1000)
    subject: Source = Field(description="e-mail: the subject line; document: the title, which names the PDF file")
    body: Source = Field(
        description="e-mail: plain text; document: HTML (headings, paragraphs, tables) laid out "
        "as a PDF. Both Jinja2, filled from the client card, the deal and its lines"
    )


class TemplateUpdate(Input):
    description: str | None = Field(None, max_length=1000)
    subject: Source | None = None
    body: Source | None = None
    active: bool | None = None


class TemplatePublic(BaseModel):
    id: uuid.UUID
    name: str
    kind: TemplateKind
    description: str | None
    subject: str
    body: str
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class TemplateVersionPublic(BaseModel):
    template_id: uuid.UUID
    version: int
    description: str | None
    subject: str
    body: str
    created_at: datetime
    author_id: uuid.UUID | None


class DocumentRequest(Input):
    template: Name = Field(description="a document template's name: proposal, price_list, product_sheet, invoice...")
    company_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None
    person_id: uuid.UUID | None = None
    invoice_id: uuid.UUID | None = None
    message: str | None = Field(None, max_length=5000)


class MessageCreate(Input):
    channel: Channel = Channel.EMAIL
    person_id: uuid.UUID | None = Field(None, description="the contact person; their first e-mail or fax number")
    company_id: uuid.UUID | None = Field(None, description="the client card, when writing to an address typed in")
    to: str | None = Field(
        None, max_length=320, description="an address (e-mail, or fax number) instead of the person's own"
    )
    deal_id: uuid.UUID | None = None
    invoice_id: uuid.UUID | None = None
    template: Name | None = Field(None, description="an e-mail template for subject and body")
    subject: str | None = Field(None, max_length=500)
    message: str | None = Field(None, max_length=20_000)
    documents: list[Name] = Field(default_factory=list, max_length=10)


class MessagePublic(BaseModel):
    id: uuid.UUID
    channel: Channel
    kind: str
    recipient: str
    recipient_name: str | None
    subject: str
    body: str
    status: Status
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    cause_type: str
    cause_event_id: uuid.UUID | None
    company_id: uuid.UUID | None
    person_id: uuid.UUID | None
    deal_id: uuid.UUID | None
    meeting_id: uuid.UUID | None
    author_id: uuid.UUID | None
    documents: list[str]
    created_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None
