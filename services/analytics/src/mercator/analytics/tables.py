"""Read models (projections) of other services' events; the rules of applying them live in `domain`.

No foreign keys: events arrive in any order, so a row may name a client card not projected yet.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from mercator.common.db import Base as CommonBase
from mercator.common.db import new_metadata


class Base(CommonBase):
    __abstract__ = True
    metadata = new_metadata()


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
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
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
    happened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    deal_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class Meeting(Base):
    """A scheduled meeting or call; fields stay empty until the event that carries them arrives."""

    __tablename__ = "meetings"

    meeting_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    kind: Mapped[str | None] = mapped_column(String(20))
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str | None] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    schedule_version: Mapped[int] = mapped_column(Integer, default=0)
