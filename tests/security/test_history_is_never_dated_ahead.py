"""A history entry cannot be dated ahead.

`happened_at` took any time, so a call logged "in 2030" kept its client card's last activity in the future:
the card never went silent, and the inactivity report and alert never named it. Now a logged call, a batch
entry and a completed meeting may be dated earlier, never later than now (a phone a minute ahead still logs)."""

from datetime import UTC, datetime, timedelta

import pytest

from mercator.common.testing.api import auth, caller, client


@pytest.fixture
async def contacts(service_app):
    settings, _, app = await service_app("contacts")
    async with client(app, auth(settings, caller("Анна Петрова"))) as api:
        yield api


async def test_a_call_dated_ahead_is_refused_and_the_card_keeps_its_last_activity(contacts):
    company = (await contacts.post("/api/v1/companies", json={"name": "Silent client"})).json()
    ahead = (datetime.now(UTC) + timedelta(days=365 * 4)).isoformat()
    r = await contacts.post(
        f"/api/v1/companies/{company['id']}/history", json={"kind": "call", "summary": "called", "happened_at": ahead}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "happened_at"
    r = await contacts.post(
        "/api/v1/history/batch",
        json={
            "entries": [
                {"company_id": company["id"], "kind": "call", "summary": "fine"},
                {"company_id": company["id"], "kind": "call", "summary": "ahead", "happened_at": ahead},
            ]
        },
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "entries[1].happened_at"
    card = (await contacts.get(f"/api/v1/companies/{company['id']}")).json()
    assert card["last_activity_at"] == company["last_activity_at"], "nothing was written"
    assert (await contacts.get(f"/api/v1/companies/{company['id']}/history")).json()["items"] == []


async def test_an_earlier_call_and_one_a_phone_dates_a_minute_ahead_are_logged(contacts):
    company = (await contacts.post("/api/v1/companies", json={"name": "Talkative client"})).json()
    before = datetime.now(UTC)
    earlier = (before - timedelta(hours=3)).isoformat()
    r = await contacts.post(
        f"/api/v1/companies/{company['id']}/history",
        json={"kind": "call", "summary": "this morning", "happened_at": earlier},
    )
    assert r.status_code == 201, r.text
    skewed = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    r = await contacts.post(
        f"/api/v1/companies/{company['id']}/history",
        json={"kind": "call", "summary": "just now", "happened_at": skewed},
    )
    assert r.status_code == 201, r.text
    assert datetime.fromisoformat(r.json()["happened_at"]) <= datetime.now(UTC), "placed at now, not ahead"
