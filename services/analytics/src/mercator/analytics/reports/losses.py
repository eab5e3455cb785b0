"""Report 5, head of sales: deals lost by reason and stage, per manager beside the team."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics.domain import DealStatus, share
from mercator.analytics.reports.slicing import Scope, deals_seen, key_of, months, owned, user_names
from mercator.analytics.tables import ClosedDeals, Deal
from mercator.common.auth import Caller


async def losses(session: AsyncSession, caller: Caller, scope: Scope, *, facts: bool = False) -> dict:
    team_scope = Scope(scope.start, scope.end, scope.department_id, None, scope.currency)
    if facts or not scope.on_months():
        lost = (Deal.status == DealStatus.LOST.value, *scope.within(Deal.closed_at))
        mine = (
            await session.execute(
                select(Deal.owner_id, Deal.lost_reason, Deal.lost_at_stage, func.count())
                .where(*lost, *await deals_seen(session, caller, scope))
                .group_by(Deal.owner_id, Deal.lost_reason, Deal.lost_at_stage)
            )
        ).all()
        team = (
            await session.execute(
                select(Deal.lost_reason, Deal.lost_at_stage, func.count())
                .where(*lost, *await deals_seen(session, caller, team_scope))
                .group_by(Deal.lost_reason, Deal.lost_at_stage)
            )
        ).all()
    else:
        c, summed = ClosedDeals, func.sum(ClosedDeals.deals)
        lost = (c.status == DealStatus.LOST.value, *months(scope, c.month))
        mine = (
            await session.execute(
                select(c.owner_id, c.lost_reason, c.lost_at_stage, summed)
                .where(*lost, *await owned(session, caller, scope, c.owner_id, c.department_id))
                .group_by(c.owner_id, c.lost_reason, c.lost_at_stage)
                .having(summed > 0)
            )
        ).all()
        team = (
            await session.execute(
                select(c.lost_reason, c.lost_at_stage, summed)
                .where(*lost, *await owned(session, caller, team_scope, c.owner_id, c.department_id))
                .group_by(c.lost_reason, c.lost_at_stage)
                .having(summed > 0)
            )
        ).all()
    team_total = sum(n for *_, n in team)
    team_counts = {(r, s): n for r, s, n in team}
    per_manager: dict = defaultdict(int)
    for owner, *_, n in mine:
        per_manager[owner] += n
    names = await user_names(session, per_manager)
    rows: list[dict[str, Any]] = [
        {
            "manager_id": key_of(o),
            "manager": names.get(o),
            "reason": r,
            "stage": s,
            "lost": n,
            "share": share(n, per_manager[o]),
            "team_lost": team_counts.get((r, s), 0),
            "team_share": share(team_counts.get((r, s), 0), team_total),
        }
        for o, r, s, n in mine
    ]
    rows.sort(key=lambda x: (x["manager_id"] or "", -x["lost"], x["reason"] or "", x["stage"] or ""))
    team_rows: list[dict[str, Any]] = [
        {"reason": r, "stage": s, "lost": n, "share": share(n, team_total)} for (r, s), n in team_counts.items()
    ]
    team_rows.sort(key=lambda x: (-x["lost"], x["reason"] or "", x["stage"] or ""))
    return {"rows": rows, "team": team_rows, "team_lost": team_total}
