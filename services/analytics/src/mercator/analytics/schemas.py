"""What the reports answer with."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from mercator.analytics.domain import ActivityBy, ClientBaseBy
from mercator.common.http.fields import DecimalText


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


# --- the twelve reports ----------------------------------------------------------------------------
# Money is a decimal string in the report's currency (the `currency` filter, RUB by default).

Money = DecimalText
Share = float | None  # a fraction (0.25 is a quarter); null when there is nothing to divide by


class WorkloadRow(BaseModel):
    manager_id: str | None
    manager: str | None
    clients: int = Field(description="client cards in work")
    open_deals: int
    open_amount: Money
    by_stage: dict[str, int]


class WorkloadReport(BaseModel):
    rows: list[WorkloadRow]


class InactivityRow(BaseModel):
    manager_id: str | None
    manager: str | None
    clients: int
    inactive_clients: int = Field(description="cards with no history entry for `days`")
    activities: int = Field(description="entries the manager logged in the period (system entries aside)")
    low_activity: bool = Field(description="under `low_share` of the team's mean")


class InactivityReport(BaseModel):
    days: int
    team_mean_activities: float | None
    rows: list[InactivityRow]


class ReceivablesRow(BaseModel):
    key: str | None = Field(description="the manager or the client card")
    name: str | None
    invoices: int
    overdue_invoices: int
    outstanding: Money
    overdue: Money
    ageing: dict[str, Money] = Field(description="outstanding by days past due: current, 1-30, 31-60, 61-90, 90+")


class OverdueInvoiceRow(BaseModel):
    invoice_id: str
    number: str | None
    company_id: str | None
    client: str | None
    manager_id: str | None
    manager: str | None
    issue_date: str | None
    due_date: str
    days_overdue: int
    total: Money
    outstanding: Money
    bucket: str


class ReceivablesReport(BaseModel):
    by: str
    rows: list[ReceivablesRow] | list[OverdueInvoiceRow]


class DurationFigures(BaseModel):
    deals: int
    mean_days: float | None = Field(description="exact mean of the spans from opening to close, in days")
    median_days: float | None = Field(description="median of the spans in whole days (each rounded down)")


class DurationRow(BaseModel):
    key: str | None = Field(description="the manager or the product")
    name: str | None
    won: DurationFigures
    lost: DurationFigures


class StageTimeRow(BaseModel):
    stage: str
    exits: int
    mean_days: float


class ConversionRow(BaseModel):
    from_stage: str
    to_stage: str
    reached: int
    went_on: int
    conversion: Share


class DurationReport(BaseModel):
    by: str
    rows: list[DurationRow]
    all: dict[str, DurationFigures] | None = Field(description="the whole team, won and lost apart")
    stages: list[StageTimeRow]
    conversion: list[ConversionRow]


class LossRow(BaseModel):
    manager_id: str | None
    manager: str | None
    reason: str | None
    stage: str | None
    lost: int
    share: Share = Field(description="of the manager's losses")
    team_lost: int
    team_share: Share = Field(description="of the team's losses")


class TeamLossRow(BaseModel):
    reason: str | None
    stage: str | None
    lost: int
    share: Share


class LossesReport(BaseModel):
    rows: list[LossRow]
    team: list[TeamLossRow]
    team_lost: int


class ResultsRow(BaseModel):
    key: str | None
    name: str | None
    period: str
    won: int
    revenue: Money
    change: Share = Field(description="revenue against the period before")


class ResultsTotal(BaseModel):
    key: str | None
    name: str | None
    won: int
    revenue: Money


class ResultsReport(BaseModel):
    by: str
    period: str
    rows: list[ResultsRow]
    totals: list[ResultsTotal] = Field(description="best sellers first; products that sold nothing are here too")


class SegmentRow(BaseModel):
    key: str | None
    name: str | None
    clients: int
    deals: int
    won: int
    revenue: Money
    conversion: Share


class SegmentsReport(BaseModel):
    by: str
    rows: list[SegmentRow]


class MarketingRow(BaseModel):
    marketing_event_id: str
    name: str | None
    kind: str | None
    starts_on: str | None
    participants: dict[str, int]
    deals: int
    won: int
    revenue: Money
    cost: Money | None
    return_: Share = Field(alias="return", description="(revenue - cost) / cost")

    model_config = ConfigDict(populate_by_name=True)


class MarketingReport(BaseModel):
    window_days: int
    rows: list[MarketingRow]


class VolumeReport(BaseModel):
    by: list[str]
    period: str
    rows: list[dict[str, str | int | None]] = Field(
        description="one per combination of the `by` values: each dimension's id (and `<dimension>_name`), "
        "deals, revenue, average"
    )
    total: dict[str, str | int | None]


class FunnelRow(BaseModel):
    stage: str
    reached: int
    share_of_first_contacts: Share


class FunnelReport(BaseModel):
    first_contacts: int
    won: int
    win_rate: Share
    rows: list[FunnelRow]


class ForecastRow(BaseModel):
    month: str = Field(description="expected close month, or 'unscheduled'")
    deals: int
    amount: Money
    weighted: Money = Field(description="amount weighted by the stage's probability")


class ForecastReport(BaseModel):
    rows: list[ForecastRow]
    total: dict[str, str | int]
