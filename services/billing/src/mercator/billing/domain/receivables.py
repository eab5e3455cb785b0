"""Receivables: what clients owe, and how long it has been overdue (ageing)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from mercator.billing.domain.invoice import OPEN, Balance, Invoice, InvoiceStatus
from mercator.common.money import quantize


@dataclass(frozen=True)
class Receivable:
    client_id: uuid.UUID | None
    currency: str
    invoiced: Decimal
    credited: Decimal
    paid: Decimal

    @property
    def debt(self) -> Decimal:
        return self.invoiced - self.credited - self.paid


def receivables(invoices: Iterable[Invoice | Balance]) -> list[Receivable]:
    sums: dict[tuple[uuid.UUID | None, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
    for invoice in invoices:
        if invoice.status in (*OPEN, InvoiceStatus.PAID):
            figures = sums[invoice.client_id, invoice.currency]
            figures[0] += invoice.total
            figures[1] += invoice.credited
            figures[2] += invoice.paid
    return [
        Receivable(client, code, *(quantize(x, code) for x in sums[client, code]))
        for client, code in sorted(sums, key=lambda key: (str(key[0]), key[1]))
    ]


AGEING_BUCKETS = ("current", "1_30", "31_60", "61_90", "over_90")


def ageing_bucket(days_overdue: int) -> str:
    if days_overdue <= 0:
        return "current"
    if days_overdue <= 30:
        return "1_30"
    if days_overdue <= 60:
        return "31_60"
    return "61_90" if days_overdue <= 90 else "over_90"


def ageing(invoices: Iterable[Invoice | Balance], today: date) -> dict[str, dict[str, Decimal]]:
    """Outstanding per currency and bucket; every bucket present so reports line up."""
    found: dict[str, dict[str, Decimal]] = {}
    for invoice in invoices:
        if invoice.status not in OPEN or not invoice.outstanding:
            continue
        buckets = found.setdefault(invoice.currency, {b: quantize(0, invoice.currency) for b in AGEING_BUCKETS})
        buckets[ageing_bucket(invoice.days_overdue(today))] += invoice.outstanding
    return dict(sorted(found.items()))
