"""The client card through the gateway, in front of real contacts, deals, billing, notifications and analytics apps
(in-process, each with its own PostgreSQL database): every list on it paged to the end rather than cut, bad page
parameters refused by name, and the card and its export exactly as the merged OpenAPI document describes them."""

import copy
import uuid
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from mercator.common.testing.api import Switch, billing_today

pytestmark = pytest.mark.postgres


@pytest.fixture
def upstream_transports(switched_services, analytics_service):
    return {**switched_services, "analytics": Switch(analytics_service)}


async def _company(api, name: str) -> str:
    r = await api.post("/api/v1/companies", json={"name": name, "persons": [{"name": "Иван Сидоров"}]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _history(api, company_id: str, count: int) -> None:
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    r = await api.post(
        "/api/v1/history/batch",
        json={
            "entries": [
                {
                    "company_id": company_id,
                    "kind": "call",
                    "summary": f"звонок {i}",
                    "happened_at": (start + timedelta(hours=i)).isoformat(),
                }
                for i in range(count)
            ]
        },
    )
    assert r.status_code == 201, r.text


async def _walk(api, company_id: str, section: str, limit: int) -> list[list[dict]]:
    """The card's pages of one section, following its next_cursor to the end."""
    pages, cursor = [], None
    while True:
        params = {f"{section}_limit": limit} | ({f"{section}_cursor": cursor} if cursor else {})
        r = await api.get(f"/api/v1/client-cards/{company_id}", params=params)
        assert r.status_code == 200, r.text
        page = r.json()[section]
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "the cursor goes round in circles"


async def test_the_cards_history_pages_to_the_last_entry(manager_api):
    company_id = await _company(manager_api, "ООО «Долгая история»")
    await _history(manager_api, company_id, 45)

    card = (await manager_api.get(f"/api/v1/client-cards/{company_id}")).json()
    assert len(card["history"]["items"]) == 20 and card["history"]["next_cursor"]  # more there, and it says so

    pages = await _walk(manager_api, company_id, "history", 20)
    walked = [h for page in pages for h in page]
    assert all(len(p) == 20 for p in pages[:-1]) and 0 < len(pages[-1]) <= 20
    # Each entry once, newest first: the whole history as contacts lists it.
    whole = (await manager_api.get(f"/api/v1/companies/{company_id}/history", params={"limit": 200})).json()
    assert [h["id"] for h in walked] == [h["id"] for h in whole["items"]] and not whole["next_cursor"]
    calls = [h["summary"] for h in walked if h["kind"] == "call"]
    assert calls == [f"звонок {i}" for i in reversed(range(45))]


async def test_the_cards_deals_and_meetings_page_to_the_end_and_the_rest_comes_whole(manager_api):
    company_id = await _company(manager_api, "ООО «Много сделок»")
    deals = [
        (await manager_api.post("/api/v1/deals", json={"title": f"Сделка {i}", "company_id": company_id})).json()
        for i in range(5)
    ]
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    for i in range(3):
        r = await manager_api.post(
            f"/api/v1/companies/{company_id}/meetings",
            json={"subject": f"Встреча {i}", "starts_at": (starts + timedelta(hours=i)).isoformat()},
        )
        assert r.status_code == 201, r.text
    for i in range(3):
        r = await manager_api.post(f"/api/v1/companies/{company_id}/persons", json={"name": f"Контакт {i}"})
        assert r.status_code == 201, r.text

    pages = await _walk(manager_api, company_id, "deals", 2)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sorted(d["id"] for p in pages for d in p) == sorted(d["id"] for d in deals)
    pages = await _walk(manager_api, company_id, "meetings", 2)
    assert [m["subject"] for p in pages for m in p] == ["Встреча 0", "Встреча 1", "Встреча 2"]

    card = (await manager_api.get(f"/api/v1/client-cards/{company_id}", params={"deals_limit": 1})).json()
    assert len(card["persons"]) == 4  # persons and invoices are never cut: they come whole
    assert len(card["deals"]["items"]) == 1 and card["deals"]["next_cursor"]


async def test_bad_page_parameters_are_refused_by_name(manager_api, upstream_transports):
    company_id = await _company(manager_api, "ООО «Курсор»")
    for params, field in (
        ({"history_limit": 0}, "history_limit"),
        ({"deals_limit": 201}, "deals_limit"),
        ({"meetings_limit": "many"}, "meetings_limit"),
        ({"history_cursor": "not-a-cursor"}, "history_cursor"),
        ({"deals_cursor": "bm90LWEtY3Vyc29y"}, "deals_cursor"),
        ({"meetings_cursor": "W10"}, "meetings_cursor"),
    ):
        r = await manager_api.get(f"/api/v1/client-cards/{company_id}", params=params)
        assert r.status_code == 422, (params, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in r.json()["errors"]] == [field], r.text
    await _history(manager_api, company_id, 3)
    upstream_transports["deals"].down = True  # a service down is still a partial card, not a refusal
    partial = (await manager_api.get(f"/api/v1/client-cards/{company_id}", params={"history_limit": 1})).json()
    assert partial["partial"] is True and partial["missing"] == ["deals"] and partial["deals"] is None
    assert len(partial["history"]["items"]) == 1


# --- the published schema -----------------------------------------------------------------------------------


def _response_schema(doc: dict, path: str) -> dict:
    """The 200 answer's schema of `GET path`, as a JSON Schema that resolves the document's `$ref`s, and
    closed: an object with a property that the document does not name is invalid, so every field the
    gateway returns must be documented."""

    def close(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)
        return node

    content = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    return {**close(copy.deepcopy(content["schema"])), "components": close(copy.deepcopy(doc["components"]))}


def _valid(schema: dict, body) -> None:
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:20])


async def test_the_card_and_its_export_are_as_the_merged_document_says(manager_api, admin_api, anon):
    company_id = await _company(manager_api, "ООО «По документу»")
    await _history(manager_api, company_id, 3)
    product = await admin_api.post(
        "/api/v1/products", json={"code": f"LIC-{uuid.uuid4().hex[:6]}", "name": "Лицензия", "list_price": "400.00"}
    )
    assert product.status_code == 201, product.text
    deal = (
        await manager_api.post(
            "/api/v1/deals",
            json={
                "title": "Поставка",
                "company_id": company_id,
                "amount": "1000.00",
                "lines": [{"product_id": product.json()["id"], "quantity": "2.5", "unit_price": "400.00"}],
            },
        )
    ).json()
    offer = await manager_api.post(f"/api/v1/deals/{deal['id']}/offers", json={"side": "ours", "amount": "950.00"})
    assert offer.status_code in (200, 201), offer.text
    await manager_api.post(
        f"/api/v1/companies/{company_id}/meetings",
        json={"subject": "Встреча", "starts_at": (datetime.now(UTC) + timedelta(days=2)).isoformat()},
    )
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
    assert (await manager_api.post(f"/api/v1/invoices/{draft['id']}/issue")).status_code == 200
    paid = await manager_api.post(
        "/api/v1/payments",
        json={
            "company_id": company_id,
            "amount": "500.00",
            "received_on": str(billing_today()),
            "bank_reference": "п/п 7",
        },
    )
    assert paid.status_code == 201, paid.text
    shipped = await manager_api.post(
        "/api/v1/deliveries",
        json={
            "deal_id": deal["id"],
            "waybill_number": f"ТН-{uuid.uuid4().hex[:6]}",
            "shipped_on": str(billing_today()),
            "items": [{"product_id": product.json()["id"], "quantity": "1"}],
        },
    )
    assert shipped.status_code == 201, shipped.text

    doc = (await anon.get("/api/v1/openapi.json")).json()
    assert doc["x-missing-services"] == []
    card = await manager_api.get(f"/api/v1/client-cards/{company_id}", params={"history_limit": 2})
    assert card.status_code == 200, card.text
    body = card.json()
    assert body["missing"] == [] and body["history"]["next_cursor"] and body["debt"] == {"RUB": "720.00"}
    assert body["company"] == (await manager_api.get(f"/api/v1/companies/{company_id}")).json()  # nothing lost
    assert body["invoices"] == (await manager_api.get("/api/v1/invoices", params={"company_id": company_id})).json()
    schema = _response_schema(doc, "/api/v1/client-cards/{company_id}")
    _valid(schema, body)
    naive, undocumented = copy.deepcopy(body), copy.deepcopy(body)
    naive["history"]["items"][0]["happened_at"] = "2026-03-01T09:00:00"  # no offset: not RFC 3339
    undocumented["deals"]["items"][0]["surprise"] = 1
    for wrong in (naive, undocumented):
        with pytest.raises(AssertionError):
            _valid(schema, wrong)
    parameters = {p["name"] for p in doc["paths"]["/api/v1/client-cards/{company_id}"]["get"]["parameters"]}
    assert {
        "history_limit",
        "history_cursor",
        "meetings_limit",
        "meetings_cursor",
        "deals_limit",
        "deals_cursor",
    } <= parameters

    export = await manager_api.get(f"/api/v1/client-cards/{company_id}/export")
    assert export.status_code == 200, export.text
    whole = export.json()
    assert {e["type"] for e in whole["deals"][0]["timeline"]} >= {"transition", "offer"}
    assert whole["payments"][0]["allocations"] and whole["deliveries"][0]["items"]
    _valid(_response_schema(doc, "/api/v1/client-cards/{company_id}/export"), whole)

    # The card's models are the gateway's alone: none renamed for meeting a service's schema of the same name.
    names = [n for n in doc["components"]["schemas"] if "ClientCard" in n]
    assert "ClientCard" in names and "ClientCardHistoryPage" in names and "ClientCardExport" in names
    assert all(n.startswith("ClientCard") for n in names), names
    titles = [s.get("title") for s in doc["components"]["schemas"].values()]
    assert all(titles.count(n) == 1 for n in names), names
