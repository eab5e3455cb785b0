"""Invoices: a draft edited freely, issued under the next number of its year, cancelled or credited, paid
(payments.py), marked overdue by the daily sweep."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.billing import domain, events, repository, schemas
from mercator.billing.days import today
from mercator.billing.sight import Peer, billing_sight, client_of, deal_of, only_seen, sees
from mercator.billing.tables import Contract, Invoice
from mercator.common.auth import Caller
from mercator.common.errors import BadReference
from mercator.common.history import recorded_on
from mercator.common.uow import UnitOfWork


def _lines(data: list[schemas.InvoiceLineIn]) -> list[domain.InvoiceLine]:
    return [domain.InvoiceLine(l.product_id, l.description, l.quantity, l.unit_price, l.vat_rate) for l in data]


async def draft_invoice(
    uow: UnitOfWork, data: schemas.InvoiceCreate, caller: Caller, deals: Peer, contacts: Peer
) -> domain.Invoice:
    s = uow.session
    seen = billing_sight(caller, write=True)
    company_id, contract = data.company_id, None
    if data.contract_id is not None:
        contract = await s.get(Contract, data.contract_id)
        if contract is None or not await sees(s, seen, contract.deal_id, contract.company_id):
            raise BadReference(f"there is no contract {data.contract_id}", field="contract_id")
    deal_id = data.deal_id or (contract.deal_id if contract else None)
    if deal_id is not None:
        company_id = (await deal_of(s, deal_id, deals, seen)).company_id
    if company_id is None:
        raise BadReference("name the deal, the contract or the client the invoice is for", field="deal_id")
    if deal_id is None:
        await client_of(s, company_id, contacts, seen)
    invoice = domain.Invoice.draft(
        uuid.uuid4(), company_id, data.currency, _lines(data.lines), data.due_date, deal_id, data.contract_id
    )
    invoices = repository.Invoices(s)
    invoices.add(invoice)
    await invoices.save(invoice)
    return invoice


async def update_draft(
    uow: UnitOfWork, invoice_id: uuid.UUID, data: schemas.InvoiceUpdate, caller: Caller
) -> domain.Invoice:
    invoices = repository.Invoices(uow.session)
    invoice = await invoices.get(invoice_id, seen=billing_sight(caller, write=True), lock=True)
    if "lines" in data.model_fields_set:
        invoice.set_lines(_lines(data.lines or []))
    if "due_date" in data.model_fields_set:
        invoice.set_due_date(data.due_date)
    await invoices.save(invoice)
    return invoice


async def issue_invoice(
    uow: UnitOfWork, invoice_id: uuid.UUID, time_zone: str, caller: Caller, issue_date: date | None = None
) -> domain.Invoice:
    """Issued today, or on the earlier `issue_date` brought in as history. A back-dated invoice takes the next
    number of its own year: the tax office reads a year's numbers as one gapless run in the order of the dates,
    so it may not come before an invoice of that year issued later (the domain refuses; the number goes back)."""
    invoices = repository.Invoices(uow.session)
    invoice = await invoices.get(invoice_id, seen=billing_sight(caller, write=True), lock=True)
    day = recorded_on(caller, issue_date, today(time_zone), "issue_date")
    if invoice.due_date is None and invoice.contract_id is not None:
        contract = await uow.session.get(Contract, invoice.contract_id)
        if contract is not None:
            invoice.set_due_date(repository.contract(contract).due_date(day))
    if invoice.status != domain.InvoiceStatus.DRAFT:
        invoice.issue("0000-000000", day)  # the domain names the refusal; no number is taken
    number = await invoices.next_number(day.year)
    year, seq = domain.parse_invoice_number(number)
    # The counter row stays locked until this transaction ends: the previous number's day cannot change under us.
    previous = None if seq == 1 else await invoices.issued_on(domain.format_invoice_number(year, seq - 1))
    invoice.issue(number, day, previous_issue_date=previous)
    await invoices.save(invoice)
    events.publish(uow, invoice, caller)
    return invoice


async def cancel_invoice(uow: UnitOfWork, invoice_id: uuid.UUID, reason: str | None, caller: Caller) -> domain.Invoice:
    invoices = repository.Invoices(uow.session)
    invoice = await invoices.get(invoice_id, seen=billing_sight(caller, write=True), lock=True)
    invoice.cancel(reason)
    await invoices.save(invoice)
    events.publish(uow, invoice)
    return invoice


async def credit_invoice(
    uow: UnitOfWork, invoice_id: uuid.UUID, data: schemas.CreditCreate, time_zone: str, caller: Caller
) -> domain.CreditNote:
    invoices = repository.Invoices(uow.session)
    invoice = await invoices.get(invoice_id, seen=billing_sight(caller, write=True), lock=True)
    note = domain.credit(invoice, data.amount, data.reason, today(time_zone))
    await invoices.save(invoice)
    uow.session.add(repository.credit_note_row(note))
    events.publish(uow, invoice)
    return note


async def mark_overdue(uow: UnitOfWork, day: date) -> int:
    """Every open invoice past its due date becomes overdue, and InvoiceOverdue goes out once for each."""
    s = uow.session
    due = domain.InvoiceStatus.ISSUED.value, domain.InvoiceStatus.PARTLY_PAID.value
    ids = list((await s.execute(select(Invoice.id).where(Invoice.status.in_(due), Invoice.due_date < day))).scalars())
    invoices = repository.Invoices(s)
    for invoice_id in ids:
        invoice = await invoices.get(invoice_id, seen=None, lock=True)  # the sweep: no caller
        if invoice.mark_overdue(day):
            await invoices.save(invoice)
            events.publish(uow, invoice)
    return len(ids)


async def get_invoice(session: AsyncSession, invoice_id: uuid.UUID, caller: Caller) -> domain.Invoice:
    return await repository.Invoices(session).get(invoice_id, seen=billing_sight(caller))


async def list_invoices(
    session: AsyncSession,
    caller: Caller,
    *,
    company_id: uuid.UUID | None,
    deal_id: uuid.UUID | None,
    status: str | None,
    overdue_on: date | None,
) -> list[domain.Invoice]:
    stmt = only_seen(select(Invoice), billing_sight(caller), Invoice.deal_id, Invoice.company_id)
    for column, value in ((Invoice.company_id, company_id), (Invoice.deal_id, deal_id), (Invoice.status, status)):
        if value is not None:
            stmt = stmt.where(column == value)
    if overdue_on is not None:
        stmt = stmt.where(Invoice.status.in_(repository.OPEN), Invoice.due_date < overdue_on)
    return await repository.Invoices(session).find(stmt.order_by(Invoice.due_date, Invoice.number, Invoice.id))
