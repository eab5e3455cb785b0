"""Rules of the billing service: contracts, invoices, credit notes, payments, deliveries, debt; a module per
aggregate, all of it here under one name.

Pure domain layer: no storage, no web framework. A use case loads an Invoice (the repository), calls one
method, and saves it; what the invoice decided is news is in its `events`. Dates here are business days
(the company's calendar), so they are `date`s; the use case decides what 'today' is.
"""

from __future__ import annotations

from mercator.billing.domain.checks import (
    MAX_INVOICE_SEQ,
    VAT_NONE,
    VAT_RATES,
    VAT_STANDARD,
    calendar_day,
    check_vat_rate,
    clean_text,
    format_invoice_number,
    missing_invoice_numbers,
    normalise_reference,
    parse_invoice_number,
    positive_amount,
)
from mercator.billing.domain.contract import (
    Contract,
    Instalment,
)
from mercator.billing.domain.delivery import (
    Delivery,
    DeliveryItem,
    DeliveryStatus,
)
from mercator.billing.domain.invoice import (
    OPEN,
    Balance,
    BecameOverdue,
    Cancelled,
    Credited,
    CreditNote,
    Invoice,
    InvoiceFact,
    InvoiceLine,
    InvoiceStatus,
    Issued,
    Owed,
    Paid,
    credit,
)
from mercator.billing.domain.payment import (
    Allocation,
    AllocationPart,
    Payment,
    PaymentMethod,
    allocate,
    check_bank_reference,
)
from mercator.billing.domain.receivables import (
    AGEING_BUCKETS,
    Receivable,
    ageing,
    ageing_bucket,
    receivables,
)
from mercator.billing.domain.stages import (
    STAGE_FOR_EVENT,
    stage_for,
)
from mercator.common.errors import DomainError, InvalidValue, RuleViolation

__all__ = [
    "AGEING_BUCKETS",
    "MAX_INVOICE_SEQ",
    "OPEN",
    "STAGE_FOR_EVENT",
    "VAT_NONE",
    "VAT_RATES",
    "VAT_STANDARD",
    "Allocation",
    "AllocationPart",
    "Balance",
    "BecameOverdue",
    "Cancelled",
    "Contract",
    "CreditNote",
    "Credited",
    "Delivery",
    "DeliveryItem",
    "DeliveryStatus",
    "DomainError",
    "Instalment",
    "InvalidValue",
    "Invoice",
    "InvoiceFact",
    "InvoiceLine",
    "InvoiceStatus",
    "Issued",
    "Owed",
    "Paid",
    "Payment",
    "PaymentMethod",
    "Receivable",
    "RuleViolation",
    "ageing",
    "ageing_bucket",
    "allocate",
    "calendar_day",
    "check_bank_reference",
    "check_vat_rate",
    "clean_text",
    "credit",
    "format_invoice_number",
    "missing_invoice_numbers",
    "normalise_reference",
    "parse_invoice_number",
    "positive_amount",
    "receivables",
    "stage_for",
]
