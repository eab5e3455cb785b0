"""What billing's aggregates decided is news, as the catalogue's payloads: the one place that writes them."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from mercator.billing import domain
from mercator.common.auth import Caller
from mercator.common.clock import now
from mercator.common.events import catalogue as ev
from mercator.common.events.catalogue import EventPayload
from mercator.common.history import fact_time
from mercator.common.uow import UnitOfWork


def publish(uow: UnitOfWork, invoice: domain.Invoice, caller: Caller | None = None) -> None:
    """Every fact the invoice recorded goes out with its saved version as the sequence; the facts are then spent.
    With the `caller`, a document's day (issue, payment) may place the event in the past (history brought in)."""
    for fact in invoice.events:
        payload, time = _payload(invoice, fact, caller)
        uow.emit(payload, subject=invoice.id, sequence=invoice.version, time=time)
    invoice.events.clear()


def _payload(
    invoice: domain.Invoice, fact: domain.InvoiceFact, caller: Caller | None
) -> tuple[EventPayload, datetime | None]:
    number = invoice.number or ""
    match fact:
        case domain.Issued():
            assert invoice.issue_date is not None
            return _issued(invoice), _when(caller, invoice.issue_date)
        case domain.Cancelled(reason=reason):
            return ev.InvoiceCancelled(
                invoice_id=invoice.id,
                number=number,
                deal_id=invoice.deal_id,
                company_id=invoice.client_id,
                reason=reason,
            ), None
        case domain.Credited(note=note):
            return ev.InvoiceCredited(
                invoice_id=invoice.id,
                number=number,
                credit_note_id=note.id,
                deal_id=invoice.deal_id,
                company_id=invoice.client_id,
                amount=-note.amount,
                currency=invoice.currency,
                reason=note.reason,
            ), None
        case domain.Paid(on=on):
            return ev.InvoicePaid(
                invoice_id=invoice.id,
                number=number,
                deal_id=invoice.deal_id,
                company_id=invoice.client_id,
                total=invoice.total,
                currency=invoice.currency,
                paid_on=on or now().date(),
            ), None if on is None else _when(caller, on)
        case domain.BecameOverdue(today=today):
            assert invoice.due_date is not None
            return ev.InvoiceOverdue(
                invoice_id=invoice.id,
                number=number,
                deal_id=invoice.deal_id,
                company_id=invoice.client_id,
                outstanding=invoice.outstanding,
                currency=invoice.currency,
                due_date=invoice.due_date,
                days_overdue=invoice.days_overdue(today),
            ), None
    raise AssertionError(f"no payload for {fact!r}")


def _issued(invoice: domain.Invoice) -> ev.InvoiceIssued:
    assert invoice.issue_date is not None and invoice.due_date is not None  # an issued invoice has both
    return ev.InvoiceIssued(
        invoice_id=invoice.id,
        number=invoice.number or "",
        deal_id=invoice.deal_id,
        company_id=invoice.client_id,
        contract_id=invoice.contract_id,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        net=invoice.net_total,
        vat=invoice.vat_total,
        total=invoice.total,
        currency=invoice.currency,
        lines=[_line(invoice.currency, l) for l in invoice.lines],
    )


def _when(caller: Caller | None, day: date) -> datetime | None:
    return None if caller is None else fact_time(caller, day, now())


def _line(currency: str, line: domain.InvoiceLine) -> ev.InvoiceLinePayload:
    return ev.InvoiceLinePayload(
        product_id=line.product_id,
        description=line.description or "",
        quantity=line.quantity,
        unit_price=line.unit_price,
        vat_rate=line.vat_rate,
        net=line.net(currency),
        vat=line.vat(currency),
        gross=line.gross(currency),
    )


def contract_signed(uow: UnitOfWork, contract: domain.Contract, caller: Caller) -> None:
    uow.emit(
        ev.ContractSigned(
            contract_id=contract.id,
            number=contract.number,
            deal_id=contract.deal_id,
            company_id=contract.client_id,
            signed_on=contract.signed_on,
            amount=contract.amount,
            currency=contract.currency,
            due_in_days=contract.due_in_days,
            instalments=[ev.Instalment(due_date=i.due_date, amount=i.amount) for i in contract.instalments],
        ),
        subject=contract.id,
        sequence=1,
        time=fact_time(caller, contract.signed_on, now()),
    )


def payment_received(
    uow: UnitOfWork,
    payment: domain.Payment,
    plan: domain.Allocation,
    deal_of_invoice: dict[uuid.UUID, uuid.UUID | None],
    caller: Caller,
) -> None:
    uow.emit(
        ev.PaymentReceived(
            payment_id=payment.id,
            company_id=payment.client_id,
            amount=payment.amount,
            currency=payment.currency,
            paid_on=payment.received_on,
            bank_reference=payment.bank_reference or "",
            method=payment.method.value,
            allocations=[
                ev.AllocationPayload(invoice_id=p.invoice_id, deal_id=deal_of_invoice[p.invoice_id], amount=p.amount)
                for p in plan.parts
            ],
            credit=plan.credit,
        ),
        subject=payment.client_id,
        sequence=1,
        time=fact_time(caller, payment.received_on, now()),
    )


def delivery_shipped(uow: UnitOfWork, delivery: domain.Delivery, company_id: uuid.UUID, caller: Caller) -> None:
    uow.emit(
        ev.DeliveryShipped(
            delivery_id=delivery.id,
            deal_id=delivery.deal_id,
            company_id=company_id,
            waybill=delivery.waybill_number,
            shipped_on=delivery.shipped_on,
            carrier=delivery.carrier,
            items=[ev.DeliveryItemPayload(product_id=i.product_id, quantity=i.quantity) for i in delivery.items],
        ),
        subject=delivery.id,
        sequence=1,
        time=fact_time(caller, delivery.shipped_on, now()),
    )


def delivery_delivered(uow: UnitOfWork, delivery: domain.Delivery, company_id: uuid.UUID, caller: Caller) -> None:
    assert delivery.delivered_on is not None
    uow.emit(
        ev.DeliveryDelivered(
            delivery_id=delivery.id,
            deal_id=delivery.deal_id,
            company_id=company_id,
            waybill=delivery.waybill_number,
            delivered_on=delivery.delivered_on,
        ),
        subject=delivery.id,
        sequence=2,
        time=fact_time(caller, delivery.delivered_on, now()),
    )
