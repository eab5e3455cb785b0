"""Faults across processes and services: nothing accepted is ever lost, nothing is applied twice."""

import asyncio
import json
import uuid

import httpx
import pytest

from mercator.common.runtime import Runtime
from mercator.common.testing.broker import TansuBroker, free_port
from mercator.common.testing.bus import projection, projector, read_topic, until
from mercator.common.testing.processes import sigkill, start_service, wait_http
from mercator.contacts.app import MIGRATIONS, build_app
from mercator.contacts.settings import ContactsSettings

pytestmark = [pytest.mark.postgres, pytest.mark.broker, pytest.mark.e2e]


async def test_killing_the_service_between_commit_and_publish_loses_no_event(tmp_path, token):
    broker = TansuBroker()  # down while the writes are made: the relay cannot publish them
    port = free_port()
    env = {
        "MERCATOR_CONTACTS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/contacts.db",
        "MERCATOR_CONTACTS_HTTP_PORT": str(port),
        "MERCATOR_CONTACTS_KAFKA_BOOTSTRAP": broker.bootstrap,
        "MERCATOR_CONTACTS_JSON_LOGS": "false",
    }
    service = start_service("contacts", env, tmp_path / "contacts.log")
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/healthz", 60, service)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}
        ) as api:
            created = []
            for i in range(20):
                r = await api.post("/api/v1/companies", json={"name": f"Клиент {i}"})
                assert r.status_code == 201, r.text
                created.append(r.json()["id"])
        sigkill(service)  # committed, never published
        broker.start()
        service = start_service("contacts", env, tmp_path / "contacts.log")
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/healthz", 60, service)
        records = await read_topic(broker.bootstrap, "CompanyCreated", 20, timeout=60)
        assert sorted(json.loads(r.value)["company_id"] for r in records) == sorted(created)
    finally:
        sigkill(service)
        broker.kill()


async def test_200_changes_while_the_broker_is_down_each_reach_a_projection_exactly_once(postgres, token):
    contacts_db = await postgres.migrated("contacts", MIGRATIONS)
    projection_db = await postgres.create("projection")
    from mercator.common.testing.bus import create_bus_database

    await create_bus_database(projection_db)
    broker = TansuBroker()  # down
    settings = ContactsSettings(
        database_url=contacts_db,
        kafka_bootstrap=broker.bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
        relay_poll_seconds=0.1,
    )
    runtime = Runtime(settings)
    app = build_app(settings, runtime)
    reader = projector(projection_db, broker.bootstrap, settings.topic_prefix)
    await runtime.start()
    await reader.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://contacts",
            headers={"Authorization": f"Bearer {token}"},
        ) as api:
            card = (await api.post("/api/v1/companies", json={"name": "Ромашка"})).json()
            ids = []
            for i in range(200):
                r = await api.post(
                    f"/api/v1/companies/{card['id']}/history", json={"kind": "call", "summary": f"звонок {i}"}
                )
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
            assert (await api.get("/readyz")).json()["broker"] == "down"
        broker.start()
        assert await until(lambda: _count(reader, 200), timeout=120)
        seen = await projection(reader)
        assert len(seen) == 200 and set(seen.values()) == {1}
        assert await runtime.relay.backlog() == 0
    finally:
        await reader.stop()
        await runtime.stop()
        broker.kill()


async def _count(runtime, n):
    return len(await projection(runtime)) >= n
