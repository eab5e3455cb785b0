"""Reports 7 and 9, marketing: the client base and its deals by contact source, region or industry."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics.domain import DealStatus, share
from mercator.analytics.reports.slicing import (
    SEGMENTS,
    ZERO,
    Scope,
    clients_seen,
    deals_seen,
    key_of,
    money,
    months,
    owned,
)
from mercator.analytics.tables import Client, ClientSegments, Deal, DealSegments
from mercator.common.auth import Caller
from mercator.common.visibility import Kind, sight


async def segments(session: AsyncSession, caller: Caller, scope: Scope, *, by: str, facts: bool = False) -> dict:
    """Client cards (opened in the period), the deals opened in it, how many of those were won and for how much."""
    if facts or not scope.on_months():
        return await _segments_facts(session, caller, scope, by)
    cs, ds = ClientSegments, DealSegments
    view = sight(caller, Kind.REPORT)
    seen = await owned(session, caller, scope, cs.owner_id, cs.department_id)
    if view.clients_only:
        seen.append(cs.status == "client")
    # One pass over the segment's cells: the cards the caller counts, and every segment's name (a deal's segment
    # may have no card in the caller's sight).
    counted = and_(cs.in_base.is_(True), *seen, *months(scope, cs.month))
    n = func.coalesce(func.sum(cs.clients).filter(counted), 0)
    cards, names = [], {}
    for key, label, clients, name, everywhere in (
        await session.execute(
            select(
                cs.key_id,
                func.max(cs.label).filter(cs.clients > 0, counted),
                n,
                func.max(cs.label).filter(cs.clients > 0),
                func.sum(cs.clients),
            )
            .where(cs.kind == by)
            .group_by(cs.key_id)
        )
    ).all():
        if clients > 0:
            cards.append((key, label, clients))
        if key is not None and everywhere > 0:
            names[key] = name
    m = func.sum(ds.deals)
    deals = (
        await session.execute(
            select(ds.key_id, m, func.sum(ds.won), func.sum(ds.won_amount).filter(ds.currency == scope.currency))
            .where(
                ds.kind == by,
                *months(scope, ds.month),
                *await owned(session, caller, scope, ds.owner_id, ds.department_id),
            )
            .group_by(ds.key_id)
            .having(m > 0)
        )
    ).all()
    return _segment_rows(by, cards, names, deals)


async def _segments_facts(session: AsyncSession, caller: Caller, scope: Scope, by: str) -> dict:
    key, label = SEGMENTS[by]
    cards = (
        await session.execute(
            select(key, func.max(label), func.count())
            .where(*await clients_seen(session, caller, scope), *scope.within(Client.created_at))
            .group_by(key)
        )
    ).all()
    # A deal's own source (a campaign named on the deal) wins over its client's.
    deal_key = func.coalesce(Deal.source_id, key) if by == "source" else key
    deals = (
        await session.execute(
            select(
                deal_key,
                func.count(),
                func.count().filter(Deal.status == DealStatus.WON.value),
                func.sum(Deal.amount).filter(Deal.status == DealStatus.WON.value, Deal.currency == scope.currency),
            )
            .outerjoin(Client, Client.company_id == Deal.company_id)
            .where(*await deals_seen(session, caller, scope), *scope.within(Deal.opened_at))
            .group_by(deal_key)
        )
    ).all()
    names = dict((await session.execute(select(key, func.max(label)).where(key.is_not(None)).group_by(key))).all())
    return _segment_rows(by, cards, names, deals)


def _segment_rows(by: str, cards: Sequence[Any], names: dict, deals: Sequence[Any]) -> dict:
    rows: dict = defaultdict(lambda: {"name": None, "clients": 0, "deals": 0, "won": 0, "revenue": ZERO})
    for k, name, n in cards:
        rows[k].update(name=name, clients=n)
    for k, n, won, revenue in deals:
        rows[k].update(deals=n, won=won, revenue=revenue or ZERO)
        rows[k]["name"] = rows[k]["name"] or names.get(k)
    out = [
        {"key": key_of(k), **r, "conversion": share(r["won"], r["deals"]), "revenue": money(r["revenue"])}
        for k, r in rows.items()
    ]
    out.sort(key=lambda r: (-Decimal(r["revenue"]), -r["deals"], -r["clients"], r["key"] is None, r["key"] or ""))
    return {"by": by, "rows": out}
