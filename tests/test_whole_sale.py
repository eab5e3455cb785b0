"""The whole sale through the APIs of contacts, deals and billing over a real broker: client card,
deal, stages, contract, invoice, a partial then a final payment, delivery, won. Then the same
facts delivered twice and read in another order must leave the same end state."""

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import update

from mercator.billing import consumers as billing_consumers
from mercator.billing.app import MIGRATIONS as BILLING_MIGRATIONS
from mercator.billing.app import build_app as build_billing
from mercator.billing.settings import BillingSettings
from mercator.common.bus import tables
from mercator.common.migrate import upgrade
from mercator.common.runtime import Runtime
from mercator.common.testing.api import billing_today
from mercator.common.testing.bus import until
from mercator.common.testing.dead_letters import assert_nothing_dead_lettered
from mercator.contacts import consumers as contacts_consumers
from mercator.contacts.app import MIGRATIONS as CONTACTS_MIGRATIONS
from mercator.contacts.app import build_app as build_contacts
from mercator.contacts.settings import ContactsSettings
from mercator.deals import consumers as deals_consumers
from mercator.deals.app import MIGRATIONS as DEALS_MIGRATIONS
from mercator.deals.app import build_app as build_deals
from mercator.deals.settings import DealsSettings

pytestmark = [pytest.mark.postgres, pytest.mark.broker, pytest.mark.e2e]


class Cluster:
    """contacts, deals and billing, each with its own database, talking through one broker."""

    def __init__(self, dbs: dict[str, str], bootstrap: str, prefix: str):
        self.dbs, self.bootstrap, self.prefix = dbs, bootstrap, prefix
        common = dict(
            kafka_bootstrap=bootstrap,
            topic_prefix=prefix,
            relay_poll_seconds=0.1,
            consumer_session_timeout_ms=2000,
            consumer_heartbeat_interval_ms=500,
        )
        self.contacts_rt = Runtime(
            ContactsSettings(database_url=dbs["contacts"], **common), consumers=contacts_consumers.CONSUMERS
        )
        self.deals_rt = Runtime(
            DealsSettings(database_url=dbs["deals"], **common),
            consumers={"contacts": deals_consumers.CONTACTS, "billing": deals_consumers.BILLING},
        )
        self.billing_rt = Runtime(
            BillingSettings(database_url=dbs["billing"], **common),
            consumers={"deals": billing_consumers.DEALS, "contacts": billing_consumers.CONTACTS},
        )
        self.contacts_app = build_contacts(self.contacts_rt.settings, self.contacts_rt)
        self.deals_app = build_deals(self.deals_rt.settings, self.deals_rt, contacts_http=self._to(self.contacts_app))
        self.billing_app = build_billing(
            self.billing_rt.settings,
            self.billing_rt,
            deals_http=self._to(self.deals_app),
            contacts_http=self._to(self.contacts_app),
        )
        self.runtimes = [self.contacts_rt, self.deals_rt, self.billing_rt]

    @staticmethod
    def _to(app, headers=None) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://peer", headers=headers)

    def clients(self, token: str):
        h = {"Authorization": f"Bearer {token}"}
        return self._to(self.contacts_app, h), self._to(self.deals_app, h), self._to(self.billing_app, h)

    async def start(self, *, contacts_consumers: bool = True):
        for rt in self.runtimes:
            if rt is self.contacts_rt and not contacts_consumers:
                rt.settings.consumers_enabled = False
            await rt.start()

    async def stop(self):
        for rt in self.runtimes:
            await rt.stop()


@pytest.fixture(params=["postgresql", "sqlite"])
def backend(request) -> str:
    """PostgreSQL, and SQLite files as `make run` keeps (whose times came back without their zone)."""
    return request.param


async def databases(postgres, backend: str = "postgresql", where=None) -> dict[str, str]:
    dbs = {}
    for name, migrations in (
        ("contacts", CONTACTS_MIGRATIONS),
        ("deals", DEALS_MIGRATIONS),
        ("billing", BILLING_MIGRATIONS),
    ):
        if backend == "sqlite":
            dbs[name] = f"sqlite+aiosqlite:///{where}/{name}.db"
            await asyncio.to_thread(upgrade, dbs[name], migrations)
        else:
            dbs[name] = await postgres.migrated(name, migrations)
    return dbs


async def sell(contacts, deals, billing) -> tuple[str, str]:
    """The sale as people make it; returns the card and the deal ids."""
    card = (await contacts.post("/api/v1/companies", json={"name": "ООО «Покупатель»", "tax_id": "7707083893"})).json()
    person = (await contacts.post(f"/api/v1/companies/{card['id']}/persons", json={"name": "Иван"})).json()
    deal = await deals.post("/api/v1/deals", json={"title": "Поставка", "company_id": card["id"]})
    assert deal.status_code == 201, deal.text
    d = f"/api/v1/deals/{deal.json()['id']}"
    for step, body in (
        ("moves", {"stage": "needs"}),
        ("moves", {"stage": "demo"}),
        ("interest", {"rating": 5}),
        ("moves", {"stage": "tech_proposal"}),
        ("proposals", {"documents": ["ТП.pdf"], "recipient_person_ids": [person["id"]]}),
        ("moves", {"stage": "commercial_proposal"}),
    ):
        r = await deals.post(f"{d}/{step}", json=body)
        assert r.status_code in (200, 201), r.text
    offer = (await deals.post(f"{d}/offers", json={"side": "ours", "amount": "122000.00"})).json()
    assert (await deals.post(f"{d}/offers/{offer['id']}/accept")).status_code == 200
    today = billing_today()
    contract = await billing.post(
        "/api/v1/contracts",
        json={
            "number": f"Д-{uuid.uuid4().hex[:6]}",
            "deal_id": deal.json()["id"],
            "signed_on": str(today),
            "amount": "122000.00",
            "due_in_days": 10,
        },
    )
    assert contract.status_code == 201, contract.text
    draft = (
        await billing.post(
            "/api/v1/invoices",
            json={
                "contract_id": contract.json()["id"],
                "lines": [
                    {"description": "Оборудование", "quantity": "1", "unit_price": "100000.00", "vat_rate": "22"}
                ],
            },
        )
    ).json()
    assert (await billing.post(f"/api/v1/invoices/{draft['id']}/issue")).status_code == 200
    for amount, ref in (("50000.00", "п/п 1"), ("72000.00", "п/п 2")):
        r = await billing.post(
            "/api/v1/payments",
            json={"company_id": card["id"], "amount": amount, "received_on": str(today), "bank_reference": ref},
        )
        assert r.status_code == 201, r.text
    shipped = await billing.post(
        "/api/v1/deliveries",
        json={
            "deal_id": deal.json()["id"],
            "waybill_number": "ТН-501",
            "shipped_on": str(today),
            "items": [{"product_id": str(uuid.uuid4()), "quantity": "1"}],
        },
    )
    assert shipped.status_code == 201, shipped.text
    return card["id"], deal.json()["id"]


# What the client's history says of the sale, one system entry per fact (stage changes by hand and
# by billing; opening and winning have their own events).
EVERY_FACT_OF_THE_SALE = sorted(
    [
        "DealOpened",
        *["DealStageChanged"] * 7,
        "ProposalSent",
        "ContractSigned",
        "InvoiceIssued",
        "PaymentReceived",
        "PaymentReceived",
        "InvoicePaid",
        "DeliveryShipped",
        "DealWon",
    ]
)


async def end_state(cluster: Cluster, contacts, deals, billing, card_id: str, deal_id: str) -> dict:
    history = (await contacts.get(f"/api/v1/companies/{card_id}/history", params={"limit": 200})).json()["items"]
    timeline = (await deals.get(f"/api/v1/deals/{deal_id}/timeline")).json()
    receivables = (await billing.get("/api/v1/receivables")).json()["rows"]
    card = (await contacts.get(f"/api/v1/companies/{card_id}")).json()
    return {
        "history": sorted((h["kind"], h["subject"] or "", h["summary"]) for h in history),
        "path": [(t["to_stage"], t["kind"]) for t in timeline if t["type"] == "transition"],
        "debt": [(r["key"], r["debt"]) for r in receivables],
        "status": card["status"],
    }


async def settled(cluster: Cluster, deals, deal_id: str, contacts, card_id: str) -> bool:
    deal = (await deals.get(f"/api/v1/deals/{deal_id}")).json()
    card = (await contacts.get(f"/api/v1/companies/{card_id}")).json()
    if deal["status"] != "won" or card["status"] != "client":
        return False
    for rt in cluster.runtimes:  # everything published and read
        if await rt.relay.backlog() or any(c.total_lag() for c in rt.consumers):
            return False
    return True


async def test_the_whole_sale_and_the_same_facts_twice_in_another_order(postgres, tansu, token, backend, tmp_path):
    cluster = Cluster(await databases(postgres, backend, tmp_path), tansu.bootstrap, f"t{uuid.uuid4().hex[:8]}.")
    contacts, deals, billing = cluster.clients(token)
    await cluster.start()
    try:
        card_id, deal_id = await sell(contacts, deals, billing)

        async def at(stage):
            return (await deals.get(f"/api/v1/deals/{deal_id}")).json()["stage"] == stage

        assert await until(lambda: at("delivery"), timeout=90), "billing's facts did not move the deal"
        assert (await deals.post(f"/api/v1/deals/{deal_id}/win", json={})).status_code == 200
        assert await until(lambda: settled(cluster, deals, deal_id, contacts, card_id), timeout=90)
        first = await end_state(cluster, contacts, deals, billing, card_id, deal_id)

        assert first["path"] == [
            ("interest", "open"),
            ("needs", "move"),
            ("demo", "move"),
            ("tech_proposal", "move"),
            ("commercial_proposal", "move"),
            ("contract", "automatic"),
            ("payment", "automatic"),
            ("delivery", "automatic"),
            ("won", "won"),
        ]
        assert first["debt"] == [(card_id, "0.00")] and first["status"] == "client"
        summaries = " | ".join(s for _, _, s in first["history"])
        for fact in ("ТН-501", "50 000,00 RUB", "72 000,00 RUB", "Выставлен счёт"):
            assert fact in summaries, f"{fact!r} missing from the client's history: {summaries}"
        assert sorted(subject for kind, subject, _ in first["history"] if kind == "system") == EVERY_FACT_OF_THE_SALE

        # Every fact again: all three relays publish their whole outbox a second time.
        for rt in cluster.runtimes:
            async with rt.sessionmaker() as s:
                await s.execute(update(tables.outbox).values(published_at=None))
                await s.commit()
            rt.relay.notify()

        async def all_read_twice():
            for rt in cluster.runtimes:
                if await rt.relay.backlog() or any(c.total_lag() for c in rt.consumers):
                    return False
            return True

        assert await until(all_read_twice, timeout=90)
        await asyncio.sleep(1)  # the lag gauges lead the last commits by a moment
        assert await end_state(cluster, contacts, deals, billing, card_id, deal_id) == first
        await assert_nothing_dead_lettered(cluster.dbs, cluster.bootstrap, cluster.prefix)
    finally:
        await cluster.stop()
        for c in (contacts, deals, billing):
            await c.aclose()


async def test_contacts_reading_every_topic_late_and_in_any_order_ends_the_same(postgres, tansu, token):
    """Contacts hears nothing during the sale, then gets all its topics at once (billing's facts may come
    before the deal they belong to): its history and card end up as when it listened all along."""
    cluster = Cluster(await databases(postgres), tansu.bootstrap, f"t{uuid.uuid4().hex[:8]}.")
    contacts, deals, billing = cluster.clients(token)
    await cluster.start(contacts_consumers=False)
    try:
        card_id, deal_id = await sell(contacts, deals, billing)

        async def at(stage):
            return (await deals.get(f"/api/v1/deals/{deal_id}")).json()["stage"] == stage

        assert await until(lambda: at("delivery"), timeout=90)
        assert (await deals.post(f"/api/v1/deals/{deal_id}/win", json={})).status_code == 200
        card = (await contacts.get(f"/api/v1/companies/{card_id}")).json()
        assert card["status"] == "prospect"  # nothing heard yet
        late = Runtime(
            cluster.contacts_rt.settings.model_copy(update={"consumers_enabled": True}),
            consumers=contacts_consumers.CONSUMERS,
        )
        await late.start()
        try:
            assert await until(lambda: settled(cluster, deals, deal_id, contacts, card_id), timeout=90)

            async def quiet():
                return all(c.total_lag() == 0 and c.assigned.is_set() for c in late.consumers)

            assert await until(quiet, timeout=60)
            await asyncio.sleep(1)
            state = await end_state(cluster, contacts, deals, billing, card_id, deal_id)
        finally:
            await late.stop()
        subjects = sorted(s for k, s, _ in state["history"] if k == "system")
        assert subjects == EVERY_FACT_OF_THE_SALE
        assert state["status"] == "client" and state["debt"] == [(card_id, "0.00")]
        await assert_nothing_dead_lettered(cluster.dbs, cluster.bootstrap, cluster.prefix)
    finally:
        await cluster.stop()
        for c in (contacts, deals, billing):
            await c.aclose()
