"""One amount everywhere, over a real broker: a deal opened with one product line at 1,200,000 and won after an
accepted offer of 1,100,000, and a deal priced only by an accepted offer of 300,000, show the same amounts on the
board, on the deal, in the reports of analytics (the slices by product too) and in billing's invoice."""

import uuid
from datetime import date, timedelta

import httpx
import pytest

from mercator.analytics.app import CONSUMERS as ANALYTICS_CONSUMERS
from mercator.analytics.app import MIGRATIONS as ANALYTICS_MIGRATIONS
from mercator.analytics.app import build_app as build_analytics
from mercator.analytics.settings import AnalyticsSettings
from mercator.billing import consumers as billing_consumers
from mercator.billing.app import MIGRATIONS as BILLING_MIGRATIONS
from mercator.billing.app import build_app as build_billing
from mercator.billing.settings import BillingSettings
from mercator.common.auth import mint_token
from mercator.common.runtime import Runtime
from mercator.common.settings import ServiceSettings
from mercator.common.testing.api import caller
from mercator.common.testing.bus import until
from mercator.contacts import consumers as contacts_consumers
from mercator.contacts.app import MIGRATIONS as CONTACTS_MIGRATIONS
from mercator.contacts.app import build_app as build_contacts
from mercator.contacts.settings import ContactsSettings
from mercator.deals import consumers as deals_consumers
from mercator.deals.app import MIGRATIONS as DEALS_MIGRATIONS
from mercator.deals.app import build_app as build_deals
from mercator.deals.settings import DealsSettings

pytestmark = [pytest.mark.postgres, pytest.mark.broker, pytest.mark.e2e]


def _to(app, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://peer", headers=headers)


async def test_the_board_the_deal_the_reports_and_the_slice_by_product_show_one_amount(postgres, tansu, token):
    dbs = {
        name: await postgres.migrated(f"{name}_money", migrations)
        for name, migrations in (
            ("contacts", CONTACTS_MIGRATIONS),
            ("deals", DEALS_MIGRATIONS),
            ("billing", BILLING_MIGRATIONS),
            ("analytics", ANALYTICS_MIGRATIONS),
        )
    }
    common = dict(
        kafka_bootstrap=tansu.bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
        relay_poll_seconds=0.1,
        consumer_session_timeout_ms=2000,
        consumer_heartbeat_interval_ms=500,
    )
    contacts_rt = Runtime(
        ContactsSettings(database_url=dbs["contacts"], **common), consumers=contacts_consumers.CONSUMERS
    )
    deals_rt = Runtime(
        DealsSettings(database_url=dbs["deals"], **common),
        consumers={"contacts": deals_consumers.CONTACTS, "billing": deals_consumers.BILLING},
    )
    billing_rt = Runtime(
        BillingSettings(database_url=dbs["billing"], **common),
        consumers={"deals": billing_consumers.DEALS, "contacts": billing_consumers.CONTACTS},
    )
    analytics_rt = Runtime(AnalyticsSettings(database_url=dbs["analytics"], **common), consumers=ANALYTICS_CONSUMERS)
    runtimes = [contacts_rt, deals_rt, billing_rt, analytics_rt]
    contacts_app = build_contacts(contacts_rt.settings, contacts_rt)
    deals_app = build_deals(deals_rt.settings, deals_rt, contacts_http=_to(contacts_app))
    billing_app = build_billing(
        billing_rt.settings, billing_rt, deals_http=_to(deals_app), contacts_http=_to(contacts_app)
    )
    analytics_app = build_analytics(analytics_rt.settings, analytics_rt)
    admin = mint_token(ServiceSettings(), caller("Администратор", roles=("admin",)))
    contacts, deals, billing, analytics = (_to(a, token) for a in (contacts_app, deals_app, billing_app, analytics_app))
    catalogue = _to(deals_app, admin)
    for rt in runtimes:
        await rt.start()
    try:
        lathe = (
            await catalogue.post(
                "/api/v1/products",
                json={"code": "ТС-16", "name": "Токарный станок", "unit": "шт", "list_price": "1200000.00"},
            )
        ).json()
        card = (await contacts.post("/api/v1/companies", json={"name": "ООО «Один счёт»"})).json()
        close = (date.today().replace(day=1) + timedelta(days=40)).replace(day=1)

        async def agreed(body: dict, price: str) -> str:
            opened = await deals.post(
                "/api/v1/deals",
                json={
                    "title": "Поставка",
                    "company_id": card["id"],
                    "stage": "commercial_proposal",
                    "expected_close_date": str(close),
                    **body,
                },
            )
            assert opened.status_code == 201, opened.text
            url = f"/api/v1/deals/{opened.json()['id']}"
            offer = (await deals.post(f"{url}/offers", json={"side": "ours", "amount": price})).json()
            assert (await deals.post(f"{url}/offers/{offer['id']}/accept")).status_code == 200
            assert (await deals.post(f"{url}/moves", json={"stage": "contract"})).status_code == 200
            return url

        won = await agreed(
            {"lines": [{"product_id": lathe["id"], "quantity": "1", "unit_price": "1200000.00"}]}, "1100000.00"
        )
        assert (await deals.post(f"{won}/win", json={})).status_code == 200
        open_url = await agreed({}, "300000.00")

        invoice = await billing.post(
            "/api/v1/invoices",
            json={
                "deal_id": won.rsplit("/", 1)[1],
                "due_date": str(date.today() + timedelta(days=10)),
                "lines": [
                    {"description": "Токарный станок", "quantity": "1", "unit_price": "1100000.00", "vat_rate": "none"}
                ],
            },
        )
        assert invoice.status_code == 201, invoice.text
        assert (await billing.post(f"/api/v1/invoices/{invoice.json()['id']}/issue")).status_code == 200

        async def read_by_all() -> bool:
            for rt in runtimes:
                if await rt.relay.backlog() or any(c.total_lag() for c in rt.consumers):
                    return False
            # A lag of nought only counts what a consumer has fetched so far: the facts themselves are the sign.
            debts = await analytics.get("/api/v1/reports/receivables")
            results = await analytics.get("/api/v1/reports/results", params={"by": "product"})
            workload = await analytics.get("/api/v1/reports/workload")
            return (
                debts.status_code == results.status_code == workload.status_code == 200
                and bool(debts.json()["rows"])
                and bool(results.json()["totals"])
                and bool(workload.json()["rows"])
            )

        assert await until(read_by_all, timeout=90)

        deal = (await deals.get(won)).json()
        assert (deal["amount"], [l["total"] for l in deal["lines"]]) == ("1100000.00", ["1100000.00"])
        board = {c["stage"]: c["amounts"] for c in (await deals.get("/api/v1/board")).json()["columns"]}
        assert (board["won"], board["contract"]) == ({"RUB": "1100000.00"}, {"RUB": "300000.00"})
        [card_on_board] = (await deals.get("/api/v1/board/cards")).json()["items"]
        assert card_on_board["amount"] == (await deals.get(open_url)).json()["amount"] == "300000.00"

        async def report(name: str, **params) -> dict:
            r = await analytics.get(f"/api/v1/reports/{name}", params=params)
            assert r.status_code == 200, r.text
            return r.json()

        by_product = {t["key"]: t["revenue"] for t in (await report("results", by="product"))["totals"]}
        assert by_product == {lathe["id"]: "1100000.00"}
        [by_manager] = (await report("results"))["totals"]
        assert by_manager["revenue"] == "1100000.00"
        for by in ([], ["product"], ["product_group"], ["department"], ["manager"], ["region"], ["industry"]):
            assert (await report("sales-volume", by=by))["total"]["revenue"] == "1100000.00", by
        [workload] = (await report("workload"))["rows"]
        assert workload["open_amount"] == "300000.00"
        assert (await report("forecast"))["total"]["amount"] == "300000.00"
        [debt] = (await report("receivables"))["rows"]
        assert debt["outstanding"] == "1100000.00"
    finally:
        for rt in runtimes:
            await rt.stop()
        for c in (contacts, deals, billing, analytics, catalogue):
            await c.aclose()
