"""Payments: money received from a client, spread over its open invoices; what is left is the client's credit,
which later pays its next invoices."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.billing import domain, events, repository, schemas
from mercator.billing.days import today
from mercator.billing.sight import Peer, billing_sight, client_of, only_seen, sees
from mercator.billing.tables import Allocation, Payment
from mercator.common.auth import Caller
from mercator.common.errors import BadReference, NotFound
from mercator.common.uow import UnitOfWork
from mercator.common.visibility import Sight


async def record_payment(
    uow: UnitOfWork, data: schemas.PaymentCreate, time_zone: str, caller: Caller, contacts: Peer | None
) -> tuple[Payment, list[Allocation]]:
    """The payment's row and its allocations, in the order they were made."""
    s = uow.session
    seen = billing_sight(caller, write=True)
    await client_of(s, data.company_id, contacts, seen)
    known = (
        await s.execute(
            select(Payment.bank_reference).where(
                Payment.company_id == data.company_id, Payment.bank_reference.is_not(None)
            )
        )
    ).scalars()
    payment = domain.Payment.record(
        uuid.uuid4(),
        data.company_id,
        data.amount,
        data.currency,
        data.received_on,
        data.method,
        data.bank_reference,
        [r for r in known if r is not None],
        today(time_zone),
    )
    invoices = repository.Invoices(s)
    loaded = await _payable(invoices, data, payment.currency, seen)
    plan = domain.allocate(
        payment.amount,
        payment.currency,
        list(loaded.values()),
        None if data.allocations is None else [(a.invoice_id, a.amount) for a in data.allocations],
        received_on=payment.received_on,
    )
    row = repository.payment_row(payment, plan.credit)
    s.add(row)
    await s.flush()  # the payment before the allocations that refer to it
    made = repository.allocation_rows(payment.id, plan)
    for part in plan.parts:
        loaded[part.invoice_id].apply_payment(part.amount, payment.received_on)
        await invoices.save(loaded[part.invoice_id])
    s.add_all(made)
    events.payment_received(uow, payment, plan, {i: loaded[i].deal_id for i in loaded}, caller)
    for part in plan.parts:
        events.publish(uow, loaded[part.invoice_id], caller)
    return row, made


async def _payable(
    invoices: repository.Invoices, data: schemas.PaymentCreate, currency: str, seen: Sight
) -> dict[uuid.UUID, domain.Invoice]:
    """The client's open invoices, and those the payment names besides (the domain says why they cannot be paid:
    another client's, a draft, cancelled, paid)."""
    loaded = {i.id: i for i in await invoices.open_of(data.company_id, currency)}
    for i, a in enumerate(data.allocations or []):
        if a.invoice_id not in loaded:
            at = f"allocations[{i}].invoice_id"
            named = await invoices.get(a.invoice_id, seen=seen, field=at)
            if named.client_id != data.company_id:
                raise BadReference("the invoice is another client's", field=at)
            loaded[a.invoice_id] = named
    return loaded


async def apply_credit(uow: UnitOfWork, company_id: uuid.UUID, currency: str, caller: Caller) -> list[Allocation]:
    """The client's credit (overpayments) pays its open invoices, oldest due first."""
    s = uow.session
    if not await sees(s, billing_sight(caller, write=True), None, company_id):
        raise NotFound(f"no client {company_id}")
    payments = (
        (
            await s.execute(
                select(Payment)
                .where(Payment.company_id == company_id, Payment.currency == currency, Payment.credit > 0)
                .order_by(Payment.received_on, Payment.id)
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    invoices = repository.Invoices(s)
    loaded = {i.id: i for i in await invoices.open_of(company_id, currency)}
    made: list[Allocation] = []
    for payment in payments:
        if not loaded:
            break
        plan = domain.allocate(payment.credit, currency, list(loaded.values()))
        for part in plan.parts:
            invoice = loaded[part.invoice_id]
            invoice.apply_payment(part.amount)
            await invoices.save(invoice)
            events.publish(uow, invoice)
        made += repository.allocation_rows(payment.id, plan)
        payment.credit = plan.credit
        loaded = {i: invoice for i, invoice in loaded.items() if invoice.outstanding}
    s.add_all(made)
    return made


async def list_payments(session: AsyncSession, caller: Caller, company_id: uuid.UUID) -> list[Payment]:
    stmt = only_seen(
        select(Payment).where(Payment.company_id == company_id), billing_sight(caller), None, Payment.company_id
    )
    return list((await session.execute(stmt.order_by(Payment.received_on, Payment.id))).scalars())
