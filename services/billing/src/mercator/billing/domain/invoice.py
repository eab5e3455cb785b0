"""The invoice: a draft edited freely, issued under a number of its year, paid, credited, cancelled, overdue.
What it decides is news is recorded in its `events`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from mercator.billing.domain.checks import (
    VAT_NONE,
    VAT_STANDARD,
    calendar_day,
    check_vat_rate,
    clean_text,
    format_invoice_number,
    parse_invoice_number,
    positive_amount,
)
from mercator.common.errors import InvalidValue, RuleViolation
from mercator.common.money import MAX_AMOUNT, check_currency, parse_amount, parse_decimal, quantize


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PARTLY_PAID = "partly_paid"
    PAID = "paid"
    OVERDUE = "overdue"
    CANCELLED = "cancelled"


OPEN = (InvoiceStatus.ISSUED, InvoiceStatus.PARTLY_PAID, InvoiceStatus.OVERDUE)


# What an invoice records as news (`Invoice.events`); `events.py` turns them into the catalogue's payloads.
@dataclass(frozen=True)
class Issued:
    pass


@dataclass(frozen=True)
class Cancelled:
    reason: str | None


@dataclass(frozen=True)
class Credited:
    note: CreditNote


@dataclass(frozen=True)
class Paid:
    on: date | None  # the day the money that settled it was received; None: today


@dataclass(frozen=True)
class BecameOverdue:
    today: date


InvoiceFact = Issued | Cancelled | Credited | Paid | BecameOverdue


@dataclass(frozen=True)
class InvoiceLine:
    """A product or a described service; checked (with 'lines[i].…' fields) as it joins one."""

    product_id: uuid.UUID | None
    description: str | None
    quantity: Decimal
    unit_price: Decimal  # before VAT
    vat_rate: str = VAT_STANDARD

    # Rounded per line, as printed on the invoice (счёт-фактура); totals are sums of these,
    # never recomputed from the total, so the document adds up on paper.
    def net(self, currency: str) -> Decimal:
        return quantize(self.quantity * self.unit_price, currency)

    def vat(self, currency: str) -> Decimal:
        rate = Decimal(0) if self.vat_rate == VAT_NONE else Decimal(self.vat_rate)
        return quantize(self.net(currency) * rate / 100, currency)

    def gross(self, currency: str) -> Decimal:
        return self.net(currency) + self.vat(currency)


class _Figures(Protocol):
    @property
    def status(self) -> InvoiceStatus: ...
    @property
    def currency(self) -> str: ...
    @property
    def total(self) -> Decimal: ...
    @property
    def credited(self) -> Decimal: ...
    @property
    def paid(self) -> Decimal: ...
    @property
    def due_date(self) -> date | None: ...
    @property
    def outstanding(self) -> Decimal: ...


class Owed:
    """What is owed on an invoice, from its figures: shared by the whole invoice and its stored balance."""

    @property
    def outstanding(self: _Figures) -> Decimal:
        # A draft is not owed yet and a cancelled invoice never was.
        if self.status not in (*OPEN, InvoiceStatus.PAID):
            return quantize(0, self.currency)
        return self.total - self.credited - self.paid

    def days_overdue(self: _Figures, today: date) -> int:
        if self.status not in OPEN or not self.outstanding or self.due_date is None:
            return 0
        return max(0, (calendar_day(today, "today") - self.due_date).days)


@dataclass(frozen=True)
class Balance(Owed):
    """An invoice's figures as stored, without its lines: enough for receivables and ageing.
    `client_id` is the key the figures are summed under (a client, or the manager answering for it)."""

    client_id: uuid.UUID | None
    currency: str
    status: InvoiceStatus
    total: Decimal
    credited: Decimal
    paid: Decimal
    due_date: date | None


@dataclass
class Invoice(Owed):
    id: uuid.UUID
    client_id: uuid.UUID
    currency: str
    lines: list[InvoiceLine] = field(default_factory=list)
    due_date: date | None = None
    deal_id: uuid.UUID | None = None
    contract_id: uuid.UUID | None = None
    number: str | None = None
    issue_date: date | None = None
    status: InvoiceStatus = InvoiceStatus.DRAFT
    paid: Decimal = Decimal(0)
    credited: Decimal = Decimal(0)  # sum of credit notes, as a positive figure
    cancel_reason: str | None = None
    version: int = 0  # the store's count of saved changes: the sequence of the invoice's events
    events: list[InvoiceFact] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def draft(
        cls,
        id: uuid.UUID,
        client_id: uuid.UUID,
        currency: str,
        lines: Iterable[InvoiceLine] = (),
        due_date: date | None = None,
        deal_id: uuid.UUID | None = None,
        contract_id: uuid.UUID | None = None,
    ) -> Invoice:
        invoice = cls(id, client_id, check_currency(currency), deal_id=deal_id, contract_id=contract_id)
        invoice.set_lines(lines)
        invoice.set_due_date(due_date)
        return invoice

    # -- figures

    @property
    def net_total(self) -> Decimal:
        return sum((line.net(self.currency) for line in self.lines), quantize(0, self.currency))

    @property
    def vat_total(self) -> Decimal:
        return sum((line.vat(self.currency) for line in self.lines), quantize(0, self.currency))

    @property
    def total(self) -> Decimal:
        return self.net_total + self.vat_total

    # -- editing a draft

    def _require_draft(self) -> None:
        if self.status == InvoiceStatus.CANCELLED:
            raise RuleViolation("invoice_cancelled", "the invoice is cancelled", "status")
        if self.status != InvoiceStatus.DRAFT:
            # A document the client holds is corrected by a credit note, never rewritten.
            raise RuleViolation("invoice_issued", f"invoice {self.number} is issued; cancel or credit it", "status")

    def set_lines(self, lines: Iterable[InvoiceLine]) -> None:
        self._require_draft()
        checked = []
        for i, line in enumerate(lines):
            at = f"lines[{i}]"
            description = clean_text(line.description)
            if line.product_id is None and description is None:
                raise InvalidValue(
                    "product_or_description_required", "a line names a product or describes what is sold", at
                )
            quantity = parse_decimal(line.quantity, f"{at}.quantity")
            if quantity <= 0:
                raise InvalidValue("bad_quantity", "the quantity must be above zero", f"{at}.quantity")
            price = parse_amount(line.unit_price, self.currency, f"{at}.unit_price")
            if quantity * price > MAX_AMOUNT:
                raise InvalidValue("amount_too_large", "the line total is absurd", at)
            checked.append(
                replace(
                    line,
                    description=description,
                    quantity=quantity,
                    unit_price=price,
                    vat_rate=check_vat_rate(line.vat_rate, f"{at}.vat_rate"),
                )
            )
        self.lines = checked

    def set_due_date(self, due_date: date | None) -> None:
        self._require_draft()
        self.due_date = None if due_date is None else calendar_day(due_date, "due_date")

    # -- life of an issued invoice

    def issue(self, number: str, today: date, previous_issue_date: date | None = None) -> None:
        """Issued on `today`: the day it is issued, or the earlier day it was (history brought in).

        `previous_issue_date` is the day the year's previous number was issued: numbers follow the dates
        within a year, so an invoice brought in from the past cannot come before one already issued later.
        """
        self._require_draft()
        today = calendar_day(today, "today")
        if previous_issue_date is not None and today < previous_issue_date:
            raise InvalidValue(
                "issue_date_out_of_order",
                f"the year's previous invoice was issued on {previous_issue_date.isoformat()}: "
                "numbers follow the dates, so bring past invoices in by date",
                "issue_date",
            )
        year, seq = parse_invoice_number(number)
        if year != today.year:
            raise InvalidValue(
                "invoice_number_year", f"an invoice issued in {today.year} takes a {today.year} number", "number"
            )
        if not self.lines:
            raise RuleViolation("invoice_has_no_lines", "an invoice needs a line", "lines")
        if not self.total:
            raise RuleViolation("invoice_total_zero", "nothing to pay on this invoice", "lines")
        if self.due_date is None:
            raise InvalidValue("due_date_required", "an invoice needs a due date", "due_date")
        if self.due_date < today:
            raise InvalidValue("due_before_issue", "the due date is before the issue date", "due_date")
        self.number, self.issue_date = format_invoice_number(year, seq), today
        self.status = InvoiceStatus.ISSUED
        self.events.append(Issued())

    def _require_open(self, name: str = "status") -> None:
        if self.status in (InvoiceStatus.DRAFT, InvoiceStatus.CANCELLED):
            raise RuleViolation("invoice_not_payable", f"invoice {self.number or self.id} is {self.status}", name)

    def _settle_status(self) -> None:
        # 'paid' means settled: a credit note can close the rest as well as money can.
        if not self.outstanding:
            self.status = InvoiceStatus.PAID
        elif self.paid and self.status == InvoiceStatus.ISSUED:
            self.status = InvoiceStatus.PARTLY_PAID

    def apply_payment(self, amount: str | Decimal | int, received_on: date | None = None) -> bool:
        """Books money (received on `received_on`, else today) against the invoice; True when this payment
        settled it (InvoicePaid)."""
        self._require_open()
        amount = positive_amount(amount, self.currency, "amount")
        if amount > self.outstanding:
            raise InvalidValue(
                "payment_exceeds_outstanding", f"only {self.outstanding} is outstanding; allocate the rest", "amount"
            )
        self.paid += amount
        self._settle_status()
        if self.status == InvoiceStatus.PAID:
            self.events.append(Paid(received_on))
            return True
        return False

    def mark_overdue(self, today: date) -> bool:
        # Only issued/partly_paid qualify (both still owe) and 'overdue' is kept until
        # settled or cancelled, so a daily sweep reports each invoice once however often it runs.
        if (
            self.status not in (InvoiceStatus.ISSUED, InvoiceStatus.PARTLY_PAID)
            or self.due_date is None
            or calendar_day(today, "today") <= self.due_date
        ):
            return False
        self.status = InvoiceStatus.OVERDUE
        self.events.append(BecameOverdue(today))
        return True

    def cancel(self, reason: str | None = None) -> None:
        if self.status == InvoiceStatus.CANCELLED:
            raise RuleViolation("invoice_cancelled", "the invoice is already cancelled", "status")
        if self.paid:
            raise RuleViolation(
                "invoice_has_payments", "money was received on this invoice; credit it instead", "status"
            )
        if self.credited:
            raise RuleViolation("invoice_has_credits", "credit notes refer to this invoice; credit the rest", "status")
        self.status, self.cancel_reason = InvoiceStatus.CANCELLED, reason
        if self.number is not None:  # a draft was never news to anyone
            self.events.append(Cancelled(reason))


@dataclass(frozen=True)
class CreditNote:
    invoice_id: uuid.UUID
    invoice_number: str
    client_id: uuid.UUID
    currency: str
    amount: Decimal  # negative: it takes back part of the invoice
    reason: str
    issued_on: date
    id: uuid.UUID = field(default_factory=uuid.uuid4, compare=False)


def credit(invoice: Invoice, amount: str | Decimal | int, reason: str, today: date) -> CreditNote:
    """Reduces an issued invoice's outstanding by `amount` (given positive)."""
    if invoice.status == InvoiceStatus.DRAFT:
        raise RuleViolation("invoice_not_issued", "edit the draft instead", "status")
    if invoice.status == InvoiceStatus.CANCELLED:
        raise RuleViolation("invoice_cancelled", "the invoice is cancelled", "status")
    amount = positive_amount(amount, invoice.currency, "amount")
    why = clean_text(reason)
    if why is None:
        raise InvalidValue("reason_required", "say why the invoice is credited", "reason")
    # Money already received is refunded, not credited: a credit beyond the outstanding
    # would leave the invoice owing us a negative sum.
    if amount > invoice.outstanding:
        raise RuleViolation("credit_exceeds_outstanding", f"only {invoice.outstanding} is outstanding", "amount")
    invoice.credited += amount
    invoice._settle_status()
    note = CreditNote(
        invoice.id,
        invoice.number or "",
        invoice.client_id,
        invoice.currency,
        -amount,
        why,
        calendar_day(today, "today"),
    )
    invoice.events.append(Credited(note))
    return note
