"""A deal's way through its pipeline: moved on the board, won, lost, reopened, or moved on by billing's facts."""

from __future__ import annotations

import uuid
from datetime import datetime

from mercator.common.auth import Caller
from mercator.common.errors import NotFound
from mercator.common.uow import UnitOfWork
from mercator.common.versions import check_version
from mercator.deals import domain, lost_reasons, repository, schemas
from mercator.deals.deals import happened_at, held
from mercator.deals.repository import Deals


async def move_deal(
    uow: UnitOfWork, deal_id: uuid.UUID, data: schemas.Move, caller: Caller, expected_version: int | None
) -> domain.Deal:
    deals, deal = await held(uow, deal_id, caller)
    check_version(deal, expected_version, "deal")
    deal.move_to(data.stage, happened_at(caller, deal, data.at), caller.user_id, data.comment)
    await deals.save(deal)
    return deal


async def win_deal(uow: UnitOfWork, deal_id: uuid.UUID, data: schemas.Close, caller: Caller) -> domain.Deal:
    deals, deal = await held(uow, deal_id, caller)
    deal.win(happened_at(caller, deal, data.at), caller.user_id, data.comment)
    await deals.save(deal)
    return deal


async def lose_deal(uow: UnitOfWork, deal_id: uuid.UUID, data: schemas.Lose, caller: Caller) -> domain.Deal:
    deals, deal = await held(uow, deal_id, caller)
    reason = await lost_reasons.active(uow.session, data.reason_id)
    at = happened_at(caller, deal, data.at)
    deal.lose(reason.name if reason else None, at, caller.user_id, data.comment, reason.id if reason else None)
    await deals.save(deal)
    return deal


async def reopen_deal(uow: UnitOfWork, deal_id: uuid.UUID, data: schemas.Reopen, caller: Caller) -> domain.Deal:
    deals, deal = await held(uow, deal_id, caller)
    deal.reopen(happened_at(caller, deal, data.at), caller.user_id, data.comment, data.stage)
    await deals.save(deal)
    return deal


async def advance_automatically(
    uow: UnitOfWork, deal_id: uuid.UUID, stage_code: str, at: datetime, cause_event_id: uuid.UUID
) -> domain.Deal | None:
    """Billing says the deal is further on: move it forward by itself, pointing at the cause. A fact
    read after a later one takes its place in the kept path at its own time."""
    deals = Deals.of(uow)
    try:
        deal = await deals.get(deal_id, sight=None)  # no caller: billing's fact
    except NotFound:
        return None
    if deal.advance_automatically(stage_code, at, str(cause_event_id)) is None:
        # Also after the deal was closed: the fact is from before, and the kept path should show it.
        kept = await deals.path(deal_id)
        spliced = deal.splice_late_fact([repository.as_domain(t) for t in kept], stage_code, at, str(cause_event_id))
        if spliced is None:
            return None
        index, rewritten = spliced
        kept[index].from_stage, kept[index].seconds_in_previous = rewritten.from_stage, rewritten.seconds_in_previous
    await deals.save(deal)
    return deal
