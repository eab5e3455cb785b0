"""Report 11, CEO: of the deals opened in the period, how many reached each stage and were won."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import domain
from mercator.analytics.domain import DealStatus, share
from mercator.analytics.reports.slicing import Scope, deals_seen, months, owned, stage_positions
from mercator.analytics.tables import Deal, Funnel, Transition
from mercator.common.auth import Caller


async def _reached(session: AsyncSession, deals: list, cohort: list) -> dict[str, int]:
    """Of the deals in `cohort`, how many reached each stage of the default pipeline or went past it (stages may
    be skipped: a deal won straight from the demo passed through the proposals too), and how many were won."""
    positions = stage_positions()
    won_position = len(positions)
    position = case({**positions, "won": won_position}, value=Transition.to_stage, else_=-1)
    per_deal = (
        select(
            Deal.deal_id,
            func.max(position).label("p"),
            func.max(case((Deal.status == DealStatus.WON.value, won_position), else_=-1)).label("w"),
        )
        .join(Transition, Transition.deal_id == Deal.deal_id)
        .where(*deals, *cohort)
        .group_by(Deal.deal_id)
        .subquery()
    )
    furthest_p = case((per_deal.c.w > per_deal.c.p, per_deal.c.w), else_=per_deal.c.p)
    counts: dict[int, int] = dict((await session.execute(select(furthest_p, func.count()).group_by(furthest_p))).all())
    return _reached_from(counts)


def _reached_from(counts: dict[int, int]) -> dict[str, int]:
    """Per stage, the deals whose furthest position is at or past it, from counts per furthest position."""
    positions = stage_positions()
    won_position = len(positions)
    reached = {}
    for code, p in [*positions.items(), ("won", won_position)]:
        reached[code] = sum(n for q, n in counts.items() if q is not None and q >= p)
    return reached


async def reached_stages(session: AsyncSession, caller: Caller, scope: Scope, facts: bool) -> dict[str, int]:
    """How many of the deals opened in the period reached each stage, and were won."""
    if facts or not scope.on_months():
        return await _reached(session, await deals_seen(session, caller, scope), scope.within(Deal.opened_at))
    n = func.sum(Funnel.deals)
    counts = dict(
        (
            await session.execute(
                select(Funnel.furthest, n)
                .where(
                    *months(scope, Funnel.month),
                    *await owned(session, caller, scope, Funnel.owner_id, Funnel.department_id),
                )
                .group_by(Funnel.furthest)
                .having(n > 0)
            )
        ).all()
    )
    return _reached_from(counts)


async def funnel(session: AsyncSession, caller: Caller, scope: Scope, *, facts: bool = False) -> dict:
    reached = await reached_stages(session, caller, scope, facts)
    first = reached[domain.DEFAULT_STAGES[0][0]]
    rows = [{"stage": code, "reached": n, "share_of_first_contacts": share(n, first)} for code, n in reached.items()]
    return {"first_contacts": first, "won": reached["won"], "win_rate": share(reached["won"], first), "rows": rows}
