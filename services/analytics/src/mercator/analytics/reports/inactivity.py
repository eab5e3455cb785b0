"""Report 2, head of sales: silent client cards per manager and the activities logged against the team's mean."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import domain
from mercator.analytics.reports.slicing import Scope, clients_seen, key_of, months, owned, user_names
from mercator.analytics.tables import Activities, Activity, Client, ClientSilence
from mercator.common.auth import Caller
from mercator.common.visibility import Kind, sight


async def inactivity(
    session: AsyncSession,
    caller: Caller,
    scope: Scope,
    *,
    days: int,
    low_share: float,
    now: datetime,
    facts: bool = False,
) -> dict:
    clients = await clients_seen(session, caller, scope)
    cutoff = now - timedelta(days=days)
    last = Client.last_activity_at
    silent = or_(last < cutoff, and_(last.is_(None), or_(Client.created_at.is_(None), Client.created_at < cutoff)))
    if facts or not scope.on_months():
        per_owner = (
            await session.execute(
                select(Client.owner_id, func.count(), func.count().filter(silent))
                .where(*clients)
                .group_by(Client.owner_id)
            )
        ).all()
        entries = (
            await session.execute(
                select(Activity.author_id, func.count())
                .join(Client, Client.company_id == Activity.company_id)
                .where(*clients, Activity.kind != "system", *scope.within(Activity.happened_at))
                .group_by(Activity.author_id)
            )
        ).all()
    else:
        per_owner, entries = await _inactivity_cells(session, caller, scope, cutoff, clients)
    rows: dict = defaultdict(lambda: {"clients": 0, "inactive_clients": 0, "activities": 0})
    for owner, n, inactive in per_owner:
        rows[owner].update(clients=n, inactive_clients=inactive)
    for author, n in entries:
        if author in rows or scope.owner_id is None:
            rows[author]["activities"] = n
    # The team is the managers who hold cards: a head's own entries do not set the bar for their team.
    team = [r["activities"] for o, r in rows.items() if r["clients"]]
    team_mean = domain.mean(team)
    names = await user_names(session, rows)
    out = [
        {
            "manager_id": key_of(o),
            "manager": names.get(o),
            **r,
            "low_activity": domain.below_team(r["activities"], team_mean, low_share),
        }
        for o, r in rows.items()
    ]
    out.sort(key=lambda r: (-r["inactive_clients"], r["activities"], r["manager_id"] or ""))
    return {"days": days, "team_mean_activities": None if team_mean is None else round(team_mean, 2), "rows": out}


async def _inactivity_cells(
    session: AsyncSession, caller: Caller, scope: Scope, cutoff: datetime, clients: list
) -> tuple[list, Sequence[Any]]:
    """Cards per manager and how many are silent since `cutoff`, from the cards by day of last entry: the days
    before the cutoff's own day are silent whole; of that one day, the cards are read themselves (an index
    range). Entries per author from the entries aggregate."""
    day = cutoff.astimezone(UTC).date()
    day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    cs = ClientSilence
    seen = await owned(session, caller, scope, cs.owner_id, cs.department_id)
    if sight(caller, Kind.REPORT).clients_only:
        seen.append(cs.status == "client")
    before = or_(cs.last_day < day, and_(cs.last_day.is_(None), or_(cs.created_day.is_(None), cs.created_day < day)))
    n = func.sum(cs.clients)
    counts = {
        owner: [total, silent]
        for owner, total, silent in (
            await session.execute(
                select(cs.owner_id, n, func.coalesce(func.sum(cs.clients).filter(before), 0))
                .where(*seen)
                .group_by(cs.owner_id)
                .having(n > 0)
            )
        ).all()
    }
    last, created = Client.last_activity_at, Client.created_at
    that_day = or_(and_(last >= day_start, last < cutoff), and_(last.is_(None), created >= day_start, created < cutoff))
    for owner, silent in (
        await session.execute(select(Client.owner_id, func.count()).where(*clients, that_day).group_by(Client.owner_id))
    ).all():
        counts[owner][1] += silent
    a = Activities
    m = func.sum(a.entries)
    seen_entries = await owned(session, caller, scope, a.owner_id, a.department_id)
    if sight(caller, Kind.REPORT).clients_only:
        seen_entries.append(a.status == "client")
    entries = (
        await session.execute(
            select(a.author_id, m).where(*seen_entries, *months(scope, a.month)).group_by(a.author_id).having(m > 0)
        )
    ).all()
    return [(owner, total, silent) for owner, (total, silent) in counts.items()], entries
