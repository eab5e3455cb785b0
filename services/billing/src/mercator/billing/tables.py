"""How the billing service stores its records (SQLAlchemy; the rules live in `domain`)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from mercator.common.db import Base as CommonBase
from mercator.common.db import BigId, Exact, UtcDateTime, new_metadata
from mercator.common.money import quantize


class Base(CommonBase):
    __abstract__ = True
    metadata = new_metadata()


class InvoiceCounter(Base):
    """The yearly invoice sequence: bumped in the issuing transaction, so numbers have no gaps."""

    __tablename__ = "invoice_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Contract(Base):
    __tablename__ = "contracts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    number: Mapped[str] = mapped_column(String(50), unique=True)
    deal_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    signed_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Exact())
    currency: Mapped[str] = mapped_column(String(3))
    due_in_days: Mapped[int | None] = mapped_column(Integer)
    instalments: Mapped[list] = mapped_column(JSON, default=list)  # [{due_date, amount}] as strings
    author_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        Index("ix_invoices_company_status", "company_id", "status"),
        Index("ix_invoices_status_due", "status", "due_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    deal_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    contract_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contracts.id"))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(12))
    issue_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    net: Mapped[Decimal] = mapped_column(Exact(), default=Decimal(0))
    vat: Mapped[Decimal] = mapped_column(Exact(), default=Decimal(0))
    total: Mapped[Decimal] = mapped_column(Exact(), default=Decimal(0))
    paid: Mapped[Decimal] = mapped_column(Exact(), default=Decimal(0))
    credited: Mapped[Decimal] = mapped_column(Exact(), default=Decimal(0))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    description: Mapped[str | None] = mapped_column(String(500))
    quantity: Mapped[Decimal] = mapped_column(Exact(18, 3))
    unit_price: Mapped[Decimal] = mapped_column(Exact())
    vat_rate: Mapped[str] = mapped_column(String(4))


class CreditNote(Base):
    __tablename__ = "credit_notes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Exact())  # negative: it takes back part of the invoice
    reason: Mapped[str] = mapped_column(Text)
    issued_on: Mapped[date] = mapped_column(Date)


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("company_id", "bank_reference", name="uq_payments_company_reference"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    amount: Mapped[Decimal] = mapped_column(Exact())
    currency: Mapped[str] = mapped_column(String(3))
    received_on: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(20))
    bank_reference: Mapped[str | None] = mapped_column(String(100))
    credit: Mapped[Decimal] = mapped_column(Exact(), default=Decimal(0))  # left unallocated
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Allocation(Base):
    __tablename__ = "allocations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"), index=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Exact())


class Delivery(Base):
    __tablename__ = "deliveries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    deal_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    waybill_number: Mapped[str] = mapped_column(String(100), unique=True)
    shipped_on: Mapped[date] = mapped_column(Date)
    delivered_on: Mapped[date | None] = mapped_column(Date)
    carrier: Mapped[str | None] = mapped_column(String(200))
    items: Mapped[list] = mapped_column(JSON, default=list)  # [{product_id, quantity}] as strings
    status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DealReplica(Base):
    """The deals billing bills, kept from deals' events (billing never reads their database)."""

    __tablename__ = "deals"

    deal_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # with the owner: who sees its billing
    title: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(10))
    currency: Mapped[str | None] = mapped_column(String(3))
    version: Mapped[int] = mapped_column(Integer, default=0)


class ClientReplica(Base):
    """The client cards billing bills, kept from contacts' events."""

    __tablename__ = "clients"

    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(300))
    tax_id: Mapped[str | None] = mapped_column(String(20), index=True)  # a bank statement's payer is found by it
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # who sees billing without a deal
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer, default=0)


class StatementLine(Base):
    """An incoming payment read from a bank statement, kept once however often the statement is imported:
    matched (with the payment it became) or waiting for a person to match it."""

    __tablename__ = "statement_lines"
    __table_args__ = (Index("ix_statement_lines_status", "status", "booked_on"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    entry_key: Mapped[str] = mapped_column(String(300), unique=True)
    format: Mapped[str] = mapped_column(String(10))
    account: Mapped[str] = mapped_column(String(50))
    booked_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Exact())
    currency: Mapped[str] = mapped_column(String(3))
    payer_name: Mapped[str | None] = mapped_column(String(300))
    payer_tax_id: Mapped[str | None] = mapped_column(String(20))
    payer_account: Mapped[str | None] = mapped_column(String(50))
    purpose: Mapped[str] = mapped_column(Text)
    document_number: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10))  # unmatched | matched | dismissed
    reason: Mapped[str | None] = mapped_column(Text)
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    company_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    matched_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # None: matched on import
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)


@event.listens_for(Invoice, "load")
def _invoice_money(row: Invoice, _context) -> None:
    # Stored with 4 decimal places for every currency; used with the currency's own.
    for name in ("net", "vat", "total", "paid", "credited"):
        setattr(row, name, quantize(getattr(row, name), row.currency))


@event.listens_for(Payment, "load")
def _payment_money(row: Payment, _context) -> None:
    row.amount, row.credit = quantize(row.amount, row.currency), quantize(row.credit, row.currency)
