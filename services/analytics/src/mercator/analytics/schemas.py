"""What the reports answer with."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from mercator.analytics.domain import ActivityBy, ClientBaseBy


class ClientBaseRow(BaseModel):
    key: str | None  # the id (region, owner, ...) or the value (status); null: not filled in
    name: str | None  # the label, where the card carries one
    clients: int


class ClientBaseReport(BaseModel):
    by: ClientBaseBy
    rows: list[ClientBaseRow]
    total: int


class ActivityRow(BaseModel):
    key: str
    name: str | None
    entries: int


class ActivityReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    by: ActivityBy
    from_: datetime | None = Field(None, alias="from")
    to: datetime | None = None
    rows: list[ActivityRow]
    total: int


class InactiveClient(BaseModel):
    company_id: uuid.UUID
    name: str | None
    owner_id: uuid.UUID | None
    status: str | None
    last_activity_at: datetime | None
    days_inactive: int | None  # null: no history entry ever
    activity_count: int
