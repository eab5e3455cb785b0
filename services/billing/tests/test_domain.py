import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from mercator.billing.domain import (
    AGEING_BUCKETS,
    VAT_RATES,
    Allocation,
    AllocationPart,
    Contract,
    CreditNote,
    Delivery,
    DeliveryItem,
    DeliveryStatus,
    Instalment,
    InvalidValue,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    RuleViolation,
    ageing,
    ageing_bucket,
    allocate,
    check_bank_reference,
    check_vat_rate,
    credit,
    format_invoice_number,
    missing_invoice_numbers,
    parse_invoice_number,
    receivables,
    stage_for,
)

TODAY = date(2026, 3, 2)
DUE = date(2026, 4, 1)
CLIENT, OTHER_CLIENT, DEAL = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
PRODUCT = uuid.uuid4()
_seq = iter(range(1, 10**6))


def broken(rule: str, call, *args, **kwargs):
    with pytest.raises((InvalidValue, RuleViolation)) as caught:
        call(*args, **kwargs)
    assert caught.value.rule == rule
    return caught.value


def line(quantity="1", price="100.00", vat="20", product=PRODUCT, description=None):
    return InvoiceLine(product, description, quantity, price, vat)


def draft(*lines, currency="RUB", due=DUE, client=CLIENT) -> Invoice:
    return Invoice.draft(uuid.uuid4(), client, currency, lines or [line()], due)


def issued(price="100.00", vat="none", due=DUE, today=TODAY, **kwargs) -> Invoice:
    invoice = draft(line(price=price, vat=vat), due=due, **kwargs)
    invoice.issue(format_invoice_number(today.year, next(_seq)), today)
    return invoice


# --- invoice numbers -----------------------------------------------------------------


def test_invoice_numbers_are_year_and_six_digit_sequence():
    assert format_invoice_number(2026, 123) == "2026-000123"
    assert format_invoice_number(2027, 1) == "2027-000001"
    assert format_invoice_number(2026, 999_999) == "2026-999999"
    assert parse_invoice_number(" 2026-000123 ") == (2026, 123)


@pytest.mark.parametrize(
    "year, seq, rule",
    [
        (2026, 0, "bad_sequence"),
        (2026, -1, "bad_sequence"),
        (2026, 1_000_000, "invoice_sequence_exhausted"),
        (26, 1, "bad_year"),
        (2026, True, "bad_sequence"),
        (2026, Decimal(5), "bad_sequence"),
    ],
)
def test_impossible_invoice_numbers(year, seq, rule):
    assert broken(rule, format_invoice_number, year, seq).field == "number"


@pytest.mark.parametrize("text", ["2026-123", "2026-0000123", "2026-000000", "26-000123", "2026/000123", "", None])
def test_malformed_invoice_numbers(text):
    broken("bad_invoice_number", parse_invoice_number, text)


def test_gaps_in_a_year_are_found_other_years_ignored():
    numbers = ["2026-000001", "2026-000002", "2026-000005", "2025-000003", "2026-000004"]
    assert missing_invoice_numbers(numbers, 2026) == ["2026-000003"]
    assert missing_invoice_numbers(numbers[:2], 2026) == []
    assert missing_invoice_numbers(["2026-000003"], 2026) == ["2026-000001", "2026-000002"]
    assert missing_invoice_numbers([], 2026) == []


# --- VAT and line figures -----------------------------------------------------------------


def test_vat_is_rounded_per_line_half_up_and_totals_are_sums_of_lines():
    one_line = draft(line("3", "33.33", "20"))
    (only,) = one_line.lines
    assert (only.net("RUB"), only.vat("RUB"), only.gross("RUB")) == (
        Decimal("99.99"),
        Decimal("20.00"),
        Decimal("119.99"),
    )  # 19.998 -> 20.00
    three_lines = draft(*[line("1", "33.33", "20")] * 3)
    assert three_lines.lines[0].vat("RUB") == Decimal("6.67")  # 6.666 -> 6.67
    assert (three_lines.net_total, three_lines.vat_total, three_lines.total) == (
        Decimal("99.99"),
        Decimal("20.01"),
        Decimal("120.00"),
    )


def test_rounding_is_half_up_not_bankers():
    a, b, c = draft(line("1", "0.25", "10"), line("1", "0.45", "10"), line("0.5", "0.05")).lines
    assert a.vat("RUB") == Decimal("0.03")  # 0.025; half-even would say 0.02
    assert b.vat("RUB") == Decimal("0.05")  # 0.045; half-even would say 0.04
    assert c.net("RUB") == Decimal("0.03")  # 0.025


def test_rates_and_currency_decimals():
    invoice = draft(
        line("2", "1000.00", "10"),
        line("1", "500.00", "none"),
        line("1", "10.00", "0", product=None, description="  delivery  to site "),
    )
    assert [x.vat("RUB") for x in invoice.lines] == [Decimal("200.00"), Decimal(0), Decimal(0)]
    assert invoice.lines[2].description == "delivery to site"
    assert invoice.total == Decimal("2710.00") and str(invoice.total) == "2710.00"
    yen = draft(line("3", "333", "10"), currency="JPY")
    assert (yen.vat_total, yen.total) == (Decimal(100), Decimal(1099))  # 99.9 -> 100


@pytest.mark.parametrize(
    "value, code",
    [
        ("20", "20"),
        (20, "20"),
        (Decimal("20.00"), "20"),
        ("10.0", "10"),
        (0, "0"),
        ("none", "none"),
        (" NONE ", "none"),
    ],
)
def test_vat_rates_are_canonical(value, code):
    assert check_vat_rate(value) == code


@pytest.mark.parametrize("value", ["21", 18, "-10", "20%", "", None, 20.0, "без НДС"])
def test_vat_rates_outside_the_set_are_refused(value):
    assert broken("bad_vat_rate", check_vat_rate, value, "lines[0].vat_rate").field == "lines[0].vat_rate"


def test_the_vat_set_is_russias():
    assert {"none", "0", "10", "20", "22"} == VAT_RATES


@pytest.mark.parametrize(
    "bad, rule, field",
    [
        (line(quantity="0"), "bad_quantity", "lines[1].quantity"),
        (line(quantity="-1"), "bad_quantity", "lines[1].quantity"),
        (line(quantity=1.5), "float_money", "lines[1].quantity"),
        (line(price="-1.00"), "negative_amount", "lines[1].unit_price"),
        (line(price="1.001"), "too_many_decimals", "lines[1].unit_price"),
        (line(price=99.99), "float_money", "lines[1].unit_price"),
        (line(vat="18"), "bad_vat_rate", "lines[1].vat_rate"),
        (line(product=None, description="  "), "product_or_description_required", "lines[1]"),
        (line(quantity=Decimal(10**9), price=Decimal(10**9)), "amount_too_large", "lines[1]"),
    ],
)
def test_bad_lines_are_refused_and_the_old_ones_kept(bad, rule, field):
    invoice = draft(line())
    before = list(invoice.lines)
    assert broken(rule, invoice.set_lines, [line(), bad]).field == field
    assert invoice.lines == before


def test_a_zero_price_line_is_allowed():
    assert draft(line(price="0"), line()).total == Decimal("120.00")


# --- contracts -----------------------------------------------------------------------


def sign(**kwargs) -> Contract:
    kwargs = {
        "number": " Д-12 / 2026 ",
        "signed_on": TODAY,
        "amount": "300000.00",
        "currency": "rub",
        "due_in_days": 10,
        **kwargs,
    }
    return Contract.sign(uuid.uuid4(), deal_id=DEAL, client_id=CLIENT, **kwargs)


def test_a_contract_due_in_days():
    contract = sign()
    assert (contract.number, contract.currency, contract.amount) == ("Д-12 / 2026", "RUB", Decimal("300000.00"))
    assert contract.due_date(date(2026, 3, 25)) == date(2026, 4, 4)
    assert sign(due_in_days=0).due_date(TODAY) == TODAY


def test_a_contract_with_a_schedule_that_adds_up():
    schedule = [Instalment(TODAY, "100000.00"), Instalment(date(2026, 4, 1), Decimal(200000))]
    contract = sign(due_in_days=None, instalments=schedule)
    assert [i.amount for i in contract.instalments] == [Decimal("100000.00"), Decimal(200000)]
    broken("contract_has_schedule", contract.due_date, TODAY)


@pytest.mark.parametrize(
    "schedule, rule, field",
    [
        ([Instalment(TODAY, "100000.00"), Instalment(DUE, "199999.99")], "instalments_do_not_add_up", "instalments"),
        ([Instalment(TODAY, "100000.00"), Instalment(DUE, "200000.01")], "instalments_do_not_add_up", "instalments"),
        (
            [Instalment(DUE, "100000.00"), Instalment(TODAY, "200000.00")],
            "instalments_not_ascending",
            "instalments[1].due_date",
        ),
        (
            [Instalment(DUE, "100000.00"), Instalment(DUE, "200000.00")],
            "instalments_not_ascending",
            "instalments[1].due_date",
        ),
        ([Instalment(TODAY - timedelta(days=1), "300000.00")], "instalment_before_signing", "instalments[0].due_date"),
        ([Instalment(TODAY, "300000.00"), Instalment(DUE, "0")], "amount_not_positive", "instalments[1].amount"),
        ([Instalment(TODAY, "299999.995"), Instalment(DUE, "0.005")], "too_many_decimals", "instalments[0].amount"),
        ([Instalment(datetime(2026, 3, 5, tzinfo=UTC), "300000.00")], "bad_date", "instalments[0].due_date"),
    ],
)
def test_bad_schedules_are_refused(schedule, rule, field):
    assert broken(rule, sign, due_in_days=None, instalments=schedule).field == field


@pytest.mark.parametrize(
    "kwargs, rule, field",
    [
        ({"due_in_days": None}, "payment_terms_required", "payment_terms"),
        ({"instalments": [Instalment(TODAY, "300000.00")]}, "payment_terms_required", "payment_terms"),
        ({"due_in_days": -1}, "bad_due_in_days", "due_in_days"),
        ({"due_in_days": 366}, "bad_due_in_days", "due_in_days"),
        ({"number": "  "}, "number_required", "number"),
        ({"amount": "0"}, "amount_not_positive", "amount"),
        ({"amount": "-1"}, "negative_amount", "amount"),
        ({"currency": "RUR"}, "unknown_currency", "currency"),
        ({"signed_on": datetime(2026, 3, 2, tzinfo=UTC)}, "bad_date", "signed_on"),
    ],
)
def test_bad_contracts_are_refused(kwargs, rule, field):
    assert broken(rule, sign, **kwargs).field == field


# --- issuing and editing ------------------------------------------------------------------


def test_issue_takes_the_number_and_the_date():
    invoice = draft(line("3", "33.33", "20"))
    assert (invoice.status, invoice.outstanding) == (InvoiceStatus.DRAFT, Decimal(0))
    invoice.issue("2026-000007", TODAY)
    assert (invoice.number, invoice.issue_date, invoice.status) == ("2026-000007", TODAY, InvoiceStatus.ISSUED)
    assert invoice.outstanding == Decimal("119.99")


def test_due_date_before_issue_is_refused_and_on_the_day_is_fine():
    early = draft(due=TODAY - timedelta(days=1))
    error = broken("due_before_issue", early.issue, "2026-000001", TODAY)
    assert isinstance(error, InvalidValue) and error.field == "due_date"
    assert early.status == InvoiceStatus.DRAFT and early.number is None
    same_day = draft(due=TODAY)
    same_day.issue("2026-000001", TODAY)
    assert same_day.status == InvoiceStatus.ISSUED


@pytest.mark.parametrize(
    "invoice, number, rule, field",
    [
        (Invoice.draft(uuid.uuid4(), CLIENT, "RUB", [], DUE), "2026-000001", "invoice_has_no_lines", "lines"),
        (
            Invoice.draft(uuid.uuid4(), CLIENT, "RUB", [line(price="0")], DUE),
            "2026-000001",
            "invoice_total_zero",
            "lines",
        ),
        (Invoice.draft(uuid.uuid4(), CLIENT, "RUB", [line()]), "2026-000001", "due_date_required", "due_date"),
        (draft(), "2025-000001", "invoice_number_year", "number"),
        (draft(), "2026-1", "bad_invoice_number", "number"),
    ],
)
def test_issue_refusals(invoice, number, rule, field):
    assert broken(rule, invoice.issue, number, TODAY).field == field
    assert invoice.status == InvoiceStatus.DRAFT


def test_an_issued_invoice_is_not_edited():
    invoice = issued()
    for call, args in [
        (invoice.set_lines, ([line()],)),
        (invoice.set_due_date, (DUE,)),
        (invoice.issue, ("2026-000999", TODAY)),
    ]:
        error = broken("invoice_issued", call, *args)
        assert isinstance(error, RuleViolation) and error.field == "status"
    assert invoice.due_date == DUE and invoice.number != "2026-000999"


def test_a_draft_is_edited_freely():
    invoice = draft()
    invoice.set_lines([line("2", "10.00", "10")])
    invoice.set_due_date(date(2026, 5, 1))
    assert (invoice.total, invoice.due_date) == (Decimal("22.00"), date(2026, 5, 1))
    broken("bad_date", invoice.set_due_date, datetime(2026, 5, 1, tzinfo=UTC))


# --- payments on one invoice --------------------------------------------------------------


def test_partial_then_final_payment():
    invoice = issued("1000.00")
    assert invoice.apply_payment("400.00") is False
    assert (invoice.status, invoice.paid, invoice.outstanding) == (
        InvoiceStatus.PARTLY_PAID,
        Decimal("400.00"),
        Decimal("600.00"),
    )
    assert invoice.apply_payment(Decimal(600)) is True
    assert (invoice.status, invoice.outstanding) == (InvoiceStatus.PAID, Decimal(0))


@pytest.mark.parametrize(
    "amount, rule",
    [
        ("1000.01", "payment_exceeds_outstanding"),
        ("0", "amount_not_positive"),
        ("-5", "negative_amount"),
        (5.0, "float_money"),
    ],
)
def test_bad_payments_on_an_invoice(amount, rule):
    invoice = issued("1000.00")
    assert broken(rule, invoice.apply_payment, amount).field == "amount"
    assert invoice.paid == 0 and invoice.status == InvoiceStatus.ISSUED


def test_drafts_and_cancelled_invoices_take_no_money():
    broken("invoice_not_payable", draft().apply_payment, "1.00")
    cancelled = issued()
    cancelled.cancel()
    broken("invoice_not_payable", cancelled.apply_payment, "1.00")


# --- cancelling and crediting -----------------------------------------------------------


def test_cancel_only_without_payments():
    invoice = issued("1000.00")
    invoice.apply_payment("1.00")
    error = broken("invoice_has_payments", invoice.cancel)
    assert isinstance(error, RuleViolation)
    assert invoice.status == InvoiceStatus.PARTLY_PAID
    fresh = issued("1000.00")
    fresh.cancel()
    assert (fresh.status, fresh.outstanding) == (InvoiceStatus.CANCELLED, Decimal(0))
    broken("invoice_cancelled", fresh.cancel)
    broken("invoice_cancelled", fresh.set_lines, [line()])


def test_cancelling_a_draft_and_an_overdue_invoice():
    a_draft = draft()
    a_draft.cancel()
    assert a_draft.status == InvoiceStatus.CANCELLED
    late = issued()
    assert late.mark_overdue(DUE + timedelta(days=1))
    late.cancel()
    assert late.status == InvoiceStatus.CANCELLED


def test_credit_note_reduces_the_outstanding():
    invoice = issued("1000.00")
    invoice.apply_payment("300.00")
    note = credit(invoice, "200.00", "  two units returned ", TODAY)
    assert note == CreditNote(
        invoice.id, invoice.number, CLIENT, "RUB", Decimal("-200.00"), "two units returned", TODAY
    )
    assert (invoice.outstanding, invoice.status) == (Decimal("500.00"), InvoiceStatus.PARTLY_PAID)
    broken("invoice_has_credits", issued_and_credited().cancel)


def issued_and_credited() -> Invoice:
    invoice = issued("1000.00")
    credit(invoice, "1.00", "discount", TODAY)
    return invoice


def test_credit_cannot_exceed_the_outstanding_and_may_close_it():
    invoice = issued("1000.00")
    invoice.apply_payment("300.00")
    error = broken("credit_exceeds_outstanding", credit, invoice, "700.01", "refund", TODAY)
    assert error.field == "amount" and invoice.credited == 0
    credit(invoice, "700.00", "goods returned", TODAY)
    assert (invoice.outstanding, invoice.status) == (Decimal(0), InvoiceStatus.PAID)
    broken("credit_exceeds_outstanding", credit, invoice, "0.01", "more", TODAY)


@pytest.mark.parametrize(
    "amount, reason, rule, field",
    [
        ("0", "x", "amount_not_positive", "amount"),
        ("-10.00", "x", "negative_amount", "amount"),
        ("10.00", "  ", "reason_required", "reason"),
    ],
)
def test_bad_credit_notes(amount, reason, rule, field):
    assert broken(rule, credit, issued(), amount, reason, TODAY).field == field


def test_credit_needs_an_issued_invoice():
    broken("invoice_not_issued", credit, draft(), "1.00", "x", TODAY)
    cancelled = issued()
    cancelled.cancel()
    broken("invoice_cancelled", credit, cancelled, "1.00", "x", TODAY)


# --- overdue ---------------------------------------------------------------------------


def test_mark_overdue_is_true_once():
    invoice = issued("1000.00")
    assert invoice.mark_overdue(DUE) is False  # due today is not late
    assert invoice.status == InvoiceStatus.ISSUED
    assert invoice.mark_overdue(DUE + timedelta(days=1)) is True
    assert invoice.status == InvoiceStatus.OVERDUE
    assert invoice.mark_overdue(DUE + timedelta(days=2)) is False
    invoice.apply_payment("100.00")  # still owing, still late
    assert invoice.status == InvoiceStatus.OVERDUE
    assert invoice.mark_overdue(DUE + timedelta(days=3)) is False
    invoice.apply_payment("900.00")
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.mark_overdue(DUE + timedelta(days=4)) is False


def test_a_partly_paid_invoice_goes_overdue_once():
    invoice = issued("1000.00")
    invoice.apply_payment("1.00")
    assert invoice.mark_overdue(DUE + timedelta(days=40)) is True
    assert invoice.mark_overdue(DUE + timedelta(days=41)) is False


def test_settled_drafts_and_cancelled_never_go_overdue():
    paid = issued("10.00")
    paid.apply_payment("10.00")
    cancelled = issued()
    cancelled.cancel()
    later = DUE + timedelta(days=5)
    assert not any(i.mark_overdue(later) for i in (paid, cancelled, draft()))
    assert (paid.status, cancelled.status) == (InvoiceStatus.PAID, InvoiceStatus.CANCELLED)


def test_days_overdue():
    invoice = issued("10.00")
    assert [invoice.days_overdue(DUE + timedelta(days=d)) for d in (-3, 0, 1, 45)] == [0, 0, 1, 45]
    invoice.apply_payment("10.00")
    assert invoice.days_overdue(DUE + timedelta(days=45)) == 0
    assert draft().days_overdue(DUE + timedelta(days=45)) == 0


# --- allocating payments ------------------------------------------------------------------


def test_allocation_pays_the_oldest_due_first_and_leaves_credit():
    newest = issued("300.00", due=date(2026, 5, 1))
    oldest = issued("100.00", due=date(2026, 3, 10))
    middle = issued("200.00", due=date(2026, 4, 1))
    middle.apply_payment("50.00")
    allocation = allocate("350.00", "RUB", [newest, middle, oldest])
    assert allocation == Allocation(
        "RUB",
        (
            AllocationPart(oldest.id, Decimal("100.00")),
            AllocationPart(middle.id, Decimal("150.00")),
            AllocationPart(newest.id, Decimal("100.00")),
        ),
        Decimal("0.00"),
    )
    assert newest.outstanding == Decimal("300.00")  # a plan, nothing booked


def test_overpayment_becomes_the_clients_credit():
    first, paid = issued("100.00"), issued("50.00")
    paid.apply_payment("50.00")
    allocation = allocate("130.00", "RUB", [first, paid])
    assert allocation.parts == (AllocationPart(first.id, Decimal("100.00")),)
    assert allocation.credit == Decimal("30.00")
    assert allocate("10.00", "RUB", []).credit == Decimal("10.00")


def test_allocation_to_explicit_targets():
    a, b = issued("100.00", due=date(2026, 3, 10)), issued("200.00", due=date(2026, 4, 1))
    allocation = allocate("250.00", "RUB", [a, b], targets=[(b.id, "200.00"), (a.id, "30.00")])
    assert allocation.parts == (AllocationPart(b.id, Decimal("200.00")), AllocationPart(a.id, Decimal("30.00")))
    assert allocation.credit == Decimal("20.00")  # not spread further


@pytest.mark.parametrize(
    "targets, rule, field",
    [
        (lambda a, b: [(a.id, "100.00"), (b.id, "150.01")], "allocation_exceeds_payment", "allocations[1].amount"),
        (lambda a, b: [(a.id, "100.01")], "allocation_exceeds_outstanding", "allocations[0].amount"),
        (lambda a, b: [(a.id, "10.00"), (a.id, "10.00")], "duplicate_allocation", "allocations[1].invoice_id"),
        (lambda a, b: [(uuid.uuid4(), "10.00")], "unknown_invoice", "allocations[0].invoice_id"),
        (lambda a, b: [(a.id, "0")], "amount_not_positive", "allocations[0].amount"),
    ],
)
def test_bad_explicit_allocations(targets, rule, field):
    a, b = issued("100.00"), issued("200.00")
    error = broken(rule, allocate, "250.00", "RUB", [a, b], targets(a, b))
    assert isinstance(error, InvalidValue) and error.field == field


@pytest.mark.parametrize("explicit", [False, True])
def test_drafts_and_cancelled_invoices_are_not_payable(explicit):
    good, cancelled, a_draft = issued(), issued(), draft()
    cancelled.cancel()
    for bad in (cancelled, a_draft):
        targets = [(bad.id, "1.00")] if explicit else None
        error = broken("invoice_not_payable", allocate, "10.00", "RUB", [good, bad], targets)
        assert isinstance(error, RuleViolation) and error.field == f"invoices[{bad.id}]"


def test_currencies_must_match():
    dollars = issued(currency="USD")
    error = broken("currency_mismatch", allocate, "10.00", "RUB", [issued(), dollars])
    assert isinstance(error, RuleViolation) and error.field == f"invoices[{dollars.id}]"


# --- recording payments -----------------------------------------------------------------


@pytest.mark.parametrize("known", [["ПП 123"], [" пп   123 "], ["pp 9", "пп\t123"]])
def test_duplicate_bank_references_are_refused_whatever_the_spelling(known):
    error = broken("duplicate_payment", check_bank_reference, "  Пп 123", known)
    assert isinstance(error, RuleViolation) and error.field == "bank_reference"


def test_a_new_bank_reference_comes_back_normalised():
    assert check_bank_reference("  ab-1   77 ", ["AB-1 7", "AB-177"]) == "AB-1 77"
    broken("bank_reference_required", check_bank_reference, "   ", [])


def record(**kwargs) -> Payment:
    kwargs = {
        "amount": "500.00",
        "currency": "RUB",
        "received_on": TODAY,
        "method": "bank_transfer",
        "bank_reference": "pp 15",
        "known_references": [],
        "today": TODAY,
        **kwargs,
    }
    return Payment.record(uuid.uuid4(), CLIENT, **kwargs)


def test_recording_a_payment():
    payment = record()
    assert (payment.amount, payment.method, payment.bank_reference) == (
        Decimal("500.00"),
        PaymentMethod.BANK_TRANSFER,
        "PP 15",
    )
    assert record(method="cash", bank_reference=" ").bank_reference is None
    assert record(method="cash", bank_reference="ko-7").bank_reference == "KO-7"


@pytest.mark.parametrize(
    "kwargs, rule, field",
    [
        ({"known_references": ["PP  15"]}, "duplicate_payment", "bank_reference"),
        ({"bank_reference": None}, "bank_reference_required", "bank_reference"),
        ({"method": "card", "bank_reference": ""}, "bank_reference_required", "bank_reference"),
        ({"amount": "0"}, "amount_not_positive", "amount"),
        ({"amount": "-1"}, "negative_amount", "amount"),
        ({"method": "barter"}, "bad_payment_method", "method"),
        ({"received_on": TODAY + timedelta(days=1)}, "payment_in_future", "received_on"),
        ({"currency": "XYZ"}, "unknown_currency", "currency"),
    ],
)
def test_bad_payments_are_refused(kwargs, rule, field):
    assert broken(rule, record, **kwargs).field == field


# --- deliveries -------------------------------------------------------------------------


def ship(**kwargs) -> Delivery:
    kwargs = {
        "waybill_number": "  тн   00042 ",
        "shipped_on": TODAY,
        "items": [DeliveryItem(PRODUCT, "3")],
        "carrier": " ПЭК ",
        **kwargs,
    }
    return Delivery.ship(uuid.uuid4(), DEAL, **kwargs)


def test_delivery_moves_forward_only():
    delivery = ship()
    assert (delivery.waybill_number, delivery.carrier, delivery.status) == ("ТН 00042", "ПЭК", DeliveryStatus.SHIPPED)
    assert delivery.items == (DeliveryItem(PRODUCT, Decimal(3)),)
    broken("delivery_status_not_forward", delivery.move_to, "shipped", TODAY)
    delivery.move_to("delivered", TODAY + timedelta(days=2))
    assert (delivery.status, delivery.delivered_on) == (DeliveryStatus.DELIVERED, TODAY + timedelta(days=2))
    for status in ("shipped", "delivered"):
        error = broken("delivery_status_not_forward", delivery.move_to, status, TODAY)
        assert isinstance(error, RuleViolation)
    assert delivery.status == DeliveryStatus.DELIVERED


def test_delivery_refusals():
    broken("delivered_before_shipped", ship().move_to, "delivered", TODAY - timedelta(days=1))
    broken("bad_delivery_status", ship().move_to, "lost", TODAY)


@pytest.mark.parametrize(
    "kwargs, rule, field",
    [
        ({"waybill_number": "   "}, "waybill_required", "waybill_number"),
        ({"waybill_number": None}, "waybill_required", "waybill_number"),
        ({"items": []}, "items_required", "items"),
        ({"items": [DeliveryItem(PRODUCT, "0")]}, "bad_quantity", "items[0].quantity"),
    ],
)
def test_bad_deliveries(kwargs, rule, field):
    assert broken(rule, ship, **kwargs).field == field


# --- receivables ----------------------------------------------------------------------


def test_debt_is_invoiced_less_credits_less_paid():
    a = issued("1000.00")
    a.apply_payment("250.00")
    b = issued("500.00")
    credit(b, "100.00", "discount", TODAY)
    cancelled = issued("999.00")
    cancelled.cancel()
    paid = issued("40.00")
    paid.apply_payment("40.00")
    other = issued("70.00", client=OTHER_CLIENT)
    usd = issued("5.00", currency="USD")
    found = receivables([a, b, cancelled, draft(), paid, other, usd])
    mine = {r.currency: r for r in found if r.client_id == CLIENT}
    rub = mine["RUB"]
    assert (rub.invoiced, rub.credited, rub.paid, rub.debt) == (
        Decimal("1540.00"),
        Decimal("100.00"),
        Decimal("290.00"),
        Decimal("1150.00"),
    )
    assert mine["USD"].debt == Decimal("5.00")
    assert [r.debt for r in found if r.client_id == OTHER_CLIENT] == [Decimal("70.00")]
    assert len(found) == 3


@pytest.mark.parametrize(
    "days, bucket",
    [
        (-10, "current"),
        (0, "current"),
        (1, "1_30"),
        (30, "1_30"),
        (31, "31_60"),
        (60, "31_60"),
        (61, "61_90"),
        (90, "61_90"),
        (91, "over_90"),
        (400, "over_90"),
    ],
)
def test_ageing_buckets_at_their_boundaries(days, bucket):
    assert ageing_bucket(max(days, 0)) == bucket
    invoice = issued("10.00")
    report = ageing([invoice], DUE + timedelta(days=days))
    assert list(report["RUB"]) == list(AGEING_BUCKETS)
    assert report["RUB"] == {b: Decimal("10.00") if b == bucket else Decimal(0) for b in AGEING_BUCKETS}


def test_ageing_sums_outstanding_per_currency():
    today = DUE + timedelta(days=45)
    late = issued("1000.00")
    late.apply_payment("400.00")
    late.mark_overdue(today)
    not_due = issued("100.00", due=today + timedelta(days=1))
    very_late = issued("50.00", due=DUE - timedelta(days=60), today=DUE - timedelta(days=60))
    paid, cancelled = issued("70.00"), issued("80.00")
    paid.apply_payment("70.00")
    cancelled.cancel()
    euros = issued("7.00", currency="EUR")
    report = ageing([late, not_due, very_late, paid, cancelled, draft(), euros], today)
    assert list(report) == ["EUR", "RUB"]
    assert report["RUB"] == {
        "current": Decimal("100.00"),
        "1_30": Decimal(0),
        "31_60": Decimal("600.00"),
        "61_90": Decimal(0),
        "over_90": Decimal("50.00"),
    }
    assert report["EUR"]["31_60"] == Decimal("7.00")
    assert ageing([paid, cancelled], today) == {}


# --- deal stage facts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "event, stage",
    [
        ("ContractSigned", "contract"),
        ("InvoiceIssued", "contract"),
        ("PaymentReceived", "payment"),
        ("DeliveryShipped", "delivery"),
        ("InvoicePaid", None),
        ("InvoiceOverdue", None),
        ("DealWon", None),
    ],
)
def test_stage_for_billing_events(event, stage):
    assert stage_for(event) == stage


# --- history brought in ------------------------------------------------------------


def test_a_year_s_invoice_numbers_follow_its_issue_dates():
    invoice = draft()
    broken(
        "issue_date_out_of_order", invoice.issue, "2026-000008", date(2026, 2, 1), previous_issue_date=date(2026, 2, 10)
    )
    assert invoice.status == "draft" and invoice.number is None
    invoice.issue("2026-000008", date(2026, 2, 10), previous_issue_date=date(2026, 2, 10))
    assert invoice.issue_date == date(2026, 2, 10)


def test_money_received_before_an_invoice_was_issued_does_not_pay_it():
    old = issued(price="100.00", today=date(2026, 1, 10), due=date(2026, 1, 20))
    new = issued(price="50.00", today=date(2026, 2, 10), due=date(2026, 2, 20))
    plan = allocate("150.00", "RUB", [old, new], received_on=date(2026, 2, 1))
    assert [(p.invoice_id, p.amount) for p in plan.parts] == [(old.id, Decimal("100.00"))]
    assert plan.credit == Decimal("50.00")
    error = broken(
        "paid_before_issue", allocate, "50.00", "RUB", [new], targets=[(new.id, "50.00")], received_on=date(2026, 2, 9)
    )
    assert error.field == "received_on"
    assert allocate("50.00", "RUB", [new], targets=[(new.id, "50.00")], received_on=date(2026, 2, 10)).credit == 0
