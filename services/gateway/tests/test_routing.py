"""The gateway in front of real contacts, deals, billing and analytics apps (in-process, each with its own
PostgreSQL database): forwarding, identity, scopes, rate limits, retries, the circuit breaker, audit,
and the client card with a service down."""

import uuid
from urllib.parse import quote

import pytest
from sqlalchemy import select

from mercator.common.testing.api import Switch, billing_today, client
from mercator.gateway.tables import AuditEntry

pytestmark = pytest.mark.postgres


@pytest.fixture
def upstream_transports(switched_services, analytics_service):
    return {**switched_services, "analytics": Switch(analytics_service)}


async def test_requests_reach_the_owning_service_as_the_signed_in_user(manager_api, app, services):
    r = await manager_api.post("/api/v1/companies", json={"name": "ООО «Через шлюз»"}, headers={"X-Request-ID": "gw-1"})
    assert r.status_code == 201, r.text
    assert r.headers["location"].startswith("/api/v1/companies/") and r.headers["etag"] == '"1"'
    assert r.headers["x-request-id"] == "gw-1"
    me = (await manager_api.get("/api/v1/me")).json()
    assert r.json()["owner_id"] == me["id"]  # the service saw who called
    listed = await manager_api.get("/api/v1/companies", params={"q": "шлюз"})
    assert [c["name"] for c in listed.json()["items"]] == ["ООО «Через шлюз»"]
    async with app.state.runtime.sessionmaker() as s:
        audit = (await s.execute(select(AuditEntry).where(AuditEntry.path == "/api/v1/companies"))).scalars().all()
    assert [(a.method, a.status, a.request_id) for a in audit] == [("POST", 201, "gw-1")]
    assert (await manager_api.get("/api/v1/nowhere")).status_code == 404


async def test_a_public_token_opens_no_service_directly_and_no_token_opens_nothing(manager_api, services, anon):
    token = manager_api.headers["authorization"]
    async with client(services["contacts"], {"Authorization": token}) as direct:
        assert (await direct.get("/api/v1/companies")).status_code == 401
    assert (await anon.get("/api/v1/companies")).status_code == 401


async def test_a_partner_key_opens_only_its_scopes(admin_api, anon):
    key = (await admin_api.post("/api/v1/api-keys", json={"name": "1С", "scopes": ["read:companies"]})).json()
    secret = key.get("key") or key.get("api_key")
    partner = {"X-API-Key": secret}
    assert (await anon.get("/api/v1/companies", headers=partner)).status_code == 200
    denied = await anon.post("/api/v1/companies", json={"name": "x"}, headers=partner)
    assert denied.status_code == 403 and "write:companies" in denied.json()["detail"]
    assert (await anon.get("/api/v1/deals", headers=partner)).status_code == 403


async def test_too_many_requests_get_429_with_retry_after(manager_api, app):
    app.state.upstreams.limit = __import__("limits").parse("3/minute")
    answers = [(await manager_api.get("/api/v1/regions")).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    r = await manager_api.get("/api/v1/regions")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


async def test_a_read_is_retried_once_a_write_is_not(manager_api, upstream_transports):
    contacts = upstream_transports["contacts"]
    contacts.down = True
    before = contacts.calls
    assert (await manager_api.get("/api/v1/regions")).status_code == 503
    assert contacts.calls - before == 2
    before = contacts.calls
    assert (await manager_api.post("/api/v1/companies", json={"name": "x"})).status_code == 503
    assert contacts.calls - before == 1


async def test_a_failing_service_trips_its_breaker_and_the_others_go_on(manager_api, upstream_transports, app):
    contacts = upstream_transports["contacts"]
    contacts.down = True
    for _ in range(app.state.runtime.settings.breaker_failures):
        await manager_api.post("/api/v1/companies", json={"name": "x"})
    calls = contacts.calls
    r = await manager_api.get("/api/v1/companies")
    assert r.status_code == 503 and r.headers["retry-after"]
    assert contacts.calls == calls  # open: the service is not even asked
    assert (await manager_api.get("/api/v1/pipelines")).status_code == 200


async def test_the_client_card_in_one_call_and_partial_with_billing_down(manager_api, upstream_transports):
    card = (
        await manager_api.post("/api/v1/companies", json={"name": "ООО «Карточка»", "persons": [{"name": "Иван"}]})
    ).json()
    await manager_api.post(f"/api/v1/companies/{card['id']}/history", json={"kind": "call", "summary": "звонок"})
    deal = (await manager_api.post("/api/v1/deals", json={"title": "Поставка", "company_id": card["id"]})).json()
    draft = (
        await manager_api.post(
            "/api/v1/invoices",
            json={
                "deal_id": deal["id"],
                "due_date": str(billing_today()),
                "lines": [{"description": "x", "quantity": "1", "unit_price": "1000.00"}],
            },
        )
    ).json()
    assert (await manager_api.post(f"/api/v1/invoices/{draft['id']}/issue")).status_code == 200
    whole = (await manager_api.get(f"/api/v1/client-cards/{card['id']}")).json()
    assert whole["partial"] is False and whole["missing"] == []
    assert whole["company"]["name"] == "ООО «Карточка»" and [p["name"] for p in whole["persons"]] == ["Иван"]
    assert [h["summary"] for h in whole["history"]["items"]] == ["звонок"]
    assert [d["stage"] for d in whole["deals"]["items"]] == ["interest"] and whole["debt"] == {"RUB": "1220.00"}

    upstream_transports["billing"].down = True
    partial = (await manager_api.get(f"/api/v1/client-cards/{card['id']}")).json()
    assert partial["partial"] is True and partial["missing"] == ["billing"]
    assert partial["invoices"] is None and partial["debt"] is None and partial["deals"]["items"]
    assert (await manager_api.get(f"/api/v1/client-cards/{uuid.uuid4()}")).status_code == 404


async def test_a_path_cannot_climb_out_of_its_resource(admin_api, anon, upstream_transports):
    """`..` in a path (sent encoded, so no client removes it) would be resolved when the gateway builds the
    service's URL: `/api/v1/companies/../meetings` would reach meetings with a `read:companies` key, and enough
    of them any path of the service (`/ops/status`). Refused before anything is forwarded."""
    key = (await admin_api.post("/api/v1/api-keys", json={"name": "1С", "scopes": ["read:companies"]})).json()
    partner = {"X-API-Key": key["key"]}
    contacts = upstream_transports["contacts"]
    before = contacts.calls
    for path in (
        "/api/v1/companies/%2E%2E/meetings",
        "/api/v1/companies/%2e%2e%2Fmeetings",
        "/api/v1/companies/%2E%2E/%2E%2E/%2E%2E/ops/status",
        "/api/v1/companies/%2E/x",
    ):
        r = await anon.get(path, headers=partner)
        assert r.status_code in (403, 404), (path, r.status_code, r.text)  # the key's scope, or the path itself
    assert contacts.calls == before
    # What is encoded stays encoded on the way to the service: a bad id is the service's 422, not a 500.
    for path in ("/api/v1/companies/%7F", "/api/v1/companies/a%2Fb", "/api/v1/companies/%C3%A9t%C3%A9"):
        r = await anon.get(path, headers=partner)
        assert r.status_code in (404, 422), (path, r.status_code, r.text)


async def test_query_parameters_reach_the_service_as_sent(manager_api):
    """Repeated parameters, their order and their escapes: what the caller sent is what the service reads."""
    report = await manager_api.get("/api/v1/reports/sales-volume?by=department&by=manager&by=region")
    assert report.status_code == 200, report.text
    assert report.json()["by"] == ["department", "manager", "region"]

    name = "ООО «Рога & Копыта = 100% + 1»"
    made = await manager_api.post("/api/v1/companies", json={"name": name, "phones": ["+7 812 765-43-21"]})
    assert made.status_code == 201, made.text
    # `&`, `=`, `%` and `+` escaped inside the value, a space as %20 and once as `+`.
    found = await manager_api.get(f"/api/v1/companies?q={quote(name, safe='')}&limit=5")
    assert [c["name"] for c in found.json()["items"]] == [name], found.text
    found = await manager_api.get(f"/api/v1/companies?q={quote('Рога')}+%26+{quote('Копыта')}")
    assert [c["name"] for c in found.json()["items"]] == [name], found.text
    # The matching phone first, another after it: both reach contacts.
    twins = await manager_api.get(
        f"/api/v1/companies/duplicates?name={quote('ИП Иванов')}"
        "&phone=%2B7%20812%20765-43-21&phone=%2B7%20495%20000-00-01"
    )
    assert twins.status_code == 200, twins.text
    assert [(d["name"], d["reasons"]) for d in twins.json()] == [(name, ["same_phone"])]
