"""The payment: money received, and how it is spread over a client's open invoices."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from mercator.billing.domain.checks import calendar_day, normalise_reference, positive_amount
from mercator.billing.domain.invoice import Invoice
from mercator.common.errors import InvalidValue, RuleViolation
from mercator.common.money import check_currency


class PaymentMethod(StrEnum):
    BANK_TRANSFER = "bank_transfer"
    CARD = "card"
    CASH = "cash"


def check_bank_reference(reference: str | None, known_references: Iterable[str]) -> str:
    normal = normalise_reference(reference)
    if normal is None:
        raise InvalidValue("bank_reference_required", "give the bank reference", "bank_reference")
    if normal in {normalise_reference(r) for r in known_references}:
        raise RuleViolation(
            "duplicate_payment", f"a payment with reference {normal} is already recorded", "bank_reference"
        )
    return normal


@dataclass(frozen=True)
class Payment:
    id: uuid.UUID
    client_id: uuid.UUID
    amount: Decimal
    currency: str
    received_on: date
    method: PaymentMethod
    bank_reference: str | None

    @classmethod
    def record(
        cls,
        id: uuid.UUID,
        client_id: uuid.UUID,
        amount: str | Decimal | int,
        currency: str,
        received_on: date,
        method: PaymentMethod | str,
        bank_reference: str | None,
        known_references: Iterable[str],
        today: date,
    ) -> Payment:
        currency = check_currency(currency)
        amount = positive_amount(amount, currency, "amount")
        if calendar_day(received_on, "received_on") > calendar_day(today, "today"):
            raise InvalidValue("payment_in_future", "money cannot arrive tomorrow", "received_on")
        if method not in PaymentMethod.__members__.values():
            raise InvalidValue("bad_payment_method", f"unknown payment method {method!r}", "method")
        method = PaymentMethod(method)
        # Cash has no bank trail; transfers and cards do, and it is what catches a double entry.
        if method == PaymentMethod.CASH and normalise_reference(bank_reference) is None:
            reference = None
        else:
            reference = check_bank_reference(bank_reference, known_references)
        return cls(id, client_id, amount, currency, received_on, method, reference)


@dataclass(frozen=True)
class AllocationPart:
    invoice_id: uuid.UUID
    amount: Decimal


@dataclass(frozen=True)
class Allocation:
    currency: str
    parts: tuple[AllocationPart, ...]
    credit: Decimal  # left over: the client's credit, to allocate to later invoices


def allocate(
    amount: str | Decimal | int,
    currency: str,
    invoices: Sequence[Invoice],
    targets: Sequence[tuple[uuid.UUID, str | Decimal | int]] | None = None,
    received_on: date | None = None,
) -> Allocation:
    """Spreads one payment (or a client credit) over invoices; changes none of them.

    With `targets` ((invoice id, amount), in order) exactly those amounts are booked;
    without, the oldest due invoice is paid first. Either way what is left is credit.
    Money `received_on` a day cannot pay an invoice issued after it: named, that is refused;
    by default such invoices are left for the client's credit to pay.
    """
    currency = check_currency(currency)
    amount = positive_amount(amount, currency, "amount")
    for invoice in invoices:
        name = f"invoices[{invoice.id}]"
        invoice._require_open(name)
        if invoice.currency != currency:
            raise RuleViolation(
                "currency_mismatch",
                f"invoice {invoice.number} is in {invoice.currency}, the payment in {currency}",
                name,
            )
    if targets is None:
        parts = _oldest_due_first(amount, invoices, received_on)
    else:
        parts = _as_named(amount, currency, invoices, targets, received_on)
    return Allocation(currency, tuple(parts), amount - sum((p.amount for p in parts), Decimal(0)))


def _later(invoice: Invoice, received_on: date | None) -> bool:
    return received_on is not None and invoice.issue_date is not None and invoice.issue_date > received_on


def _oldest_due_first(amount: Decimal, invoices: Sequence[Invoice], received_on: date | None) -> list[AllocationPart]:
    # Oldest due first is what the client's accountant expects and what ageing shows.
    parts: list[AllocationPart] = []
    left = amount
    for invoice in sorted(invoices, key=lambda i: (i.due_date, i.issue_date, i.number)):
        if _later(invoice, received_on):
            continue
        share = min(left, invoice.outstanding)
        if share:
            parts.append(AllocationPart(invoice.id, share))
            left -= share
    return parts


def _as_named(
    amount: Decimal,
    currency: str,
    invoices: Sequence[Invoice],
    targets: Sequence[tuple[uuid.UUID, str | Decimal | int]],
    received_on: date | None,
) -> list[AllocationPart]:
    parts: list[AllocationPart] = []
    left = amount
    by_id = {invoice.id: invoice for invoice in invoices}
    for i, (invoice_id, wanted) in enumerate(targets):
        at = f"allocations[{i}]"
        invoice = by_id.get(invoice_id)
        if invoice is None:
            raise InvalidValue("unknown_invoice", "no such open invoice of the client", f"{at}.invoice_id")
        if any(p.invoice_id == invoice_id for p in parts):
            raise InvalidValue("duplicate_allocation", "one line per invoice", f"{at}.invoice_id")
        if _later(invoice, received_on):
            raise InvalidValue(
                "paid_before_issue",
                f"invoice {invoice.number} was issued on {invoice.issue_date}, after the payment's date",
                "received_on",
            )
        share = positive_amount(wanted, currency, f"{at}.amount")
        if share > invoice.outstanding:
            raise InvalidValue(
                "allocation_exceeds_outstanding",
                f"invoice {invoice.number} has {invoice.outstanding} outstanding",
                f"{at}.amount",
            )
        if share > left:
            raise InvalidValue(
                "allocation_exceeds_payment", f"the allocations add up to more than {amount}", f"{at}.amount"
            )
        parts.append(AllocationPart(invoice_id, share))
        left -= share
    return parts
