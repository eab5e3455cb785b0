"""Helpers for API tests: an app whose every write is rolled back after the test, and tokens."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from mercator.common.auth import Caller, mint_token
from mercator.common.runtime import Runtime
from mercator.common.settings import ServiceSettings


def billing_today(time_zone: str = "Europe/Moscow") -> date:
    """The day billing works on (its time zone, Moscow by default): from 21:00 UTC it is already tomorrow
    there, and a due date of the machine's UTC day would be in billing's past."""
    return datetime.now(ZoneInfo(time_zone)).date()


def caller(
    name: str = "Anna Petrova", roles: tuple[str, ...] = ("manager",), department_id=None, departments=()
) -> Caller:
    """`departments`: a head's department subtree, as the gateway puts it in the token."""
    return Caller(uuid.uuid4(), name, frozenset(roles), department_id, frozenset(departments))


def auth(settings: ServiceSettings, who: Caller) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(settings, who)}"}


@asynccontextmanager
async def rolled_back_app(
    settings: ServiceSettings, engine: AsyncEngine, build_app: Callable[[ServiceSettings, Runtime], FastAPI]
) -> AsyncIterator[FastAPI]:
    """Every session of the app joins one outer transaction that is rolled back at the end;
    a use case's commit only releases a savepoint."""
    runtime = Runtime(settings)
    async with engine.connect() as conn:
        outer = await conn.begin()
        runtime.sessionmaker = async_sessionmaker(
            bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        try:
            yield build_app(settings, runtime)
        finally:
            await outer.rollback()
    await runtime.engine.dispose()


def client(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://contacts.test", headers=headers or {}
    )


class Switch(httpx.AsyncBaseTransport):
    """An in-process app reached as over the network (its unhandled error is its 500 answer), behind a
    switch a test can turn off, counting the requests that reach it."""

    def __init__(self, app: FastAPI):
        self.inner = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self.down = False
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)
