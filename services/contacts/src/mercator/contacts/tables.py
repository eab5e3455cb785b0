"""How the contacts service stores its records (SQLAlchemy; the rules live in `domain`)."""

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
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from mercator.common.db import Base as CommonBase
from mercator.common.db import UtcDateTime, new_metadata


class Base(CommonBase):
    __abstract__ = True
    metadata = new_metadata()


class DictionaryEntry(Base):
    """Regions, industries and contact sources: editable lists the client card picks from."""

    __tablename__ = "dictionary_entries"
    __table_args__ = (UniqueConstraint("kind", "name_key", name="uq_dictionary_entries_kind_name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)


class Company(Base):
    __tablename__ = "companies"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    legal_name: Mapped[str | None] = mapped_column(String(500))
    tax_id: Mapped[str | None] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    region_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dictionary_entries.id"), index=True)
    industry_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dictionary_entries.id"), index=True)
    source_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dictionary_entries.id"), index=True)
    phones: Mapped[list] = mapped_column(JSON, default=list)
    emails: Mapped[list] = mapped_column(JSON, default=list)
    address: Mapped[str | None] = mapped_column(Text)
    website: Mapped[str | None] = mapped_column(String(300))
    notes: Mapped[str | None] = mapped_column(Text)
    last_activity_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # Case- and script-insensitive search (SQLite's lower() knows no Cyrillic): kept by the service.
    search_text: Mapped[str] = mapped_column(Text, default="")
    sort_key: Mapped[str] = mapped_column(String(300), index=True)
    match_name: Mapped[str] = mapped_column(String(300), index=True)


class CompanyContact(Base):
    """Each normalised phone and e-mail of a card, indexed, so duplicates are found without a scan."""

    __tablename__ = "company_contacts"
    __table_args__ = (Index("ix_company_contacts_value", "kind", "value"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    value: Mapped[str] = mapped_column(String(320), primary_key=True)


class Person(Base):
    __tablename__ = "persons"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    position: Mapped[str | None] = mapped_column(String(300))
    phones: Mapped[list] = mapped_column(JSON, default=list)
    emails: Mapped[list] = mapped_column(JSON, default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)
    search_text: Mapped[str] = mapped_column(Text, default="")


class Activity(Base):
    """One entry of a client's history: a meeting, call, letter, fax, e-mail, note, demo, support."""

    __tablename__ = "activities"
    __table_args__ = (Index("ix_activities_company_time", "company_id", "happened_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    kind: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str | None] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(Text)
    happened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    author_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    deal_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("persons.id"))
    meeting_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Meeting(Base):
    __tablename__ = "meetings"
    __table_args__ = (Index("ix_meetings_owner_start", "owner_id", "starts_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str | None] = mapped_column(String(500))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    duration_minutes: Mapped[int] = mapped_column(Integer)
    place: Mapped[str | None] = mapped_column(String(500))
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    person_ids: Mapped[list] = mapped_column(JSON, default=list)
    participant_user_ids: Mapped[list] = mapped_column(JSON, default=list)
    reminder_minutes_before: Mapped[int | None] = mapped_column(Integer)
    deal_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(String(20), index=True)
    activity_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)


class MarketingEvent(Base):
    """An exhibition, presentation, webinar or mailing run for a group of client cards."""

    __tablename__ = "marketing_events"
    __table_args__ = (Index("ix_marketing_events_start", "starts_on", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    cost: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    currency: Mapped[str] = mapped_column(String(3))
    organiser_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    template_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    offer: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    # The saved filter of the client base the participants were last added from (region, industry, ...).
    audience_filter: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Sequence of the aggregate's events: participants change it without changing the card's ETag.
    sequence: Mapped[int] = mapped_column(Integer, default=1)


class Participant(Base):
    __tablename__ = "marketing_participants"

    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("marketing_events.id"), primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True, index=True)
    status: Mapped[str] = mapped_column(String(20))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())
    added_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Mailing(Base):
    """One send of a mailing event's template; the messages themselves are the notifications service's."""

    __tablename__ = "marketing_mailings"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("marketing_events.id"), index=True)
    template_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    template_name: Mapped[str | None] = mapped_column(String(300))
    offer: Mapped[str | None] = mapped_column(Text)
    recipients: Mapped[int] = mapped_column(Integer)
    requested_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ImportMapping(Base):
    """A saved column mapping (`{column header: field}`), reused for the next file of the same shape."""

    __tablename__ = "import_mappings"
    __table_args__ = (UniqueConstraint("kind", "name", name="uq_import_mappings_kind_name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    columns: Mapped[dict] = mapped_column(JSON)
    author_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ImportJob(Base):
    """One file being imported (or tried in a dry run), with who runs it: a job outlives the request and the
    process, and goes on from its first row without an outcome."""

    __tablename__ = "import_jobs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    dry_run: Mapped[bool] = mapped_column(default=False)
    on_duplicate: Mapped[str] = mapped_column(String(10))  # skip | merge | create
    columns: Mapped[dict] = mapped_column(JSON)
    file_name: Mapped[str | None] = mapped_column(String(300))
    uploaded_bytes: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(12), index=True)  # uploading | queued | running | done | failed
    total_rows: Mapped[int | None] = mapped_column(Integer)
    done_rows: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict] = mapped_column(JSON, default=dict)  # outcome: rows
    error: Mapped[str | None] = mapped_column(Text)
    caller: Mapped[dict] = mapped_column(JSON)  # who runs it: the rows are written in their name
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ImportFile(Base):
    """The file of an import, apart from the job so that polling and counting never carry it."""

    __tablename__ = "import_files"

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ImportRow(Base):
    """The outcome of one row, written in the transaction that wrote its record: a row with an outcome is
    never written again, so an interrupted import resumes without doubles."""

    __tablename__ = "import_rows"

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True)
    row: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    outcome: Mapped[str] = mapped_column(String(12))  # created | merged | skipped | rejected
    record_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    duplicate_of: Mapped[list] = mapped_column(JSON, default=list)  # [{company_id, name, reasons}]
    errors: Mapped[list] = mapped_column(JSON, default=list)  # [{field, column, message}]
