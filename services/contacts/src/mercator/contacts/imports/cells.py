"""A spreadsheet's cells as the records' values: dates, times, statuses and kinds as people type them, and
why a row is refused."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from mercator.common.errors import DomainError
from mercator.contacts import domain
from mercator.contacts.imports import sheets


class DealsUnavailable(Exception):
    """Stops the job (failed, resumable): rows are not rejected for what the deals service could not say."""


def read_day(text: str) -> str | None:
    for pattern in ("%d.%m.%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip()[:10], pattern).date().isoformat()
        except ValueError:
            pass
    return None


class Rejected(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("rejected")
        self.errors = errors


def errors_of(exc: ValidationError, row: sheets.Row) -> list[dict[str, Any]]:
    out = []
    for e in exc.errors():
        loc = [str(p) for p in e["loc"]]
        field = loc[0] if loc else ""
        if field == "persons" and len(loc) >= 3:
            field = f"person_{loc[2]}"
        elif field.endswith("_id") and field[:-3] in row.source:
            field = field[:-3]
        out.append({"field": field, "column": row.source.get(field), "message": e["msg"].removeprefix("Value error, ")})
    return out


_STATUSES = {"потенциальный": "prospect", "клиент": "client", "бывший клиент": "former_client"}


def status_of(text: str) -> str:
    return _STATUSES.get(text.strip().lower(), text.strip().lower())


_ACTIVITY_KINDS = {
    "звонок": "call",
    "встреча": "meeting",
    "письмо": "letter",
    "e-mail": "email",
    "email": "email",
    "факс": "fax",
    "заметка": "note",
}


def activity_kind(text: str) -> str:
    return _ACTIVITY_KINDS.get(text.strip().lower(), text.strip().lower())


def read_moment(text: str) -> str:
    """A spreadsheet's time: ISO 8601, or `ДД.ММ.ГГГГ [ЧЧ:ММ]` (Moscow time when no offset is written)."""
    for pattern in ("%d.%m.%Y %H:%M", "%d.%m.%Y"):
        try:
            return datetime.strptime(text.strip(), pattern).replace(tzinfo=ZoneInfo("Europe/Moscow")).isoformat()
        except ValueError:
            pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return text  # the schema names it
    return (moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("Europe/Moscow"))).isoformat()


def normalised(values: dict[str, Any]) -> dict[str, Any]:
    """A row's tax id, phones and e-mails as the card would hold them (to compare rows of one file)."""
    out: dict[str, Any] = {"phones": [], "emails": []}
    with contextlib.suppress(DomainError):
        out["tax_id"] = domain.normalise_tax_id(values.get("tax_id"))
    for field, normalise in (("phones", domain.normalise_phone), ("emails", domain.normalise_email)):
        for value in values.get(field, []):
            with contextlib.suppress(DomainError):
                out[field].append(normalise(value))
    return out
