"""The billing API against a real PostgreSQL; every test's writes are rolled back."""

import uuid
from datetime import timedelta

import pytest

from mercator.billing import consumers, invoices
from mercator.billing.days import today
from mercator.common.events import catalogue as ev
from mercator.common.testing.kit import feed

pytestmark = pytest.mark.postgres
TODAY = today("Europe/Moscow")


async def issued(api, deal_id, lines=None, due_date=None) -> dict:
    r = await api.post(
        "/api/v1/invoices",
        json={
            "deal_id": str(deal_id),
            "due_date": str(due_date or TODAY + timedelta(days=10)),
            "lines": lines or [{"description": "Лицензия Sales Expert", "quantity": "1", "unit_price": "100000.00"}],
        },
    )
    assert r.status_code == 201, r.text
    r = await api.post(f"/api/v1/invoices/{r.json()['id']}/issue")
    assert r.status_code == 200, r.text
    return r.json()


async def test_contract_invoice_partial_and_final_payment_and_delivery(api, published, deal_event):
    deal_id, company = await deal_event()
    contract = await api.post(
        "/api/v1/contracts",
        json={
            "number": "Д-17/2026",
            "deal_id": str(deal_id),
            "signed_on": str(TODAY),
            "amount": "122000.00",
            "due_in_days": 14,
        },
    )
    assert contract.status_code == 201, contract.text
    draft = (
        await api.post(
            "/api/v1/invoices",
            json={
                "contract_id": contract.json()["id"],
                "lines": [{"description": "Лицензия", "quantity": "1", "unit_price": "100000.00", "vat_rate": "22"}],
            },
        )
    ).json()
    assert draft["status"] == "draft" and draft["number"] is None and draft["company_id"] == str(company)
    invoice = (await api.post(f"/api/v1/invoices/{draft['id']}/issue")).json()
    assert invoice["status"] == "issued" and invoice["number"] == f"{TODAY.year}-{int(invoice['number'][5:]):06d}"
    assert (invoice["net"], invoice["vat"], invoice["total"]) == ("100000.00", "22000.00", "122000.00")
    assert invoice["due_date"] == str(TODAY + timedelta(days=14))
    edit = await api.patch(f"/api/v1/invoices/{invoice['id']}", json={"due_date": str(TODAY)})
    assert edit.status_code == 422 and edit.json()["rule"] == "invoice_issued"

    first = await api.post(
        "/api/v1/payments",
        json={"company_id": str(company), "amount": "50000.00", "received_on": str(TODAY), "bank_reference": "п/п 101"},
    )
    assert first.status_code == 201 and first.json()["allocations"] == [
        {"invoice_id": invoice["id"], "amount": "50000.00"}
    ]
    assert (await api.get(f"/api/v1/invoices/{invoice['id']}")).json()["status"] == "partly_paid"
    final = await api.post(
        "/api/v1/payments",
        json={"company_id": str(company), "amount": "80000.00", "received_on": str(TODAY), "bank_reference": "п/п 102"},
    )
    assert final.json()["credit"] == "8000.00"
    settled = (await api.get(f"/api/v1/invoices/{invoice['id']}")).json()
    assert settled["status"] == "paid" and settled["outstanding"] == "0.00"

    shipped = await api.post(
        "/api/v1/deliveries",
        json={
            "deal_id": str(deal_id),
            "waybill_number": "ТН-77",
            "shipped_on": str(TODAY),
            "carrier": "Деловые линии",
            "items": [{"product_id": str(uuid.uuid4()), "quantity": "1"}],
        },
    )
    assert shipped.status_code == 201 and shipped.json()["status"] == "shipped"
    done = await api.post(f"/api/v1/deliveries/{shipped.json()['id']}/delivered", json={"delivered_on": str(TODAY)})
    assert done.json()["status"] == "delivered"

    types = [e.type for e in await published()]
    assert types == [
        "ContractSigned",
        "InvoiceIssued",
        "PaymentReceived",
        "PaymentReceived",
        "InvoicePaid",
        "DeliveryShipped",
        "DeliveryDelivered",
    ]
    payment = next(e.data for e in await published("PaymentReceived"))
    assert payment["allocations"][0]["deal_id"] == str(deal_id) and payment["amount"] == "50000.00"
    debt = (await api.get("/api/v1/receivables")).json()["rows"]
    assert [(r["key"], r["debt"]) for r in debt] == [(str(company), "0.00")]


async def test_invoice_numbers_run_without_gaps_and_drafts_take_none(api, deal_event):
    deal_id, _ = await deal_event()
    a = await issued(api, deal_id)
    await api.post("/api/v1/invoices", json={"deal_id": str(deal_id), "lines": []})  # a draft: no number
    b = await issued(api, deal_id)
    seq_a, seq_b = int(a["number"].split("-")[1]), int(b["number"].split("-")[1])
    assert seq_b == seq_a + 1


async def test_vat_is_rounded_per_line(api, deal_event):
    deal_id, _ = await deal_event()
    invoice = await issued(
        api,
        deal_id,
        lines=[
            {"description": "Услуга", "quantity": "3", "unit_price": "33.33", "vat_rate": "20"},
            {"description": "Книга", "quantity": "1", "unit_price": "10.05", "vat_rate": "10"},
            {"description": "Экспорт", "quantity": "2", "unit_price": "5.00", "vat_rate": "0"},
        ],
    )
    assert [l["vat"] for l in invoice["lines"]] == ["20.00", "1.01", "0.00"]
    assert (invoice["net"], invoice["vat"], invoice["total"]) == ("120.04", "21.01", "141.05")


async def test_overdue_is_marked_and_announced_once(api, app, published, deal_event):
    deal_id, _ = await deal_event()
    invoice = await issued(api, deal_id, due_date=TODAY)
    later = TODAY + timedelta(days=45)
    for _ in range(2):
        async with app.state.runtime.uow() as uow:
            await invoices.mark_overdue(uow, later)
            await uow.commit()
    assert [e.type for e in await published()].count("InvoiceOverdue") == 1
    overdue = next(e.data for e in await published("InvoiceOverdue"))
    assert overdue["days_overdue"] == 45 and overdue["outstanding"] == "122000.00"
    assert (await api.get(f"/api/v1/invoices/{invoice['id']}")).json()["status"] == "overdue"


async def test_receivables_by_client_and_by_manager_with_ageing(api, app, deal_event, manager):
    deal_a, client_a = await deal_event()
    deal_b, client_b = await deal_event()
    await issued(api, deal_a)
    await issued(api, deal_b)
    await api.post(
        "/api/v1/payments",
        json={"company_id": str(client_b), "amount": "22000.00", "received_on": str(TODAY), "bank_reference": "1"},
    )
    rows = (await api.get("/api/v1/receivables")).json()["rows"]
    assert [(r["key"], r["debt"]) for r in rows] == [(str(client_a), "122000.00"), (str(client_b), "100000.00")]
    assert rows[0]["ageing"]["current"] == "122000.00"
    by_manager = (await api.get("/api/v1/receivables", params={"by": "manager"})).json()["rows"]
    assert [(r["key"], r["debt"]) for r in by_manager] == [(str(manager.user_id), "222000.00")]


async def test_a_lost_deal_takes_its_drafts_with_it(api, app, deal_event):
    from datetime import UTC, datetime

    deal_id, company = await deal_event()
    draft = (await api.post("/api/v1/invoices", json={"deal_id": str(deal_id), "lines": []})).json()
    kept = await issued(api, deal_id)
    await feed(
        app,
        consumers.DEALS,
        ev.DealLost(
            deal_id=deal_id,
            company_id=company,
            owner_id=uuid.uuid4(),
            reason="Цена",
            lost_at_stage="contract",
            lost_at=datetime.now(UTC),
            currency="RUB",
        ),
        sequence=5,
    )
    assert (await api.get(f"/api/v1/invoices/{draft['id']}")).json()["status"] == "cancelled"
    assert (await api.get(f"/api/v1/invoices/{kept['id']}")).json()["status"] == "issued"


async def test_a_draft_cancelled_with_its_lost_deal_is_a_new_version(api, app, deal_event):
    """The cancelled draft's ETag changes with it (it kept the draft's version, so a cached draft looked current)."""
    from datetime import UTC, datetime

    deal_id, company = await deal_event()
    draft = await api.post("/api/v1/invoices", json={"deal_id": str(deal_id), "lines": []})
    lost = ev.DealLost(
        deal_id=deal_id,
        company_id=company,
        owner_id=uuid.uuid4(),
        reason="Цена",
        lost_at_stage="contract",
        lost_at=datetime.now(UTC),
        currency="RUB",
    )
    await feed(app, consumers.DEALS, lost, sequence=5)
    cancelled = await api.get(f"/api/v1/invoices/{draft.json()['id']}")
    assert cancelled.json()["version"] == draft.json()["version"] + 1
    assert cancelled.headers["etag"] != draft.headers["etag"]


async def test_a_credit_note_reduces_what_is_owed_and_cancel_needs_no_payments(api, deal_event):
    deal_id, company = await deal_event()
    invoice = await issued(api, deal_id)
    note = await api.post(f"/api/v1/invoices/{invoice['id']}/credit", json={"amount": "22000.00", "reason": "скидка"})
    assert note.status_code == 201 and note.json()["amount"] == "-22000.00"
    assert (await api.get(f"/api/v1/invoices/{invoice['id']}")).json()["outstanding"] == "100000.00"
    other = await issued(api, deal_id)
    await api.post(
        "/api/v1/payments",
        json={
            "company_id": str(company),
            "amount": "1.00",
            "received_on": str(TODAY),
            "bank_reference": "9",
            "allocations": [{"invoice_id": other["id"], "amount": "1.00"}],
        },
    )
    refused = await api.post(f"/api/v1/invoices/{other['id']}/cancel", json={"reason": "ошибка"})
    assert refused.status_code == 422 and refused.json()["rule"] == "invoice_has_payments"


async def test_a_merged_card_hands_its_debt_to_the_survivor(api, app, deal_event):
    deal_id, absorbed = await deal_event()
    _, survivor = await deal_event()
    await issued(api, deal_id)
    await feed(
        app,
        consumers.CONTACTS,
        ev.CompanyMerged(company_id=survivor, absorbed_id=absorbed),
        subject=survivor,
        sequence=3,
    )
    rows = (await api.get("/api/v1/receivables")).json()["rows"]
    assert [(r["key"], r["debt"]) for r in rows] == [(str(survivor), "122000.00")]
    late = await api.post(
        "/api/v1/payments",
        json={"company_id": str(absorbed), "amount": "1.00", "received_on": str(TODAY), "bank_reference": "x"},
    )
    assert late.status_code == 422 and str(survivor) in late.json()["detail"]


async def test_an_overpayment_is_kept_as_credit_and_pays_the_next_invoice(api, app, deal_event):
    deal_id, company = await deal_event()
    first = await issued(api, deal_id)
    over = await api.post(
        "/api/v1/payments",
        json={"company_id": str(company), "amount": "130000.00", "received_on": str(TODAY), "bank_reference": "п/п 5"},
    )
    assert over.json()["credit"] == "8000.00"
    rows = (await api.get("/api/v1/receivables")).json()["rows"]
    assert [(r["debt"], r["credit"]) for r in rows] == [("0.00", "8000.00")]
    second = await issued(
        api, deal_id, lines=[{"description": "Доработка", "quantity": "1", "unit_price": "5000.00", "vat_rate": "22"}]
    )
    applied = await api.post(f"/api/v1/clients/{company}/credit/apply", json={"currency": "RUB"})
    assert applied.status_code == 200
    assert applied.json() == [{"payment_id": over.json()["id"], "invoice_id": second["id"], "amount": "6100.00"}]
    assert (await api.get(f"/api/v1/invoices/{second['id']}")).json()["status"] == "paid"
    rows = (await api.get("/api/v1/receivables")).json()["rows"]
    assert [(r["debt"], r["credit"]) for r in rows] == [("0.00", "1900.00")]
    assert first["id"]


async def test_the_overdue_list_shows_what_is_past_due_and_unpaid(api, app, deal_event):
    deal_id, company = await deal_event()
    late = await issued(api, deal_id, due_date=TODAY)
    await issued(api, deal_id, due_date=TODAY + timedelta(days=30))
    from mercator.billing.tables import Invoice

    async with app.state.runtime.sessionmaker() as s:  # as if issued long ago with a due date a week back
        row = await s.get(Invoice, uuid.UUID(late["id"]))
        row.due_date = TODAY - timedelta(days=7)
        await s.commit()
    overdue = (await api.get("/api/v1/invoices", params={"overdue": "true"})).json()
    assert [i["id"] for i in overdue] == [late["id"]]
    await api.post(
        "/api/v1/payments",
        json={
            "company_id": str(company),
            "amount": "122000.00",
            "received_on": str(TODAY),
            "bank_reference": "late",
            "allocations": [{"invoice_id": late["id"], "amount": "122000.00"}],
        },
    )
    assert (await api.get("/api/v1/invoices", params={"overdue": "true"})).json() == []
