"""The test kit every service's tests share, so a service's conftest says only what is its own.

A conftest defines `settings` (its service's settings on the test database) and `app` (its app, usually
through `rolled_back_app`); the fixtures of `mercator.common.testing.plugin` then give, for any service:
`manager`, `head`, `admin` (callers), `api`, `head_api`, `admin_api` (clients signed in as them), `api_as`
(a client for any caller) and `published` (what the app wrote to its outbox). Outside fixtures, `feed`
puts an event through a service's real handler as its consumer would.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from mercator.common.bus import tables
from mercator.common.bus.consumer import Delivery, Handler
from mercator.common.db import make_engine
from mercator.common.events import Envelope
from mercator.common.events.catalogue import EventPayload
from mercator.common.runtime import Runtime


@dataclass(frozen=True)
class Published:
    """One event as the service wrote it to its outbox: what the relay will publish."""

    type: str
    subject: str
    data: dict[str, Any]
    headers: dict[str, Any]


async def published(app: FastAPI | Runtime, *types: str) -> list[Published]:
    """The events in the outbox, oldest first; only those of `types` when any are named."""
    runtime = app if isinstance(app, Runtime) else app.state.runtime
    stmt = select(tables.outbox).order_by(tables.outbox.c.id)
    if types:
        stmt = stmt.where(tables.outbox.c.type.in_(types))
    async with runtime.sessionmaker() as session:
        rows = (await session.execute(stmt)).mappings().all()
    return [Published(r["type"], r["key"], json.loads(r["payload"]), dict(_pairs(r["headers"]))) for r in rows]


def _pairs(headers: Any) -> list[tuple[str, Any]]:
    return [tuple(h) for h in headers] if isinstance(headers, list) else list(dict(headers or {}).items())


async def feed(
    runtime: FastAPI | Runtime,
    handlers: Mapping[str, Handler],
    payload: EventPayload,
    *,
    subject: str | uuid.UUID | None = None,
    sequence: int = 1,
    event_id: uuid.UUID | None = None,
) -> Envelope:
    """An event through the service's real handler (`handlers`: event type -> handler, e.g. a consumer's table),
    committed as its consumer would. Returns the envelope, so a test can feed the very same one again."""
    rt = runtime if isinstance(runtime, Runtime) else runtime.state.runtime
    envelope = Envelope(
        type=payload.type_name(),
        source=f"/mercator/{payload.owner}",
        subject=str(subject or "x"),
        sequence=sequence,
        data=payload.model_dump(mode="json"),
        id=event_id or uuid.uuid4(),
    )
    await deliver(rt, handlers, envelope, payload)
    return envelope


async def deliver(runtime: Runtime, handlers: Mapping[str, Handler], envelope: Envelope, payload: EventPayload) -> None:
    async with runtime.uow() as uow:
        await handlers[envelope.type](uow, Delivery(envelope, payload))
        await uow.commit()


@dataclass(frozen=True)
class TestDatabase:
    """A service's migrated test database: its URL and one engine over it for the whole session."""

    __test__ = False  # a record, not a test class

    url: str
    engine: AsyncEngine


def database(service: str, migrations: Path) -> Any:
    """A session fixture named `<service>_db` (a `TestDatabase`): in a conftest,
    `deals_db = kit.database("deals", MIGRATIONS)`. The database is made once per run and dropped at its end."""

    @pytest.fixture(scope="session", name=f"{service}_db")
    async def fixture(postgres: Any) -> AsyncIterator[TestDatabase]:
        url = await postgres.migrated(service, migrations)
        engine = make_engine(url)
        yield TestDatabase(url, engine)
        await engine.dispose()

    return fixture


def quiet(database_url: str, **settings: Any) -> dict[str, Any]:
    """A service's settings under test: its test database, no relay and no consumers (the tests feed and read
    the outbox themselves), and a broker address nothing listens on; `settings` add or override."""
    return {
        "database_url": database_url,
        "relay_enabled": False,
        "consumers_enabled": False,
        "kafka_bootstrap": "127.0.0.1:9",
        **settings,
    }
