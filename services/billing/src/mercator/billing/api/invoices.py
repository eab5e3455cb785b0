"""Routes of contracts and invoices."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from mercator.billing import contracts, domain, invoices, schemas
from mercator.billing.api.deps import Contacts, Deals, TimeZone
from mercator.billing.days import today
from mercator.common.http.deps import CurrentUser, SessionDep, UowDep
from mercator.common.versions import etag

router = APIRouter()


def public(invoice: domain.Invoice, response: Response | None = None) -> schemas.InvoicePublic:
    if response is not None:
        response.headers["ETag"] = etag(invoice.version)
    currency = invoice.currency
    return schemas.InvoicePublic(
        id=invoice.id,
        number=invoice.number,
        deal_id=invoice.deal_id,
        company_id=invoice.client_id,
        contract_id=invoice.contract_id,
        currency=currency,
        status=invoice.status.value,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        net=invoice.net_total,
        vat=invoice.vat_total,
        total=invoice.total,
        paid=invoice.paid,
        credited=invoice.credited,
        outstanding=invoice.total - invoice.credited - invoice.paid,  # as stored, whatever the status
        version=invoice.version,
        lines=[
            schemas.InvoiceLinePublic(
                product_id=l.product_id,
                description=l.description,
                quantity=l.quantity,
                unit_price=l.unit_price,
                vat_rate=l.vat_rate,
                net=l.net(currency),
                vat=l.vat(currency),
                gross=l.gross(currency),
            )
            for l in invoice.lines
        ],
    )


@router.post("/contracts", status_code=201, response_model=schemas.ContractPublic, tags=["contracts"])
async def sign_contract(
    body: schemas.ContractCreate, uow: UowDep, caller: CurrentUser, deals: Deals
) -> schemas.ContractPublic:
    """A signed contract: amount and payment terms (due in N days, or instalments adding up to the amount)."""
    return schemas.ContractPublic.model_validate(
        await contracts.sign_contract(uow, body, caller, deals), from_attributes=True
    )


@router.post("/invoices", status_code=201, response_model=schemas.InvoicePublic, tags=["invoices"])
async def draft_invoice(
    body: schemas.InvoiceCreate, uow: UowDep, caller: CurrentUser, deals: Deals, contacts: Contacts, response: Response
) -> schemas.InvoicePublic:
    """A draft: edit it freely; issuing gives it the next number of the year."""
    invoice = await invoices.draft_invoice(uow, body, caller, deals, contacts)
    response.headers["Location"] = f"/api/v1/invoices/{invoice.id}"
    return public(invoice, response)


@router.get("/invoices", response_model=list[schemas.InvoicePublic], tags=["invoices"])
async def list_invoices(
    session: SessionDep,
    time_zone: TimeZone,
    caller: CurrentUser,
    company_id: uuid.UUID | None = None,
    deal_id: uuid.UUID | None = None,
    status: domain.InvoiceStatus | None = None,
    overdue: bool = False,
) -> list[schemas.InvoicePublic]:
    """By due date; `overdue=true` lists what is past due and unpaid today. Only what the caller sees."""
    found = await invoices.list_invoices(
        session,
        caller,
        company_id=company_id,
        deal_id=deal_id,
        status=status.value if status else None,
        overdue_on=today(time_zone) if overdue else None,
    )
    return [public(i) for i in found]


@router.get("/invoices/{invoice_id}", response_model=schemas.InvoicePublic, tags=["invoices"])
async def get_invoice(
    invoice_id: uuid.UUID, session: SessionDep, caller: CurrentUser, response: Response
) -> schemas.InvoicePublic:
    return public(await invoices.get_invoice(session, invoice_id, caller), response)


@router.patch("/invoices/{invoice_id}", response_model=schemas.InvoicePublic, tags=["invoices"])
async def update_draft(
    invoice_id: uuid.UUID, body: schemas.InvoiceUpdate, uow: UowDep, caller: CurrentUser, response: Response
) -> schemas.InvoicePublic:
    """Only a draft changes; an issued invoice is cancelled or credited instead."""
    return public(await invoices.update_draft(uow, invoice_id, body, caller), response)


@router.post("/invoices/{invoice_id}/issue", response_model=schemas.InvoicePublic, tags=["invoices"])
async def issue_invoice(
    invoice_id: uuid.UUID,
    uow: UowDep,
    time_zone: TimeZone,
    caller: CurrentUser,
    response: Response,
    body: schemas.IssueIn | None = None,
) -> schemas.InvoicePublic:
    """Issue a draft: it takes the next number of its year, gapless, and is due by its due date or its contract's
    payment terms counted from the issue date."""
    invoice = await invoices.issue_invoice(uow, invoice_id, time_zone, caller, body.issue_date if body else None)
    return public(invoice, response)


@router.post("/invoices/{invoice_id}/cancel", response_model=schemas.InvoicePublic, tags=["invoices"])
async def cancel_invoice(
    invoice_id: uuid.UUID, body: schemas.CancelIn, uow: UowDep, caller: CurrentUser, response: Response
) -> schemas.InvoicePublic:
    return public(await invoices.cancel_invoice(uow, invoice_id, body.reason, caller), response)


@router.post(
    "/invoices/{invoice_id}/credit", status_code=201, response_model=schemas.CreditNotePublic, tags=["invoices"]
)
async def credit_invoice(
    invoice_id: uuid.UUID, body: schemas.CreditCreate, uow: UowDep, time_zone: TimeZone, caller: CurrentUser
) -> schemas.CreditNotePublic:
    """A credit note taking back part of an issued invoice's outstanding amount."""
    return schemas.CreditNotePublic.model_validate(
        await invoices.credit_invoice(uow, invoice_id, body, time_zone, caller), from_attributes=True
    )
