"""Routes of payments and of the client's credit."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.billing import payments, schemas
from mercator.billing.api.deps import Contacts, TimeZone
from mercator.billing.tables import Allocation, Payment
from mercator.common.http.deps import CurrentUser, SessionDep, UowDep
from mercator.common.money import quantize

router = APIRouter()


def public(row: Payment, allocations: Iterable[Allocation]) -> schemas.PaymentPublic:
    found = schemas.PaymentPublic.model_validate(row, from_attributes=True)
    found.allocations = [
        {"invoice_id": str(a.invoice_id), "amount": str(quantize(a.amount, row.currency))} for a in allocations
    ]
    return found


async def _allocations(session: AsyncSession, rows: list[Payment]) -> dict[uuid.UUID, list[Allocation]]:
    found: dict[uuid.UUID, list[Allocation]] = {}
    if rows:
        stmt = select(Allocation).where(Allocation.payment_id.in_([r.id for r in rows])).order_by(Allocation.id)
        for a in (await session.execute(stmt)).scalars():
            found.setdefault(a.payment_id, []).append(a)
    return found


@router.post("/payments", status_code=201, response_model=schemas.PaymentPublic, tags=["payments"])
async def record_payment(
    body: schemas.PaymentCreate, uow: UowDep, time_zone: TimeZone, caller: CurrentUser, contacts: Contacts
) -> schemas.PaymentPublic:
    """Money received: spread over the named invoices, or the oldest due first; the rest is the client's credit."""
    return public(*await payments.record_payment(uow, body, time_zone, caller, contacts))


@router.get("/payments", response_model=list[schemas.PaymentPublic], tags=["payments"])
async def list_payments(session: SessionDep, caller: CurrentUser, company_id: uuid.UUID) -> list[schemas.PaymentPublic]:
    rows = await payments.list_payments(session, caller, company_id)
    allocations = await _allocations(session, rows)
    return [public(r, allocations.get(r.id, [])) for r in rows]


@router.post("/clients/{company_id}/credit/apply", response_model=list[dict], tags=["payments"])
async def apply_credit(
    company_id: uuid.UUID, body: schemas.ApplyCredit, uow: UowDep, caller: CurrentUser
) -> list[dict[str, Any]]:
    """Let the client's credit (overpayments) pay its open invoices, oldest due first."""
    made = await payments.apply_credit(uow, company_id, body.currency, caller)
    return [{"payment_id": str(a.payment_id), "invoice_id": str(a.invoice_id), "amount": str(a.amount)} for a in made]
