"""Invoices and payments for the accounting system, per period, as JSON and as CSV; deliveries listed. Against
a real PostgreSQL; every test's writes are rolled back."""

import csv
import io
from datetime import timedelta

import pytest

from mercator.billing.days import today

from .test_statements import INN, client_with_invoice

pytestmark = pytest.mark.postgres
TODAY = today("Europe/Moscow")


async def test_the_periods_invoices_and_payments_as_json_and_csv(app, api, manager):
    company_id, first = await client_with_invoice(app, api, manager, amount="1000.00")
    _, second = await client_with_invoice(app, api, manager, amount="250.00")
    paid = await api.post(
        "/api/v1/payments",
        json={"company_id": str(company_id), "amount": "1200.00", "received_on": str(TODAY), "bank_reference": "п/п 9"},
    )
    assert paid.status_code == 201
    period = {"from": str(TODAY - timedelta(days=31)), "to": str(TODAY)}

    invoices = (await api.get("/api/v1/accounting/invoices", params={**period, "limit": 1})).json()
    assert len(invoices["items"]) == 1 and invoices["next_cursor"]
    every = await api.get("/api/v1/accounting/invoices", params={**period, "format": "csv", "limit": 1})
    rows = list(csv.DictReader(io.StringIO(every.content.decode("utf-8-sig"))))
    assert sorted((r["number"], r["total"], r["client_tax_id"]) for r in rows) == sorted(
        [(first["number"], "1000.00", INN), (second["number"], "250.00", INN)]
    )
    assert "Лицензия" in rows[0]["lines"] and rows[0]["client_name"] == "ООО «Ромашка»"

    payments = (await api.get("/api/v1/accounting/payments", params=period)).json()["items"]
    assert [(p["amount"], p["invoices"], p["credit"]) for p in payments] == [
        ("1200.00", [f"{first['number']}: 1000.00"], "200.00")
    ]
    json_and_csv = await api.get("/api/v1/accounting/payments", params={**period, "format": "csv"})
    assert f"{first['number']}: 1000.00" in json_and_csv.content.decode("utf-8-sig")

    before = {"from": str(TODAY - timedelta(days=60)), "to": str(TODAY - timedelta(days=32))}
    assert (await api.get("/api/v1/accounting/invoices", params=before)).json()["items"] == []
    backwards = await api.get("/api/v1/accounting/payments", params={"from": str(TODAY), "to": "2000-01-01"})
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "to"
    missing = await api.get("/api/v1/accounting/payments", params={"from": str(TODAY)})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "to"
