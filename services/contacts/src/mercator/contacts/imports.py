"""Reading a client list from a spreadsheet: CSV (UTF-8 or Windows-1251, comma, semicolon or tab) or XLSX
(openpyxl), and turning each row into the fields of a client card, a contact person or a history entry
or an open deal through a column mapping. Pure Python: no database, no framework.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from mercator.common.rules import InvalidValue

KINDS = ("companies", "persons", "history", "deals")

# What each kind of row can fill; `company_tax_id` / `company_name` find the card a person or an entry
# belongs to.
FIELDS: dict[str, tuple[str, ...]] = {
    "companies": ("name", "legal_name", "tax_id", "status", "region", "industry", "source", "phones", "emails",
                  "address", "website", "notes", "person_name", "person_position", "person_phones",
                  "person_emails"),
    "persons": ("company_tax_id", "company_name", "name", "position", "phones", "emails", "notes"),
    "history": ("company_tax_id", "company_name", "kind", "direction", "subject", "summary", "happened_at"),
    "deals": ("company_tax_id", "company_name", "title", "amount", "currency", "expected_close_date"),
}
LISTS = {"phones", "emails", "person_phones", "person_emails"}
_SPLIT = re.compile(r"[;,\n]+")


class BadFile(InvalidValue):
    def __init__(self, message: str):
        super().__init__("bad_import_file", message, "file")


def check_mapping(kind: str, columns: dict[str, str]) -> dict[str, str]:
    """`{column header in the file: field}`; every field at most once, and a card needs its name."""
    if kind not in FIELDS:
        raise InvalidValue("bad_import_kind", f"kind must be one of {', '.join(KINDS)}", "kind")
    allowed = FIELDS[kind]
    seen: dict[str, str] = {}
    for header, field in columns.items():
        if field not in allowed:
            raise InvalidValue("bad_mapping", f"{field!r} is not a field of {kind} ({', '.join(allowed)})",
                               f"columns.{header}")
        if field in seen:
            raise InvalidValue("bad_mapping", f"columns {seen[field]!r} and {header!r} both fill {field}",
                               f"columns.{header}")
        seen[field] = header
    needed = {"companies": "name", "persons": "name", "history": "summary", "deals": "title"}[kind]
    missing = [needed] if needed not in seen else []
    if kind != "companies" and not {"company_tax_id", "company_name"} & set(seen):
        missing.append("company_tax_id or company_name")
    if missing:
        raise InvalidValue("bad_mapping", f"no column fills {', '.join(missing)}", "columns")
    return columns


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a tax id typed into Excel comes back as 7707083893.0
    return str(value).strip()


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1251")  # what Excel on a Russian Windows saves as "CSV"


def read_rows(data: bytes) -> tuple[list[str], Iterator[list[str]]]:
    """The header row and the rows after it (each numbered by the caller from 2, as the spreadsheet shows)."""
    if not data.strip():
        raise BadFile("the file is empty")
    if data[:4] == b"PK\x03\x04":
        return _xlsx(data)
    text = _decode(data)
    try:
        dialect = csv.Sniffer().sniff(text[:20_000], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header = next(reader, None)
    if not header:
        raise BadFile("the file has no header row")
    return [h.strip() for h in header], ([c.strip() for c in row] for row in reader)


def _xlsx(data: bytes) -> tuple[list[str], Iterator[list[str]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise BadFile(f"the XLSX file cannot be read: {exc}") from None
    rows = book.worksheets[0].iter_rows(values_only=True)
    header = next(rows, None)
    if not header:
        raise BadFile("the first sheet has no header row")
    return [_cell(h) for h in header], ([_cell(c) for c in row] for row in rows)


def check_header(header: list[str], columns: dict[str, str]) -> None:
    missing = [h for h in columns if h not in header]
    if missing:
        raise BadFile(f"the file has no column {', '.join(repr(m) for m in missing)} (it has: {', '.join(header)})")


@dataclass(frozen=True)
class Row:
    number: int  # as the spreadsheet numbers it: the header is row 1
    values: dict[str, Any]  # field: value, only the non-empty ones
    source: dict[str, str]  # field: the column it came from, to name it in a rejection


def mapped(number: int, header: list[str], cells: list[str], columns: dict[str, str]) -> Row | None:
    """The row's fields; None for a blank row (spreadsheets end in them)."""
    if not any(cells):
        return None
    by_header = dict(zip(header, cells))
    values: dict[str, Any] = {}
    for column, field in columns.items():
        value = by_header.get(column, "")
        if not value:
            continue
        values[field] = [v.strip() for v in _SPLIT.split(value) if v.strip()] if field in LISTS else value
    return Row(number, values, {f: c for c, f in columns.items()})


def duplicate_keys(values: dict[str, Any], match_name: str) -> list[tuple[str, str]]:
    """What makes two rows of one file the same client: tax id, phone, e-mail, or the same name."""
    keys = [("tax_id", values["tax_id"])] if values.get("tax_id") else []
    keys += [("phone", p) for p in values.get("phones", [])] + [("email", e) for e in values.get("emails", [])]
    if match_name:
        keys.append(("name", match_name))
    return keys
