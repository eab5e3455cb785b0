"""HTTP routes of the billing service: translate, call one use case, translate back."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from sqlalchemy import select
from starlette.datastructures import UploadFile

from mercator.billing import domain, schemas, service, statements
from mercator.billing.tables import Allocation, Invoice, Payment
from mercator.common.http.deps import CurrentUser, RuntimeDep, SessionDep, UowDep
from mercator.common.http.peers import Peer
from mercator.common.pagination import Page
from mercator.common.versions import etag, expected_version

router = APIRouter(prefix="/api/v1")


def deals_peer(request: Request) -> Peer:
    return Peer("deals", request.app.state.deals_http, request.headers.get("authorization"))


Deals = Annotated[Peer, Depends(deals_peer)]


def contacts_peer(request: Request) -> Peer:
    return Peer("contacts", request.app.state.contacts_http, request.headers.get("authorization"))


Contacts = Annotated[Peer, Depends(contacts_peer)]


async def _invoice(session, row: Invoice, response: Response | None = None) -> schemas.InvoicePublic:
    model = await service.invoice_model(session, row)  # the row was read through the caller's sight
    if response is not None:
        response.headers["ETag"] = etag(row.version)
    return schemas.InvoicePublic(
        id=row.id,
        number=row.number,
        deal_id=row.deal_id,
        company_id=row.company_id,
        contract_id=row.contract_id,
        currency=row.currency,
        status=row.status,
        issue_date=row.issue_date,
        due_date=row.due_date,
        net=row.net,
        vat=row.vat,
        total=row.total,
        paid=row.paid,
        credited=row.credited,
        outstanding=row.total - row.credited - row.paid,
        version=row.version,
        lines=[
            schemas.InvoiceLinePublic(
                product_id=l.product_id,
                description=l.description,
                quantity=l.quantity,
                unit_price=l.unit_price,
                vat_rate=l.vat_rate,
                net=l.net(row.currency),
                vat=l.vat(row.currency),
                gross=l.gross(row.currency),
            )
            for l in model.lines
        ],
    )


@router.post("/contracts", status_code=201, response_model=schemas.ContractPublic, tags=["contracts"])
async def sign_contract(body: schemas.ContractCreate, uow: UowDep, caller: CurrentUser, deals: Deals):
    """A signed contract: amount and payment terms (due in N days, or instalments adding up to the amount)."""
    return schemas.ContractPublic.model_validate(
        await service.sign_contract(uow, body, caller, deals), from_attributes=True
    )


@router.post("/invoices", status_code=201, response_model=schemas.InvoicePublic, tags=["invoices"])
async def draft_invoice(
    body: schemas.InvoiceCreate, uow: UowDep, caller: CurrentUser, deals: Deals, contacts: Contacts, response: Response
):
    """A draft: edit it freely; issuing gives it the next number of the year."""
    row = await service.draft_invoice(uow, body, caller, deals, contacts)
    response.headers["Location"] = f"/api/v1/invoices/{row.id}"
    return await _invoice(uow.session, row, response)


@router.get("/invoices", response_model=list[schemas.InvoicePublic], tags=["invoices"])
async def list_invoices(
    session: SessionDep,
    runtime: RuntimeDep,
    caller: CurrentUser,
    company_id: uuid.UUID | None = None,
    deal_id: uuid.UUID | None = None,
    status: domain.InvoiceStatus | None = None,
    overdue: bool = False,
):
    """By due date; `overdue=true` lists what is past due and unpaid today. Only what the caller sees."""
    rows = await service.list_invoices(
        session,
        caller,
        company_id=company_id,
        deal_id=deal_id,
        status=status.value if status else None,
        overdue_on=service.today(runtime.settings.time_zone) if overdue else None,
    )
    return [await _invoice(session, r) for r in rows]


@router.get("/invoices/{invoice_id}", response_model=schemas.InvoicePublic, tags=["invoices"])
async def get_invoice(invoice_id: uuid.UUID, session: SessionDep, caller: CurrentUser, response: Response):
    return await _invoice(session, await service.get_invoice(session, invoice_id, caller), response)


@router.patch("/invoices/{invoice_id}", response_model=schemas.InvoicePublic, tags=["invoices"])
async def update_draft(
    invoice_id: uuid.UUID, body: schemas.InvoiceUpdate, uow: UowDep, caller: CurrentUser, response: Response
):
    """Only a draft changes; an issued invoice is cancelled or credited instead."""
    return await _invoice(uow.session, await service.update_draft(uow, invoice_id, body, caller), response)


@router.post("/invoices/{invoice_id}/issue", response_model=schemas.InvoicePublic, tags=["invoices"])
async def issue_invoice(
    invoice_id: uuid.UUID,
    uow: UowDep,
    runtime: RuntimeDep,
    caller: CurrentUser,
    response: Response,
    body: schemas.IssueIn | None = None,
):
    """Issue a draft: it takes the next number of its year, gapless, and is due by its due date or its contract's
    payment terms counted from the issue date."""
    row = await service.issue_invoice(
        uow, invoice_id, runtime.settings.time_zone, caller, body.issue_date if body else None
    )
    return await _invoice(uow.session, row, response)


@router.post("/invoices/{invoice_id}/cancel", response_model=schemas.InvoicePublic, tags=["invoices"])
async def cancel_invoice(
    invoice_id: uuid.UUID, body: schemas.CancelIn, uow: UowDep, caller: CurrentUser, response: Response
):
    return await _invoice(uow.session, await service.cancel_invoice(uow, invoice_id, body.reason, caller), response)


@router.post(
    "/invoices/{invoice_id}/credit", status_code=201, response_model=schemas.CreditNotePublic, tags=["invoices"]
)
async def credit_invoice(
    invoice_id: uuid.UUID, body: schemas.CreditCreate, uow: UowDep, runtime: RuntimeDep, caller: CurrentUser
):
    """A credit note taking back part of an issued invoice's outstanding amount."""
    return schemas.CreditNotePublic.model_validate(
        await service.credit_invoice(uow, invoice_id, body, runtime.settings.time_zone, caller), from_attributes=True
    )


async def _payment(session, row: Payment) -> schemas.PaymentPublic:
    parts = (
        await session.execute(select(Allocation).where(Allocation.payment_id == row.id).order_by(Allocation.id))
    ).scalars()
    public = schemas.PaymentPublic.model_validate(row, from_attributes=True)
    public.allocations = [
        {"invoice_id": str(a.invoice_id), "amount": str(service.quantize(a.amount, row.currency))} for a in parts
    ]
    return public


@router.post("/payments", status_code=201, response_model=schemas.PaymentPublic, tags=["payments"])
async def record_payment(
    body: schemas.PaymentCreate, uow: UowDep, runtime: RuntimeDep, caller: CurrentUser, contacts: Contacts
):
    """Money received: spread over the named invoices, or the oldest due first; the rest is the client's credit."""
    row = await service.record_payment(uow, body, runtime.settings.time_zone, caller, contacts)
    return await _payment(uow.session, row)


@router.get("/payments", response_model=list[schemas.PaymentPublic], tags=["payments"])
async def list_payments(session: SessionDep, caller: CurrentUser, company_id: uuid.UUID):
    return [await _payment(session, r) for r in await service.list_payments(session, caller, company_id)]


@router.get("/deliveries", response_model=list[schemas.DeliveryRow], tags=["deliveries"])
async def list_deliveries(
    session: SessionDep,
    caller: CurrentUser,
    company_id: uuid.UUID | None = None,
    deal_id: uuid.UUID | None = None,
    status: Literal["shipped", "delivered"] | None = None,
):
    """By shipping date. Only what the caller sees."""
    rows = await service.list_deliveries(session, caller, company_id=company_id, deal_id=deal_id, status=status)
    return [schemas.DeliveryRow.model_validate(r, from_attributes=True) for r in rows]


Limit = Annotated[int, Query(ge=1, le=200)]


def _period(period_from: date, period_to: date) -> None:
    if period_to < period_from:
        raise service.BadReference("the period ends before it starts", field="to")


@router.get("/accounting/invoices", response_model=Page[schemas.AccountingInvoice], tags=["accounting"])
async def accounting_invoices(
    session: SessionDep,
    caller: CurrentUser,
    period_from: Annotated[date, Query(alias="from")],
    period_to: Annotated[date, Query(alias="to")],
    limit: Limit = 50,
    cursor: str | None = None,
):
    """Invoices issued in the period (both days included) for the accounting system, with their lines and
    the client's tax id; `?format=csv` or `xlsx` for a file of the whole period."""
    _period(period_from, period_to)
    rows, next_cursor = await service.accounting_invoices(
        session, caller, period_from=period_from, period_to=period_to, limit=limit, cursor=cursor
    )
    return Page(
        items=[
            schemas.AccountingInvoice(
                number=r.number,
                issue_date=r.issue_date,
                due_date=r.due_date,
                status=r.status,
                client_id=r.company_id,
                client_name=c.name if c else None,
                client_tax_id=c.tax_id if c else None,
                currency=r.currency,
                net=r.net,
                vat=r.vat,
                total=r.total,
                credited=r.credited,
                paid=r.paid,
                cancel_reason=r.cancel_reason,
                invoice_id=r.id,
                deal_id=r.deal_id,
                lines=[
                    schemas.AccountingInvoiceLine(
                        description=l.description,
                        quantity=l.quantity,
                        unit_price=l.unit_price,
                        vat_rate=l.vat_rate,
                        net=l.net(r.currency),
                        vat=l.vat(r.currency),
                        gross=l.gross(r.currency),
                    )
                    for l in m.lines
                ],
            )
            for r, c, m in rows
        ],
        next_cursor=next_cursor,
    )


@router.get("/accounting/payments", response_model=Page[schemas.AccountingPayment], tags=["accounting"])
async def accounting_payments(
    session: SessionDep,
    caller: CurrentUser,
    period_from: Annotated[date, Query(alias="from")],
    period_to: Annotated[date, Query(alias="to")],
    limit: Limit = 50,
    cursor: str | None = None,
):
    """Payments received in the period (both days included), each with the invoices it paid; `?format=csv`
    or `xlsx` for a file of the whole period."""
    _period(period_from, period_to)
    rows, next_cursor = await service.accounting_payments(
        session, caller, period_from=period_from, period_to=period_to, limit=limit, cursor=cursor
    )
    return Page(
        items=[
            schemas.AccountingPayment(
                received_on=r.received_on,
                bank_reference=r.bank_reference,
                method=r.method,
                client_id=r.company_id,
                client_name=c.name if c else None,
                client_tax_id=c.tax_id if c else None,
                amount=r.amount,
                currency=r.currency,
                invoices=[f"{n}: {service.quantize(a, r.currency)}" for n, a in parts],
                credit=r.credit,
                payment_id=r.id,
            )
            for r, c, parts in rows
        ],
        next_cursor=next_cursor,
    )


@router.post("/clients/{company_id}/credit/apply", response_model=list[dict], tags=["payments"])
async def apply_credit(company_id: uuid.UUID, body: schemas.ApplyCredit, uow: UowDep, caller: CurrentUser):
    """Let the client's credit (overpayments) pay its open invoices, oldest due first."""
    made = await service.apply_credit(uow, company_id, body.currency, caller)
    return [{"payment_id": str(a.payment_id), "invoice_id": str(a.invoice_id), "amount": str(a.amount)} for a in made]


@router.post("/deliveries", status_code=201, response_model=schemas.DeliveryPublic, tags=["deliveries"])
async def ship(body: schemas.DeliveryCreate, uow: UowDep, runtime: RuntimeDep, caller: CurrentUser, deals: Deals):
    """Goods shipped under a waybill, on the waybill's date (not after today)."""
    return schemas.DeliveryPublic.model_validate(
        await service.ship(uow, body, caller, deals, runtime.settings.time_zone), from_attributes=True
    )


@router.post("/deliveries/{delivery_id}/delivered", response_model=schemas.DeliveryPublic, tags=["deliveries"])
async def delivered(delivery_id: uuid.UUID, body: schemas.DeliveredIn, uow: UowDep, caller: CurrentUser):
    return schemas.DeliveryPublic.model_validate(
        await service.mark_delivered(uow, delivery_id, body.delivered_on, caller), from_attributes=True
    )


@router.get("/receivables", response_model=schemas.Receivables, tags=["receivables"])
async def receivables(
    session: SessionDep, runtime: RuntimeDep, caller: CurrentUser, by: Literal["client", "manager"] = "client"
):
    """What each client (or each manager's clients) owes, with ageing of the overdue part; a manager gets
    their own clients (their own row), a head their departments'."""
    day = service.today(runtime.settings.time_zone)
    return schemas.Receivables(by=by, as_of=day, rows=await service.receivables(session, caller, by=by, day=day))


# --- bank statements ----------------------------------------------------------------------------------------


def _line(row) -> schemas.StatementLinePublic:
    return schemas.StatementLinePublic.model_validate(row, from_attributes=True)


# The file as a form's `file` field (a browser's file input, a generated client). The bytes as the whole body,
# whatever their Content-Type, are taken too (the format is read from the file itself) but not documented: a
# second content type makes openapi-python-client 0.29 write a module that does not import.
STATEMENT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "title": "BankStatementUpload",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "camt.053 XML, or 1CClientBankExchange text",
                    }
                },
            }
        }
    },
}


async def _statement_file(request: Request) -> bytes:
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=10) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise statements.BadStatement("send the statement as the form's `file` field")
            return await upload.read()
    return await request.body()


@router.post(
    "/bank-statements",
    response_model=schemas.StatementImported,
    tags=["bank statements"],
    openapi_extra={"requestBody": STATEMENT_BODY},
)
async def import_statement(request: Request, runtime: RuntimeDep, caller: CurrentUser):
    """A bank statement, as the form's `file` field (or as the whole body): ISO 20022 camt.053 XML, or
    1CClientBankExchange text (Windows-1251 or UTF-8). Each incoming payment is kept once, however often the
    statement is imported; one that names an open invoice by its number, comes from its client's tax id and
    pays its amount is recorded as a payment; the rest is listed (`GET /bank-statements/lines?status=unmatched`)
    for a person to match."""
    service.statement_sight(caller)
    fmt, lines = statements.read_statement(await _statement_file(request))
    new = matched = 0
    unmatched = []
    for read in lines:  # one transaction per payment: an interrupted import resumes where it stopped
        async with runtime.uow() as uow:
            row, is_new = await service.take_statement_line(uow, fmt, read, runtime.settings.time_zone, caller)
        new += is_new
        if is_new and row.status == "matched":
            matched += 1
        elif is_new:
            unmatched.append(_line(row))
    return schemas.StatementImported(format=fmt, lines=len(lines), new=new, matched=matched, unmatched=unmatched)


@router.get("/bank-statements/lines", response_model=Page[schemas.StatementLinePublic], tags=["bank statements"])
async def statement_lines(
    session: SessionDep,
    caller: CurrentUser,
    status: Literal["unmatched", "matched", "dismissed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
):
    """Incoming payments from imported statements, by booking date; `status=unmatched` is the work list."""
    rows, next_cursor = await service.statement_lines(session, caller, status=status, limit=limit, cursor=cursor)
    return Page(items=[_line(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/bank-statements/lines/{line_id}/match", response_model=schemas.StatementLinePublic, tags=["bank statements"]
)
async def match_statement_line(
    line_id: uuid.UUID,
    body: schemas.StatementMatch,
    uow: UowDep,
    runtime: RuntimeDep,
    caller: CurrentUser,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
):
    """Say which invoice an unmatched payment pays: it is recorded as a payment of that invoice's client."""
    row = await service.match_statement_line(
        uow, line_id, body.invoice_id, expected_version(if_match, required=False), runtime.settings.time_zone, caller
    )
    response.headers["ETag"] = etag(row.version)
    return _line(row)


@router.post(
    "/bank-statements/lines/{line_id}/dismiss", response_model=schemas.StatementLinePublic, tags=["bank statements"]
)
async def dismiss_statement_line(
    line_id: uuid.UUID,
    body: schemas.StatementDismiss,
    uow: UowDep,
    caller: CurrentUser,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
):
    """Not a client's payment: off the work list, the reason kept."""
    row = await service.dismiss_statement_line(
        uow, line_id, body.reason, expected_version(if_match, required=False), caller
    )
    response.headers["ETag"] = etag(row.version)
    return _line(row)
