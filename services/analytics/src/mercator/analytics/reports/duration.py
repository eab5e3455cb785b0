"""Report 4, head of sales: days from first contact to close, time in each stage, conversion between stages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import func, literal_column, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import bulk, domain
from mercator.analytics.aggregates import microseconds
from mercator.analytics.domain import DealStatus, share
from mercator.analytics.reports.funnel import reached_stages
from mercator.analytics.reports.slicing import Scope, deals_seen, key_of, months, owned, stage_positions, user_names
from mercator.analytics.tables import Deal, DealDurations, DealDurationTotals, DealLine, Product, StageTimes, Transition
from mercator.common.auth import Caller


async def duration(session: AsyncSession, caller: Caller, scope: Scope, *, by: str, facts: bool = False) -> dict:
    """Days from opening (first contact) to close of the deals closed in the period, won and lost apart: the mean
    is exact (from the spans' microseconds), the median is of whole days (each span rounded down to the day), the
    resolution of the durations aggregate. Time in each stage: the mean over the steps out of it in the period."""
    deals = await deals_seen(session, caller, scope)
    from_cells = not facts and scope.on_months()
    rows, whole = await _span_rows(session, by, await _spans(session, caller, scope, by, deals, from_cells))
    return {
        "by": by,
        "rows": rows,
        "all": whole if by == "manager" else None,
        "stages": await _stage_rows(session, caller, scope, deals, from_cells),
        "conversion": await _conversion(session, caller, scope, facts),
    }


async def _spans(
    session: AsyncSession, caller: Caller, scope: Scope, by: str, deals: list, from_cells: bool
) -> Sequence[Any]:
    """`_span_groups` of the deals closed in the period, per manager or product."""
    if by == "manager" and from_cells:
        return await _span_cells(session, caller, scope)
    closed = (
        Deal.status.in_([DealStatus.WON.value, DealStatus.LOST.value]),
        Deal.opened_at.is_not(None),
        Deal.closed_at.is_not(None),
        *scope.within(Deal.closed_at),
        *deals,
    )
    key = Deal.owner_id if by == "manager" else DealLine.product_id
    join = (DealLine, DealLine.deal_id == Deal.deal_id) if by == "product" else None
    return _span_groups(await _span_facts(session, key, closed, join))


async def _span_rows(session: AsyncSession, by: str, groups: Sequence[Any]) -> tuple[list, dict]:
    """The rows per key, biggest first, and the figures over every key."""
    nothing = {"deals": 0, "mean_days": None, "median_days": None}
    per_key: dict = defaultdict(lambda: {"won": dict(nothing), "lost": dict(nothing)})
    whole = {"won": dict(nothing), "lost": dict(nothing)}
    for everyone, k, status, *figures in groups:
        (whole if everyone else per_key[k])[status] = _figures(*figures)
    if by == "manager":
        names = await user_names(session, per_key)
    else:
        names = (
            dict(
                (
                    await session.execute(
                        select(Product.product_id, Product.name).where(Product.product_id.in_(list(per_key)))
                    )
                ).all()
            )
            if per_key
            else {}
        )
    rows = [{"key": key_of(k), "name": names.get(k), **v} for k, v in per_key.items()]
    rows.sort(key=lambda r: (-(r["won"]["deals"] + r["lost"]["deals"]), r["key"] or ""))
    return rows, whole


async def _stage_rows(session: AsyncSession, caller: Caller, scope: Scope, deals: list, from_cells: bool) -> list:
    """Per stage, the steps out of it in the period and the mean days the deals stood in it."""
    if from_cells:
        st = StageTimes
        stages: Sequence[Any] = (
            await session.execute(
                select(st.stage, func.sum(st.exits), func.sum(st.seconds))
                .where(*months(scope, st.month), *await owned(session, caller, scope, st.owner_id, st.department_id))
                .group_by(st.stage)
                .having(func.sum(st.exits) > 0)
            )
        ).all()
    else:
        # Every step out of a stage says how long the deal stood in it.
        stages = (
            await session.execute(
                select(Transition.from_stage, func.count(), func.sum(Transition.seconds_in_previous))
                .join(Deal, Deal.deal_id == Transition.deal_id)
                .where(
                    Transition.from_stage.is_not(None),
                    Transition.seconds_in_previous.is_not(None),
                    *deals,
                    *scope.within(Transition.at),
                )
                .group_by(Transition.from_stage)
            )
        ).all()
    order = stage_positions()
    stage_rows: list[dict[str, Any]] = [
        {"stage": s, "exits": n, "mean_days": round(float(Decimal(total) / n / 86400), 2)} for s, n, total in stages
    ]
    stage_rows.sort(key=lambda r: (order.get(r["stage"], 99), r["stage"]))
    return stage_rows


async def _conversion(session: AsyncSession, caller: Caller, scope: Scope, facts: bool) -> list:
    """From each stage of the default pipeline to the next (the last to won): how many reached it, went on."""
    reached = await reached_stages(session, caller, scope, facts)
    codes = [c for c, _ in domain.DEFAULT_STAGES]
    return [
        {
            "from_stage": a,
            "to_stage": b,
            "reached": reached[a],
            "went_on": reached[b],
            "conversion": share(reached[b], reached[a]),
        }
        for a, b in zip(codes, [*codes[1:], "won"], strict=True)
    ]


def _figures(n: int, total: int, low: int, high: int) -> dict:
    """A group's figures from its deals, their spans' summed microseconds and the two middle spans' whole days."""
    return {
        "deals": n,
        "mean_days": round(float(Decimal(total) / n / 86_400_000_000), 1),
        "median_days": round((low + high) / 2, 1),
    }


def _span_groups(spans: Sequence[Any]) -> list:
    """Per key and status, and per status over every key: (over every key, key, status, deals, summed
    microseconds, the whole days of the two middle spans), from (key, status, whole days, deals, microseconds)."""
    histograms: dict = defaultdict(lambda: [0, 0, defaultdict(int)])
    for k, status, days, n, total in spans:
        for held in (histograms[(False, k, status)], histograms[(True, None, status)]):
            held[0] += n
            held[1] += total
            held[2][int(days)] += n
    return [(*group, n, total, *_middle(days, n)) for group, (n, total, days) in histograms.items()]


def _middle(days: dict[int, int], n: int) -> tuple[int, int]:
    """The two middle values (the same one when `n` is odd) of `n` values given as how many of each value."""
    wanted = [(n - 1) // 2, n // 2]
    found, seen = [], 0
    for value in sorted(days):
        seen += days[value]
        while wanted and wanted[0] < seen:
            found.append(value)
            wanted.pop(0)
    return found[0], found[1]


async def _span_cells(session: AsyncSession, caller: Caller, scope: Scope) -> list:
    """`_span_groups` from the durations aggregate. PostgreSQL finds the medians itself, so only the groups travel;
    elsewhere (SQLite in the embedded run) the histograms come back to Python."""
    whole_time = scope.start is None and scope.end is None
    dd = DealDurationTotals if whole_time else DealDurations
    n = func.sum(dd.deals)
    seen = [
        *([] if whole_time else months(scope, DealDurations.month)),
        *await owned(session, caller, scope, dd.owner_id, dd.department_id),
    ]
    if not bulk.on_postgres(session):
        return _span_groups(
            (
                await session.execute(
                    select(dd.owner_id, dd.status, dd.days, n, func.sum(dd.microseconds))
                    .where(*seen)
                    .group_by(dd.owner_id, dd.status, dd.days)
                    .having(n > 0)
                )
            ).all()
        )
    everyone = func.grouping(dd.owner_id) == 1
    histogram = (
        select(
            everyone.label("everyone"),
            dd.owner_id,
            dd.status,
            dd.days,
            n.label("n"),
            func.sum(dd.microseconds).label("total"),
        )
        .where(*seen)
        .group_by(func.grouping_sets(tuple_(dd.owner_id, dd.status, dd.days), tuple_(dd.status, dd.days)))
        .having(n > 0)
        .subquery()
    )
    h = histogram.c
    group = (h.everyone, h.owner_id, h.status)
    running = select(
        *group,
        h.days,
        func.sum(h.n).over(partition_by=group, order_by=h.days).label("seen"),
        func.sum(h.n).over(partition_by=group).label("n"),
        func.sum(h.total).over(partition_by=group).label("total"),
    ).subquery()
    r = running.c
    return [
        (everyone, k, status, int(n), int(total), low, high)
        for everyone, k, status, n, total, low, high in (
            await session.execute(
                select(
                    r.everyone,
                    r.owner_id,
                    r.status,
                    r.n,
                    r.total,
                    func.min(r.days).filter(r.seen > func.div(r.n - 1, 2)),
                    func.min(r.days).filter(r.seen > func.div(r.n, 2)),
                ).group_by(r.everyone, r.owner_id, r.status, r.n, r.total)
            )
        ).all()
    ]


async def _span_facts(session: AsyncSession, key, where, join) -> list:
    """(key, status, whole days, deals, summed microseconds) from the deals themselves. PostgreSQL groups them;
    elsewhere (SQLite in the embedded run) the spans come back to Python."""
    if bulk.on_postgres(session):
        span = func.extract("epoch", Deal.closed_at - Deal.opened_at)
        # A literal, not a parameter: the grouping must be the very expression selected.
        days = func.floor(span / literal_column("86400"))
        stmt = (
            select(key, Deal.status, days, func.count(), func.sum(span)).where(*where).group_by(key, Deal.status, days)
        )
        if join is not None:
            stmt = stmt.join(*join)
        return [
            (k, status, int(d), n, int(total * 1_000_000))
            for k, status, d, n, total in (await session.execute(stmt)).all()
        ]
    stmt = select(key, Deal.status, Deal.opened_at, Deal.closed_at).where(*where)
    if join is not None:
        stmt = stmt.join(*join)
    out = []
    for k, status, opened, closed_at in (await session.execute(stmt)).all():
        span = domain.as_utc(closed_at) - domain.as_utc(opened)
        out.append((k, status, span.days, 1, microseconds(span)))
    return out
