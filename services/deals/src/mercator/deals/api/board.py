"""Routes of the board: the columns of a pipeline, and its cards."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from mercator.common.errors import InvalidValue
from mercator.common.http.deps import CurrentUser, SessionDep
from mercator.common.pagination import Page
from mercator.deals import board, schemas

router = APIRouter()


@router.get("/board", response_model=schemas.BoardPublic, tags=["deals"])
async def pipeline_board(
    session: SessionDep,
    caller: CurrentUser,
    pipeline_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
    department_id: uuid.UUID | None = None,
    as_of: Annotated[datetime | None, Query(description="the board as it stood then")] = None,
):
    """Deals by stage: counts, sums and weighted sums per currency, stalled deals flagged; only the deals
    the caller sees."""
    if as_of is not None and as_of.tzinfo is None:
        raise InvalidValue("naive_time", "a time must carry its UTC offset (RFC 3339)", "as_of")
    pipeline, columns, when = await board.board(
        session, caller, pipeline_id=pipeline_id, owner_id=owner_id, department_id=department_id, as_of=as_of
    )
    return schemas.BoardPublic(
        pipeline_id=pipeline.id,
        as_of=when,
        columns=[
            schemas.BoardColumnPublic(
                stage=c.stage.code,
                name=c.stage.name,
                probability=c.stage.probability,
                count=c.count,
                amounts=c.amounts,
                weighted=c.weighted,
                stalled=c.stalled,
                stalled_deal_ids=list(c.stalled_ids),
            )
            for c in columns
        ],
    )


@router.get("/board/cards", response_model=Page[schemas.BoardCardPublic], tags=["deals"])
async def board_cards(
    session: SessionDep,
    caller: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    cursor: str | None = None,
    pipeline_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
    department_id: uuid.UUID | None = None,
    stage: str | None = None,
):
    """The open deals on the board as lean cards (title, amount, owner and their name, stage, version, stalled),
    newest first, up to 5,000 a page: a board of thousands of deals in one or a few reads. Only the deals the
    caller sees."""
    rows, nxt = await board.board_cards(
        session,
        caller,
        pipeline_id=pipeline_id,
        owner_id=owner_id,
        department_id=department_id,
        stage=stage,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=rows, next_cursor=nxt)
