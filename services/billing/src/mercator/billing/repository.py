"""Billing's store: the invoice, contract and delivery aggregates from their rows and back, in this one place
(the domain knows no tables)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import Select, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.billing import domain, tables
from mercator.billing.sight import sees
from mercator.common.clock import now
from mercator.common.errors import BadReference, NotFound
from mercator.common.money import quantize
from mercator.common.visibility import Sight

OPEN = [s.value for s in domain.OPEN]  # as stored


def plain(number: Decimal) -> Decimal:
    """2.000 -> 2: quantities as people write them (stored with fixed decimal places)."""
    return number.quantize(Decimal(1)) if number == number.to_integral_value() else number.normalize()


class Invoices:
    """Invoices of one unit of work: `get` (or `find`) one, change it through its methods, `save` it."""

    def __init__(self, session: AsyncSession):
        self.session = session
        self._rows: dict[uuid.UUID, tables.Invoice] = {}
        self._lines: dict[uuid.UUID, list[domain.InvoiceLine]] = {}

    async def get(
        self, invoice_id: uuid.UUID, *, seen: Sight | None, lock: bool = False, field: str | None = None
    ) -> domain.Invoice:
        """`seen=None` where no caller asks for this one invoice (the sweep, a client's own open invoices).
        Missing or out of sight: NotFound, or BadReference naming `field` when the invoice is named in a body."""
        stmt = select(tables.Invoice).where(tables.Invoice.id == invoice_id)
        found = await self._load(stmt.with_for_update() if lock else stmt)
        invoice = found[0] if found else None
        if invoice is None or (
            seen is not None and not await sees(self.session, seen, invoice.deal_id, invoice.client_id)
        ):
            if field:
                raise BadReference(f"there is no invoice {invoice_id}", field=field)
            raise NotFound(f"no invoice {invoice_id}")
        return invoice

    async def open_of(self, company_id: uuid.UUID, currency: str) -> list[domain.Invoice]:
        """The client's open invoices in a currency, locked: a payment or a credit is about to pay them."""
        return await self._load(
            select(tables.Invoice)
            .where(
                tables.Invoice.company_id == company_id,
                tables.Invoice.currency == currency,
                tables.Invoice.status.in_(OPEN),
            )
            .with_for_update()
        )

    async def find(self, stmt: Select[tables.Invoice]) -> list[domain.Invoice]:
        """The invoices a query of the table selects, in its order."""
        return await self._load(stmt)

    async def of_rows(self, rows: Sequence[tables.Invoice]) -> list[domain.Invoice]:
        """Invoices already read as rows (a page of a list), with their lines."""
        lines = await self._lines_of([r.id for r in rows])
        return [self._model(r, lines.get(r.id, [])) for r in rows]

    async def _load(self, stmt: Select[tables.Invoice]) -> list[domain.Invoice]:
        return await self.of_rows(list((await self.session.execute(stmt)).scalars()))

    async def _lines_of(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[tables.InvoiceLine]]:
        found: dict[uuid.UUID, list[tables.InvoiceLine]] = {}
        if ids:
            stmt = (
                select(tables.InvoiceLine).where(tables.InvoiceLine.invoice_id.in_(ids)).order_by(tables.InvoiceLine.id)
            )
            for line in (await self.session.execute(stmt)).scalars():
                found.setdefault(line.invoice_id, []).append(line)
        return found

    def _model(self, row: tables.Invoice, lines: Iterable[tables.InvoiceLine]) -> domain.Invoice:
        invoice = domain.Invoice(
            row.id,
            row.company_id,
            row.currency,
            [
                domain.InvoiceLine(
                    l.product_id, l.description, plain(l.quantity), quantize(l.unit_price, row.currency), l.vat_rate
                )
                for l in lines
            ],
            row.due_date,
            row.deal_id,
            row.contract_id,
            row.number,
            row.issue_date,
            domain.InvoiceStatus(row.status),
            row.paid,
            row.credited,
            row.cancel_reason,
            row.version,
        )
        self._rows[row.id], self._lines[row.id] = row, list(invoice.lines)
        return invoice

    def add(self, invoice: domain.Invoice) -> None:
        """A new invoice (a draft): stored as it is, at version 1."""
        self._rows[invoice.id] = tables.Invoice(
            id=invoice.id,
            deal_id=invoice.deal_id,
            company_id=invoice.client_id,
            contract_id=invoice.contract_id,
            currency=invoice.currency,
            status=invoice.status.value,
            created_at=now(),
            version=0,
        )
        self._lines[invoice.id] = []
        self.session.add(self._rows[invoice.id])

    async def save(self, invoice: domain.Invoice) -> None:
        """Writes the invoice back as a new version (its lines only when they changed)."""
        row = self._rows[invoice.id]
        row.status, row.number, row.issue_date, row.due_date = (
            invoice.status.value,
            invoice.number,
            invoice.issue_date,
            invoice.due_date,
        )
        row.net, row.vat, row.total = invoice.net_total, invoice.vat_total, invoice.total
        row.paid, row.credited, row.cancel_reason = invoice.paid, invoice.credited, invoice.cancel_reason
        row.updated_at = now()
        row.version += 1
        invoice.version = row.version
        if invoice.lines != self._lines[invoice.id]:
            await self.session.flush()  # a new invoice's row before its lines
            await self.session.execute(delete(tables.InvoiceLine).where(tables.InvoiceLine.invoice_id == invoice.id))
            self.session.add_all(
                tables.InvoiceLine(
                    invoice_id=invoice.id,
                    product_id=l.product_id,
                    description=l.description,
                    quantity=l.quantity,
                    unit_price=l.unit_price,
                    vat_rate=l.vat_rate,
                )
                for l in invoice.lines
            )
            self._lines[invoice.id] = list(invoice.lines)

    async def next_number(self, year: int) -> str:
        # The counter row is locked by the UPDATE until the issuing transaction ends: concurrent issues
        # queue, and a rolled-back issue gives its number back, so the sequence has no gaps.
        bind = self.session.get_bind()
        insert = pg_insert if bind.dialect.name == "postgresql" else sqlite_insert
        await self.session.execute(insert(tables.InvoiceCounter).values(year=year, last=0).on_conflict_do_nothing())
        seq = (
            await self.session.execute(
                update(tables.InvoiceCounter)
                .where(tables.InvoiceCounter.year == year)
                .values(last=tables.InvoiceCounter.last + 1)
                .returning(tables.InvoiceCounter.last)
            )
        ).scalar_one()
        return domain.format_invoice_number(year, seq)

    async def issued_on(self, number: str) -> date | None:
        """The day the invoice of this number was issued (None: no such number)."""
        return await self.session.scalar(select(tables.Invoice.issue_date).where(tables.Invoice.number == number))


# --- credit notes and payments: written once, never changed -------------------------------------------


def credit_note_row(note: domain.CreditNote) -> tables.CreditNote:
    return tables.CreditNote(
        id=note.id, invoice_id=note.invoice_id, amount=note.amount, reason=note.reason, issued_on=note.issued_on
    )


def payment_row(payment: domain.Payment, credit: Decimal) -> tables.Payment:
    return tables.Payment(
        id=payment.id,
        company_id=payment.client_id,
        amount=payment.amount,
        currency=payment.currency,
        received_on=payment.received_on,
        method=payment.method.value,
        bank_reference=payment.bank_reference,
        credit=credit,
        created_at=now(),
    )


def allocation_rows(payment_id: uuid.UUID, plan: domain.Allocation) -> list[tables.Allocation]:
    return [tables.Allocation(payment_id=payment_id, invoice_id=p.invoice_id, amount=p.amount) for p in plan.parts]


# --- contracts ------------------------------------------------------------------------------------------


def contract_row(contract: domain.Contract, author_id: uuid.UUID) -> tables.Contract:
    return tables.Contract(
        id=contract.id,
        number=contract.number,
        deal_id=contract.deal_id,
        company_id=contract.client_id,
        signed_on=contract.signed_on,
        amount=contract.amount,
        currency=contract.currency,
        due_in_days=contract.due_in_days,
        instalments=[{"due_date": i.due_date.isoformat(), "amount": str(i.amount)} for i in contract.instalments],
        author_id=author_id,
        created_at=now(),
    )


def contract(row: tables.Contract) -> domain.Contract:
    return domain.Contract(
        row.id,
        row.number,
        row.deal_id,
        row.company_id,
        row.signed_on,
        row.amount,
        row.currency,
        row.due_in_days,
        tuple(domain.Instalment(date.fromisoformat(i["due_date"]), Decimal(i["amount"])) for i in row.instalments),
    )


# --- deliveries -----------------------------------------------------------------------------------------


def delivery_row(delivery: domain.Delivery, company_id: uuid.UUID) -> tables.Delivery:
    return tables.Delivery(
        id=delivery.id,
        deal_id=delivery.deal_id,
        company_id=company_id,
        waybill_number=delivery.waybill_number,
        shipped_on=delivery.shipped_on,
        carrier=delivery.carrier,
        status=delivery.status.value,
        items=[{"product_id": str(i.product_id), "quantity": str(i.quantity)} for i in delivery.items],
        created_at=now(),
    )


def delivery(row: tables.Delivery) -> domain.Delivery:
    return domain.Delivery(
        row.id,
        row.deal_id,
        row.waybill_number,
        row.shipped_on,
        tuple(domain.DeliveryItem(uuid.UUID(i["product_id"]), Decimal(i["quantity"])) for i in row.items),
        row.carrier,
        domain.DeliveryStatus(row.status),
        row.delivered_on,
    )


def save_delivery(delivery: domain.Delivery, row: tables.Delivery) -> None:
    row.status, row.delivered_on = delivery.status.value, delivery.delivered_on
