"""Contacts and deals together, over a real broker: the replica of client cards, and a deal opened
a moment after its card was created."""

import asyncio
import json
import uuid

import httpx
import pytest

from mercator.common.migrate import upgrade
from mercator.common.runtime import Runtime
from mercator.common.testing.bus import read_topic, until
from mercator.common.testing.dead_letters import assert_nothing_dead_lettered
from mercator.contacts.app import MIGRATIONS as CONTACTS_MIGRATIONS
from mercator.contacts.app import build_app as build_contacts
from mercator.contacts.settings import ContactsSettings
from mercator.deals import consumers
from mercator.deals.app import MIGRATIONS as DEALS_MIGRATIONS
from mercator.deals.app import build_app as build_deals
from mercator.deals.settings import DealsSettings
from mercator.deals.tables import Client

pytestmark = [pytest.mark.postgres, pytest.mark.broker]


async def migrated(postgres, backend: str, where, name: str, migrations) -> str:
    if backend == "postgresql":
        return await postgres.migrated(name, migrations)
    url = f"sqlite+aiosqlite:///{where}/{name}.db"
    await asyncio.to_thread(upgrade, url, migrations)
    return url


# PostgreSQL, and SQLite files as `make run` keeps.
@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_deals_replicates_client_cards_and_checks_fresh_ones_with_contacts(
    postgres, tansu, token, backend, tmp_path
):
    contacts_db = await migrated(postgres, backend, tmp_path, "contacts", CONTACTS_MIGRATIONS)
    deals_db = await migrated(postgres, backend, tmp_path, "deals", DEALS_MIGRATIONS)
    prefix = f"t{uuid.uuid4().hex[:8]}."
    common = dict(
        kafka_bootstrap=tansu.bootstrap,
        topic_prefix=prefix,
        relay_poll_seconds=0.1,
        consumer_session_timeout_ms=2000,
        consumer_heartbeat_interval_ms=500,
    )
    contacts_rt = Runtime(ContactsSettings(database_url=contacts_db, **common))
    contacts_app = build_contacts(contacts_rt.settings, contacts_rt)
    deals_settings = DealsSettings(database_url=deals_db, **common)
    deals_rt = Runtime(deals_settings, consumers={"contacts": consumers.CONTACTS})
    headers = {"Authorization": f"Bearer {token}"}
    to_contacts = httpx.AsyncClient(transport=httpx.ASGITransport(app=contacts_app), base_url="http://contacts")
    deals_app = build_deals(deals_settings, deals_rt, contacts_http=to_contacts)
    await contacts_rt.start()
    await deals_rt.start()
    try:
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=contacts_app), base_url="http://contacts", headers=headers
            ) as contacts,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=deals_app), base_url="http://deals", headers=headers
            ) as deals,
        ):
            card = (await contacts.post("/api/v1/companies", json={"name": "ООО «Свежая»"})).json()
            # At once: the CompanyCreated event may not have reached deals yet.
            opened = await deals.post("/api/v1/deals", json={"title": "Первая сделка", "company_id": card["id"]})
            assert opened.status_code == 201, opened.text
            ghost = await deals.post("/api/v1/deals", json={"title": "?", "company_id": str(uuid.uuid4())})
            assert ghost.status_code == 422 and ghost.json()["errors"][0]["field"] == "company_id"

            async def replica_has(name):
                async with deals_rt.sessionmaker() as s:
                    row = await s.get(Client, uuid.UUID(card["id"]))
                    return row is not None and row.name == name and row.version >= 1

            assert await until(lambda: replica_has("ООО «Свежая»"), timeout=60)
            await contacts.patch(
                f"/api/v1/companies/{card['id']}", json={"name": "ООО «Переименованная»"}, headers={"If-Match": '"1"'}
            )
            assert await until(lambda: replica_has("ООО «Переименованная»"), timeout=60)

            # A card merged away takes no new deals once deals hears of the merge.
            dup = (await contacts.post("/api/v1/companies", json={"name": "Переименованная"})).json()
            await contacts.post(f"/api/v1/companies/{card['id']}/merge", json={"absorbed_id": dup["id"]})

            async def merged():
                async with deals_rt.sessionmaker() as s:
                    row = await s.get(Client, uuid.UUID(dup["id"]))
                    return row is not None and row.merged_into_id == uuid.UUID(card["id"])

            assert await until(merged, timeout=60)
            refused = await deals.post("/api/v1/deals", json={"title": "?", "company_id": dup["id"]})
            assert refused.status_code == 422 and card["id"] in refused.json()["detail"]

        published = await read_topic(tansu.bootstrap, f"{prefix}DealOpened", 1)
        assert [json.loads(r.value)["deal_id"] for r in published] == [opened.json()["id"]]
        await assert_nothing_dead_lettered({"contacts": contacts_db, "deals": deals_db}, tansu.bootstrap, prefix)
    finally:
        await deals_rt.stop()
        await contacts_rt.stop()
        await to_contacts.aclose()
