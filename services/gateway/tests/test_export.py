"""Getting data out through the gateway, in front of real contacts, deals and billing apps (in-process, each
with its own PostgreSQL database): any list as CSV or XLSX with its filters, and one client's whole record as
JSON, refused rather than partial when a service is down."""

import csv
import io
import uuid

import pytest
from openpyxl import load_workbook

from mercator.common.testing.api import billing_today

pytestmark = pytest.mark.postgres


@pytest.fixture
def upstream_transports(switched_services):
    return switched_services


async def test_a_filtered_list_comes_whole_as_csv_and_xlsx(manager_api):
    tag = uuid.uuid4().hex[:8]
    for i in range(5):
        r = await manager_api.post("/api/v1/companies", json={"name": f"ООО «Выгрузка {tag} {i}»", "tax_id": None})
        assert r.status_code == 201, r.text
    await manager_api.post("/api/v1/companies", json={"name": "ООО «Другая»"})
    # Pages of two: the file still holds all five that match the filter, and only those.
    r = await manager_api.get("/api/v1/companies", params={"q": tag, "limit": 2, "format": "csv"})
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert sorted(row["name"] for row in rows) == [f"ООО «Выгрузка {tag} {i}»" for i in range(5)]
    x = await manager_api.get("/api/v1/companies", params={"q": tag, "format": "xlsx"})
    sheet = list(load_workbook(io.BytesIO(x.content)).active.values)
    assert len(sheet) == 6 and "name" in sheet[0]
    bad = await manager_api.get("/api/v1/companies", params={"format": "docx"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "format"


async def test_one_clients_whole_record_as_json_and_never_partial(manager_api, upstream_transports):
    card = (
        await manager_api.post(
            "/api/v1/companies", json={"name": "ООО «Всё о клиенте»", "persons": [{"name": "Иван Сидоров"}]}
        )
    ).json()
    for summary in ("первый звонок", "встреча в офисе"):
        await manager_api.post(f"/api/v1/companies/{card['id']}/history", json={"kind": "call", "summary": summary})
    deal = (await manager_api.post("/api/v1/deals", json={"title": "Поставка", "company_id": card["id"]})).json()
    draft = (
        await manager_api.post(
            "/api/v1/invoices",
            json={
                "deal_id": deal["id"],
                "due_date": str(billing_today()),
                "lines": [{"description": "Лицензия", "quantity": "1", "unit_price": "1000.00"}],
            },
        )
    ).json()
    invoice = (await manager_api.post(f"/api/v1/invoices/{draft['id']}/issue")).json()
    paid = await manager_api.post(
        "/api/v1/payments",
        json={
            "company_id": card["id"],
            "amount": "1220.00",
            "received_on": str(billing_today()),
            "bank_reference": "п/п 5",
        },
    )
    assert paid.status_code == 201, paid.text
    shipped = await manager_api.post(
        "/api/v1/deliveries",
        json={
            "deal_id": deal["id"],
            "waybill_number": f"ТН-{uuid.uuid4().hex[:6]}",
            "shipped_on": str(billing_today()),
            "items": [{"product_id": str(uuid.uuid4()), "quantity": "1"}],
        },
    )
    assert shipped.status_code == 201, shipped.text

    r = await manager_api.get(f"/api/v1/client-cards/{card['id']}/export")
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"]
    whole = r.json()
    assert whole["company"]["name"] == "ООО «Всё о клиенте»"
    assert [p["name"] for p in whole["persons"]] == ["Иван Сидоров"]
    assert {h["summary"] for h in whole["history"]} >= {"первый звонок", "встреча в офисе"}
    assert [d["id"] for d in whole["deals"]] == [deal["id"]] and isinstance(whole["deals"][0]["timeline"], list)
    assert whole["deals"][0]["timeline"] and "lines" in whole["deals"][0]
    assert [i["number"] for i in whole["invoices"]] == [invoice["number"]]
    assert [p["amount"] for p in whole["payments"]] == ["1220.00"]
    assert [d["id"] for d in whole["deliveries"]] == [shipped.json()["id"]]

    upstream_transports["billing"].down = True
    down = await manager_api.get(f"/api/v1/client-cards/{card['id']}/export")
    assert down.status_code == 503 and "invoices" in down.json()["detail"]
    assert (await manager_api.get(f"/api/v1/client-cards/{uuid.uuid4()}/export")).status_code == 404
