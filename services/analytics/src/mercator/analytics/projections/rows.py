"""What the projections of every source share."""

from __future__ import annotations

import uuid
from datetime import UTC

from sqlalchemy.ext.asyncio import AsyncSession


async def placeholder(session: AsyncSession, table, key, **blank):
    """The projected row, locked, or a new placeholder (something about it came before its creation)."""
    row = await session.get(table, key, with_for_update=True)
    if row is None:
        row = table(**blank)
        session.add(row)
        # Written now, so the next event of the same batch finds it instead of adding it a second time.
        await session.flush()
    return row


def utc(moment):
    return moment.astimezone(UTC) if moment is not None else None


def blank_deal(deal_id: uuid.UUID) -> dict:
    return {
        "deal_id": deal_id,
        "card_version": 0,
        "stage_version": 0,
        "lost_version": 0,
        "closed_version": 0,
        "lines_version": 0,
    }
