"""A document or a message names only records of the caller's own client card.

`POST /documents` and `POST /messages` took `person_id` and `invoice_id` unchecked: a manager got the PDF of
another manager's contact person and invoice by naming them beside her own card, and sent that invoice to an
outside address (202, delivered). Now every record named is within the caller's sight and of the one card."""

import asyncio
import uuid
from datetime import date
from pathlib import Path

import pytest

from mercator.common.bus.consumer import Delivery
from mercator.common.events import Envelope
from mercator.common.events import catalogue as ev
from mercator.common.migrate import upgrade
from mercator.common.runtime import Runtime
from mercator.common.testing.api import auth, caller, client
from mercator.notifications import consumers
from mercator.notifications.app import build_app
from mercator.notifications.settings import NotificationsSettings
from mercator.notifications.testing import Inbox, World

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def notifications(tmp_path):
    inbox = Inbox().up()
    url = f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}"
    await asyncio.to_thread(upgrade, url, ROOT / "services/notifications/migrations")
    settings = NotificationsSettings(database_url=url, relay_enabled=False, consumers_enabled=False,
                                     kafka_bootstrap="127.0.0.1:9", smtp_host="127.0.0.1", smtp_port=inbox.port)
    runtime = Runtime(settings)
    app = build_app(settings, runtime)
    handlers = {t: h for group in consumers.handlers(settings).values() for t, h in group.items()}

    async def deliver(payload: ev.EventPayload) -> None:
        envelope = Envelope(type=payload.type_name(), source=f"/mercator/{payload.owner}", subject="x", sequence=1,
                            data=payload.model_dump(mode="json"), id=uuid.uuid4())
        async with runtime.uow() as uow:
            await handlers[payload.type_name()](uow, Delivery(envelope, payload))
            await uow.commit()

    anna, boris = (World(caller(name, department_id=uuid.uuid4())) for name in ("Анна Петрова", "Борис Иванов"))
    for world in (anna, boris):
        for payload in world.events():
            await deliver(payload)
        world.invoice_id = uuid.uuid4()
        await deliver(ev.InvoiceIssued(invoice_id=world.invoice_id, number=f"2026-{world.manager.name[:1]}1",
                                       deal_id=world.deal_id, company_id=world.company_id, issue_date=date.today(),
                                       due_date=date.today(), net="100.00", vat="20.00", total="120.00",
                                       currency="RUB"))
    async with client(app, auth(settings, anna.manager)) as api:
        yield api, anna, boris, inbox
    inbox.down()
    await runtime.engine.dispose()


async def test_a_document_cannot_name_another_managers_person_or_invoice(notifications):
    api, anna, boris, _ = notifications
    mine = {"company_id": str(anna.company_id), "deal_id": str(anna.deal_id)}
    ok = await api.post("/api/v1/documents", json={"template": "invoice", **mine, "person_id": str(anna.person_id),
                                                   "invoice_id": str(anna.invoice_id)})
    assert ok.status_code == 200 and ok.content.startswith(b"%PDF")
    for field, theirs in (("person_id", boris.person_id), ("invoice_id", boris.invoice_id),
                          ("deal_id", boris.deal_id)):
        r = await api.post("/api/v1/documents", json={"template": "invoice", **mine, field: str(theirs)})
        assert r.status_code == 404, (field, r.status_code)
        assert r.json()["errors"][0]["field"] == field
    # Named alone, Boris's invoice leads to Boris's card, which Anna does not see.
    r = await api.post("/api/v1/documents", json={"template": "invoice", "invoice_id": str(boris.invoice_id)})
    assert r.status_code == 404


async def test_another_managers_invoice_cannot_be_mailed_out(notifications):
    api, anna, boris, _ = notifications
    r = await api.post("/api/v1/messages", json={
        "company_id": str(anna.company_id), "to": "outsider@example.net", "invoice_id": str(boris.invoice_id),
        "documents": ["invoice"], "subject": "their invoice"})
    assert r.status_code == 404
    assert r.json()["errors"][0]["field"] == "invoice_id"
    r = await api.post("/api/v1/messages", json={"person_id": str(boris.person_id), "documents": ["proposal"]})
    assert r.status_code == 404
    assert (await api.get("/api/v1/messages")).json()["items"] == [], "nothing was queued to be sent"
