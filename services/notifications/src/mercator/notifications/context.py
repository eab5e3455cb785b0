"""What templates are filled with: plain dicts built from the read models, and a sample of every name a
template may use (a template is tried on it when saved)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from mercator.notifications.tables import (
    CompanyView,
    DealView,
    InvoiceView,
    PersonView,
    ProductView,
    UserView,
)


def company_ctx(c: CompanyView | None) -> dict[str, Any]:
    if c is None:
        return {"name": "", "legal_name": None, "tax_id": None, "emails": [], "phones": []}
    return {"name": c.name, "legal_name": c.legal_name, "tax_id": c.tax_id, "emails": c.emails, "phones": c.phones}


def person_ctx(p: PersonView | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "name": p.name,
        "position": p.position,
        "email": p.emails[0] if p.emails else None,
        "phone": p.phones[0] if p.phones else None,
    }


def user_ctx(u: UserView | None) -> dict[str, Any]:
    return {"name": u.name if u else "", "email": u.email if u else None}


def deal_ctx(d: DealView | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {
        "title": d.title,
        "stage": d.stage,
        "status": d.status,
        "amount": d.amount,
        "currency": d.currency,
        "expected_close_date": d.expected_close_date,
    }


def line_ctx(line: dict, products: dict[uuid.UUID, ProductView]) -> dict[str, Any]:
    p = products.get(uuid.UUID(str(line["product_id"])))
    return {
        "code": p.code if p else "",
        "name": p.name if p else str(line["product_id"]),
        "group": p.group_name if p else None,
        "unit": p.unit if p else "",
        "list_price": p.list_price if p else None,
        "quantity": Decimal(str(line["quantity"])),
        "unit_price": Decimal(str(line["unit_price"])),
        "discount_percent": Decimal(str(line.get("discount_percent") or 0)),
        "total": Decimal(str(line["total"])),
    }


def product_ctx(p: ProductView) -> dict[str, Any]:
    return {
        "code": p.code,
        "name": p.name,
        "group": p.group_name,
        "unit": p.unit,
        "list_price": p.list_price,
        "currency": p.currency,
    }


def invoice_ctx(i: InvoiceView | None, days_overdue: int | None = None) -> dict[str, Any] | None:
    if i is None:
        return None
    return {
        "number": i.number,
        "issue_date": i.issue_date,
        "due_date": i.due_date,
        "net": i.net,
        "vat": i.vat,
        "total": i.total,
        "outstanding": i.outstanding if i.outstanding is not None else i.total,
        "currency": i.currency,
        "lines": i.lines,
        "days_overdue": days_overdue,
    }


def local(at: datetime, time_zone: str) -> str:
    return at.astimezone(ZoneInfo(time_zone)).strftime("%d.%m.%Y %H:%M")


def sample() -> dict[str, Any]:
    """Every name the default templates use, with values of the right kinds."""
    today = date(2026, 3, 2)
    line = {
        "code": "SRV-1",
        "name": "Сервер",
        "group": "Оборудование",
        "unit": "шт",
        "list_price": Decimal("100"),
        "quantity": Decimal("2"),
        "unit_price": Decimal("100"),
        "discount_percent": Decimal("0"),
        "total": Decimal("200"),
    }
    invoice = {
        "number": "2026-000001",
        "issue_date": today,
        "due_date": today + timedelta(days=10),
        "net": Decimal("200"),
        "vat": Decimal("44"),
        "total": Decimal("244"),
        "outstanding": Decimal("244"),
        "currency": "RUB",
        "days_overdue": 3,
        "lines": [
            {
                "description": "Сервер",
                "quantity": "2",
                "unit_price": "100",
                "vat_rate": "22",
                "net": "200",
                "vat": "44",
                "gross": "244",
            }
        ],
    }
    return {
        "company": {
            "name": "ООО «Ромашка»",
            "legal_name": "Общество с ограниченной ответственностью «Ромашка»",
            "tax_id": "7707083893",
            "emails": ["info@romashka.ru"],
            "phones": ["+74951234567"],
        },
        "person": {"name": "Иван Иванов", "position": "директор", "email": "ivan@romashka.ru", "phone": None},
        "recipient": {"name": "Иван Иванов", "email": "ivan@romashka.ru"},
        "manager": {"name": "Анна Петрова", "email": "anna@example.com"},
        "deal": {
            "title": "Поставка серверов",
            "stage": "tech_proposal",
            "status": "open",
            "amount": Decimal("200"),
            "currency": "RUB",
            "expected_close_date": today,
        },
        "lines": [line],
        "total": Decimal("200"),
        "currency": "RUB",
        "products": [
            {
                "code": "SRV-1",
                "name": "Сервер",
                "group": "Оборудование",
                "unit": "шт",
                "list_price": Decimal("100"),
                "currency": "RUB",
            }
        ],
        "invoice": invoice,
        "today": today,
        "valid_until": today + timedelta(days=14),
        "message": "Текст от менеджера",
        "documents": ["Коммерческое_предложение.pdf"],
        "meeting": {
            "subject": "Демонстрация",
            "kind": "meeting",
            "kind_ru": "встреча",
            "place": "Офис клиента",
            "starts_local": "02.03.2026 11:00",
            "duration_minutes": 60,
            "minutes_before": 30,
        },
        "inactivity": {"days_inactive": 30, "threshold_days": 30, "last_activity_at": today},
        "digest": {
            "meetings": [{"starts_local": "11:00", "company": "ООО «Ромашка»", "subject": "Демонстрация"}],
            "overdue": [
                {
                    "number": "2026-000001",
                    "company": "ООО «Ромашка»",
                    "outstanding": Decimal("244"),
                    "currency": "RUB",
                    "due_date": today,
                }
            ],
            "stalled": [{"title": "Поставка серверов", "company": "ООО «Ромашка»", "stage": "demo", "days": 20}],
        },
        "event": {"name": "Выставка «Связь-2026»", "kind": "exhibition", "starts_on": today},
        "offer": "Скидка 10% участникам выставки",
    }
