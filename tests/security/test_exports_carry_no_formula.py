"""An exported list never carries a live formula.

A client card named `=HYPERLINK(...)` became a working formula in the XLSX export, and CSV wrote cells that
start with `=`, `+`, `-` or `@` as they were: opened in a spreadsheet program, a name typed by anyone who may
edit a card ran in the head of sales' Excel."""

import csv
import io

from fastapi import FastAPI
from openpyxl import load_workbook

from mercator.common.http.export import ExportMiddleware
from mercator.common.testing.api import client

HOSTILE = ['=HYPERLINK("http://127.0.0.1/?"&A1,"Open")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)", "\t=1+1", "=1+1"]


def app_listing(names: list[str]) -> FastAPI:
    app = FastAPI()

    @app.get("/api/v1/companies")
    async def companies():
        return {
            "items": [{"name": n, "debt": "-1500.00", "phones": ["+7 495 123-45-67", "+7 (900) 1"]} for n in names],
            "next_cursor": None,
        }

    app.add_middleware(ExportMiddleware)
    return app


async def test_csv_cells_that_would_start_a_formula_are_text():
    async with client(app_listing(HOSTILE)) as api:
        r = await api.get("/api/v1/companies", params={"format": "csv"})
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert [row["name"] for row in rows] == ["'" + n for n in HOSTILE]
    assert {row["debt"] for row in rows} == {"-1500.00"}, "a negative amount is a number, not a formula"
    assert {row["phones"] for row in rows} == {"+7 495 123-45-67; +7 (900) 1"}, "phone numbers stay dialable"


async def test_xlsx_cells_are_text_whatever_they_hold():
    async with client(app_listing(HOSTILE)) as api:
        r = await api.get("/api/v1/companies", params={"format": "xlsx"})
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).active
    names = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in names] == HOSTILE
    assert {c.data_type for c in names} == {"s"}, "a name must be a text cell, never a formula"
