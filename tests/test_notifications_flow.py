"""Documents from a deal to the client over the real broker: contacts, deals and notifications, each with its
own database, over Tansu, and a real SMTP server on loopback. A proposal sent in deals arrives as mail with
the filled-in PDF, and the sent message comes back into the client's history in contacts."""

import io
import uuid

import httpx
import pytest
from pypdf import PdfReader

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
from mercator.notifications import consumers as notifications_consumers
from mercator.notifications.app import MIGRATIONS as NOTIFICATIONS_MIGRATIONS
from mercator.notifications.app import build_app as build_notifications
from mercator.notifications.settings import NotificationsSettings
from mercator.notifications.tables import DealView, PersonView
from mercator.notifications.testing import Inbox, attachments

pytestmark = [pytest.mark.postgres, pytest.mark.broker, pytest.mark.e2e]


def _to(app, headers=None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://peer", headers=headers)


async def test_a_proposal_from_deals_reaches_the_client_and_its_history(postgres, tansu):
    smtp = Inbox().up()
    common = dict(
        kafka_bootstrap=tansu.bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
        relay_poll_seconds=0.1,
        consumer_session_timeout_ms=2000,
        consumer_heartbeat_interval_ms=500,
    )
    urls = {
        name: await postgres.migrated(name, migrations)
        for name, migrations in (
            ("contacts", CONTACTS_MIGRATIONS),
            ("deals", DEALS_MIGRATIONS),
            ("notifications", NOTIFICATIONS_MIGRATIONS),
        )
    }
    contacts_rt = Runtime(
        ContactsSettings(database_url=urls["contacts"], **common), consumers=contacts_consumers.CONSUMERS
    )
    deals_rt = Runtime(
        DealsSettings(database_url=urls["deals"], **common),
        consumers={"contacts": deals_consumers.CONTACTS, "billing": deals_consumers.BILLING},
    )
    n_settings = NotificationsSettings(
        database_url=urls["notifications"], smtp_host="127.0.0.1", smtp_port=smtp.port, send_poll_seconds=0.1, **common
    )
    notifications_rt = Runtime(n_settings, consumers=notifications_consumers.handlers(n_settings))
    contacts_app = build_contacts(contacts_rt.settings, contacts_rt)
    deals_app = build_deals(deals_rt.settings, deals_rt, contacts_http=_to(contacts_app))
    build_notifications(n_settings, notifications_rt)  # its sender joins the runtime's jobs
    runtimes = [contacts_rt, deals_rt, notifications_rt]

    head = caller("Анна Петрова", roles=("manager", "head"))
    h = {"Authorization": f"Bearer {mint_token(ServiceSettings(), head)}"}
    contacts, deals = _to(contacts_app, h), _to(deals_app, h)
    for rt in runtimes:
        await rt.start()
    try:
        card = (await contacts.post("/api/v1/companies", json={"name": "ООО «Северный ветер»"})).json()
        person = (
            await contacts.post(
                f"/api/v1/companies/{card['id']}/persons",
                json={"name": "Ольга Кузнецова", "position": "Главный инженер", "emails": ["olga@veter.example"]},
            )
        ).json()
        product = await deals.post(
            "/api/v1/products",
            json={"code": "КМ-7", "name": "Компрессор масляный", "unit": "шт", "list_price": "310000.00"},
        )
        assert product.status_code == 201, product.text
        deal = await deals.post(
            "/api/v1/deals",
            json={
                "title": "Компрессорная станция",
                "company_id": card["id"],
                "lines": [{"product_id": product.json()["id"], "quantity": "3", "unit_price": "300000.00"}],
            },
        )
        assert deal.status_code == 201, deal.text

        async def known() -> bool:  # what the documents are filled from has reached notifications
            async with notifications_rt.sessionmaker() as s:
                return (
                    await s.get(PersonView, uuid.UUID(person["id"])) is not None
                    and await s.get(DealView, uuid.UUID(deal.json()["id"])) is not None
                )

        assert await until(known, timeout=90)

        r = await deals.post(
            f"/api/v1/deals/{deal.json()['id']}/proposals",
            json={"documents": ["proposal"], "recipient_person_ids": [person["id"]], "message": "Ждём ваших вопросов."},
        )
        assert r.status_code == 201, r.text

        async def mailed() -> bool:
            return bool(smtp.to("olga@veter.example"))

        assert await until(mailed, timeout=60), "no mail reached the SMTP server"
        [mail] = smtp.to("olga@veter.example")
        [(name, content)] = attachments(mail).items()
        text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)
        for part in (
            "ООО «Северный ветер»",
            "Ольга Кузнецова",
            "Компрессор масляный",
            "3 шт",
            "900 000,00",
            "Компрессорная станция",
        ):
            assert part in text, part

        async def in_history():
            items = (await contacts.get(f"/api/v1/companies/{card['id']}/history", params={"limit": 200})).json()[
                "items"
            ]
            return [i for i in items if i["kind"] == "email"]

        assert await until(lambda: _nonempty(in_history), timeout=60), "MessageSent did not reach the history"
        [entry] = await in_history()
        assert (
            entry["direction"] == "outbound" and "olga@veter.example" in entry["summary"] and name in entry["summary"]
        )
    finally:
        for rt in runtimes:
            await rt.stop()
        for c in (contacts, deals):
            await c.aclose()
        smtp.down()


async def _nonempty(probe) -> bool:
    return bool(await probe())
