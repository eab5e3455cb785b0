"""A history entry cannot be dated ahead.

`happened_at` took any time, so a call logged "in 2030" kept its client card's last activity in the future:
the card never went silent, and the inactivity report and alert never named it. Now a logged call, a batch
entry and a completed meeting may be dated earlier, never later than now (a phone a minute ahead still logs)."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mercator.common.migrate import upgrade
from mercator.common.runtime import Runtime
from mercator.common.testing.api import auth, caller, client
from mercator.contacts.app import build_app
from mercator.contacts.settings import ContactsSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def contacts(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'contacts.db'}"
    await asyncio.to_thread(upgrade, url, ROOT / "services/contacts/migrations")
    settings = ContactsSettings(database_url=url, relay_enabled=False, consumers_enabled=False,
                                kafka_bootstrap="127.0.0.1:9")
    runtime = Runtime(settings)
    async with client(build_app(settings, runtime), auth(settings, caller("Анна Петрова"))) as api:
        yield api
    await runtime.engine.dispose()


async def test_a_call_dated_ahead_is_refused_and_the_card_keeps_its_last_activity(contacts):
    company = (await contacts.post("/api/v1/companies", json={"name": "Silent client"})).json()
    ahead = (datetime.now(UTC) + timedelta(days=365 * 4)).isoformat()
    r = await contacts.post(f"/api/v1/companies/{company['id']}/history",
                            json={"kind": "call", "summary": "called", "happened_at": ahead})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "happened_at"
    r = await contacts.post("/api/v1/history/batch", json={"entries": [
        {"company_id": company["id"], "kind": "call", "summary": "fine"},
        {"company_id": company["id"], "kind": "call", "summary": "ahead", "happened_at": ahead}]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "entries[1].happened_at"
    card = (await contacts.get(f"/api/v1/companies/{company['id']}")).json()
    assert card["last_activity_at"] == company["last_activity_at"], "nothing was written"
    assert (await contacts.get(f"/api/v1/companies/{company['id']}/history")).json()["items"] == []


async def test_an_earlier_call_and_one_a_phone_dates_a_minute_ahead_are_logged(contacts):
    company = (await contacts.post("/api/v1/companies", json={"name": "Talkative client"})).json()
    before = datetime.now(UTC)
    earlier = (before - timedelta(hours=3)).isoformat()
    r = await contacts.post(f"/api/v1/companies/{company['id']}/history",
                            json={"kind": "call", "summary": "this morning", "happened_at": earlier})
    assert r.status_code == 201, r.text
    skewed = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    r = await contacts.post(f"/api/v1/companies/{company['id']}/history",
                            json={"kind": "call", "summary": "just now", "happened_at": skewed})
    assert r.status_code == 201, r.text
    assert datetime.fromisoformat(r.json()["happened_at"]) <= datetime.now(UTC), "placed at now, not ahead"
