"""What every service gets from the platform, shown on contacts: idempotent POSTs, correlation ids
carried into events, health, readiness and metrics."""

import json

import pytest
from sqlalchemy import func, select

from mercator.common.bus import tables
from mercator.contacts.tables import Company

pytestmark = pytest.mark.postgres


async def company_count(app) -> int:
    async with app.state.runtime.sessionmaker() as s:
        return await s.scalar(select(func.count()).select_from(Company))


async def test_a_retried_post_with_the_same_idempotency_key_gets_the_first_answer_and_changes_nothing(api, app):
    before = await company_count(app)
    headers = {"Idempotency-Key": "mobile-7f3a-0001"}
    first = await api.post("/api/v1/companies", json={"name": "Ромашка"}, headers=headers)
    again = await api.post("/api/v1/companies", json={"name": "Ромашка"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers.get("idempotent-replayed") == "true"
    assert await company_count(app) == before + 1
    other = await api.post("/api/v1/companies", json={"name": "Лютик"}, headers=headers)
    assert other.status_code == 422 and other.headers["content-type"] == "application/problem+json"
    assert await company_count(app) == before + 1


async def test_the_same_key_from_another_caller_is_another_request(app, settings, api):
    from mercator.common.testing.api import auth, caller, client

    headers = {"Idempotency-Key": "shared-key"}
    assert (await api.post("/api/v1/companies", json={"name": "А"}, headers=headers)).status_code == 201
    async with client(app, auth(settings, caller("Борис"))) as boris:
        r = await boris.post("/api/v1/companies", json={"name": "А"}, headers=headers)
        assert r.status_code == 201 and r.headers.get("idempotent-replayed") is None


async def test_a_refused_request_is_not_remembered_so_a_corrected_retry_goes_through(api, app):
    headers = {"Idempotency-Key": "fix-and-retry"}
    bad = await api.post("/api/v1/companies", json={"name": "Ромашка", "phones": ["12"]}, headers=headers)
    assert bad.status_code == 422
    ok = await api.post("/api/v1/companies", json={"name": "Ромашка", "phones": ["+74951234567"]}, headers=headers)
    assert ok.status_code == 201


async def test_the_request_id_becomes_the_correlation_id_and_the_caller_the_actor_of_its_events(api, app, manager):
    r = await api.post(
        "/api/v1/companies", json={"name": "Ромашка", "persons": [{"name": "Иван"}]}, headers={"X-Request-ID": "req-42"}
    )
    assert r.headers["x-request-id"] == "req-42"
    async with app.state.runtime.sessionmaker() as s:
        rows = (await s.execute(select(tables.outbox.c.headers))).scalars().all()
    assert len(rows) == 2
    for headers in rows:
        h = dict(headers)
        assert h["ce_correlationid"] == "req-42"
        assert h["ce_actor"] == str(manager.user_id)
    generated = await api.get("/api/v1/companies")
    assert len(generated.headers["x-request-id"]) >= 32


async def test_events_in_the_outbox_match_the_catalogue(api, app):
    from mercator.common.events.catalogue import payload_model

    card = (await api.post("/api/v1/companies", json={"name": "Ромашка"})).json()
    await api.post(f"/api/v1/companies/{card['id']}/history", json={"kind": "demo", "summary": "показали"})
    await api.patch(f"/api/v1/companies/{card['id']}", json={"notes": "x"}, headers={"If-Match": '"1"'})
    async with app.state.runtime.sessionmaker() as s:
        rows = (
            await s.execute(
                select(tables.outbox.c.type, tables.outbox.c.payload, tables.outbox.c.key).order_by(tables.outbox.c.id)
            )
        ).all()
    assert [r.type for r in rows] == ["CompanyCreated", "ActivityLogged", "CompanyUpdated"]
    for row in rows:
        payload = payload_model(row.type).model_validate(json.loads(row.payload))
        assert payload.model_dump(mode="json") == json.loads(row.payload)
    assert rows[2].key == card["id"]
    assert json.loads(rows[2].payload)["changed"] == ["notes"]


async def test_health_readiness_and_metrics(api, app):
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    # The database answers; the broker (an unused port here) does not: degraded, still taking writes.
    assert ready.status_code == 200
    assert ready.json() == {"status": "degraded", "database": "up", "broker": "down"}
    await api.post("/api/v1/companies", json={"name": "Ромашка"})
    await api.get("/api/v1/companies/00000000-0000-4000-8000-000000000000")
    await app.state.runtime.relay.update_backlog_metrics()
    text = (await api.get("/metrics")).text
    assert 'http_requests_total{method="POST",route="/api/v1/companies",status="201"} 1.0' in text
    assert 'http_requests_total{method="GET",route="/api/v1/companies/{company_id}",status="404"} 1.0' in text
    assert 'http_request_duration_seconds_count{method="POST",route="/api/v1/companies"} 1.0' in text
    assert "outbox_backlog 1.0" in text
    assert "outbox_oldest_age_seconds" in text


async def test_ops_endpoints_need_the_ops_role_and_quiesce_stops_writes_not_reads(api, app, settings):
    from mercator.common.testing.api import auth, caller, client

    assert (await api.get("/ops/status")).status_code == 403
    async with client(app, auth(settings, caller("Ops", roles=("ops",)))) as ops:
        status = (await ops.get("/ops/status")).json()
        assert status["service"] == "contacts" and status["quiesced"] is False
        assert (await ops.post("/ops/quiesce")).json()["quiesced"] is True
    refused = await api.post("/api/v1/companies", json={"name": "Ромашка"})
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
    assert (await api.get("/api/v1/companies")).status_code == 200


async def test_concurrent_twins_with_one_idempotency_key_create_one_card(postgres, manager):
    """Real commits here (no rollback): five copies of one request race each other."""
    import asyncio

    from mercator.common.runtime import Runtime
    from mercator.common.testing.api import auth, client
    from mercator.contacts.app import MIGRATIONS, build_app
    from mercator.contacts.settings import ContactsSettings

    url = await postgres.migrated("contacts_twins", MIGRATIONS)
    settings = ContactsSettings(
        database_url=url, relay_enabled=False, consumers_enabled=False, kafka_bootstrap="127.0.0.1:9"
    )
    runtime = Runtime(settings)
    app = build_app(settings, runtime)
    try:
        async with client(app, {**auth(settings, manager), "Idempotency-Key": "twin"}) as api:
            answers = await asyncio.gather(*(api.post("/api/v1/companies", json={"name": "Близнец"}) for _ in range(5)))
        assert {r.status_code for r in answers} <= {201, 409}
        created = {r.json()["id"] for r in answers if r.status_code == 201}
        assert len(created) == 1
        assert await company_count(app) == 1
    finally:
        await runtime.engine.dispose()
