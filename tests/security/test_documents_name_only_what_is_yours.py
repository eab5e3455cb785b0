"""A document or a message names only records of the caller's own client card.

`POST /documents` and `POST /messages` took `person_id` and `invoice_id` unchecked: a manager got the PDF of
another manager's contact person and invoice by naming them beside her own card, and sent that invoice to an
outside address (202, delivered). Now every record named is within the caller's sight and of the one card."""

import uuid
from datetime import date

import pytest

from mercator.common.events import catalogue as ev
from mercator.common.testing.api import auth, caller, client
from mercator.notifications import consumers
from mercator.notifications.testing import World


@pytest.fixture
async def notifications(service_app, feed):
    settings, runtime, app = await service_app("notifications")
    handlers = {t: h for group in consumers.handlers(settings).values() for t, h in group.items()}

    async def deliver(payload: ev.EventPayload) -> None:
        await feed(runtime, handlers, payload)

    anna, boris = (World(caller(name, department_id=uuid.uuid4())) for name in ("Анна Петрова", "Борис Иванов"))
    for world in (anna, boris):
        for payload in world.events():
            await deliver(payload)
        world.invoice_id = uuid.uuid4()
        await deliver(
            ev.InvoiceIssued(
                invoice_id=world.invoice_id,
                number=f"2026-{world.manager.name[:1]}1",
                deal_id=world.deal_id,
                company_id=world.company_id,
                issue_date=date.today(),
                due_date=date.today(),
                net="100.00",
                vat="20.00",
                total="120.00",
                currency="RUB",
            )
        )
    async with client(app, auth(settings, anna.manager)) as api:
        yield api, anna, boris


async def test_a_document_cannot_name_another_managers_person_or_invoice(notifications):
    api, anna, boris = notifications
    mine = {"company_id": str(anna.company_id), "deal_id": str(anna.deal_id)}
    ok = await api.post(
        "/api/v1/documents",
        json={"template": "invoice", **mine, "person_id": str(anna.person_id), "invoice_id": str(anna.invoice_id)},
    )
    assert ok.status_code == 200 and ok.content.startswith(b"%PDF")
    for field, theirs in (("person_id", boris.person_id), ("invoice_id", boris.invoice_id), ("deal_id", boris.deal_id)):
        r = await api.post("/api/v1/documents", json={"template": "invoice", **mine, field: str(theirs)})
        assert r.status_code == 404, (field, r.status_code)
        assert r.json()["errors"][0]["field"] == field
    # Named alone, Boris's invoice leads to Boris's card, which Anna does not see.
    r = await api.post("/api/v1/documents", json={"template": "invoice", "invoice_id": str(boris.invoice_id)})
    assert r.status_code == 404


async def test_another_managers_invoice_cannot_be_mailed_out(notifications):
    api, anna, boris = notifications
    r = await api.post(
        "/api/v1/messages",
        json={
            "company_id": str(anna.company_id),
            "to": "outsider@example.net",
            "invoice_id": str(boris.invoice_id),
            "documents": ["invoice"],
            "subject": "their invoice",
        },
    )
    assert r.status_code == 404
    assert r.json()["errors"][0]["field"] == "invoice_id"
    r = await api.post("/api/v1/messages", json={"person_id": str(boris.person_id), "documents": ["proposal"]})
    assert r.status_code == 404
    assert (await api.get("/api/v1/messages")).json()["items"] == [], "nothing was queued to be sent"
