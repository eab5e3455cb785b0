"""What the HTTP API takes and gives. Money is a decimal string beside its ISO 4217 currency."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from mercator.common.http.fields import Currency, Exact, Input


class InstalmentIn(Input):
    due_date: date
    amount: Exact


class ContractCreate(Input):
    number: Annotated[str, Field(min_length=1, max_length=50)]
    deal_id: uuid.UUID
    signed_on: date
    amount: Exact
    currency: Currency = "RUB"
    due_in_days: int | None = Field(None, description="payment due N days after each invoice")
    instalments: list[InstalmentIn] = Field(default_factory=list, max_length=120)


class ContractPublic(BaseModel):
    id: uuid.UUID
    number: str
    deal_id: uuid.UUID
    company_id: uuid.UUID
    signed_on: date
    amount: Decimal
    currency: str
    due_in_days: int | None
    instalments: list[dict]


class InvoiceLineIn(Input):
    product_id: uuid.UUID | None = None
    description: str | None = Field(None, max_length=500)
    quantity: Exact
    unit_price: Exact = Field(description="before VAT")
    vat_rate: str = Field("22", description="'none' (без НДС), '0', '10', '20' or '22'")


class InvoiceCreate(Input):
    deal_id: uuid.UUID | None = None
    contract_id: uuid.UUID | None = None
    company_id: uuid.UUID | None = Field(None, description="only for an invoice outside any deal")
    currency: Currency = "RUB"
    due_date: date | None = Field(None, description="defaults to the contract's payment terms")
    lines: list[InvoiceLineIn] = Field(default_factory=list, max_length=500)


class IssueIn(Input):
    issue_date: date | None = Field(
        None,
        description="the day it was really issued, if before today: history "
        "brought in, for admins and importers only; it takes a number "
        "of that year, after the year's invoices issued until then",
    )


class InvoiceUpdate(Input):
    due_date: date | None = None
    lines: list[InvoiceLineIn] | None = Field(None, max_length=500)


class InvoiceLinePublic(BaseModel):
    product_id: uuid.UUID | None
    description: str | None
    quantity: Decimal
    unit_price: Decimal
    vat_rate: str
    net: Decimal
    vat: Decimal
    gross: Decimal


class InvoicePublic(BaseModel):
    id: uuid.UUID
    number: str | None
    deal_id: uuid.UUID | None
    company_id: uuid.UUID
    contract_id: uuid.UUID | None
    currency: str
    status: str
    issue_date: date | None
    due_date: date | None
    net: Decimal
    vat: Decimal
    total: Decimal
    paid: Decimal
    credited: Decimal
    outstanding: Decimal
    version: int
    lines: list[InvoiceLinePublic] = []


class CancelIn(Input):
    reason: str | None = Field(None, max_length=2000)


class CreditCreate(Input):
    amount: Exact
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class CreditNotePublic(BaseModel):
    id: uuid.UUID
    invoice_id: uuid.UUID
    amount: Decimal
    reason: str
    issued_on: date


class AllocationIn(Input):
    invoice_id: uuid.UUID
    amount: Exact


class PaymentCreate(Input):
    company_id: uuid.UUID
    amount: Exact
    currency: Currency = "RUB"
    received_on: date
    method: Literal["bank_transfer", "card", "cash"] = "bank_transfer"
    bank_reference: str | None = Field(None, max_length=100, description="the payment order number")
    allocations: list[AllocationIn] | None = Field(
        None, max_length=100, description="which invoices it pays; by default the oldest due first"
    )


class PaymentPublic(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    amount: Decimal
    currency: str
    received_on: date
    method: str
    bank_reference: str | None
    credit: Decimal
    allocations: list[dict] = []


class DeliveryItemIn(Input):
    product_id: uuid.UUID
    quantity: Exact


class DeliveryCreate(Input):
    deal_id: uuid.UUID
    waybill_number: Annotated[str, Field(min_length=1, max_length=100)]
    shipped_on: date
    carrier: str | None = Field(None, max_length=200)
    items: list[DeliveryItemIn] = Field(default_factory=list, max_length=500)


class DeliveredIn(Input):
    delivered_on: date


class DeliveryPublic(BaseModel):
    id: uuid.UUID
    deal_id: uuid.UUID | None
    company_id: uuid.UUID
    waybill_number: str
    shipped_on: date
    delivered_on: date | None
    carrier: str | None
    status: str
    items: list[dict]


class ReceivableRow(BaseModel):
    key: uuid.UUID | None
    currency: str
    invoiced: Decimal
    credited: Decimal
    paid: Decimal
    debt: Decimal
    credit: Decimal = Field(description="money received that no invoice has taken yet (by client only)")
    ageing: dict[str, Decimal]


class Receivables(BaseModel):
    by: str
    as_of: date
    rows: list[ReceivableRow]


class ApplyCredit(Input):
    currency: Currency = "RUB"


class StatementLinePublic(BaseModel):
    id: uuid.UUID
    format: str
    account: str
    booked_on: date
    amount: Decimal
    currency: str
    payer_name: str | None
    payer_tax_id: str | None
    payer_account: str | None
    purpose: str
    document_number: str | None
    status: Literal["unmatched", "matched", "dismissed"]
    reason: str | None = Field(description="why it was not matched on import, or why it was dismissed")
    invoice_id: uuid.UUID | None
    company_id: uuid.UUID | None
    payment_id: uuid.UUID | None
    version: int


class StatementImported(BaseModel):
    format: Literal["camt.053", "1c"]
    lines: int = Field(description="incoming payments in the file")
    new: int = Field(description="not seen in an earlier import")
    matched: int = Field(description="recorded as payments by this import")
    unmatched: list[StatementLinePublic] = Field(description="new lines left for a person to match")


class StatementMatch(Input):
    invoice_id: uuid.UUID


class StatementDismiss(Input):
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class DeliveryRow(BaseModel):
    id: uuid.UUID
    deal_id: uuid.UUID | None
    company_id: uuid.UUID
    waybill_number: str
    shipped_on: date
    delivered_on: date | None
    carrier: str | None
    status: str
    items: list[dict]


class AccountingInvoiceLine(BaseModel):
    description: str | None
    quantity: Decimal
    unit_price: Decimal
    vat_rate: str
    net: Decimal
    vat: Decimal
    gross: Decimal


class AccountingInvoice(BaseModel):
    """An issued invoice as an accounting system books it (a sale to a counterparty by tax id)."""

    number: str
    issue_date: date
    due_date: date | None
    status: str
    client_id: uuid.UUID
    client_name: str | None
    client_tax_id: str | None
    currency: str
    net: Decimal
    vat: Decimal
    total: Decimal
    credited: Decimal
    paid: Decimal
    cancel_reason: str | None
    invoice_id: uuid.UUID
    deal_id: uuid.UUID | None
    lines: list[AccountingInvoiceLine]


class AccountingPayment(BaseModel):
    received_on: date
    bank_reference: str | None
    method: str
    client_id: uuid.UUID
    client_name: str | None
    client_tax_id: str | None
    amount: Decimal
    currency: str
    invoices: list[str] = Field(description="'number: amount' for each invoice it paid")
    credit: Decimal = Field(description="left over as the client's credit")
    payment_id: uuid.UUID
