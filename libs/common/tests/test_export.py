"""`?format=csv|xlsx` on any list: every page of the filtered list in one file, through a small app with a
paged list, a bare list and a non-list (no database needed: the mechanism sits below the routes)."""

import csv
import io
from datetime import date
from decimal import Decimal
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, Query
from openpyxl import load_workbook

from mercator.common.http.errors import install_error_handlers
from mercator.common.http.export import ExportMiddleware
from mercator.common.pagination import Page, decode_cursor, encode_cursor

CLIENTS = [
    {
        "id": i,
        "name": f"ООО «Клиент {i}»",
        "tax_id": f"{i:010d}",
        "region": "Москва" if i % 3 else "Казань",
        "debt": {"amount": f"{i}.50", "currency": "RUB"},
        "phones": ["+7 495 000-00-00", "+7 900 1"],
        "since": "2026-01-31",
        "active": i % 2 == 0,
    }
    for i in range(1, 451)
]


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    pages = []

    @app.get("/clients", response_model=Page[dict])
    async def clients(
        region: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: str | None = None
    ):
        pages.append(limit)
        after = (decode_cursor(cursor, int) or [0])[0]
        rows = [c for c in CLIENTS if c["id"] > after and (region is None or c["region"] == region)]
        page = rows[:limit]
        return Page(items=page, next_cursor=encode_cursor([page[-1]["id"]]) if len(rows) > limit else None)

    @app.get("/regions")
    async def regions():
        return [{"code": "77", "name": "Москва"}, {"code": "16", "name": "Казань"}]

    @app.get("/report")
    async def report():
        return {"as_of": "2026-01-01", "total": 3}

    app.state.pages = pages
    return ExportMiddleware(app), app


@pytest.fixture
def api():
    wrapped, app = make_app()
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://t")
    api.app = app
    return api


async def test_csv_holds_every_page_of_the_filtered_list(api):
    r = await api.get("/clients", params={"format": "csv", "region": "Москва"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="clients.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    expected = [c for c in CLIENTS if c["region"] == "Москва"]
    assert len(rows) == len(expected) == 300 and api.app.state.pages == [200, 200]  # two full pages, not one
    assert rows[0] == {
        "id": "1",
        "name": "ООО «Клиент 1»",
        "tax_id": "0000000001",
        "region": "Москва",
        "debt.amount": "1.50",
        "debt.currency": "RUB",
        "phones": "+7 495 000-00-00; +7 900 1",
        "since": "2026-01-31",
        "active": "false",
    }


async def test_xlsx_by_the_accept_header_has_numbers_dates_and_text_ids(api):
    r = await api.get(
        "/clients",
        params={"limit": "7"},
        headers={"Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    )
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).active
    values = list(sheet.values)
    assert len(values) == 451 and values[0][:3] == ("id", "name", "tax_id")
    first = dict(zip(values[0], values[1], strict=False))
    assert first["tax_id"] == "0000000001" and Decimal(str(first["debt.amount"])) == Decimal("1.50")
    assert first["since"].date() == date(2026, 1, 31) and first["name"] == "ООО «Клиент 1»"


async def test_a_bare_list_exports_and_what_is_not_a_list_or_not_a_format_is_refused(api):
    r = await api.get("/regions", params={"format": "csv"})
    assert r.content.decode("utf-8-sig").splitlines() == ["code,name", "77,Москва", "16,Казань"]
    assert (await api.get("/regions")).json()[0]["code"] == "77"  # without a format: JSON as ever
    bad = await api.get("/clients", params={"format": "pdf"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "format"
    assert (await api.get("/report", params={"format": "csv"})).status_code == 406
    wrong_filter = await api.get("/clients", params={"format": "csv", "limit": "0"})
    assert wrong_filter.status_code == 422 and wrong_filter.headers["content-type"] == "application/problem+json"
