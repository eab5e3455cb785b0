"""Tables the bus keeps in every service's own database: outbox, inbox, dead letters, idempotency."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    Uuid,
)

from mercator.common.db import BigId, UtcDateTime, new_metadata

# Kept apart from each service's own metadata; a service's Alembic env targets both.
metadata = new_metadata()

outbox = Table(
    "outbox",
    metadata,
    # The id orders publication: rows go out in the order they were committed.
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("type", String(100), nullable=False),
    Column("topic", String(200), nullable=False),
    Column("key", String(100), nullable=False),
    Column("headers", JSON, nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("published_at", UtcDateTime()),
    Column("kafka_partition", Integer),
    Column("kafka_offset", BigId),
    Index("ix_outbox_unpublished", "published_at", "id"),
)
inbox = Table(
    "inbox",
    metadata,
    Column("consumer", String(100), primary_key=True),
    Column("event_id", Uuid, primary_key=True),
    Column("type", String(100), nullable=False),
    Column("processed_at", UtcDateTime(), nullable=False, index=True),
)
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("consumer", String(100), nullable=False),
    Column("event_id", Uuid),
    Column("topic", String(200), nullable=False),
    Column("kafka_partition", Integer, nullable=False),
    Column("kafka_offset", BigId, nullable=False),
    Column("key", String(200)),
    Column("headers", JSON, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("failed_at", UtcDateTime(), nullable=False),
)
idempotency = Table(
    "idempotency_keys",
    metadata,
    Column("caller", String(100), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer),
    Column("response_headers", JSON),
    Column("response_body", Text),
    Column("created_at", UtcDateTime(), nullable=False, index=True),
)
