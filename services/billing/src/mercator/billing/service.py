"""Use cases of the billing service: each one function, one transaction (its `uow.commit()`)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from mercator.billing import domain, schemas, statements
from mercator.billing.tables import (
    Allocation,
    ClientReplica,
    Contract,
    CreditNote,
    DealReplica,
    Delivery,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    Payment,
    StatementLine,
)
from mercator.common.auth import Caller
from mercator.common.db import insert_if_absent
from mercator.common.errors import BadReference, DomainError, NotFound, RuleViolation
from mercator.common.events import catalogue as ev
from mercator.common.history import fact_time, recorded_on
from mercator.common.http.peers import Peer
from mercator.common.money import quantize
from mercator.common.pagination import keyset_page
from mercator.common.uow import UnitOfWork
from mercator.common.versions import check_version
from mercator.common.visibility import Kind, NoAccess, Sight, sight


def now() -> datetime:
    return datetime.now(UTC)


def plain(number: Decimal) -> Decimal:
    """2.000 -> 2: quantities as people write them (stored with fixed decimal places)."""
    return number.quantize(Decimal(1)) if number == number.to_integral_value() else number.normalize()


def today(time_zone: str) -> date:
    return datetime.now(ZoneInfo(time_zone)).date()


# --- who sees what: a record with a deal follows the deal's owner and department, one without a deal
# the client card's (from the replicas); someone else's answers like a missing one ------------------------


def billing_sight(caller: Caller, *, write: bool = False) -> Sight:
    return sight(caller, Kind.BILLING, write=write)  # NoAccess (403) for marketing and support


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


async def _sees(session: AsyncSession, seen: Sight, deal_id: uuid.UUID | None, company_id: uuid.UUID) -> bool:
    if seen.everything:
        return True
    owner = (
        await session.get(DealReplica, deal_id) if deal_id is not None else await session.get(ClientReplica, company_id)
    )
    return owner is not None and seen.sees(owner.owner_id, owner.department_id)


def _seen(seen: Sight, deal_id, company_id) -> ColumnElement[bool] | None:
    """`_sees` as a WHERE clause for lists (None: the caller sees all); `deal_id` None for records without one."""
    if seen.everything:
        return None

    # Aliases: the subqueries correlate only with the listed table, even where it is joined to the replicas.
    deal, card = aliased(DealReplica), aliased(ClientReplica)

    def theirs(t):
        return or_(t.owner_id == seen.owner_id, t.department_id.in_(seen.departments))

    by_card = exists().where(card.company_id == company_id, theirs(card))
    if deal_id is None:
        return by_card
    return or_(
        and_(deal_id.is_not(None), exists().where(deal.deal_id == deal_id, theirs(deal))),
        and_(deal_id.is_(None), by_card),
    )


def _only_seen(stmt, seen: Sight, deal_id, company_id):
    clause = _seen(seen, deal_id, company_id)
    return stmt if clause is None else stmt.where(clause)


async def deal_of(
    session: AsyncSession, deal_id: uuid.UUID, deals: Peer | None, seen: Sight, field: str = "deal_id"
) -> DealReplica:
    row = await session.get(DealReplica, deal_id)
    if row is None:
        found = await deals.get(f"/api/v1/deals/{deal_id}") if deals is not None else None
        if found is None:
            raise BadReference(f"there is no deal {deal_id}", field=field)
        # Opened a moment ago: keep what its owner said until the deal's own events arrive (version 0).
        row = await insert_if_absent(
            session,
            DealReplica,
            deal_id=deal_id,
            company_id=uuid.UUID(found["company_id"]),
            owner_id=uuid.UUID(found["owner_id"]),
            department_id=_uuid(found.get("department_id")),
            title=found["title"],
            status=found["status"],
            currency=found["currency"],
            version=0,
        )
    if not (seen.everything or seen.sees(row.owner_id, row.department_id)):
        raise BadReference(f"there is no deal {deal_id}", field=field)  # word for word as for a missing one
    return row


async def client_of(
    session: AsyncSession, company_id: uuid.UUID, contacts: Peer | None, seen: Sight, field: str = "company_id"
) -> ClientReplica:
    row = await session.get(ClientReplica, company_id)
    if row is None:
        found = await contacts.get(f"/api/v1/companies/{company_id}") if contacts is not None else None
        if found is None:
            raise BadReference(f"there is no client card {company_id}", field=field)
        row = await insert_if_absent(
            session,
            ClientReplica,
            company_id=company_id,
            name=found["name"],
            tax_id=found.get("tax_id"),
            owner_id=uuid.UUID(found["owner_id"]),
            department_id=_uuid(found.get("department_id")),
            version=0,
        )
    if not (seen.everything or seen.sees(row.owner_id, row.department_id)):
        raise BadReference(f"there is no client card {company_id}", field=field)
    if row.merged_into_id is not None:
        raise BadReference(f"client card {company_id} was merged into {row.merged_into_id}", field=field)
    return row


# --- contracts ----------------------------------------------------------------------------------------


async def sign_contract(uow: UnitOfWork, data: schemas.ContractCreate, caller: Caller, deals: Peer) -> Contract:
    s = uow.session
    deal = await deal_of(s, data.deal_id, deals, billing_sight(caller, write=True))
    if await s.scalar(select(Contract.id).where(Contract.number == data.number)):
        raise BadReference(f"contract {data.number} exists already", field="number")
    model = domain.Contract.sign(
        uuid.uuid4(),
        data.number,
        data.deal_id,
        deal.company_id,
        data.signed_on,
        data.amount,
        data.currency,
        due_in_days=data.due_in_days,
        instalments=[domain.Instalment(i.due_date, i.amount) for i in data.instalments],
    )
    row = Contract(
        id=model.id,
        number=model.number,
        deal_id=model.deal_id,
        company_id=model.client_id,
        signed_on=model.signed_on,
        amount=model.amount,
        currency=model.currency,
        due_in_days=model.due_in_days,
        instalments=[{"due_date": i.due_date.isoformat(), "amount": str(i.amount)} for i in model.instalments],
        author_id=caller.user_id,
        created_at=now(),
    )
    s.add(row)
    uow.emit(
        ev.ContractSigned(
            contract_id=row.id,
            number=row.number,
            deal_id=row.deal_id,
            company_id=row.company_id,
            signed_on=row.signed_on,
            amount=row.amount,
            currency=row.currency,
            due_in_days=row.due_in_days,
            instalments=[ev.Instalment(due_date=i.due_date, amount=i.amount) for i in model.instalments],
        ),
        subject=row.id,
        sequence=1,
        time=fact_time(caller, row.signed_on, now()),
    )
    await uow.commit()
    return row


def _contract_model(row: Contract) -> domain.Contract:
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


# --- invoices -----------------------------------------------------------------------------------------


async def load_invoice(
    session: AsyncSession, invoice_id: uuid.UUID, *, seen: Sight | None, lock: bool = False, field: str | None = None
) -> tuple[Invoice, domain.Invoice]:
    """`seen=None` where no caller asks for this one invoice (the sweep, a client's own open invoices)."""
    stmt = select(Invoice).where(Invoice.id == invoice_id)
    if lock:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None or (seen is not None and not await _sees(session, seen, row.deal_id, row.company_id)):
        if field:
            raise BadReference(f"there is no invoice {invoice_id}", field=field)
        raise NotFound(f"no invoice {invoice_id}")
    return row, await invoice_model(session, row)


async def invoice_model(session: AsyncSession, row: Invoice) -> domain.Invoice:
    lines = (
        await session.execute(select(InvoiceLine).where(InvoiceLine.invoice_id == row.id).order_by(InvoiceLine.id))
    ).scalars()
    return domain.Invoice(
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
    )


def _copy(row: Invoice, model: domain.Invoice) -> None:
    row.status, row.number, row.issue_date, row.due_date = (
        model.status.value,
        model.number,
        model.issue_date,
        model.due_date,
    )
    row.net, row.vat, row.total = model.net_total, model.vat_total, model.total
    row.paid, row.credited = model.paid, model.credited
    row.updated_at = now()
    row.version += 1


async def _save_lines(session: AsyncSession, invoice_id: uuid.UUID, lines: list[domain.InvoiceLine]) -> None:
    await session.execute(InvoiceLine.__table__.delete().where(InvoiceLine.invoice_id == invoice_id))
    session.add_all(
        InvoiceLine(
            invoice_id=invoice_id,
            product_id=l.product_id,
            description=l.description,
            quantity=l.quantity,
            unit_price=l.unit_price,
            vat_rate=l.vat_rate,
        )
        for l in lines
    )


def _lines(data: list[schemas.InvoiceLineIn]) -> list[domain.InvoiceLine]:
    return [domain.InvoiceLine(l.product_id, l.description, l.quantity, l.unit_price, l.vat_rate) for l in data]


async def draft_invoice(
    uow: UnitOfWork, data: schemas.InvoiceCreate, caller: Caller, deals: Peer, contacts: Peer
) -> Invoice:
    s = uow.session
    seen = billing_sight(caller, write=True)
    company_id, contract = data.company_id, None
    if data.contract_id is not None:
        contract = await s.get(Contract, data.contract_id)
        if contract is None or not await _sees(s, seen, contract.deal_id, contract.company_id):
            raise BadReference(f"there is no contract {data.contract_id}", field="contract_id")
    deal_id = data.deal_id or (contract.deal_id if contract else None)
    if deal_id is not None:
        company_id = (await deal_of(s, deal_id, deals, seen)).company_id
    if company_id is None:
        raise BadReference("name the deal, the contract or the client the invoice is for", field="deal_id")
    if deal_id is None:
        await client_of(s, company_id, contacts, seen)
    model = domain.Invoice.draft(
        uuid.uuid4(), company_id, data.currency, _lines(data.lines), data.due_date, deal_id, data.contract_id
    )
    row = Invoice(
        id=model.id,
        deal_id=deal_id,
        company_id=company_id,
        contract_id=data.contract_id,
        currency=model.currency,
        status=model.status.value,
        created_at=now(),
        version=0,
    )
    _copy(row, model)
    s.add(row)
    await s.flush()
    await _save_lines(s, row.id, model.lines)
    await uow.commit()
    return row


async def update_draft(uow: UnitOfWork, invoice_id: uuid.UUID, data: schemas.InvoiceUpdate, caller: Caller) -> Invoice:
    row, model = await load_invoice(uow.session, invoice_id, seen=billing_sight(caller, write=True), lock=True)
    if "lines" in data.model_fields_set:
        model.set_lines(_lines(data.lines or []))
        await _save_lines(uow.session, row.id, model.lines)
    if "due_date" in data.model_fields_set:
        model.set_due_date(data.due_date)
    _copy(row, model)
    await uow.commit()
    return row


async def _next_number(session: AsyncSession, year: int) -> str:
    # The counter row is locked by the UPDATE until the issuing transaction ends: concurrent issues
    # queue, and a rolled-back issue gives its number back, so the sequence has no gaps.
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.execute(insert(InvoiceCounter).values(year=year, last=0).on_conflict_do_nothing())
    seq = (
        await session.execute(
            update(InvoiceCounter)
            .where(InvoiceCounter.year == year)
            .values(last=InvoiceCounter.last + 1)
            .returning(InvoiceCounter.last)
        )
    ).scalar_one()
    return domain.format_invoice_number(year, seq)


async def issue_invoice(
    uow: UnitOfWork, invoice_id: uuid.UUID, time_zone: str, caller: Caller, issue_date: date | None = None
) -> Invoice:
    """Issued today, or on the earlier `issue_date` brought in as history. A back-dated invoice takes the next
    number of its own year: the tax office reads a year's numbers as one gapless run in the order of the dates,
    so it may not come before an invoice of that year issued later (the domain refuses; the number goes back)."""
    s = uow.session
    row, model = await load_invoice(s, invoice_id, seen=billing_sight(caller, write=True), lock=True)
    day = recorded_on(caller, issue_date, today(time_zone), "issue_date")
    if model.due_date is None and row.contract_id is not None:
        model.set_due_date(_contract_model(await s.get(Contract, row.contract_id)).due_date(day))
    if model.status != domain.InvoiceStatus.DRAFT:
        model.issue("0000-000000", day)  # the domain names the refusal; no number is taken
    number = await _next_number(s, day.year)
    year, seq = domain.parse_invoice_number(number)
    # The counter row stays locked until this transaction ends: the previous number's day cannot change under us.
    previous = (
        None
        if seq == 1
        else await s.scalar(
            select(Invoice.issue_date).where(Invoice.number == domain.format_invoice_number(year, seq - 1))
        )
    )
    model.issue(number, day, previous_issue_date=previous)
    _copy(row, model)
    uow.emit(
        ev.InvoiceIssued(
            invoice_id=row.id,
            number=row.number,
            deal_id=row.deal_id,
            company_id=row.company_id,
            contract_id=row.contract_id,
            issue_date=row.issue_date,
            due_date=row.due_date,
            net=row.net,
            vat=row.vat,
            total=row.total,
            currency=row.currency,
            lines=[
                ev.InvoiceLinePayload(
                    product_id=l.product_id,
                    description=l.description or "",
                    quantity=l.quantity,
                    unit_price=l.unit_price,
                    vat_rate=l.vat_rate,
                    net=l.net(row.currency),
                    vat=l.vat(row.currency),
                    gross=l.gross(row.currency),
                )
                for l in model.lines
            ],
        ),
        subject=row.id,
        sequence=row.version,
        time=fact_time(caller, row.issue_date, now()),
    )
    await uow.commit()
    return row


async def cancel_invoice(uow: UnitOfWork, invoice_id: uuid.UUID, reason: str | None, caller: Caller) -> Invoice:
    row, model = await load_invoice(uow.session, invoice_id, seen=billing_sight(caller, write=True), lock=True)
    was_issued = model.number is not None
    model.cancel()
    _copy(row, model)
    row.cancel_reason = reason
    if was_issued:  # a draft was never news to anyone
        uow.emit(
            ev.InvoiceCancelled(
                invoice_id=row.id, number=row.number, deal_id=row.deal_id, company_id=row.company_id, reason=reason
            ),
            subject=row.id,
            sequence=row.version,
        )
    await uow.commit()
    return row


async def credit_invoice(
    uow: UnitOfWork, invoice_id: uuid.UUID, data: schemas.CreditCreate, time_zone: str, caller: Caller
) -> CreditNote:
    row, model = await load_invoice(uow.session, invoice_id, seen=billing_sight(caller, write=True), lock=True)
    note = domain.credit(model, data.amount, data.reason, today(time_zone))
    _copy(row, model)
    saved = CreditNote(
        id=uuid.uuid4(), invoice_id=row.id, amount=note.amount, reason=note.reason, issued_on=note.issued_on
    )
    uow.session.add(saved)
    uow.emit(
        ev.InvoiceCredited(
            invoice_id=row.id,
            number=row.number,
            credit_note_id=saved.id,
            deal_id=row.deal_id,
            company_id=row.company_id,
            amount=-note.amount,
            currency=row.currency,
            reason=note.reason,
        ),
        subject=row.id,
        sequence=row.version,
    )
    await uow.commit()
    return saved


# --- payments -----------------------------------------------------------------------------------------


async def record_payment(
    uow: UnitOfWork, data: schemas.PaymentCreate, time_zone: str, caller: Caller, contacts: Peer
) -> Payment:
    row = await add_payment(uow, data, time_zone, caller, contacts)
    await uow.commit()
    return row


async def add_payment(
    uow: UnitOfWork, data: schemas.PaymentCreate, time_zone: str, caller: Caller, contacts: Peer | None
) -> Payment:
    """`record_payment` without its commit: a statement line and the payment it becomes are one change."""
    s = uow.session
    day = today(time_zone)
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
        list(known),
        day,
    )
    open_rows = (
        (
            await s.execute(
                select(Invoice.id)
                .where(
                    Invoice.company_id == data.company_id,
                    Invoice.currency == payment.currency,
                    Invoice.status.in_(
                        [
                            s_.value
                            for s_ in (
                                domain.InvoiceStatus.ISSUED,
                                domain.InvoiceStatus.PARTLY_PAID,
                                domain.InvoiceStatus.OVERDUE,
                            )
                        ]
                    ),
                )
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    loaded = {i: await load_invoice(s, i, seen=None) for i in open_rows}  # the client's: the payment is theirs
    if data.allocations is not None:
        for i, a in enumerate(data.allocations):
            if a.invoice_id not in loaded:  # the domain says why: another client's, draft, cancelled, paid
                row, model = await load_invoice(s, a.invoice_id, seen=seen, field=f"allocations[{i}].invoice_id")
                if row.company_id != data.company_id:
                    raise BadReference("the invoice is another client's", field=f"allocations[{i}].invoice_id")
                loaded[a.invoice_id] = (row, model)
    plan = domain.allocate(
        payment.amount,
        payment.currency,
        [m for _, m in loaded.values()],
        None if data.allocations is None else [(a.invoice_id, a.amount) for a in data.allocations],
        received_on=payment.received_on,
    )
    row = Payment(
        id=payment.id,
        company_id=payment.client_id,
        amount=payment.amount,
        currency=payment.currency,
        received_on=payment.received_on,
        method=payment.method.value,
        bank_reference=payment.bank_reference,
        credit=plan.credit,
        created_at=now(),
    )
    s.add(row)
    await s.flush()
    settled = []
    for part in plan.parts:
        invoice_row, model = loaded[part.invoice_id]
        if model.apply_payment(part.amount):
            settled.append(invoice_row)
        _copy(invoice_row, model)
        s.add(Allocation(payment_id=row.id, invoice_id=part.invoice_id, amount=part.amount))
    uow.emit(
        ev.PaymentReceived(
            payment_id=row.id,
            company_id=row.company_id,
            amount=row.amount,
            currency=row.currency,
            paid_on=row.received_on,
            bank_reference=row.bank_reference or "",
            method=row.method,
            allocations=[
                ev.AllocationPayload(invoice_id=p.invoice_id, deal_id=loaded[p.invoice_id][0].deal_id, amount=p.amount)
                for p in plan.parts
            ],
            credit=plan.credit,
        ),
        subject=row.company_id,
        sequence=1,
        time=fact_time(caller, row.received_on, now()),
    )
    for invoice_row in settled:
        uow.emit(
            ev.InvoicePaid(
                invoice_id=invoice_row.id,
                number=invoice_row.number,
                deal_id=invoice_row.deal_id,
                company_id=invoice_row.company_id,
                total=invoice_row.total,
                currency=invoice_row.currency,
                paid_on=row.received_on,
            ),
            subject=invoice_row.id,
            sequence=invoice_row.version,
            time=fact_time(caller, row.received_on, now()),
        )
    return row


async def apply_credit(uow: UnitOfWork, company_id: uuid.UUID, currency: str, caller: Caller) -> list[Allocation]:
    """The client's credit (overpayments) pays its open invoices, oldest due first."""
    s = uow.session
    if not await _sees(s, billing_sight(caller, write=True), None, company_id):
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
    invoice_ids = (
        (
            await s.execute(
                select(Invoice.id)
                .where(
                    Invoice.company_id == company_id,
                    Invoice.currency == currency,
                    Invoice.status.in_(["issued", "partly_paid", "overdue"]),
                )
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    loaded = [await load_invoice(s, i, seen=None) for i in invoice_ids]
    made: list[Allocation] = []
    for payment in payments:
        if not loaded:
            break
        plan = domain.allocate(payment.credit, currency, [m for _, m in loaded])
        for part in plan.parts:
            row, model = next((r, m) for r, m in loaded if r.id == part.invoice_id)
            settled = model.apply_payment(part.amount)
            _copy(row, model)
            made.append(Allocation(payment_id=payment.id, invoice_id=row.id, amount=part.amount))
            if settled:
                uow.emit(
                    ev.InvoicePaid(
                        invoice_id=row.id,
                        number=row.number,
                        deal_id=row.deal_id,
                        company_id=row.company_id,
                        total=row.total,
                        currency=row.currency,
                        paid_on=today("UTC"),
                    ),
                    subject=row.id,
                    sequence=row.version,
                )
        payment.credit = plan.credit
        loaded = [(r, m) for r, m in loaded if m.outstanding]
    s.add_all(made)
    await uow.commit()
    return made


# --- deliveries ---------------------------------------------------------------------------------------


async def ship(
    uow: UnitOfWork, data: schemas.DeliveryCreate, caller: Caller, deals: Peer, time_zone: str = "UTC"
) -> Delivery:
    s = uow.session
    deal = await deal_of(s, data.deal_id, deals, billing_sight(caller, write=True))
    model = domain.Delivery.ship(
        uuid.uuid4(),
        deal.deal_id,
        data.waybill_number,
        data.shipped_on,
        [domain.DeliveryItem(i.product_id, i.quantity) for i in data.items],
        data.carrier,
        today=today(time_zone),
    )
    if await s.scalar(select(Delivery.id).where(Delivery.waybill_number == model.waybill_number)):
        raise BadReference(f"waybill {model.waybill_number} is recorded already", field="waybill_number")
    row = Delivery(
        id=model.id,
        deal_id=deal.deal_id,
        company_id=deal.company_id,
        waybill_number=model.waybill_number,
        shipped_on=model.shipped_on,
        carrier=model.carrier,
        status=model.status.value,
        items=[{"product_id": str(i.product_id), "quantity": str(i.quantity)} for i in model.items],
        created_at=now(),
    )
    s.add(row)
    uow.emit(
        ev.DeliveryShipped(
            delivery_id=row.id,
            deal_id=row.deal_id,
            company_id=row.company_id,
            waybill=row.waybill_number,
            shipped_on=row.shipped_on,
            carrier=row.carrier,
            items=[ev.DeliveryItemPayload(product_id=i.product_id, quantity=i.quantity) for i in model.items],
        ),
        subject=row.id,
        sequence=1,
        time=fact_time(caller, row.shipped_on, now()),
    )
    await uow.commit()
    return row


async def mark_delivered(uow: UnitOfWork, delivery_id: uuid.UUID, delivered_on: date, caller: Caller) -> Delivery:
    seen = billing_sight(caller, write=True)
    row = await uow.session.get(Delivery, delivery_id, with_for_update=True)
    if row is None or not await _sees(uow.session, seen, row.deal_id, row.company_id):
        raise NotFound(f"no delivery {delivery_id}")
    model = domain.Delivery(
        row.id,
        row.deal_id,
        row.waybill_number,
        row.shipped_on,
        (),
        row.carrier,
        domain.DeliveryStatus(row.status),
        row.delivered_on,
    )
    model.move_to(domain.DeliveryStatus.DELIVERED, delivered_on)
    row.status, row.delivered_on = model.status.value, model.delivered_on
    uow.emit(
        ev.DeliveryDelivered(
            delivery_id=row.id,
            deal_id=row.deal_id,
            company_id=row.company_id,
            waybill=row.waybill_number,
            delivered_on=row.delivered_on,
        ),
        subject=row.id,
        sequence=2,
        time=fact_time(caller, row.delivered_on, now()),
    )
    await uow.commit()
    return row


# --- the overdue sweep ----------------------------------------------------------------------------------


async def mark_overdue(uow: UnitOfWork, day: date) -> int:
    """Every open invoice past its due date becomes overdue, and InvoiceOverdue goes out once for each."""
    s = uow.session
    ids = (
        (
            await s.execute(
                select(Invoice.id).where(
                    Invoice.status.in_([domain.InvoiceStatus.ISSUED.value, domain.InvoiceStatus.PARTLY_PAID.value]),
                    Invoice.due_date < day,
                )
            )
        )
        .scalars()
        .all()
    )
    for invoice_id in ids:
        row, model = await load_invoice(s, invoice_id, seen=None, lock=True)  # the sweep: no caller
        if model.mark_overdue(day):
            _copy(row, model)
            uow.emit(
                ev.InvoiceOverdue(
                    invoice_id=row.id,
                    number=row.number,
                    deal_id=row.deal_id,
                    company_id=row.company_id,
                    outstanding=model.outstanding,
                    currency=row.currency,
                    due_date=row.due_date,
                    days_overdue=model.days_overdue(day),
                ),
                subject=row.id,
                sequence=row.version,
            )
    await uow.commit()
    return len(ids)


# --- views ------------------------------------------------------------------------------------------------


async def get_invoice(session: AsyncSession, invoice_id: uuid.UUID, caller: Caller) -> Invoice:
    return (await load_invoice(session, invoice_id, seen=billing_sight(caller)))[0]


async def list_invoices(
    session: AsyncSession, caller: Caller, *, company_id, deal_id, status, overdue_on: date | None
) -> list[Invoice]:
    stmt = _only_seen(select(Invoice), billing_sight(caller), Invoice.deal_id, Invoice.company_id)
    for column, value in ((Invoice.company_id, company_id), (Invoice.deal_id, deal_id), (Invoice.status, status)):
        if value is not None:
            stmt = stmt.where(column == value)
    if overdue_on is not None:
        stmt = stmt.where(Invoice.status.in_(["issued", "partly_paid", "overdue"]), Invoice.due_date < overdue_on)
    return list((await session.execute(stmt.order_by(Invoice.due_date, Invoice.number, Invoice.id))).scalars())


async def list_payments(session: AsyncSession, caller: Caller, company_id: uuid.UUID) -> list[Payment]:
    stmt = _only_seen(
        select(Payment).where(Payment.company_id == company_id), billing_sight(caller), None, Payment.company_id
    )
    return list((await session.execute(stmt.order_by(Payment.received_on, Payment.id))).scalars())


async def receivables(session: AsyncSession, caller: Caller, *, by: str, day: date) -> list[dict]:
    """Debt and its ageing per client, or per manager (the owner of the deal the invoice is for, or of the
    client card when it is for none), beside the client's credit: money received that no invoice has taken
    yet. Only what the caller sees: a manager gets their own clients, or their own row."""
    seen = billing_sight(caller)
    stmt = (
        select(Invoice, DealReplica.owner_id, ClientReplica.owner_id)
        .outerjoin(DealReplica, DealReplica.deal_id == Invoice.deal_id)
        .outerjoin(ClientReplica, ClientReplica.company_id == Invoice.company_id)
        .where(Invoice.status.in_(["issued", "partly_paid", "overdue", "paid"]))
    )
    rows = (await session.execute(_only_seen(stmt, seen, Invoice.deal_id, Invoice.company_id))).all()
    balances = [
        domain.Balance(
            invoice.company_id if by == "client" else (deal_owner if invoice.deal_id is not None else card_owner),
            invoice.currency,
            domain.InvoiceStatus(invoice.status),
            invoice.total,
            invoice.credited,
            invoice.paid,
            invoice.due_date,
        )
        for invoice, deal_owner, card_owner in rows
    ]
    out = {}
    for r in domain.receivables(balances):
        ageing = domain.ageing([b for b in balances if b.client_id == r.client_id], day).get(
            r.currency, {bucket: quantize(0, r.currency) for bucket in domain.AGEING_BUCKETS}
        )
        out[r.client_id, r.currency] = {
            "key": r.client_id,
            "currency": r.currency,
            "invoiced": r.invoiced,
            "credited": r.credited,
            "paid": r.paid,
            "debt": r.debt,
            "ageing": ageing,
            "credit": quantize(0, r.currency),
        }
    if by == "client":
        credits = (
            await session.execute(
                _only_seen(
                    select(Payment.company_id, Payment.currency, Payment.credit).where(Payment.credit > 0),
                    seen,
                    None,
                    Payment.company_id,
                )
            )
        ).all()
        for company_id, currency, credit in credits:
            zero = quantize(0, currency)
            row = out.setdefault(
                (company_id, currency),
                {
                    "key": company_id,
                    "currency": currency,
                    "invoiced": zero,
                    "credited": zero,
                    "paid": zero,
                    "debt": zero,
                    "ageing": dict.fromkeys(domain.AGEING_BUCKETS, zero),
                    "credit": zero,
                },
            )
            row["credit"] += quantize(credit, currency)
    out = list(out.values())
    return sorted(out, key=lambda r: (-r["debt"], str(r["key"]), r["currency"]))


# --- replicas (fed by deals' and contacts' events) ------------------------------------------------------------------------


async def apply_deal(session: AsyncSession, card, sequence: int) -> None:
    row = await session.get(DealReplica, card.deal_id, with_for_update=True)
    if row is None:
        session.add(
            DealReplica(
                deal_id=card.deal_id,
                company_id=card.company_id,
                owner_id=card.owner_id,
                department_id=card.department_id,
                title=card.title,
                status=card.status,
                currency=card.currency,
                version=sequence,
            )
        )
    elif sequence > row.version:
        row.company_id, row.owner_id, row.department_id = card.company_id, card.owner_id, card.department_id
        row.title = card.title
        row.status, row.currency, row.version = card.status, card.currency, sequence


async def apply_deal_closed(uow: UnitOfWork, closed, status: str, sequence: int) -> None:
    s = uow.session
    deal_id = closed.deal_id
    row = await s.get(DealReplica, deal_id, with_for_update=True)
    if row is None:  # heard before DealOpened, which is now too old to count: the owner comes from here
        s.add(
            DealReplica(
                deal_id=deal_id,
                company_id=closed.company_id,
                owner_id=closed.owner_id,
                department_id=closed.department_id,
                status=status,
                version=sequence,
            )
        )
    elif sequence > row.version:
        row.status, row.version = status, sequence
    if status == "lost":
        # A lost deal bills nothing more: its drafts go. Issued invoices stand (what is owed is owed)
        # until someone cancels or credits them.
        drafts = (
            (
                await s.execute(
                    select(Invoice).where(Invoice.deal_id == deal_id, Invoice.status == "draft").with_for_update()
                )
            )
            .scalars()
            .all()
        )
        for draft in drafts:
            draft.status, draft.cancel_reason, draft.updated_at = "cancelled", "the deal was lost", now()


async def apply_client(
    session: AsyncSession,
    company_id: uuid.UUID,
    name: str | None,
    owner_id: uuid.UUID,
    department_id: uuid.UUID | None,
    sequence: int,
    tax_id: str | None = None,
) -> None:
    """`name` None: a reassignment, which says nothing of the name (nor of the tax id)."""
    row = await session.get(ClientReplica, company_id, with_for_update=True)
    if row is None:
        session.add(
            ClientReplica(
                company_id=company_id,
                name=name,
                tax_id=tax_id,
                owner_id=owner_id,
                department_id=department_id,
                version=sequence,
            )
        )
    elif sequence > row.version:
        if name is not None:
            row.tax_id = tax_id
        row.name = row.name if name is None else name
        row.owner_id, row.department_id, row.version = owner_id, department_id, sequence


async def apply_client_merged(session: AsyncSession, survivor_id: uuid.UUID, absorbed_id: uuid.UUID) -> None:
    row = await session.get(ClientReplica, absorbed_id, with_for_update=True)
    if row is None:
        session.add(ClientReplica(company_id=absorbed_id, merged_into_id=survivor_id, version=0))
    else:
        row.merged_into_id = survivor_id
    # What the absorbed card owed, the survivor owes: contacts moved its history there too.
    for table in (Invoice, Payment, Delivery, Contract):
        await session.execute(update(table).where(table.company_id == absorbed_id).values(company_id=survivor_id))


# --- bank statements: each incoming payment once, matched to its invoice or left for a person ----------------------


def statement_sight(caller: Caller) -> Sight:
    """A statement holds every client's payments: it is for those who see all of billing."""
    seen = billing_sight(caller, write=True)
    if not seen.everything:
        raise NoAccess("bank statements are for executives and admins: a statement holds every client's payments")
    return seen


async def _open_invoices(session: AsyncSession, *, numbers: list[str], tax_id: str | None) -> tuple[dict, list]:
    """The open invoices a line names by number, and those of the payer's client cards, as the matching
    rule sees them."""
    open_states = ["issued", "partly_paid", "overdue"]
    stmt = (
        select(Invoice, ClientReplica.tax_id)
        .outerjoin(ClientReplica, ClientReplica.company_id == Invoice.company_id)
        .where(Invoice.status.in_(open_states))
    )
    named = (await session.execute(stmt.where(Invoice.number.in_(numbers)))).all() if numbers else []
    digits = "".join(c for c in tax_id or "" if c.isdigit())
    theirs = (await session.execute(stmt.where(ClientReplica.tax_id == digits))).all() if digits else []

    def model(row: Invoice, client_tax_id) -> statements.OpenInvoice:
        return statements.OpenInvoice(
            row.id,
            row.number,
            row.company_id,
            client_tax_id,
            row.currency,
            row.total,
            row.total - row.credited - row.paid,
        )

    return {r.number: model(r, t) for r, t in named}, [model(r, t) for r, t in theirs]


async def _pay_from_line(
    uow: UnitOfWork, line: StatementLine, invoice_id: uuid.UUID, company_id: uuid.UUID, time_zone: str, caller: Caller
) -> Payment:
    payment = await add_payment(
        uow,
        schemas.PaymentCreate(
            company_id=company_id,
            amount=line.amount,
            currency=line.currency,
            received_on=line.booked_on,
            method="bank_transfer",
            # Payment order numbers restart every year: the day keeps them apart.
            bank_reference=f"{line.document_number or line.entry_key[-40:]} / {line.booked_on.isoformat()}"[:100],
            allocations=[
                schemas.AllocationIn(
                    invoice_id=invoice_id,
                    amount=min(line.amount, (await load_invoice(uow.session, invoice_id, seen=None))[1].outstanding),
                )
            ],
        ),
        time_zone,
        caller,
        None,
    )
    line.status, line.reason = "matched", None
    line.invoice_id, line.company_id, line.payment_id = invoice_id, company_id, payment.id
    return payment


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
    await uow.commit()
    return line, True


async def match_statement_line(
    uow: UnitOfWork, line_id: uuid.UUID, invoice_id: uuid.UUID, version: int | None, time_zone: str, caller: Caller
) -> StatementLine:
    """A person says which invoice an unmatched payment pays: it is recorded as that client's payment."""
    s = uow.session
    statement_sight(caller)
    line = await s.get(StatementLine, line_id, with_for_update=True)
    if line is None:
        raise NotFound(f"no statement line {line_id}")
    check_version(line, version, "statement line")
    if line.status != "unmatched":
        raise RuleViolation("statement_line_taken", f"the line is {line.status} already")
    invoice, _ = await load_invoice(s, invoice_id, seen=None, field="invoice_id")
    await _pay_from_line(uow, line, invoice.id, invoice.company_id, time_zone, caller)
    line.matched_by, line.version = caller.user_id, line.version + 1
    await uow.commit()
    return line


async def dismiss_statement_line(
    uow: UnitOfWork, line_id: uuid.UUID, reason: str, version: int | None, caller: Caller
) -> StatementLine:
    """Not a client's payment (a refund from a supplier, a loan): off the list, with the reason kept."""
    statement_sight(caller)
    line = await uow.session.get(StatementLine, line_id, with_for_update=True)
    if line is None:
        raise NotFound(f"no statement line {line_id}")
    check_version(line, version, "statement line")
    if line.status != "unmatched":
        raise RuleViolation("statement_line_taken", f"the line is {line.status} already")
    line.status, line.reason, line.matched_by, line.version = "dismissed", reason, caller.user_id, line.version + 1
    await uow.commit()
    return line


async def statement_lines(
    session: AsyncSession, caller: Caller, *, status: str | None, limit: int, cursor: str | None
) -> tuple[list[StatementLine], str | None]:
    statement_sight(caller)
    stmt = select(StatementLine)
    if status is not None:
        stmt = stmt.where(StatementLine.status == status)
    return await keyset_page(session, stmt, (StatementLine.booked_on, StatementLine.id), limit, cursor)


# --- lists for the accounting system, per period --------------------------------------------------------------------


async def list_deliveries(session: AsyncSession, caller: Caller, *, company_id, deal_id, status) -> list[Delivery]:
    stmt = _only_seen(select(Delivery), billing_sight(caller), Delivery.deal_id, Delivery.company_id)
    for column, value in ((Delivery.company_id, company_id), (Delivery.deal_id, deal_id), (Delivery.status, status)):
        if value is not None:
            stmt = stmt.where(column == value)
    return list((await session.execute(stmt.order_by(Delivery.shipped_on, Delivery.id))).scalars())


async def accounting_invoices(
    session: AsyncSession, caller: Caller, *, period_from: date, period_to: date, limit: int, cursor: str | None
) -> tuple[list[tuple[Invoice, ClientReplica | None, domain.Invoice]], str | None]:
    """Invoices issued in the period (cancelled ones too: accounting reverses them), by issue date and number."""
    stmt = _only_seen(
        select(Invoice).where(
            Invoice.issue_date >= period_from, Invoice.issue_date <= period_to, Invoice.number.is_not(None)
        ),
        billing_sight(caller),
        Invoice.deal_id,
        Invoice.company_id,
    )
    rows, next_cursor = await keyset_page(session, stmt, (Invoice.issue_date, Invoice.id), limit, cursor)
    clients = await _clients(session, {r.company_id for r in rows})
    return [(r, clients.get(r.company_id), await invoice_model(session, r)) for r in rows], next_cursor


async def accounting_payments(
    session: AsyncSession, caller: Caller, *, period_from: date, period_to: date, limit: int, cursor: str | None
):
    """Payments received in the period, each with the invoices it paid (by number) and what is left as credit."""
    stmt = _only_seen(
        select(Payment).where(Payment.received_on >= period_from, Payment.received_on <= period_to),
        billing_sight(caller),
        None,
        Payment.company_id,
    )
    rows, next_cursor = await keyset_page(session, stmt, (Payment.received_on, Payment.id), limit, cursor)
    clients = await _clients(session, {r.company_id for r in rows})
    parts = (
        (
            await session.execute(
                select(Allocation.payment_id, Invoice.number, Allocation.amount)
                .join(Invoice, Invoice.id == Allocation.invoice_id)
                .where(Allocation.payment_id.in_([r.id for r in rows]))
                .order_by(Allocation.id)
            )
        ).all()
        if rows
        else []
    )
    paid: dict[uuid.UUID, list[tuple[str, Decimal]]] = {}
    for payment_id, number, amount in parts:
        paid.setdefault(payment_id, []).append((number, amount))
    return [(r, clients.get(r.company_id), paid.get(r.id, [])) for r in rows], next_cursor


async def _clients(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, ClientReplica]:
    if not ids:
        return {}
    return {
        c.company_id: c
        for c in (await session.execute(select(ClientReplica).where(ClientReplica.company_id.in_(ids)))).scalars()
    }
