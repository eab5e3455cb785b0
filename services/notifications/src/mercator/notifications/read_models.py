"""Read models of what templates are filled from, kept from other services' events: each row keeps the newest
version it saw, so an older event arriving late changes nothing."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.db import insert_if_absent
from mercator.common.events import catalogue as ev
from mercator.notifications.tables import (
    CompanyView,
    DealView,
    DepartmentView,
    InvoiceView,
    MarketingEventView,
    PersonView,
    ProductView,
    UserView,
)


async def _upsert(session: AsyncSession, model, key: dict, values: dict, sequence: int | None) -> None:
    row = await insert_if_absent(
        session,
        model,
        **key,
        **values,
        **({"version": 0} if hasattr(model, "version") and "version" not in values else {}),
    )
    if hasattr(model, "version"):
        if sequence is not None and row.version and sequence < row.version:
            return
        values = {**values, "version": sequence or row.version}
    for k, v in values.items():
        setattr(row, k, v)


async def apply_company(session: AsyncSession, p: ev.CompanyCard, sequence: int) -> None:
    await _upsert(
        session,
        CompanyView,
        {"company_id": p.company_id},
        dict(
            name=p.name,
            legal_name=p.legal_name,
            tax_id=p.tax_id,
            owner_id=p.owner_id,
            department_id=p.department_id,
            emails=list(p.emails),
            phones=list(p.phones),
        ),
        sequence,
    )


async def apply_reassigned(session: AsyncSession, p: ev.CompanyReassigned) -> None:
    row = await session.get(CompanyView, p.company_id)
    if row is not None:
        row.owner_id, row.department_id = p.to_owner_id, p.department_id


async def apply_merged(session: AsyncSession, p: ev.CompanyMerged) -> None:
    row = await session.get(CompanyView, p.absorbed_id)
    if row is not None:
        row.merged_into_id = p.company_id
    await session.execute(
        update(PersonView).where(PersonView.company_id == p.absorbed_id).values(company_id=p.company_id)
    )


async def apply_person(session: AsyncSession, p: ev.PersonAdded, sequence: int) -> None:
    await _upsert(
        session,
        PersonView,
        {"person_id": p.person_id},
        dict(company_id=p.company_id, name=p.name, position=p.position, emails=list(p.emails), phones=list(p.phones)),
        sequence,
    )


async def apply_deal(session: AsyncSession, p: ev.DealCard, sequence: int, at: datetime) -> None:
    await _upsert(
        session,
        DealView,
        {"deal_id": p.deal_id},
        dict(
            title=p.title,
            company_id=p.company_id,
            owner_id=p.owner_id,
            department_id=p.department_id,
            stage=p.stage,
            status=p.status,
            amount=p.amount,
            currency=p.currency,
            expected_close_date=p.expected_close_date,
            changed_at=at,
            lines=[line.model_dump(mode="json") for line in getattr(p, "lines", [])],
        ),
        sequence,
    )


async def apply_deal_moved(
    session: AsyncSession, deal_id: uuid.UUID, *, stage: str | None = None, status: str | None = None, at: datetime
) -> None:
    """A stage change or a close: the deal is not stalled, whatever its card says."""
    row = await session.get(DealView, deal_id)
    if row is None:
        return
    if status is None and row.status in ("won", "lost") and at < row.changed_at:
        # A step from before the close read after it (deals splices a late billing fact into the deal's past):
        # history, not the stage the deal is at now.
        return
    if stage:
        row.stage = stage
    if status:
        row.status = status
    row.changed_at = max(row.changed_at, at)


async def apply_product(session: AsyncSession, p: ev.ProductCard, sequence: int) -> None:
    await _upsert(
        session,
        ProductView,
        {"product_id": p.product_id},
        dict(
            code=p.code,
            name=p.name,
            group_name=p.group_name,
            unit=p.unit,
            list_price=p.list_price,
            currency=p.currency,
            active=p.active,
        ),
        sequence,
    )


async def apply_user(session: AsyncSession, p: ev.UserCard, sequence: int) -> None:
    await _upsert(
        session,
        UserView,
        {"user_id": p.user_id},
        dict(name=p.name, email=p.email, roles=list(p.roles), department_id=p.department_id, active=p.active),
        sequence,
    )


async def apply_department(session: AsyncSession, p: ev.DepartmentChanged) -> None:
    await _upsert(
        session, DepartmentView, {"department_id": p.department_id}, dict(name=p.name, parent_id=p.parent_id), None
    )


async def apply_marketing_event(session: AsyncSession, p: ev.MarketingEventCard, sequence: int) -> None:
    await _upsert(
        session,
        MarketingEventView,
        {"marketing_event_id": p.marketing_event_id},
        dict(name=p.name, kind=p.kind, starts_on=p.starts_on, ends_on=p.ends_on, offer=p.offer),
        sequence,
    )


async def apply_invoice_issued(session: AsyncSession, p: ev.InvoiceIssued) -> None:
    await _upsert(
        session,
        InvoiceView,
        {"invoice_id": p.invoice_id},
        dict(
            number=p.number,
            deal_id=p.deal_id,
            company_id=p.company_id,
            issue_date=p.issue_date,
            due_date=p.due_date,
            net=p.net,
            vat=p.vat,
            total=p.total,
            outstanding=p.total,
            currency=p.currency,
            status="issued",
            lines=[l.model_dump(mode="json") for l in p.lines],
        ),
        None,
    )


async def apply_invoice_status(session: AsyncSession, invoice_id: uuid.UUID, status: str, outstanding=None) -> None:
    row = await session.get(InvoiceView, invoice_id)
    if row is None or row.status in ("paid", "cancelled"):
        return
    row.status = status
    if outstanding is not None:
        row.outstanding = outstanding
