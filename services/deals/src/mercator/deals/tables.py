"""How the deals service stores its records (SQLAlchemy; the rules live in `domain`)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from mercator.common.db import Base as CommonBase
from mercator.common.db import BigId, Exact, UtcDateTime, new_metadata
from mercator.common.money import quantize


class Base(CommonBase):
    __abstract__ = True
    metadata = new_metadata()


class Pipeline(Base):
    __tablename__ = "pipelines"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    is_default: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Stage(Base):
    __tablename__ = "stages"
    __table_args__ = (UniqueConstraint("pipeline_id", "code", name="uq_stages_pipeline_code"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    pipeline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    probability: Mapped[Decimal] = mapped_column(Exact(6, 4))
    stalled_after_days: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    require_to_enter: Mapped[list] = mapped_column(JSON, default=list)
    require_to_leave: Mapped[list] = mapped_column(JSON, default=list)


class ProductGroup(Base):
    __tablename__ = "product_groups"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("product_groups.id"), index=True)


class Product(Base):
    __tablename__ = "products"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    group_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("product_groups.id"), index=True)
    unit: Mapped[str] = mapped_column(String(20))
    list_price: Mapped[Decimal] = mapped_column(Exact())
    currency: Mapped[str] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class LostReason(Base):
    __tablename__ = "lost_reasons"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Client(Base):
    """Replica of the client cards, kept from contacts' events: deals never reads their database."""

    __tablename__ = "clients"

    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(300))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    status: Mapped[str | None] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=0)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class Person(Base):
    """Replica of the clients' contact persons: proposals go to people of the deal's client."""

    __tablename__ = "persons"

    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    name: Mapped[str] = mapped_column(String(300))
    version: Mapped[int] = mapped_column(Integer, default=0)


class User(Base):
    """Replica of the users, kept from the gateway's events."""

    __tablename__ = "users"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class Deal(Base):
    __tablename__ = "deals"
    __table_args__ = (Index("ix_deals_pipeline_stage", "pipeline_id", "status", "stage_code"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    pipeline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipelines.id"))
    stage_code: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(10), index=True)
    amount: Mapped[Decimal | None] = mapped_column(Exact())
    currency: Mapped[str] = mapped_column(String(3))
    expected_close_date: Mapped[date | None] = mapped_column(Date)
    source_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    marketing_event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    interest_rating: Mapped[int | None] = mapped_column(Integer)
    lost_reason_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lost_reasons.id"))
    lost_reason: Mapped[str | None] = mapped_column(String(200))
    lost_at_stage: Mapped[str | None] = mapped_column(String(50))
    closed_from_stage: Mapped[str | None] = mapped_column(String(50))
    entered_stage_at: Mapped[datetime] = mapped_column(UtcDateTime())
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)


class DealLine(Base):
    __tablename__ = "deal_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[Decimal] = mapped_column(Exact(18, 3))
    unit_price: Mapped[Decimal] = mapped_column(Exact())
    discount_percent: Mapped[Decimal] = mapped_column(Exact(7, 4))
    # The line's share of an agreed price for the whole deal, when it is not the line's own price.
    agreed_total: Mapped[Decimal | None] = mapped_column(Exact())


class Transition(Base):
    """Every stage change, kept: durations per stage and the pipeline on any past date come from here."""

    __tablename__ = "transitions"
    __table_args__ = (Index("ix_transitions_deal_at", "deal_id", "at", "id"), Index("ix_transitions_at", "at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    from_stage: Mapped[str | None] = mapped_column(String(50))
    to_stage: Mapped[str] = mapped_column(String(50))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    seconds_in_previous: Mapped[int | None] = mapped_column(Integer)
    author_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    comment: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))
    cause: Mapped[str | None] = mapped_column(String(100))


class Offer(Base):
    __tablename__ = "offers"
    __table_args__ = (Index("ix_offers_deal_at", "deal_id", "made_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    side: Mapped[str] = mapped_column(String(10))
    amount: Mapped[Decimal] = mapped_column(Exact())
    discount_percent: Mapped[Decimal] = mapped_column(Exact(7, 4))
    valid_until: Mapped[date | None] = mapped_column(Date)
    comment: Mapped[str | None] = mapped_column(Text)
    made_at: Mapped[datetime] = mapped_column(UtcDateTime())
    author_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(String(12))


class Rating(Base):
    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    author_id: Mapped[uuid.UUID] = mapped_column(Uuid)


class Proposal(Base):
    __tablename__ = "proposals"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), index=True)
    documents: Mapped[list] = mapped_column(JSON)
    recipient_person_ids: Mapped[list] = mapped_column(JSON)
    channel: Mapped[str] = mapped_column(String(10))
    message: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime())
    author_id: Mapped[uuid.UUID] = mapped_column(Uuid)


def plain(number: Decimal) -> Decimal:
    """10.0000 -> 10, 2.500 -> 2.5: quantities and percents as people write them."""
    return number.quantize(Decimal(1)) if number == number.to_integral_value() else number.normalize()


@event.listens_for(Deal, "load")
def _deal_money(row: Deal, _context) -> None:
    # Stored with 4 decimal places for every currency; shown with the currency's own.
    if row.amount is not None:
        row.amount = quantize(row.amount, row.currency)


@event.listens_for(Product, "load")
def _product_money(row: Product, _context) -> None:
    row.list_price = quantize(row.list_price, row.currency)
