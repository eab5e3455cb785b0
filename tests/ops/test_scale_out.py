"""Scaled out on loopback: two replicas of every consuming service on one database each share
their consumer groups' partitions; one replica of each is SIGKILLed mid-stream and started
again, and still every event is applied exactly once by every group that reads it."""

from __future__ import annotations

import asyncio
import importlib
import itertools
import uuid

import asyncpg
import httpx
import pytest

from mercator.common.auth import mint_token
from mercator.common.devrun import installed
from mercator.common.settings import ServiceSettings
from mercator.common.testing.api import caller
from mercator.common.testing.bus import until

pytestmark = [pytest.mark.postgres, pytest.mark.broker, pytest.mark.e2e, pytest.mark.slow]

# Every service that consumes events (the gateway only publishes).
CONSUMING = tuple(n for n in ("contacts", "deals", "billing", "notifications", "analytics") if installed(n))


def consumer_types(service: str, prefix: str, scratch) -> dict[str, set[str]]:
    """Each consumer group of the service and the event types it reads, from the service's own wiring."""
    app_module = importlib.import_module(f"mercator.{service}.app")
    settings_module = importlib.import_module(f"mercator.{service}.settings")
    [settings_cls] = [
        v
        for v in vars(settings_module).values()
        if isinstance(v, type) and issubclass(v, ServiceSettings) and v is not ServiceSettings
    ]
    app = app_module.build_app(
        settings_cls(topic_prefix=prefix, database_url=f"sqlite+aiosqlite:///{scratch}/{service}-wiring.db")
    )
    return {c.name: set(c.handlers) for c in app.state.runtime.consumers}


def dsn(replica) -> str:
    url = next(v for k, v in replica.env.items() if k.endswith("_DATABASE_URL"))
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def rows(replica, sql: str) -> list:
    conn = await asyncpg.connect(dsn(replica))
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


class Writer:
    """A sales team at work: client cards, a call on each, a deal on each, spread over the replicas.
    A write whose replica died under it is sent again to the other one with the same Idempotency-Key."""

    def __init__(self, stack, token: str):
        self.stack = stack
        self.headers = {"Authorization": f"Bearer {token}"}
        self.turn = itertools.count()
        self.acknowledged = 0

    async def post(self, service: str, path: str, body: dict) -> dict:
        key = str(uuid.uuid4())
        for _attempt in range(40):
            alive = [r for r in self.stack.members[service] if r.proc and r.proc.poll() is None]
            replica = alive[next(self.turn) % len(alive)]
            try:
                async with httpx.AsyncClient(base_url=replica.url, timeout=10) as api:
                    r = await api.post(path, json=body, headers={**self.headers, "Idempotency-Key": key})
                if r.status_code == 201:
                    self.acknowledged += 1
                    return r.json()
                if r.status_code < 500:
                    raise AssertionError(f"{service} {path}: {r.status_code} {r.text}")
            except httpx.HTTPError:
                pass  # the replica was killed under the request: the other one gets the same key
            await asyncio.sleep(0.2)
        raise AssertionError(f"{service} {path} never answered 201")

    async def sale(self, i: int) -> None:
        card = await self.post("contacts", "/api/v1/companies", {"name": f"Клиент {i}"})
        await self.post(
            "contacts", f"/api/v1/companies/{card['id']}/history", {"kind": "call", "summary": f"звонок {i}"}
        )
        if "deals" in self.stack.members:
            await self.post("deals", "/api/v1/deals", {"title": f"Поставка {i}", "company_id": card["id"]})

    async def run(self, start: int, count: int) -> None:
        for i in range(start, start + count):
            await self.sale(i)


async def assigned(replica, ops_token: str) -> dict[str, bool]:
    try:
        async with httpx.AsyncClient(base_url=replica.ops_url, timeout=5) as api:
            body = (await api.get("/ops/status", headers={"Authorization": f"Bearer {ops_token}"})).json()
        return {name: c["assigned"] for name, c in body["consumers"].items()}
    except httpx.HTTPError:
        return {}


async def test_two_replicas_per_service_share_partitions_and_a_killed_one_loses_and_repeats_nothing(
    make_stack, token, tmp_path
):
    stack = await make_stack(names=CONSUMING, replicas=2)
    ops_token = mint_token(ServiceSettings(), caller("Дежурный", roles=("ops",)))
    groups = {s: consumer_types(s, stack.prefix, tmp_path) for s in CONSUMING}

    async def every_replica_holds_partitions(replicas) -> bool:
        states = await asyncio.gather(*(assigned(r, ops_token) for r in replicas))
        return all(state and all(state.values()) for state in states)

    # Both replicas of each service are members of each of its groups, each with partitions of its own.
    assert await until(lambda: every_replica_holds_partitions(stack.all()), timeout=120, every=1)

    writer = Writer(stack, token)
    await writer.run(0, 20)
    stream = asyncio.create_task(writer.run(20, 60))  # still writing while a replica of each dies
    await until(lambda: asyncio.sleep(0, writer.acknowledged >= 80), timeout=120, every=0.2)
    victims = [stack.members[s][1] for s in CONSUMING]
    for v in victims:
        stack.kill(v)  # SIGKILL: no drain, no offset commit, no leaving the group
    await asyncio.sleep(3)
    for v in victims:
        stack.launch(v)
    for v in victims:
        await stack.wait(v)
    # Writes go on until the restarted replicas have their partitions back, then a last batch.
    tail = 80
    while not await every_replica_holds_partitions(victims):
        await writer.run(tail, 2)
        tail += 2
        assert tail < 400, "the restarted replicas never got partitions back"
    await stream
    await writer.run(1000, 10)

    # The truth: every event each service committed to its outbox (contacts keeps adding system
    # history entries as it reads the deals, so it is read again each time).
    async def outboxes() -> dict[str, set]:
        published: dict[str, set] = {}
        for service in stack.members:
            for r in await rows(stack.members[service][0], "SELECT event_id, type FROM outbox"):
                published.setdefault(r["type"], set()).add(r["event_id"])
        return published

    async def inboxes() -> dict[str, dict[str, list]]:
        out: dict[str, dict[str, list]] = {}
        for service in CONSUMING:
            for r in await rows(stack.members[service][0], "SELECT consumer, type, event_id FROM inbox"):
                out.setdefault(r["consumer"], {}).setdefault(r["type"], []).append(r["event_id"])
        return out

    last: list = []

    async def all_applied() -> bool:
        published, seen = await outboxes(), await inboxes()
        done = all(
            set(seen.get(group, {}).get(t, ())) >= published.get(t, set())
            for service in CONSUMING
            for group, types in groups[service].items()
            for t in types
        )
        settled = done and last == [published]
        last[:] = [published]
        return settled

    assert await until(all_applied, timeout=180, every=1), "a consumer group never caught up"
    published = await outboxes()
    assert len(published.get("CompanyCreated", ())) >= 90

    seen = await inboxes()
    checked = 0
    for service in CONSUMING:
        for group, types in groups[service].items():
            for t in types & set(published):
                ids = seen[group][t]
                # None skipped, none applied twice (the inbox row is written with the handler's effects).
                assert sorted(ids) == sorted(published[t]), (group, t)
                checked += 1
        dead = await rows(stack.members[service][0], "SELECT consumer, topic, error FROM dead_letters")
        assert dead == [], f"{service} dead-lettered: {dead}"
    assert checked >= 4

    # The restarted replicas took their share again (their counters start from the restart).
    applied_after_restart = 0.0
    for v in victims:
        async with httpx.AsyncClient(base_url=v.ops_url, timeout=5) as api:
            for line in (await api.get("/metrics")).text.splitlines():
                if line.startswith("events_consumed_total{") and 'outcome="applied"' in line:
                    applied_after_restart += float(line.rsplit(" ", 1)[1])
    assert applied_after_restart > 0

    # And what a user reads agrees: each card and each call counted once in the reports.
    if "analytics" in stack.members:
        cards = len(published["CompanyCreated"])
        calls = len(published["ActivityLogged"])
        async with httpx.AsyncClient(
            base_url=stack.url("analytics"), timeout=10, headers={"Authorization": f"Bearer {token}"}
        ) as reports:
            base = (await reports.get("/api/v1/reports/client-base", params={"by": "status"})).json()
            acts = (await reports.get("/api/v1/reports/activity", params={"by": "company"})).json()
        assert (base["total"], acts["total"]) == (cards, calls)
