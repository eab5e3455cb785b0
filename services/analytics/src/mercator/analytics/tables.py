"""Read models (projections) of other services' events; the rules of applying them live in `domain`.

No foreign keys: events arrive in any order, so a row may name a client card not projected yet.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar

from sqlalchemy import BigInteger, Boolean, Date, Index, Integer, Numeric, String, Table, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from mercator.common.db import Base as CommonBase
from mercator.common.db import UtcDateTime, new_metadata


class Base(CommonBase):
    __abstract__ = True
    metadata = new_metadata()
    # Every read model maps one table (SQLAlchemy types it as any FromClause): the projections write to it.
    __table__: ClassVar[Table]


class Client(Base):
    """A client card as contacts last described it, plus what its history adds up to.

    A row with `version` 0 is a placeholder: something about the card arrived before the card.
    """

    __tablename__ = "clients"

    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(300))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    region_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    region_name: Mapped[str | None] = mapped_column(String(200))
    industry_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    industry_name: Mapped[str | None] = mapped_column(String(200))
    source_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    source_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str | None] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    last_activity_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    activity_count: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=0)
    owner_version: Mapped[int] = mapped_column(Integer, default=0)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)


class Activity(Base):
    """One entry of a client's history (an ActivityLogged); entries never change once logged."""

    __tablename__ = "activities"
    __table_args__ = (Index("ix_activities_company_time", "company_id", "happened_at"),)

    activity_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str] = mapped_column(String(20))
    author_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    happened_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    deal_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class Meeting(Base):
    """A scheduled meeting or call; fields stay empty until the event that carries them arrives."""

    __tablename__ = "meetings"

    meeting_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    kind: Mapped[str | None] = mapped_column(String(20))
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    status: Mapped[str | None] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    schedule_version: Mapped[int] = mapped_column(Integer, default=0)


Money = Numeric(18, 2)


class User(Base):
    """A user of Mercator (a manager, a head), for names and departments in the reports."""

    __tablename__ = "users"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(300))
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class Department(Base):
    __tablename__ = "departments"

    department_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(300))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer, default=0)


class Product(Base):
    __tablename__ = "products"

    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    code: Mapped[str | None] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(300))
    group_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    group_name: Mapped[str | None] = mapped_column(String(300))
    version: Mapped[int] = mapped_column(Integer, default=0)


class Deal(Base):
    """A deal as the deals service last described it. Card fields, the stage and the lines each keep the
    sequence they come from, so an older event that arrives late cannot undo a newer one."""

    __tablename__ = "deals"
    __table_args__ = (
        Index("ix_deals_status_owner", "status", "owner_id"),
        Index("ix_deals_opened", "opened_at"),
        Index("ix_deals_closed", "closed_at"),
    )

    deal_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    title: Mapped[str | None] = mapped_column(String(300))
    amount: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    expected_close_date: Mapped[date | None] = mapped_column(Date)
    source_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    marketing_event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    card_version: Mapped[int] = mapped_column(Integer, default=0)
    stage: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str | None] = mapped_column(String(10))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    stage_version: Mapped[int] = mapped_column(Integer, default=0)
    lost_reason: Mapped[str | None] = mapped_column(String(300))
    lost_at_stage: Mapped[str | None] = mapped_column(String(50))
    lost_version: Mapped[int] = mapped_column(Integer, default=0)
    closed_version: Mapped[int] = mapped_column(Integer, default=0)
    # The sequence the amount and the lines come from: they change together (the lines add up to the amount).
    lines_version: Mapped[int] = mapped_column(Integer, default=0)
    # The win probability of `stage` in the deal's pipeline, as the event that set the stage said.
    probability: Mapped[Decimal | None] = mapped_column(Numeric(6, 4))
    # The furthest position in the funnel (`domain.FUNNEL_POSITIONS`, -1 for another pipeline's stage) of any
    # step of the deal stored in `deal_transitions`; None while none is.
    reached: Mapped[int | None] = mapped_column(Integer)
    # The client card's region, industry and source as the card last said: copies the segment aggregates key
    # the deal by, kept by the card's projection.
    client_region_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    client_industry_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    client_source_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class DealLine(Base):
    __tablename__ = "deal_lines"

    deal_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, index=True)
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 3))
    total: Mapped[Decimal] = mapped_column(Money)


class Transition(Base):
    """One step of a deal through the pipeline; the opening counts as the step into its first stage."""

    __tablename__ = "deal_transitions"

    deal_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_stage: Mapped[str | None] = mapped_column(String(50))
    to_stage: Mapped[str] = mapped_column(String(50))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    seconds_in_previous: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))


class Invoice(Base):
    """An invoice; what was paid is the sum of its allocations, so payments may come before it."""

    __tablename__ = "invoices"

    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    number: Mapped[str | None] = mapped_column(String(50))
    deal_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    issue_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date, index=True)
    total: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    paid: Mapped[Decimal] = mapped_column(Money, default=0)
    credited: Mapped[Decimal] = mapped_column(Money, default=0)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Who answers for the debt: the deal's manager and department, else the client card's. Copies kept by the
    # deal and card projections, for the receivables aggregate.
    deal_owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    deal_department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    client_owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    client_department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class Allocation(Base):
    """A payment's share that went to one invoice (or to a credit note's refund: a credit)."""

    __tablename__ = "payment_allocations"

    payment_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    paid_on: Mapped[date] = mapped_column(Date)


class Credit(Base):
    __tablename__ = "invoice_credits"

    credit_note_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    amount: Mapped[Decimal] = mapped_column(Money)


class MarketingEvent(Base):
    __tablename__ = "marketing_events"

    marketing_event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(300))
    kind: Mapped[str | None] = mapped_column(String(20))
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    cost: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    organiser_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer, default=0)


class Participant(Base):
    __tablename__ = "marketing_participants"

    marketing_event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, index=True)
    status: Mapped[str] = mapped_column(String(20))
    status_version: Mapped[int] = mapped_column(Integer, default=0)


class InactivityAlert(Base):
    """The last crossing of the inactivity threshold announced for a client card: one InactivityDetected
    per silence, however often the job runs; new activity opens the way for the next one."""

    __tablename__ = "inactivity_alerts"

    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    last_activity_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    detected_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sequence: Mapped[int] = mapped_column(Integer, default=1)


# --- aggregates: what the reports read, kept by the projections in the transaction of the facts ----------
# Each row is one cell: `cell` is a digest of the key columns (which may be NULL, and NULLs never meet in a
# unique index), the measures are sums over the facts in the cell. See `aggregates`.


class OpenDeals(Base):
    """Open deals by manager, department, stage, currency and expected close month (workload, forecast)."""

    __tablename__ = "agg_open_deals"

    cell: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    stage: Mapped[str | None] = mapped_column(String(50))
    currency: Mapped[str | None] = mapped_column(String(3))
    close_month: Mapped[date | None] = mapped_column(Date)
    deals: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[Decimal] = mapped_column(Numeric(24, 2), default=0)
    weighted: Mapped[Decimal] = mapped_column(Numeric(28, 6), default=0)


class ClosedDeals(Base):
    """Won and lost deals by close month, manager, department, currency and, for losses, reason and stage
    (losses, results by manager, sales volume by manager, department and period)."""

    __tablename__ = "agg_closed_deals"

    cell: Mapped[str] = mapped_column(String(32), primary_key=True)
    month: Mapped[date | None] = mapped_column(Date)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(String(10))
    currency: Mapped[str | None] = mapped_column(String(3))
    lost_reason: Mapped[str | None] = mapped_column(String(300))
    lost_at_stage: Mapped[str | None] = mapped_column(String(50))
    deals: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[Decimal] = mapped_column(Numeric(24, 2), default=0)


class Funnel(Base):
    """Deals by opening month, manager, department and the furthest funnel position they reached (funnel)."""

    __tablename__ = "agg_funnel"

    cell: Mapped[str] = mapped_column(String(32), primary_key=True)
    month: Mapped[date | None] = mapped_column(Date)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    furthest: Mapped[int] = mapped_column(Integer)
    deals: Mapped[int] = mapped_column(Integer, default=0)


class ClientCards(Base):
    """Client cards in the base by manager, department and status (workload)."""

    __tablename__ = "agg_client_cards"

    cell: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    status: Mapped[str | None] = mapped_column(String(20))
    clients: Mapped[int] = mapped_column(Integer, default=0)


class DealSegments(Base):
    """Deals by segment (`kind` region, industry or source, and its id), opening month, manager, department and
    currency: opened, won, and the revenue of those won (contact sources, the client base by region and
    industry)."""

    __tablename__ = "agg_deal_segments"

    cell: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    month: Mapped[date | None] = mapped_column(Date)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    currency: Mapped[str | None] = mapped_column(String(3))
    deals: Mapped[int] = mapped_column(Integer, default=0)
    won: Mapped[int] = mapped_column(Integer, default=0)
    won_amount: Mapped[Decimal] = mapped_column(Numeric(24, 2), default=0)


class ClientSegments(Base):
    """Client cards by segment (kind, id and the name the card gives it), month created, manager, department,
    status, and whether the card is in the base (not merged into another)."""

    __tablename__ = "agg_client_segments"

    cell: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    label: Mapped[str | None] = mapped_column(String(200))
    month: Mapped[date | None] = mapped_column(Date)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    status: Mapped[str | None] = mapped_column(String(20))
    in_base: Mapped[bool] = mapped_column(Boolean)
    clients: Mapped[int] = mapped_column(Integer, default=0)


class Receivables(Base):
    """Unpaid invoices by manager, department, currency and due date: how many and what is outstanding; the
    ageing follows from the due date when the report is asked for (receivables by manager)."""

    __tablename__ = "agg_receivables"

    cell: Mapped[str] = mapped_column(String(32), primary_key=True)
    manager_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    currency: Mapped[str | None] = mapped_column(String(3))
    due_date: Mapped[date | None] = mapped_column(Date)
    invoices: Mapped[int] = mapped_column(Integer, default=0)
    outstanding: Mapped[Decimal] = mapped_column(Numeric(24, 2), default=0)


class ClientSilence(Base):
    """Client cards in the base by manager, department, status and the day of their last history entry (or, with
    none, the day they were created): who has gone silent since a moment follows from the days before it, and
    the few cards of that moment's own day (inactivity)."""

    __tablename__ = "agg_client_silence"

    cell: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    status: Mapped[str | None] = mapped_column(String(20))
    last_day: Mapped[date | None] = mapped_column(Date)
    created_day: Mapped[date | None] = mapped_column(Date)
    clients: Mapped[int] = mapped_column(Integer, default=0)


class Activities(Base):
    """History entries (not the system's own) by month, author, and the manager, department and status of the
    card in the base they belong to (inactivity: who logs little)."""

    __tablename__ = "agg_activities"

    cell: Mapped[str] = mapped_column(String(32), primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    author_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    status: Mapped[str | None] = mapped_column(String(20))
    entries: Mapped[int] = mapped_column(Integer, default=0)


class DealDurations(Base):
    """Won and lost deals by close month, manager, department, status and whole days from opening to close (the
    span rounded down to days): how many, and the spans' exact sum in microseconds (whole numbers sum fast and
    exactly). A histogram per cell group: the mean is exact, the median is of whole days (deal durations)."""

    __tablename__ = "agg_deal_durations"
    __table_args__ = (Index("ix_agg_deal_durations_month", "month"),)  # a period reads its months only

    cell: Mapped[str] = mapped_column(String(32), primary_key=True)
    month: Mapped[date | None] = mapped_column(Date)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(String(10))
    days: Mapped[int] = mapped_column(Integer)
    deals: Mapped[int] = mapped_column(Integer, default=0)
    microseconds: Mapped[int] = mapped_column(BigInteger, default=0)


class DealDurationTotals(Base):
    """`DealDurations` over all time (no month): what a report without a period reads, a few cells per manager
    instead of a few per manager and month."""

    __tablename__ = "agg_deal_duration_totals"

    cell: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(String(10))
    days: Mapped[int] = mapped_column(Integer)
    deals: Mapped[int] = mapped_column(Integer, default=0)
    microseconds: Mapped[int] = mapped_column(BigInteger, default=0)


class StageTimes(Base):
    """Steps out of a stage by the month of the step, the stage left, and the deal's manager and department: how
    many, and the seconds the deals stood in that stage before them (time in each stage, deal durations)."""

    __tablename__ = "agg_stage_times"

    cell: Mapped[str] = mapped_column(String(32), primary_key=True)
    month: Mapped[date | None] = mapped_column(Date)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    stage: Mapped[str] = mapped_column(String(50))
    exits: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[int] = mapped_column(BigInteger, default=0)


AGGREGATES = (
    "agg_client_silence",
    "agg_activities",
    "agg_receivables",
    "agg_open_deals",
    "agg_closed_deals",
    "agg_funnel",
    "agg_client_cards",
    "agg_deal_segments",
    "agg_client_segments",
    "agg_deal_durations",
    "agg_deal_duration_totals",
    "agg_stage_times",
)

# Every read model: what `rebuild` empties before the topics are read again from the start.
READ_MODELS = (
    "clients",
    "activities",
    "meetings",
    "users",
    "departments",
    "products",
    "deals",
    "deal_lines",
    "deal_transitions",
    "invoices",
    "payment_allocations",
    "invoice_credits",
    "marketing_events",
    "marketing_participants",
    *AGGREGATES,
)
