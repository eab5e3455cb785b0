"""Bad input gets a 4xx problem body naming the field, and changes nothing."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from mercator.billing.days import today
from mercator.billing.tables import Allocation, Invoice, Payment
from mercator.common.testing.kit import published

pytestmark = pytest.mark.postgres
TODAY = today("Europe/Moscow")


async def state(app):
    async with app.state.runtime.sessionmaker() as s:
        invoices = (await s.execute(select(Invoice.id, Invoice.status, Invoice.paid).order_by(Invoice.id))).all()
        return (
            tuple(invoices),
            await s.scalar(select(func.count()).select_from(Payment)),
            await s.scalar(select(func.count()).select_from(Allocation)),
            len(await published(app)),
        )


@pytest.fixture
async def open_invoice(api, deal_event):
    deal_id, company = await deal_event()
    draft = (
        await api.post(
            "/api/v1/invoices",
            json={
                "deal_id": str(deal_id),
                "due_date": str(TODAY),
                "lines": [{"description": "Лицензия", "quantity": "1", "unit_price": "1000.00"}],
            },
        )
    ).json()
    invoice = (await api.post(f"/api/v1/invoices/{draft['id']}/issue")).json()
    return invoice, company, deal_id


async def test_a_payment_for_an_unknown_or_cancelled_invoice_is_refused(api, app, open_invoice, deal_event):
    _, company, deal_id = open_invoice
    draft = (
        await api.post(
            "/api/v1/invoices",
            json={
                "deal_id": str(deal_id),
                "lines": [{"description": "x", "quantity": "1", "unit_price": "5.00"}],
                "due_date": str(TODAY),
            },
        )
    ).json()
    cancelled = (await api.post(f"/api/v1/invoices/{draft['id']}/issue")).json()
    await api.post(f"/api/v1/invoices/{cancelled['id']}/cancel", json={"reason": "ошибка"})
    before = await state(app)
    for target, field in ((str(uuid.uuid4()), "allocations[0].invoice_id"), (cancelled["id"], None)):
        r = await api.post(
            "/api/v1/payments",
            json={
                "company_id": str(company),
                "amount": "5.00",
                "received_on": str(TODAY),
                "bank_reference": "77",
                "allocations": [{"invoice_id": target, "amount": "5.00"}],
            },
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        if field:
            assert r.json()["errors"][0]["field"] == field
        else:
            assert r.json()["rule"] == "invoice_not_payable"
    assert await state(app) == before


@pytest.mark.parametrize(
    "body, field",
    [
        ({"amount": "10.005"}, "amount"),
        ({"amount": 10.5}, "amount"),
        ({"amount": "-1.00"}, "amount"),
        ({"amount": "1", "currency": "JPY"}, None),  # nothing invoiced in JPY: the money is credit
        ({"amount": "1.00", "received_on": str(TODAY + timedelta(days=2))}, "received_on"),
        ({"amount": "1.00", "method": "barter"}, "method"),
    ],
)
async def test_bad_payments_are_refused(api, app, open_invoice, body, field):
    _, company, _ = open_invoice
    before = await state(app)
    payload = {"company_id": str(company), "received_on": str(TODAY), "bank_reference": "55", **body}
    r = await api.post("/api/v1/payments", json=payload)
    if field is None:  # money in a currency nobody invoiced in is kept as credit, not refused
        assert r.status_code == 201 and r.json()["credit"] == "1"
        return
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]
    assert await state(app) == before


async def test_a_payment_recorded_twice_with_the_same_bank_reference_is_refused(api, app, open_invoice):
    _, company, _ = open_invoice
    body = {"company_id": str(company), "amount": "100.00", "received_on": str(TODAY), "bank_reference": "п/п 12"}
    assert (await api.post("/api/v1/payments", json=body)).status_code == 201
    before = await state(app)
    again = await api.post("/api/v1/payments", json={**body, "bank_reference": "  П/П   12 "})
    assert again.status_code == 422 and again.json()["rule"] == "duplicate_payment"
    assert again.json()["errors"][0]["field"] == "bank_reference"
    assert await state(app) == before


async def test_a_due_date_before_the_issue_date_and_an_unknown_deal_are_refused(api, app, deal_event):
    deal_id, _ = await deal_event()
    draft = (
        await api.post(
            "/api/v1/invoices",
            json={
                "deal_id": str(deal_id),
                "lines": [{"description": "x", "quantity": "1", "unit_price": "5.00"}],
                "due_date": str(TODAY - timedelta(days=1)),
            },
        )
    ).json()
    before = await state(app)
    r = await api.post(f"/api/v1/invoices/{draft['id']}/issue")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "due_date"
    assert await state(app) == before
    ghost = await api.post("/api/v1/invoices", json={"deal_id": str(uuid.uuid4()), "lines": []})
    assert ghost.status_code == 422 and ghost.json()["errors"][0]["field"] == "deal_id"
    bad_vat = await api.post(
        "/api/v1/invoices",
        json={
            "deal_id": str(deal_id),
            "lines": [{"description": "x", "quantity": "1", "unit_price": "5.00", "vat_rate": "18"}],
        },
    )
    assert bad_vat.status_code == 422 and bad_vat.json()["errors"][0]["field"] == "lines[0].vat_rate"
    assert await state(app) == before


async def test_money_from_an_unknown_client_is_refused(api, app):
    before = await state(app)
    r = await api.post(
        "/api/v1/payments",
        json={"company_id": str(uuid.uuid4()), "amount": "1.00", "received_on": str(TODAY), "bank_reference": "1"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "company_id"
    assert await state(app) == before
