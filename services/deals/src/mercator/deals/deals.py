"""Deals: opened on a client card, edited, given to someone else, rated, sent proposals; read one or a page."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.clock import now
from mercator.common.errors import BadReference, NotFound
from mercator.common.history import recorded_at
from mercator.common.pagination import keyset_page
from mercator.common.uow import UnitOfWork
from mercator.common.versions import check_version
from mercator.common.visibility import Kind, sight
from mercator.deals import domain, repository, schemas
from mercator.deals.clients import ClientCheck
from mercator.deals.policy import may_hold
from mercator.deals.repository import Deals
from mercator.deals.tables import Deal, Product


def happened_at(caller: Caller, deal: domain.Deal, at: datetime | None, field: str = "at") -> datetime:
    """Now, or the earlier time the caller brings in as history: not before the deal's previous move."""
    when = recorded_at(caller, at, now(), field)
    return deal.check_recorded_time(when, field) if at is not None else when


async def held(uow: UnitOfWork, deal_id: uuid.UUID, caller: Caller) -> tuple[Deals, domain.Deal]:
    """The deal a change names, locked, if the caller may change it (someone else's answers as missing)."""
    deals = Deals.of(uow)
    return deals, await deals.get(deal_id, sight=sight(caller, Kind.DEAL, write=True))


def seen(stmt: Select, caller: Caller) -> Select:
    """Lists and the board hold only the deals the caller sees, filtered in SQL."""
    clause = repository.visible(sight(caller, Kind.DEAL))
    return stmt if clause is None else stmt.where(clause)


async def _lines(session: AsyncSession, lines: list[schemas.DealLineIn]) -> list[domain.DealLine]:
    """The lines of a request, each naming a product of the catalogue."""
    ids = {line.product_id for line in lines}
    found = set((await session.execute(select(Product.id).where(Product.id.in_(ids)))).scalars()) if ids else set()
    for i, line in enumerate(lines):
        if line.product_id not in found:
            raise BadReference(f"there is no product {line.product_id}", field=f"lines[{i}].product_id")
    return [domain.DealLine(li.product_id, li.quantity, li.unit_price, li.discount_percent) for li in lines]


async def open_deal(uow: UnitOfWork, data: schemas.DealCreate, caller: Caller, clients: ClientCheck) -> domain.Deal:
    s = uow.session
    owner_id = data.owner_id or caller.user_id
    department_id = data.department_id if "department_id" in data.model_fields_set else caller.department_id
    may_hold(caller, owner_id, department_id)
    await clients.ensure_exists(s, data.company_id)
    try:
        pipeline = await repository.pipeline(s, data.pipeline_id or await repository.default_pipeline_id(s))
    except NotFound as exc:
        raise BadReference(exc.message, field="pipeline_id") from None
    lines = await _lines(s, data.lines)
    deal, _ = domain.Deal.open(
        uuid.uuid4(),
        pipeline,
        recorded_at(caller, data.opened_at, now(), "opened_at"),
        caller.user_id,
        data.currency,
        data.amount,
        data.expected_close_date,
        data.stage,
        lines,
        title=data.title,
        company_id=data.company_id,
        owner_id=owner_id,
        department_id=department_id,
        source_id=data.source_id,
        marketing_event_id=data.marketing_event_id,
    )
    await Deals.of(uow).add(deal)
    return deal


_EDITABLE = ("title", "amount", "expected_close_date", "source_id", "marketing_event_id", "lines")


async def update_deal(
    uow: UnitOfWork, deal_id: uuid.UUID, data: schemas.DealUpdate, expected_version: int | None, caller: Caller
) -> domain.Deal:
    deals, deal = await held(uow, deal_id, caller)
    check_version(deal, expected_version, "deal")
    changes = {f: getattr(data, f) for f in _EDITABLE if f in data.model_fields_set}
    if "lines" in changes:
        changes["lines"] = await _lines(uow.session, data.lines or [])
    deal.edit(changes)
    await deals.save(deal)
    return deal


async def reassign_deal(
    uow: UnitOfWork, deal_id: uuid.UUID, data: schemas.DealReassign, expected_version: int | None, caller: Caller
) -> domain.Deal:
    deals, deal = await held(uow, deal_id, caller)
    check_version(deal, expected_version, "deal")
    department_id = data.department_id if "department_id" in data.model_fields_set else deal.department_id
    may_hold(caller, data.owner_id, department_id, deal.department_id)
    deal.reassign(data.owner_id, department_id)
    await deals.save(deal)
    return deal


async def rate_interest(
    uow: UnitOfWork, deal_id: uuid.UUID, data: schemas.InterestRating, caller: Caller
) -> domain.Deal:
    deals, deal = await held(uow, deal_id, caller)
    deal.rate_interest(data.rating, data.comment, happened_at(caller, deal, data.at), caller.user_id)
    await deals.save(deal)
    return deal


async def send_proposal(
    uow: UnitOfWork, deal_id: uuid.UUID, data: schemas.ProposalCreate, caller: Caller, contacts: ClientCheck
) -> domain.Proposal:
    deals, deal = await held(uow, deal_id, caller)
    proposal = deal.send_proposal(
        uuid.uuid4(), data.documents, data.recipient_person_ids, data.channel, data.message, now(), caller.user_id
    )
    assert deal.company_id is not None  # every stored deal is on a client card
    for i, person_id in enumerate(data.recipient_person_ids):  # only people of the deal's client
        await contacts.ensure_person_of(uow.session, deal.company_id, person_id, f"recipient_person_ids[{i}]")
    await deals.save(deal)
    return proposal


async def get_deal(session: AsyncSession, deal_id: uuid.UUID, caller: Caller) -> domain.Deal:
    return await Deals(session).get(deal_id, sight=sight(caller, Kind.DEAL), lock=False)


async def list_deals(
    session: AsyncSession,
    caller: Caller,
    *,
    owner_id: uuid.UUID | None,
    department_id: uuid.UUID | None,
    company_id: uuid.UUID | None,
    pipeline_id: uuid.UUID | None,
    stage: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Deal], str | None]:
    stmt = seen(select(Deal), caller)
    for column, value in (
        (Deal.owner_id, owner_id),
        (Deal.department_id, department_id),
        (Deal.company_id, company_id),
        (Deal.pipeline_id, pipeline_id),
        (Deal.stage_code, stage),
        (Deal.status, status),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return await keyset_page(session, stmt, (Deal.opened_at, Deal.id), limit, cursor, descending=True)
