"""Rules of the billing service: contracts, invoices, credit notes, payments, deliveries, debt.

Pure domain layer: no storage, no web framework. A use case loads an Invoice (the repository), calls one
method, and saves it; what the invoice decided is news is in its `events`. Dates here are business days
(the company's calendar), so they are `date`s; the use case decides what 'today' is.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from mercator.common.errors import DomainError, InvalidValue, RuleViolation  # noqa: F401 - part of this API
from mercator.common.money import (
    MAX_AMOUNT,
    check_currency,
    parse_amount,
    parse_decimal,
    quantize,
)


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PARTLY_PAID = "partly_paid"
    PAID = "paid"
    OVERDUE = "overdue"
    CANCELLED = "cancelled"


class PaymentMethod(StrEnum):
    BANK_TRANSFER = "bank_transfer"
    CARD = "card"
    CASH = "cash"


class DeliveryStatus(StrEnum):
    SHIPPED = "shipped"
    DELIVERED = "delivered"


# Russian VAT rates an invoice line may carry: 22% is the standard rate from 1 January 2026,
# 20% stays for corrections of earlier supplies; "none" is 'без НДС' (the seller is exempt),
# which prints differently from a 0% export sale although both add nothing.
VAT_NONE = "none"
VAT_STANDARD = "22"
VAT_RATES: frozenset[str] = frozenset({VAT_NONE, "0", "10", "20", VAT_STANDARD})

_OPEN = (InvoiceStatus.ISSUED, InvoiceStatus.PARTLY_PAID, InvoiceStatus.OVERDUE)


# --- small checks -------------------------------------------------------------


def _text(value: str | None) -> str | None:
    return " ".join(value.split()) if isinstance(value, str) and value.strip() else None


def _day(value: date, name: str) -> date:
    # A datetime is a date to Python, but which day it is depends on a zone we do not know.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidValue("bad_date", "a calendar date (YYYY-MM-DD) is expected", name)
    return value


def _positive(value: str | Decimal | int, currency: str, name: str) -> Decimal:
    amount = parse_amount(value, currency, name)
    if not amount:
        raise InvalidValue("amount_not_positive", "the amount must be above zero", name)
    return amount


def normalise_reference(text: str | None) -> str | None:
    # Bank statements and clerks differ in case and spacing: 'пп 123' is 'ПП  123'.
    return " ".join(text.split()).upper() if isinstance(text, str) and text.strip() else None


def check_vat_rate(value: str | Decimal | int, name: str = "vat_rate") -> str:
    if isinstance(value, str) and value.strip().lower() == VAT_NONE:
        return VAT_NONE
    try:
        code = f"{parse_decimal(value, name).normalize():f}"  # '20.00' and 20 are the same rate
    except InvalidValue:
        code = None
    if code not in VAT_RATES:
        raise InvalidValue("bad_vat_rate", f"VAT is one of {sorted(VAT_RATES)}, not {value!r}", name)
    return code


# --- invoice numbers ----------------------------------------------------------

# The counter lives in a row per year, bumped in the transaction that issues the invoice:
# a rollback gives the number back, so the tax office's no-gaps rule holds.
_INVOICE_NUMBER = re.compile(r"([0-9]{4})-([0-9]{6})")
MAX_INVOICE_SEQ = 999_999


def format_invoice_number(year: int, seq: int) -> str:
    if isinstance(year, bool) or not isinstance(year, int) or not 1000 <= year <= 9999:
        raise InvalidValue("bad_year", "the year has four digits", "number")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise InvalidValue("bad_sequence", "invoice numbers start at 1", "number")
    if seq > MAX_INVOICE_SEQ:
        # A seventh digit would break sorting of numbers as text; it needs a decision.
        raise InvalidValue("invoice_sequence_exhausted", f"no numbers left in {year}", "number")
    return f"{year:04d}-{seq:06d}"


def parse_invoice_number(number: str) -> tuple[int, int]:
    found = _INVOICE_NUMBER.fullmatch(number.strip()) if isinstance(number, str) else None
    if not found or not int(found[2]):
        raise InvalidValue("bad_invoice_number", f"not an invoice number: {number!r}", "number")
    return int(found[1]), int(found[2])


def missing_invoice_numbers(numbers: Iterable[str], year: int) -> list[str]:
    """Gaps in a year's issued numbers, for the audit; cancelled invoices keep theirs."""
    taken = {seq for y, seq in map(parse_invoice_number, numbers) if y == year}
    return [format_invoice_number(year, s) for s in range(1, max(taken, default=0)) if s not in taken]


# --- contracts ----------------------------------------------------------------


@dataclass(frozen=True)
class Instalment:
    due_date: date
    amount: Decimal


@dataclass(frozen=True)
class Contract:
    id: uuid.UUID
    number: str
    deal_id: uuid.UUID
    client_id: uuid.UUID
    signed_on: date
    amount: Decimal
    currency: str
    due_in_days: int | None = None
    instalments: tuple[Instalment, ...] = ()

    @classmethod
    def sign(
        cls,
        id: uuid.UUID,
        number: str,
        deal_id: uuid.UUID,
        client_id: uuid.UUID,
        signed_on: date,
        amount: str | Decimal | int,
        currency: str,
        *,
        due_in_days: int | None = None,
        instalments: Iterable[Instalment] = (),
    ) -> Contract:
        name = _text(number)
        if name is None:
            raise InvalidValue("number_required", "a contract needs a number", "number")
        signed_on = _day(signed_on, "signed_on")
        currency = check_currency(currency)
        amount = _positive(amount, currency, "amount")
        instalments = tuple(instalments)
        if (due_in_days is None) == (not instalments):
            raise InvalidValue(
                "payment_terms_required", "give either due_in_days or a schedule of instalments", "payment_terms"
            )
        if due_in_days is not None and (
            isinstance(due_in_days, bool) or not isinstance(due_in_days, int) or not 0 <= due_in_days <= 365
        ):
            raise InvalidValue("bad_due_in_days", "payment is due in 0 to 365 days", "due_in_days")
        checked: list[Instalment] = []
        for i, part in enumerate(instalments):
            at = f"instalments[{i}]"
            due = _day(part.due_date, f"{at}.due_date")
            if due < signed_on:
                raise InvalidValue(
                    "instalment_before_signing", "an instalment cannot fall due before signing", f"{at}.due_date"
                )
            if checked and due <= checked[-1].due_date:
                raise InvalidValue("instalments_not_ascending", "instalment dates must go up", f"{at}.due_date")
            checked.append(Instalment(due, _positive(part.amount, currency, f"{at}.amount")))
        # Exactly, to the kopeck: a schedule a rouble short leaves debt nobody invoices.
        if checked and (total := sum(p.amount for p in checked)) != amount:
            raise InvalidValue(
                "instalments_do_not_add_up",
                f"instalments add up to {total}, the contract is for {amount}",
                "instalments",
            )
        return cls(id, name, deal_id, client_id, signed_on, amount, currency, due_in_days, tuple(checked))

    def due_date(self, issue_date: date) -> date:
        """Due date of an invoice under 'due in N days' terms; a schedule names its own."""
        if self.due_in_days is None:
            raise RuleViolation("contract_has_schedule", "take the due date from the instalment invoiced", "due_date")
        return _day(issue_date, "issue_date") + timedelta(days=self.due_in_days)


# --- invoices -------------------------------------------------------------------


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
        if self.status not in (*_OPEN, InvoiceStatus.PAID):
            return quantize(0, self.currency)
        return self.total - self.credited - self.paid

    def days_overdue(self: _Figures, today: date) -> int:
        if self.status not in _OPEN or not self.outstanding or self.due_date is None:
            return 0
        return max(0, (_day(today, "today") - self.due_date).days)


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
            description = _text(line.description)
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
        self.due_date = None if due_date is None else _day(due_date, "due_date")

    # -- life of an issued invoice

    def issue(self, number: str, today: date, previous_issue_date: date | None = None) -> None:
        """Issued on `today`: the day it is issued, or the earlier day it was (history brought in).

        `previous_issue_date` is the day the year's previous number was issued: numbers follow the dates
        within a year, so an invoice brought in from the past cannot come before one already issued later.
        """
        self._require_draft()
        today = _day(today, "today")
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
        amount = _positive(amount, self.currency, "amount")
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
            or _day(today, "today") <= self.due_date
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
    amount = _positive(amount, invoice.currency, "amount")
    why = _text(reason)
    if why is None:
        raise InvalidValue("reason_required", "say why the invoice is credited", "reason")
    # Money already received is refunded, not credited: a credit beyond the outstanding
    # would leave the invoice owing us a negative sum.
    if amount > invoice.outstanding:
        raise RuleViolation("credit_exceeds_outstanding", f"only {invoice.outstanding} is outstanding", "amount")
    invoice.credited += amount
    invoice._settle_status()
    note = CreditNote(
        invoice.id, invoice.number or "", invoice.client_id, invoice.currency, -amount, why, _day(today, "today")
    )
    invoice.events.append(Credited(note))
    return note


# --- payments ---------------------------------------------------------------------


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
        amount = _positive(amount, currency, "amount")
        if _day(received_on, "received_on") > _day(today, "today"):
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
    amount = _positive(amount, currency, "amount")
    for invoice in invoices:
        name = f"invoices[{invoice.id}]"
        invoice._require_open(name)
        if invoice.currency != currency:
            raise RuleViolation(
                "currency_mismatch",
                f"invoice {invoice.number} is in {invoice.currency}, the payment in {currency}",
                name,
            )
    parts: list[AllocationPart] = []
    left = amount

    def later(invoice: Invoice) -> bool:
        return received_on is not None and invoice.issue_date is not None and invoice.issue_date > received_on

    if targets is None:
        # Oldest due first is what the client's accountant expects and what ageing shows.
        for invoice in sorted(invoices, key=lambda i: (i.due_date, i.issue_date, i.number)):
            if later(invoice):
                continue
            share = min(left, invoice.outstanding)
            if share:
                parts.append(AllocationPart(invoice.id, share))
                left -= share
        return Allocation(currency, tuple(parts), left)
    by_id = {invoice.id: invoice for invoice in invoices}
    for i, (invoice_id, wanted) in enumerate(targets):
        at = f"allocations[{i}]"
        named = by_id.get(invoice_id)
        if named is None:
            raise InvalidValue("unknown_invoice", "no such open invoice of the client", f"{at}.invoice_id")
        invoice = named
        if any(p.invoice_id == invoice_id for p in parts):
            raise InvalidValue("duplicate_allocation", "one line per invoice", f"{at}.invoice_id")
        if later(invoice):
            raise InvalidValue(
                "paid_before_issue",
                f"invoice {invoice.number} was issued on {invoice.issue_date}, after the payment's date",
                "received_on",
            )
        wanted = _positive(wanted, currency, f"{at}.amount")
        if wanted > invoice.outstanding:
            raise InvalidValue(
                "allocation_exceeds_outstanding",
                f"invoice {invoice.number} has {invoice.outstanding} outstanding",
                f"{at}.amount",
            )
        if wanted > left:
            raise InvalidValue(
                "allocation_exceeds_payment", f"the allocations add up to more than {amount}", f"{at}.amount"
            )
        parts.append(AllocationPart(invoice_id, wanted))
        left -= wanted
    return Allocation(currency, tuple(parts), left)


# --- deliveries --------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryItem:
    product_id: uuid.UUID
    quantity: Decimal


_DELIVERY_ORDER = (DeliveryStatus.SHIPPED, DeliveryStatus.DELIVERED)


@dataclass
class Delivery:
    id: uuid.UUID
    deal_id: uuid.UUID | None
    waybill_number: str
    shipped_on: date
    items: tuple[DeliveryItem, ...]
    carrier: str | None
    status: DeliveryStatus = DeliveryStatus.SHIPPED
    delivered_on: date | None = None

    @classmethod
    def ship(
        cls,
        id: uuid.UUID,
        deal_id: uuid.UUID | None,
        waybill_number: str,
        shipped_on: date,
        items: Iterable[DeliveryItem],
        carrier: str | None,
        today: date | None = None,
    ) -> Delivery:
        waybill = normalise_reference(waybill_number)
        if waybill is None:
            raise InvalidValue("waybill_required", "a delivery needs its waybill number", "waybill_number")
        checked = []
        for i, item in enumerate(items):
            quantity = parse_decimal(item.quantity, f"items[{i}].quantity")
            if quantity <= 0:
                raise InvalidValue("bad_quantity", "the quantity must be above zero", f"items[{i}].quantity")
            checked.append(DeliveryItem(item.product_id, quantity))
        if not checked:
            raise InvalidValue("items_required", "say what was shipped", "items")
        if today is not None and _day(shipped_on, "shipped_on") > today:
            raise InvalidValue("shipped_in_future", "a waybill dated after today is not a shipment yet", "shipped_on")
        return cls(id, deal_id, waybill, _day(shipped_on, "shipped_on"), tuple(checked), _text(carrier))

    def move_to(self, status: DeliveryStatus | str, on: date) -> None:
        if status not in DeliveryStatus.__members__.values():
            raise InvalidValue("bad_delivery_status", f"unknown status {status!r}", "status")
        if _DELIVERY_ORDER.index(DeliveryStatus(status)) <= _DELIVERY_ORDER.index(self.status):
            raise RuleViolation("delivery_status_not_forward", f"the delivery is already {self.status}", "status")
        if _day(on, "delivered_on") < self.shipped_on:
            raise InvalidValue("delivered_before_shipped", "delivered before it was shipped", "delivered_on")
        self.status, self.delivered_on = DeliveryStatus(status), on


# --- receivables ---------------------------------------------------------------------


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
        if invoice.status in (*_OPEN, InvoiceStatus.PAID):
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
        if invoice.status not in _OPEN or not invoice.outstanding:
            continue
        buckets = found.setdefault(invoice.currency, {b: quantize(0, invoice.currency) for b in AGEING_BUCKETS})
        buckets[ageing_bucket(invoice.days_overdue(today))] += invoice.outstanding
    return dict(sorted(found.items()))


# --- deal stage facts --------------------------------------------------------------

# What each billing event says about the deal; the deals service moves forward only,
# so a second payment or a late ContractSigned naming an earlier stage is harmless.
STAGE_FOR_EVENT: Mapping[str, str] = {
    "ContractSigned": "contract",
    "InvoiceIssued": "contract",
    "PaymentReceived": "payment",
    "DeliveryShipped": "delivery",
}


def stage_for(event_type: str) -> str | None:
    return STAGE_FOR_EVENT.get(event_type)
