"""Reading a client list from a spreadsheet: CSV (UTF-8 or Windows-1251, comma, semicolon or tab) or XLSX
(openpyxl), and turning each row into the fields of a client card, a contact person or a history entry
or an open deal through a column mapping. Pure Python: no database, no framework.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from mercator.common.errors import InvalidValue

KINDS = ("companies", "persons", "history", "deals")

# What each kind of row can fill; `company_tax_id` / `company_name` find the card a person or an entry
# belongs to.
FIELDS: dict[str, tuple[str, ...]] = {
    "companies": (
        "name",
        "legal_name",
        "tax_id",
        "status",
        "region",
        "industry",
        "source",
        "phones",
        "emails",
        "address",
        "website",
        "notes",
        "person_name",
        "person_position",
        "person_phones",
        "person_emails",
    ),
    "persons": ("company_tax_id", "company_name", "name", "position", "phones", "emails", "notes"),
    "history": ("company_tax_id", "company_name", "kind", "direction", "subject", "summary", "happened_at"),
    "deals": ("company_tax_id", "company_name", "title", "amount", "currency", "expected_close_date"),
}
LISTS = {"phones", "emails", "person_phones", "person_emails"}
_SPLIT = re.compile(r"[;,\n]+")


class BadFile(InvalidValue):
    rule = "bad_import_file"

    def __init__(self, message: str):
        super().__init__(self.rule, message, "file")

    def __reduce__(self):  # raised in the reading process, re-raised in the service
        return type(self), (self.message,)


class FileTooLarge(BadFile):
    """The file, or what it unpacks to, is more than an import takes: named in the message."""

    rule = "import_file_too_large"


@dataclass(frozen=True)
class Limits:
    """What one file may cost to read (see ContactsSettings.import_*)."""

    max_rows: int
    max_unpacked_bytes: int
    max_compression_ratio: float


# Members that unpack to less than this are not held to the ratio: small XML compresses far, harmlessly.
_RATIO_FLOOR = 1 << 20
_DELIMITERS = (",", ";", "\t")
# csv.Sniffer's regular expressions backtrack without bound on quotes and spaces (0.6 KB took 45 s of
# CPU); the delimiter is the one the header line has most of, outside quotes, in its first 64 KB.
_HEADER_PREFIX = 65_536


def check_mapping(kind: str, columns: dict[str, str]) -> dict[str, str]:
    """`{column header in the file: field}`; every field at most once, and a card needs its name."""
    if kind not in FIELDS:
        raise InvalidValue("bad_import_kind", f"kind must be one of {', '.join(KINDS)}", "kind")
    allowed = FIELDS[kind]
    seen: dict[str, str] = {}
    for header, field in columns.items():
        if field not in allowed:
            raise InvalidValue(
                "bad_mapping", f"{field!r} is not a field of {kind} ({', '.join(allowed)})", f"columns.{header}"
            )
        if field in seen:
            raise InvalidValue(
                "bad_mapping", f"columns {seen[field]!r} and {header!r} both fill {field}", f"columns.{header}"
            )
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


def delimiter(text: str) -> str:
    """The delimiter the header line has most of outside quotes (a comma on a tie or none)."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for char in text[:_HEADER_PREFIX]:
        if char == '"':
            quoted = not quoted
        elif char in "\r\n" and not quoted:
            break
        elif char in counts and not quoted:
            counts[char] += 1
    return max(_DELIMITERS, key=lambda d: (counts[d], d == ","))


def read_rows(data: bytes, limits: Limits | None = None) -> tuple[list[str], Iterator[list[str]]]:
    """The header row and the rows after it (each numbered by the caller from 2, as the spreadsheet shows).
    With `limits`, a file of more rows, or an XLSX that unpacks to more, raises FileTooLarge."""
    if not data.strip():
        raise BadFile("the file is empty")
    if data[:4] == b"PK\x03\x04":
        header, rows = _xlsx(data, limits)
    else:
        text = _decode(data)
        reader = csv.reader(io.StringIO(text), delimiter=delimiter(text))
        try:
            first = next(reader, None)
        except csv.Error as exc:
            raise BadFile(f"the file cannot be read as CSV: {exc}") from None
        if not first:
            raise BadFile("the file has no header row")
        header, rows = [h.strip() for h in first], _csv_rows(reader)
    return header, (_counted(rows, limits.max_rows) if limits else rows)


def _csv_rows(reader) -> Iterator[list[str]]:
    try:
        for row in reader:
            yield [c.strip() for c in row]
    except csv.Error as exc:  # e.g. a field over csv's own size limit
        raise BadFile(f"the file cannot be read as CSV: {exc}") from None


def _counted(rows: Iterator[list[str]], most: int) -> Iterator[list[str]]:
    # Blank rows count too: a sheet can declare a million of them, and each costs its reading.
    for number, row in enumerate(rows, start=1):
        if number > most:
            raise FileTooLarge(
                f"the file has more than {most:,} rows after the header; an import takes up to {most:,}: split it"
            )
        yield row


def check_packing(data: bytes, limits: Limits) -> None:
    """An XLSX is a zip: what its members unpack to is refused before anything is unpacked. Python's zipfile
    stops each member at the size its directory declares, so the declared sizes bound the reading."""
    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise BadFile(f"the XLSX file cannot be read: {exc}") from None
    total = 0
    for member in members:
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _RATIO_FLOOR and ratio > limits.max_compression_ratio:
            raise FileTooLarge(
                f"{member.filename} unpacks to {member.file_size:,} bytes, {ratio:,.0f} times its "
                f"packed size; an import takes up to {limits.max_compression_ratio:,.0f} times"
            )
    if total > limits.max_unpacked_bytes:
        raise FileTooLarge(
            f"the XLSX file unpacks to {total:,} bytes; an import takes up to {limits.max_unpacked_bytes:,}"
        )


def _xlsx(data: bytes, limits: Limits | None) -> tuple[list[str], Iterator[list[str]]]:
    from openpyxl import load_workbook

    if limits:
        check_packing(data, limits)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except MemoryError:
        raise  # past the reader's share: `imports.reading` names it
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


def mapped(
    number: int, header: list[str], cells: list[str], columns: dict[str, str], source: dict[str, str] | None = None
) -> Row | None:
    """The row's fields; None for a blank row (spreadsheets end in them). `source`: the columns by field, one
    dict for every row of a file."""
    if not any(cells):
        return None
    by_header = dict(zip(header, cells, strict=False))
    values: dict[str, Any] = {}
    for column, field in columns.items():
        value = by_header.get(column, "")
        if not value:
            continue
        values[field] = [v.strip() for v in _SPLIT.split(value) if v.strip()] if field in LISTS else value
    return Row(number, values, source if source is not None else {f: c for c, f in columns.items()})


def duplicate_keys(values: dict[str, Any], match_name: str) -> list[tuple[str, str]]:
    """What makes two rows of one file the same client: tax id, phone, e-mail, or the same name."""
    keys = [("tax_id", values["tax_id"])] if values.get("tax_id") else []
    keys += [("phone", p) for p in values.get("phones", [])] + [("email", e) for e in values.get("emails", [])]
    if match_name:
        keys.append(("name", match_name))
    return keys


@dataclass(frozen=True)
class Read:
    header: list[str]
    total_rows: int  # the non-blank ones
    rows: list[Row] | None  # when asked for


def read_file(data: bytes, columns: dict[str, str], limits: Limits, *, rows: bool) -> Read:
    """The whole file, checked against the mapping and the limits: what the reading process does."""
    header, cells = read_rows(data, limits)
    check_header(header, columns)
    source = {f: c for c, f in columns.items()}
    found = [r for n, c in enumerate(cells, start=2) if (r := mapped(n, header, c, columns, source)) is not None]
    return Read(header, len(found), found if rows else None)
