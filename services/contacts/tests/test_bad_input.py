"""Bad input gets a 4xx problem body naming the field, and changes nothing."""

import uuid

import pytest
from sqlalchemy import func, select

from mercator.common.bus import tables
from mercator.common.testing.api import client
from mercator.contacts.tables import Activity, Company

pytestmark = pytest.mark.postgres


async def counts(app) -> tuple[int, int, int]:
    async with app.state.runtime.sessionmaker() as s:
        return (
            await s.scalar(select(func.count()).select_from(Company)),
            await s.scalar(select(func.count()).select_from(Activity)),
            await s.scalar(select(func.count()).select_from(tables.outbox)),
        )


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 123}, "name"),
        ({"name": "X", "phones": ["12"]}, "phones[0]"),
        ({"name": "X", "phones": "+74951234567"}, "phones"),
        ({"name": "X", "emails": ["not-an-email"]}, "emails[0]"),
        ({"name": "X", "tax_id": "7707083890"}, "tax_id"),
        ({"name": "X", "status": "vip"}, "status"),
        ({"name": "X", "owner_id": "nobody"}, "owner_id"),
        ({"name": "X", "region_id": str(uuid.uuid4())}, "region_id"),
        ({"name": "X", "colour": "red"}, "colour"),
        ({"name": "X", "persons": [{"position": "boss"}]}, "persons[0].name"),
    ],
)
async def test_bad_company_is_refused_with_the_field_named(api, app, body, field):
    before = await counts(app)
    r = await api.post("/api/v1/companies", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in r.json()["errors"]]
    assert await counts(app) == before


async def test_body_that_is_not_json_is_refused(api, app):
    before = await counts(app)
    r = await api.post("/api/v1/companies", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
    assert await counts(app) == before


async def test_a_10_mb_body_is_refused_before_it_is_read(api, app):
    before = await counts(app)
    big = b'{"name": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    r = await api.post("/api/v1/companies", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert await counts(app) == before


async def test_unknown_ids_are_404_and_change_nothing(api, app):
    before = await counts(app)
    ghost = uuid.uuid4()
    assert (await api.get(f"/api/v1/companies/{ghost}")).status_code == 404
    r = await api.post(f"/api/v1/companies/{ghost}/history", json={"kind": "call", "summary": "x"})
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert (await api.post(f"/api/v1/meetings/{ghost}/complete", json={"summary": "x"})).status_code == 404
    assert (await api.get("/api/v1/companies/not-a-uuid")).status_code == 422
    assert await counts(app) == before


async def test_history_entry_with_a_naive_time_or_unknown_kind_is_refused(api, app):
    card = (await api.post("/api/v1/companies", json={"name": "Ромашка"})).json()
    before = await counts(app)
    url = f"/api/v1/companies/{card['id']}/history"
    r1 = await api.post(url, json={"kind": "call", "summary": "x", "happened_at": "2026-11-01T10:00:00"})
    r2 = await api.post(url, json={"kind": "telepathy", "summary": "x"})
    r3 = await api.post(url, json={"kind": "call", "summary": ""})
    r4 = await api.post(url, json={"kind": "call", "summary": "x", "person_id": str(uuid.uuid4())})
    assert [r.status_code for r in (r1, r2, r3, r4)] == [422] * 4
    assert [r.json()["errors"][0]["field"] for r in (r1, r2, r3, r4)] == ["happened_at", "kind", "summary", "person_id"]
    assert await counts(app) == before


async def test_a_request_without_a_valid_token_is_refused(app, settings):
    async with client(app) as anonymous:
        assert (await anonymous.get("/api/v1/companies")).status_code == 401
        r = await anonymous.post(
            "/api/v1/companies", json={"name": "X"}, headers={"Authorization": "Bearer forged.token.here"}
        )
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "params, field",
    [
        ({"name": "X", "phone": "12"}, "phone[0]"),
        ({"name": "X", "email": ""}, "email[0]"),
        ({"name": "X", "tax_id": "7707083890"}, "tax_id"),
    ],
)
async def test_a_bad_duplicate_check_names_the_parameter(api, params, field):
    r = await api.get("/api/v1/companies/duplicates", params=params)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in r.json()["errors"]] == [field]


async def test_a_bad_cursor_is_refused(api):
    r = await api.get("/api/v1/companies", params={"cursor": "garbage!!"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"


async def test_a_well_formed_cursor_with_wrong_values_is_refused(api):
    from mercator.common.pagination import encode_cursor

    r = await api.get("/api/v1/companies", params={"cursor": encode_cursor(["a", "not-a-uuid"])})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"
    r = await api.get("/api/v1/meetings", params={"cursor": encode_cursor(["yesterday", "x"])})
    assert r.status_code == 422


async def test_text_with_a_nul_character_is_refused_naming_the_field(api, app):
    before = await counts(app)
    r = await api.post("/api/v1/companies", json={"name": "Ромашка", "persons": [{"name": "Ива\u0000н"}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "persons[0].name"
    q = await api.get("/api/v1/companies", params={"q": "a\u0000"})
    assert q.status_code == 422 and q.json()["errors"][0]["field"] == "q"
    assert await counts(app) == before
