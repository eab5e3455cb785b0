"""Bank statements: each incoming payment kept once, matched to its invoice and recorded as a payment, or left
for a person to match or dismiss. Reading the files and the matching rule are in `statements`."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.billing import payments, repository, schemas, statements
from mercator.billing.sight import statement_sight
from mercator.billing.tables import ClientReplica, Invoice, StatementLine
from mercator.common.auth import Caller
from mercator.common.clock import now
from mercator.common.errors import DomainError, NotFound, RuleViolation
from mercator.common.pagination import keyset_page
from mercator.common.uow import UnitOfWork
from mercator.common.versions import check_version


async def _open_invoices(
    session: AsyncSession, *, numbers: list[str], tax_id: str | None
) -> tuple[dict[str, statements.OpenInvoice], list[statements.OpenInvoice]]:
    """The open invoices a line names by number, and those of the payer's client cards, as the matching
    rule sees them."""
    stmt = (
        select(Invoice, ClientReplica.tax_id)
        .outerjoin(ClientReplica, ClientReplica.company_id == Invoice.company_id)
        .where(Invoice.status.in_(repository.OPEN))
    )
    named = (await session.execute(stmt.where(Invoice.number.in_(numbers)))).all() if numbers else []
    digits = "".join(c for c in tax_id or "" if c.isdigit())
    theirs = (await session.execute(stmt.where(ClientReplica.tax_id == digits))).all() if digits else []

    def model(row: Invoice, client_tax_id: str | None) -> statements.OpenInvoice:
        return statements.OpenInvoice(
            row.id,
            row.number or "",
            row.company_id,
            client_tax_id,
            row.currency,
            row.total,
            row.total - row.credited - row.paid,
        )

    return {r.number or "": model(r, t) for r, t in named}, [model(r, t) for r, t in theirs]


async def _pay_from_line(
    uow: UnitOfWork, line: StatementLine, invoice_id: uuid.UUID, company_id: uuid.UUID, time_zone: str, caller: Caller
) -> None:
    outstanding = (await repository.Invoices(uow.session).get(invoice_id, seen=None)).outstanding
    payment, _ = await payments.record_payment(
        uow,
        schemas.PaymentCreate(
            company_id=company_id,
            amount=line.amount,
            currency=line.currency,
            received_on=line.booked_on,
            method="bank_transfer",
            # Payment order numbers restart every year: the day keeps them apart.
            bank_reference=f"{line.document_number or line.entry_key[-40:]} / {line.booked_on.isoformat()}"[:100],
            allocations=[schemas.AllocationIn(invoice_id=invoice_id, amount=min(line.amount, outstanding))],
        ),
        time_zone,
        caller,
        None,
    )
    line.status, line.reason = "matched", None
    line.invoice_id, line.company_id, line.payment_id = invoice_id, company_id, payment.id


async def take_statement_line(
    uow: UnitOfWork, fmt: str, read: statements.StatementLine, time_zone: str, caller: Caller
) -> tuple[StatementLine, bool]:
    """One incoming payment of a statement: kept once by its entry key (the same statement imported again
    changes nothing), and recorded as a payment when it matches an open invoice. Returns the line and whether
    it is new."""
    s = uow.session
    statement_sight(caller)
    known = await s.scalar(select(StatementLine).where(StatementLine.entry_key == read.entry_key))
    if known is not None:
        return known, False
    line = StatementLine(
        id=uuid.uuid4(),
        entry_key=read.entry_key,
        format=fmt,
        account=read.account,
        booked_on=read.booked_on,
        amount=read.amount,
        currency=read.currency,
        payer_name=read.payer_name and read.payer_name[:300],
        payer_tax_id=read.payer_tax_id and read.payer_tax_id[:20],
        payer_account=read.payer_account,
        purpose=read.purpose,
        document_number=read.document_number,
        status="unmatched",
        imported_at=now(),
        version=1,
    )
    s.add(line)
    by_number, of_payer = await _open_invoices(
        s, numbers=statements.invoice_numbers(read.purpose), tax_id=read.payer_tax_id
    )
    found = statements.match(read, by_number, of_payer)
    line.reason = found.reason
    if found.invoice is not None:
        mark = len(uow.events)
        try:
            async with s.begin_nested():  # a refusal (e.g. the payment was entered by hand) leaves the line
                await _pay_from_line(uow, line, found.invoice.id, found.invoice.client_id, time_zone, caller)
        except DomainError as exc:
            del uow.events[mark:]
            line.status, line.reason = "unmatched", str(getattr(exc, "message", None) or exc)
            line.invoice_id = line.company_id = line.payment_id = None
    return line, True


async def _unmatched_line(uow: UnitOfWork, line_id: uuid.UUID, version: int | None) -> StatementLine:
    line = await uow.session.get(StatementLine, line_id, with_for_update=True)
    if line is None:
        raise NotFound(f"no statement line {line_id}")
    check_version(line, version, "statement line")
    if line.status != "unmatched":
        raise RuleViolation("statement_line_taken", f"the line is {line.status} already")
    return line


async def match_statement_line(
    uow: UnitOfWork, line_id: uuid.UUID, invoice_id: uuid.UUID, version: int | None, time_zone: str, caller: Caller
) -> StatementLine:
    """A person says which invoice an unmatched payment pays: it is recorded as that client's payment."""
    statement_sight(caller)
    line = await _unmatched_line(uow, line_id, version)
    invoice = await repository.Invoices(uow.session).get(invoice_id, seen=None, field="invoice_id")
    await _pay_from_line(uow, line, invoice.id, invoice.client_id, time_zone, caller)
    line.matched_by, line.version = caller.user_id, line.version + 1
    return line


async def dismiss_statement_line(
    uow: UnitOfWork, line_id: uuid.UUID, reason: str, version: int | None, caller: Caller
) -> StatementLine:
    """Not a client's payment (a refund from a supplier, a loan): off the list, with the reason kept."""
    statement_sight(caller)
    line = await _unmatched_line(uow, line_id, version)
    line.status, line.reason, line.matched_by, line.version = "dismissed", reason, caller.user_id, line.version + 1
    return line


async def statement_lines(
    session: AsyncSession, caller: Caller, *, status: str | None, limit: int, cursor: str | None
) -> tuple[list[StatementLine], str | None]:
    statement_sight(caller)
    stmt = select(StatementLine)
    if status is not None:
        stmt = stmt.where(StatementLine.status == status)
    return await keyset_page(session, stmt, (StatementLine.booked_on, StatementLine.id), limit, cursor)
