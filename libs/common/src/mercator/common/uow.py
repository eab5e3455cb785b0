"""Unit of work: one database transaction holding a use case's changes and the events they cause.

It is committed at the edge, not by the use case: by the request's dependency (`http.deps.UowDep`) when the
route returns, by the consumer after its handlers, by a job around its step. A refusal raised anywhere
before that leaves nothing behind.

The events are written to the outbox table in the same transaction (transactional outbox),
so a change is never committed without its events, nor an event published without its change.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mercator.common import clock
from mercator.common.bus import tables
from mercator.common.context import current_cause
from mercator.common.db import insert_rows
from mercator.common.events.catalogue import EventPayload
from mercator.common.events.envelope import Envelope

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IdempotencyClaim:
    """Set by the HTTP layer for a POST with an Idempotency-Key: the key is stored with the change."""

    caller: str
    key: str
    fingerprint: str


current_claim: ContextVar[IdempotencyClaim | None] = ContextVar("current_claim", default=None)


class UnitOfWork:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        source: str,
        topic_prefix: str = "",
        on_commit: Callable[[], None] | None = None,
    ):
        self._sessionmaker = sessionmaker
        self.source = source
        self.topic_prefix = topic_prefix
        self._on_commit = on_commit
        self.session: AsyncSession
        self.events: list[Envelope] = []
        self._outbox_rows: dict[uuid.UUID, dict] = {}
        self.committed = False

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessionmaker()
        self.events = []
        self._outbox_rows = {}
        self.committed = False
        return self

    async def __aexit__(self, *exc) -> None:
        try:
            if not self.committed:
                await self.session.rollback()
        finally:
            await self.session.close()

    def emit(
        self, payload: EventPayload, *, subject: uuid.UUID | str, sequence: int, time: datetime | None = None
    ) -> Envelope:
        """`time`: when the fact happened (the CloudEvents `time`), if not now: history brought in."""
        cause = current_cause.get()
        envelope = Envelope(
            time=time.astimezone(UTC) if time is not None else clock.now(),
            type=payload.type_name(),
            source=self.source,
            subject=str(subject),
            sequence=sequence,
            raw=payload.model_dump_json().encode(),
            correlation_id=cause.correlation_id,
            causation_id=cause.causation_id,
            actor=cause.actor,
        )
        self.events.append(envelope)
        # The outbox row is made now, not at the commit: a use case that emits before its first
        # statement (a history batch) makes it before taking SQLite's write lock, not while holding it.
        self._outbox_rows[envelope.id] = self._outbox_row(envelope)
        return envelope

    def _outbox_row(self, e: Envelope) -> dict:
        return {
            "event_id": e.id,
            "type": e.type,
            "topic": f"{self.topic_prefix}{e.type}",
            "key": e.subject,
            "headers": e.attributes(),
            "payload": e.body().decode(),
        }  # pairs: JSON arrays in the column

    async def commit(self) -> None:
        now = clock.now()
        if self.events:
            # Only the events still in `events` (a use case may drop those of a step it undid).
            rows = [self._outbox_rows.get(e.id) or self._outbox_row(e) for e in self.events]
            for row in rows:
                row["created_at"] = now
            await insert_rows(self.session, tables.outbox, rows)
        claim = current_claim.get()
        if claim is not None:
            # A duplicate key makes this insert, and so the whole change, fail: the HTTP
            # layer then answers with the first request's response instead.
            await self.session.execute(
                insert(tables.idempotency).values(
                    caller=claim.caller, key=claim.key, fingerprint=claim.fingerprint, created_at=now
                )
            )
            current_claim.set(None)
        await self.session.commit()
        self.committed = True
        if self.events and log.isEnabledFor(logging.INFO):
            # With the request's (or the handled event's) correlation id: where a trail of events starts.
            for e in self.events:
                log.info(
                    "event recorded",
                    extra={
                        "event_type": e.type,
                        "event_id": str(e.id),
                        "subject": e.subject,
                        "correlation_id": e.correlation_id,
                        "causation_id": e.causation_id,
                    },
                )
        if self.events and self._on_commit is not None:
            self._on_commit()
        # Written: a later commit of this unit (the edge's, after a use case that still commits) adds them not again.
        self.events = []
        self._outbox_rows = {}

    async def rollback(self) -> None:
        await self.session.rollback()
        self.events = []
        self._outbox_rows = {}
