"""The twelve reports of the head of sales, marketing and the CEO, read from the projections.

Every report takes the same scope (period, department with its sub-departments, manager, currency) and
counts only what the caller sees (mercator.common.visibility, Kind.REPORT): a manager their own deals and
clients, a head their department subtree, marketing, executives and admins everything.
Aggregation happens in SQL wherever the database can do it; Python only finishes (medians, trends, shares).

Where a report's figures are sums over cells of the aggregates (`aggregates`: month x manager x department x
stage, ...) and the period falls on whole months (UTC), it reads those few rows; otherwise it reads the facts.
`facts=True` makes it read the facts always: the two must agree, and the tests hold them to it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import (
    and_,
    case,
    distinct,
    extract,
    func,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import domain
from mercator.analytics.aggregates import microseconds
from mercator.analytics.domain import DealStatus, Period, share
from mercator.analytics.service import _IN_BASE, _seen_clients
from mercator.analytics.tables import (
    Activities,
    Activity,
    Client,
    ClientCards,
    ClientSegments,
    ClientSilence,
    ClosedDeals,
    Deal,
    DealDurations,
    DealDurationTotals,
    DealLine,
    DealSegments,
    Department,
    Funnel,
    Invoice,
    MarketingEvent,
    OpenDeals,
    Participant,
    Product,
    Receivables,
    StageTimes,
    Transition,
    User,
)
from mercator.common.auth import Caller
from mercator.common.visibility import Kind, sight

ZERO = Decimal(0)


@dataclass(frozen=True)
class Scope:
    """The filters every report takes. `start` inclusive, `end` exclusive; None: open-ended."""

    start: datetime | None = None
    end: datetime | None = None
    department_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    currency: str = "RUB"

    def within(self, column) -> list:
        conditions = []
        if self.start is not None:
            conditions.append(column >= self.start)
        if self.end is not None:
            conditions.append(column < self.end)
        return conditions

    def on_months(self) -> bool:
        """Whether the period starts and ends on the first of a month at midnight UTC (or is open-ended): what
        the aggregates' months can answer exactly."""
        return all(
            t is None or t.astimezone(UTC) == datetime(t.astimezone(UTC).year, t.astimezone(UTC).month, 1, tzinfo=UTC)
            for t in (self.start, self.end)
        )

    def on_month_dates(self) -> bool:
        """The same for a period applied to dates (the expected close date)."""
        return all(t is None or t.astimezone(UTC).day == 1 for t in (self.start, self.end))

    def within_dates(self, column) -> list:
        conditions = []
        if self.start is not None:
            conditions.append(column >= self.start.astimezone(UTC).date())
        if self.end is not None:
            conditions.append(column < self.end.astimezone(UTC).date())
        return conditions


def money(value) -> str:
    return f"{Decimal(value or 0):.2f}"


async def _subtree(session: AsyncSession, root: uuid.UUID) -> set[uuid.UUID]:
    children: dict[uuid.UUID | None, list[uuid.UUID]] = defaultdict(list)
    for dept, parent in (await session.execute(select(Department.department_id, Department.parent_id))).all():
        children[parent].append(dept)
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


async def _owned(session: AsyncSession, caller: Caller, scope: Scope, owner, dept) -> list:
    """Visibility and the department/manager filters as SQL conditions on an owner and a department column."""
    view = sight(caller, Kind.REPORT)
    conditions = []
    if not view.everything:
        conditions.append(or_(owner == view.owner_id, dept.in_(view.departments)))
    if scope.department_id is not None:
        conditions.append(dept.in_(await _subtree(session, scope.department_id)))
    if scope.owner_id is not None:
        conditions.append(owner == scope.owner_id)
    return conditions


async def _deals(session, caller, scope) -> list:
    return [Deal.company_id.is_not(None), *await _owned(session, caller, scope, Deal.owner_id, Deal.department_id)]


async def _clients(session, caller, scope) -> list:
    conditions = [*_IN_BASE, *_seen_clients(caller)]
    if scope.department_id is not None:
        conditions.append(Client.department_id.in_(await _subtree(session, scope.department_id)))
    if scope.owner_id is not None:
        conditions.append(Client.owner_id == scope.owner_id)
    return conditions


async def _cards_seen(session, caller, scope) -> list:
    """`_clients` as conditions on the client card aggregate."""
    view = sight(caller, Kind.REPORT)
    conditions = []
    if not view.everything:
        conditions.append(or_(ClientCards.owner_id == view.owner_id, ClientCards.department_id.in_(view.departments)))
    if view.clients_only:
        conditions.append(ClientCards.status == "client")
    if scope.department_id is not None:
        conditions.append(ClientCards.department_id.in_(await _subtree(session, scope.department_id)))
    if scope.owner_id is not None:
        conditions.append(ClientCards.owner_id == scope.owner_id)
    return conditions


async def _user_names(session: AsyncSession, ids) -> dict[uuid.UUID, str | None]:
    ids = [i for i in ids if i is not None]
    if not ids:
        return {}
    return dict((await session.execute(select(User.user_id, User.name).where(User.user_id.in_(ids)))).all())


def _key(value) -> str | None:
    return None if value is None else str(value)


def _won(scope: Scope) -> list:
    return [Deal.status == DealStatus.WON.value, Deal.currency == scope.currency, *scope.within(Deal.closed_at)]


def _months(scope: Scope, column) -> list:
    """The period (on whole months, `Scope.on_months`) as conditions on an aggregate's month column."""
    return scope.within_dates(column)


def _stage_positions() -> dict[str, int]:
    return {code: i for i, (code, _) in enumerate(domain.DEFAULT_STAGES)}


# 1. Workload --------------------------------------------------------------------------------------


async def workload(session: AsyncSession, caller: Caller, scope: Scope, *, facts: bool = False) -> dict:
    if facts:
        deals = (
            await session.execute(
                select(Deal.owner_id, Deal.stage, func.count(), func.sum(Deal.amount))
                .where(Deal.status == DealStatus.OPEN.value, *await _deals(session, caller, scope))
                .group_by(Deal.owner_id, Deal.stage)
            )
        ).all()
        clients = (
            await session.execute(
                select(Client.owner_id, func.count())
                .where(*await _clients(session, caller, scope))
                .group_by(Client.owner_id)
            )
        ).all()
    else:
        n = func.sum(OpenDeals.deals)
        deals = (
            await session.execute(
                select(OpenDeals.owner_id, OpenDeals.stage, n, func.sum(OpenDeals.amount))
                .where(*await _owned(session, caller, scope, OpenDeals.owner_id, OpenDeals.department_id))
                .group_by(OpenDeals.owner_id, OpenDeals.stage)
                .having(n > 0)
            )
        ).all()
        cards = func.sum(ClientCards.clients)
        clients = (
            await session.execute(
                select(ClientCards.owner_id, cards)
                .where(*await _cards_seen(session, caller, scope))
                .group_by(ClientCards.owner_id)
                .having(cards > 0)
            )
        ).all()
    rows: dict = defaultdict(
        lambda: {
            "clients": 0,
            "open_deals": 0,
            "open_amount": ZERO,
            "by_stage": {code: 0 for code, _ in domain.DEFAULT_STAGES},
        }
    )
    for owner, n in clients:
        rows[owner]["clients"] = n
    for owner, stage, n, amount in deals:
        row = rows[owner]
        row["open_deals"] += n
        row["open_amount"] += amount or ZERO
        row["by_stage"][stage or "unknown"] = row["by_stage"].get(stage or "unknown", 0) + n
    names = await _user_names(session, rows)
    out = [
        {"manager_id": _key(o), "manager": names.get(o), **r, "open_amount": money(r["open_amount"])}
        for o, r in rows.items()
    ]
    out.sort(key=lambda r: (-r["open_deals"], -r["clients"], r["manager_id"] or ""))
    return {"rows": out}


# 2. Inactivity ------------------------------------------------------------------------------------


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
    clients = await _clients(session, caller, scope)
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
    names = await _user_names(session, rows)
    out = [
        {
            "manager_id": _key(o),
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
) -> tuple[list, list]:
    """Cards per manager and how many are silent since `cutoff`, from the cards by day of last entry: the days
    before the cutoff's own day are silent whole; of that one day, the cards are read themselves (an index
    range). Entries per author from the entries aggregate."""
    day = cutoff.astimezone(UTC).date()
    day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    cs = ClientSilence
    seen = await _owned(session, caller, scope, cs.owner_id, cs.department_id)
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
    seen_entries = await _owned(session, caller, scope, a.owner_id, a.department_id)
    if sight(caller, Kind.REPORT).clients_only:
        seen_entries.append(a.status == "client")
    entries = (
        await session.execute(
            select(a.author_id, m).where(*seen_entries, *_months(scope, a.month)).group_by(a.author_id).having(m > 0)
        )
    ).all()
    return [(owner, total, silent) for owner, (total, silent) in counts.items()], entries


# 3. Receivables -----------------------------------------------------------------------------------


async def receivables(
    session: AsyncSession, caller: Caller, scope: Scope, *, by: str, today: date, facts: bool = False
) -> dict:
    if by == "manager" and not facts:
        return await _receivables_by_manager(session, caller, scope, today)
    outstanding = Invoice.total - Invoice.credited - Invoice.paid
    manager = func.coalesce(Deal.owner_id, Client.owner_id)
    dept = func.coalesce(Deal.department_id, Client.department_id)
    buckets = _ageing(Invoice.due_date, today)
    base = (
        Invoice.total.is_not(None),
        Invoice.cancelled.is_(False),
        Invoice.currency == scope.currency,
        outstanding > 0,
        *await _owned(session, caller, scope, manager, dept),
    )
    source = (
        select()
        .select_from(Invoice)
        .outerjoin(Deal, Deal.deal_id == Invoice.deal_id)
        .outerjoin(Client, Client.company_id == Invoice.company_id)
    )
    if by == "invoice":
        stmt = (
            source.add_columns(
                Invoice.invoice_id,
                Invoice.number,
                Invoice.company_id,
                Client.name,
                manager,
                Invoice.issue_date,
                Invoice.due_date,
                Invoice.total,
                outstanding,
            )
            .where(*base, Invoice.due_date < today)
            .order_by(Invoice.due_date, Invoice.invoice_id)
            .limit(10_000)
        )
        rows = (await session.execute(stmt)).all()
        names = await _user_names(session, {r[4] for r in rows})
        return {
            "by": by,
            "rows": [
                {
                    "invoice_id": str(i),
                    "number": n,
                    "company_id": _key(c),
                    "client": cn,
                    "manager_id": _key(m),
                    "manager": names.get(m),
                    "issue_date": issued.isoformat() if issued else None,
                    "due_date": due.isoformat(),
                    "days_overdue": (today - due).days,
                    "total": money(t),
                    "outstanding": money(o),
                    "bucket": domain.ageing_bucket(due, today),
                }
                for i, n, c, cn, m, issued, due, t, o in rows
            ],
        }
    key = manager if by == "manager" else Invoice.company_id
    columns = [
        func.count(),
        func.sum(outstanding),
        func.count().filter(Invoice.due_date < today),
        *(func.coalesce(func.sum(outstanding).filter(cond), 0) for cond in buckets.values()),
    ]
    if by == "client":
        columns.append(func.max(Client.name))
    rows = (await session.execute(source.add_columns(key, *columns).where(*base).group_by(key))).all()
    return await _receivable_rows(session, by, rows)


_AGEING = ("current", "1-30", "31-60", "61-90", "90+")


def _ageing(due, today: date) -> dict:
    """The ageing buckets as conditions on a due date column, the oldest last."""
    return {
        "current": due >= today,
        "1-30": and_(due < today, due >= today - timedelta(days=30)),
        "31-60": and_(due < today - timedelta(days=30), due >= today - timedelta(days=60)),
        "61-90": and_(due < today - timedelta(days=60), due >= today - timedelta(days=90)),
        "90+": due < today - timedelta(days=90),
    }


async def _receivables_by_manager(session: AsyncSession, caller: Caller, scope: Scope, today: date) -> dict:
    """Per manager from the receivables aggregate: the ageing follows from each cell's due date, today."""
    r = Receivables
    n = func.sum(r.invoices)
    columns = [
        n,
        func.sum(r.outstanding),
        func.coalesce(func.sum(r.invoices).filter(r.due_date < today), 0),
        *(func.coalesce(func.sum(r.outstanding).filter(cond), 0) for cond in _ageing(r.due_date, today).values()),
    ]
    rows = (
        await session.execute(
            select(r.manager_id, *columns)
            .where(r.currency == scope.currency, *await _owned(session, caller, scope, r.manager_id, r.department_id))
            .group_by(r.manager_id)
            .having(n > 0)
        )
    ).all()
    return await _receivable_rows(session, "manager", rows)


async def _receivable_rows(session: AsyncSession, by: str, rows: list) -> dict:
    names = await _user_names(session, {r[0] for r in rows}) if by == "manager" else {}
    out = []
    for r in rows:
        k, n, total, overdue_n, *amounts = r
        name = amounts.pop() if by == "client" else names.get(k)
        out.append(
            {
                "key": _key(k),
                "name": name,
                "invoices": n,
                "overdue_invoices": overdue_n,
                "outstanding": money(total),
                "overdue": money(sum(amounts[1:], ZERO)),
                "ageing": {b: money(a) for b, a in zip(_AGEING, amounts)},
            }
        )
    out.sort(key=lambda r: (-Decimal(r["overdue"]), -Decimal(r["outstanding"]), r["key"] or ""))
    return {"by": by, "rows": out}


# 4. Deal duration ---------------------------------------------------------------------------------


async def duration(session: AsyncSession, caller: Caller, scope: Scope, *, by: str, facts: bool = False) -> dict:
    """Days from opening (first contact) to close of the deals closed in the period, won and lost apart: the mean
    is exact (from the spans' microseconds), the median is of whole days (each span rounded down to the day), the
    resolution of the durations aggregate. Time in each stage: the mean over the steps out of it in the period."""
    deals = await _deals(session, caller, scope)
    from_cells = not facts and scope.on_months()
    if by == "manager" and from_cells:
        groups = await _span_cells(session, caller, scope)
    else:
        closed = (
            Deal.status.in_([DealStatus.WON.value, DealStatus.LOST.value]),
            Deal.opened_at.is_not(None),
            Deal.closed_at.is_not(None),
            *scope.within(Deal.closed_at),
            *deals,
        )
        key = Deal.owner_id if by == "manager" else DealLine.product_id
        groups = _span_groups(
            await _span_facts(
                session, key, closed, (DealLine, DealLine.deal_id == Deal.deal_id) if by == "product" else None
            )
        )
    nothing = {"deals": 0, "mean_days": None, "median_days": None}
    per_key: dict = defaultdict(lambda: {"won": dict(nothing), "lost": dict(nothing)})
    whole = {"won": dict(nothing), "lost": dict(nothing)}
    for everyone, k, status, *figures in groups:
        (whole if everyone else per_key[k])[status] = _figures(*figures)
    if by == "manager":
        names = await _user_names(session, per_key)
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
    rows = [{"key": _key(k), "name": names.get(k), **v} for k, v in per_key.items()]
    rows.sort(key=lambda r: (-(r["won"]["deals"] + r["lost"]["deals"]), r["key"] or ""))
    everyone = whole if by == "manager" else None
    if from_cells:
        st = StageTimes
        stages = (
            await session.execute(
                select(st.stage, func.sum(st.exits), func.sum(st.seconds))
                .where(*_months(scope, st.month), *await _owned(session, caller, scope, st.owner_id, st.department_id))
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
    order = _stage_positions()
    stage_rows = sorted(
        ({"stage": s, "exits": n, "mean_days": round(float(Decimal(total) / n / 86400), 2)} for s, n, total in stages),
        key=lambda r: (order.get(r["stage"], 99), r["stage"]),
    )
    reached = await _funnel(session, caller, scope, facts)
    codes = [c for c, _ in domain.DEFAULT_STAGES]
    conversion = [
        {
            "from_stage": a,
            "to_stage": b,
            "reached": reached[a],
            "went_on": reached[b],
            "conversion": share(reached[b], reached[a]),
        }
        for a, b in zip(codes, [*codes[1:], "won"])
    ]
    return {"by": by, "rows": rows, "all": everyone, "stages": stage_rows, "conversion": conversion}


def _figures(n: int, total: int, low: int, high: int) -> dict:
    """A group's figures from its deals, their spans' summed microseconds and the two middle spans' whole days."""
    return {
        "deals": n,
        "mean_days": round(float(Decimal(total) / n / 86_400_000_000), 1),
        "median_days": round((low + high) / 2, 1),
    }


def _span_groups(spans: list) -> list:
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
        *([] if whole_time else _months(scope, dd.month)),
        *await _owned(session, caller, scope, dd.owner_id, dd.department_id),
    ]
    if session.bind.dialect.name != "postgresql":
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
    if session.bind.dialect.name == "postgresql":
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


async def _reached(session: AsyncSession, deals: list, cohort: list) -> dict[str, int]:
    """Of the deals in `cohort`, how many reached each stage of the default pipeline or went past it (stages may
    be skipped: a deal won straight from the demo passed through the proposals too), and how many were won."""
    positions = _stage_positions()
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
    counts = dict((await session.execute(select(furthest_p, func.count()).group_by(furthest_p))).all())
    return _reached_from(counts)


def _reached_from(counts: dict[int, int]) -> dict[str, int]:
    """Per stage, the deals whose furthest position is at or past it, from counts per furthest position."""
    positions = _stage_positions()
    won_position = len(positions)
    reached = {}
    for code, p in [*positions.items(), ("won", won_position)]:
        reached[code] = sum(n for q, n in counts.items() if q is not None and q >= p)
    return reached


# 5. Losses ---------------------------------------------------------------------------------------


async def losses(session: AsyncSession, caller: Caller, scope: Scope, *, facts: bool = False) -> dict:
    team_scope = Scope(scope.start, scope.end, scope.department_id, None, scope.currency)
    if facts or not scope.on_months():
        lost = (Deal.status == DealStatus.LOST.value, *scope.within(Deal.closed_at))
        mine = (
            await session.execute(
                select(Deal.owner_id, Deal.lost_reason, Deal.lost_at_stage, func.count())
                .where(*lost, *await _deals(session, caller, scope))
                .group_by(Deal.owner_id, Deal.lost_reason, Deal.lost_at_stage)
            )
        ).all()
        team = (
            await session.execute(
                select(Deal.lost_reason, Deal.lost_at_stage, func.count())
                .where(*lost, *await _deals(session, caller, team_scope))
                .group_by(Deal.lost_reason, Deal.lost_at_stage)
            )
        ).all()
    else:
        c, n = ClosedDeals, func.sum(ClosedDeals.deals)
        lost = (c.status == DealStatus.LOST.value, *_months(scope, c.month))
        mine = (
            await session.execute(
                select(c.owner_id, c.lost_reason, c.lost_at_stage, n)
                .where(*lost, *await _owned(session, caller, scope, c.owner_id, c.department_id))
                .group_by(c.owner_id, c.lost_reason, c.lost_at_stage)
                .having(n > 0)
            )
        ).all()
        team = (
            await session.execute(
                select(c.lost_reason, c.lost_at_stage, n)
                .where(*lost, *await _owned(session, caller, team_scope, c.owner_id, c.department_id))
                .group_by(c.lost_reason, c.lost_at_stage)
                .having(n > 0)
            )
        ).all()
    team_total = sum(n for *_, n in team)
    team_counts = {(r, s): n for r, s, n in team}
    per_manager: dict = defaultdict(int)
    for owner, *_, n in mine:
        per_manager[owner] += n
    names = await _user_names(session, per_manager)
    rows = [
        {
            "manager_id": _key(o),
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
    team_rows = sorted(
        ({"reason": r, "stage": s, "lost": n, "share": share(n, team_total)} for (r, s), n in team_counts.items()),
        key=lambda x: (-x["lost"], x["reason"] or "", x["stage"] or ""),
    )
    return {"rows": rows, "team": team_rows, "team_lost": team_total}


# 6. Results --------------------------------------------------------------------------------------


async def results(
    session: AsyncSession, caller: Caller, scope: Scope, *, by: str, period: Period, facts: bool = False
) -> dict:
    deals = await _deals(session, caller, scope)
    year, month = extract("year", Deal.closed_at), extract("month", Deal.closed_at)
    if by == "manager" and not facts and scope.on_months():
        c, n = ClosedDeals, func.sum(ClosedDeals.deals)
        raw = [
            (k, m.year, m.month, count, revenue)
            for k, m, count, revenue in (
                await session.execute(
                    select(c.owner_id, c.month, n, func.sum(c.amount))
                    .where(
                        c.status == DealStatus.WON.value,
                        c.currency == scope.currency,
                        *_months(scope, c.month),
                        *await _owned(session, caller, scope, c.owner_id, c.department_id),
                    )
                    .group_by(c.owner_id, c.month)
                    .having(n > 0)
                )
            ).all()
        ]
    elif by == "manager":
        key, amount = Deal.owner_id, Deal.amount
        stmt = select(key, year, month, func.count(distinct(Deal.deal_id)), func.sum(amount))
    else:
        key = DealLine.product_id if by == "product" else Product.group_id
        stmt = select(key, year, month, func.count(distinct(Deal.deal_id)), func.sum(_line_or_deal_amount())).outerjoin(
            DealLine, DealLine.deal_id == Deal.deal_id
        )
        if by == "product_group":
            stmt = stmt.outerjoin(Product, Product.product_id == DealLine.product_id)
    if by != "manager" or facts or not scope.on_months():
        raw = (await session.execute(stmt.where(*_won(scope), *deals).group_by(key, year, month))).all()
    cells: dict = defaultdict(lambda: [0, ZERO])
    periods: set[str] = set()
    for k, y, m, n, revenue in raw:
        p = domain.period_key(date(int(y), int(m), 1), period)
        periods.add(p)
        cells[(k, p)][0] += n
        cells[(k, p)][1] += revenue or ZERO
    names = await _names(session, by, {k for k, _ in cells})
    keys = set(names) | {k for k, _ in cells} if by != "manager" else {k for k, _ in cells}
    if None in keys and by in NO_PRODUCT:
        names[None] = NO_PRODUCT[by]
    ordered = sorted(periods)
    rows, totals = [], []
    for k in keys:
        revenues = [cells[(k, p)][1] if (k, p) in cells else ZERO for p in ordered]
        changes = domain.trend(revenues)
        for p, rev, change in zip(ordered, revenues, changes):
            if (k, p) in cells:
                rows.append(
                    {
                        "key": _key(k),
                        "name": names.get(k),
                        "period": p,
                        "won": cells[(k, p)][0],
                        "revenue": money(rev),
                        "change": change,
                    }
                )
        totals.append(
            {
                "key": _key(k),
                "name": names.get(k),
                "won": sum(cells[(k, p)][0] for p in ordered if (k, p) in cells),
                "revenue": money(sum(revenues, ZERO)),
            }
        )
    rows.sort(key=lambda r: (r["key"] or "", r["period"]))
    totals.sort(key=lambda r: (-Decimal(r["revenue"]), -r["won"], r["key"] or ""))
    return {"by": by, "period": period.value, "rows": rows, "totals": totals}


# A deal without lines has an amount but no product: the slices by product show it under this, so that they add up
# to the same total as every other slice.
NO_PRODUCT = {"product": "no product", "product_group": "no product group"}


def _line_or_deal_amount():
    """What a won deal adds to a slice by product, joined (outer) to its lines: each line's part of the amount (the
    lines add up to it), or the whole amount of a deal without lines."""
    return func.coalesce(DealLine.total, Deal.amount)


async def _names(session: AsyncSession, by: str, keys: set) -> dict:
    """Labels of report keys; for products and groups every one in the catalogue, so what does not sell shows."""
    if by == "manager":
        return await _user_names(session, keys)
    if by == "product":
        return dict((await session.execute(select(Product.product_id, Product.name))).all())
    if by == "product_group":
        return dict(
            (
                await session.execute(select(Product.group_id, func.max(Product.group_name)).group_by(Product.group_id))
            ).all()
        )
    return {}


# 7 and 9. Sources, regions, industries ---------------------------------------------------------------

_SEGMENTS = {
    "source": (Client.source_id, Client.source_name),
    "region": (Client.region_id, Client.region_name),
    "industry": (Client.industry_id, Client.industry_name),
}


async def segments(session: AsyncSession, caller: Caller, scope: Scope, *, by: str, facts: bool = False) -> dict:
    """Client cards (opened in the period), the deals opened in it, how many of those were won and for how much."""
    if facts or not scope.on_months():
        return await _segments_facts(session, caller, scope, by)
    cs, ds = ClientSegments, DealSegments
    view = sight(caller, Kind.REPORT)
    seen = await _owned(session, caller, scope, cs.owner_id, cs.department_id)
    if view.clients_only:
        seen.append(cs.status == "client")
    # One pass over the segment's cells: the cards the caller counts, and every segment's name (a deal's segment
    # may have no card in the caller's sight).
    counted = and_(cs.in_base.is_(True), *seen, *_months(scope, cs.month))
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
                *_months(scope, ds.month),
                *await _owned(session, caller, scope, ds.owner_id, ds.department_id),
            )
            .group_by(ds.key_id)
            .having(m > 0)
        )
    ).all()
    return _segment_rows(by, cards, names, deals)


async def _segments_facts(session: AsyncSession, caller: Caller, scope: Scope, by: str) -> dict:
    key, label = _SEGMENTS[by]
    cards = (
        await session.execute(
            select(key, func.max(label), func.count())
            .where(*await _clients(session, caller, scope), *scope.within(Client.created_at))
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
            .where(*await _deals(session, caller, scope), *scope.within(Deal.opened_at))
            .group_by(deal_key)
        )
    ).all()
    names = dict((await session.execute(select(key, func.max(label)).where(key.is_not(None)).group_by(key))).all())
    return _segment_rows(by, cards, names, deals)


def _segment_rows(by: str, cards: list, names: dict, deals: list) -> dict:
    rows: dict = defaultdict(lambda: {"name": None, "clients": 0, "deals": 0, "won": 0, "revenue": ZERO})
    for k, name, n in cards:
        rows[k].update(name=name, clients=n)
    for k, n, won, revenue in deals:
        rows[k].update(deals=n, won=won, revenue=revenue or ZERO)
        rows[k]["name"] = rows[k]["name"] or names.get(k)
    out = [
        {"key": _key(k), **r, "conversion": share(r["won"], r["deals"]), "revenue": money(r["revenue"])}
        for k, r in rows.items()
    ]
    out.sort(key=lambda r: (-Decimal(r["revenue"]), -r["deals"], -r["clients"], r["key"] is None, r["key"] or ""))
    return {"by": by, "rows": out}


# 8. Marketing events -----------------------------------------------------------------------------


async def marketing(session: AsyncSession, caller: Caller, scope: Scope, *, window_days: int) -> dict:
    events = (
        (
            await session.execute(
                select(MarketingEvent)
                .where(MarketingEvent.name.is_not(None), *scope.within_dates(MarketingEvent.starts_on))
                .order_by(MarketingEvent.starts_on, MarketingEvent.marketing_event_id)
            )
        )
        .scalars()
        .all()
    )
    ids = [e.marketing_event_id for e in events]
    if not ids:
        return {"window_days": window_days, "rows": []}
    seen = [*_seen_clients(caller)]
    statuses: dict = defaultdict(lambda: {"invited": 0, "attended": 0, "responded": 0})
    pstmt = select(Participant.marketing_event_id, Participant.status, func.count()).where(
        Participant.marketing_event_id.in_(ids)
    )
    if seen:
        pstmt = pstmt.join(Client, Client.company_id == Participant.company_id).where(*seen)
    for event_id, status, n in (
        await session.execute(pstmt.group_by(Participant.marketing_event_id, Participant.status))
    ).all():
        statuses[event_id][status] = n
    # The period chooses the events; their deals may come after it.
    deals = await _deals(session, caller, Scope(None, None, scope.department_id, scope.owner_id, scope.currency))
    # Deals a participant opened within the window after the event started, and deals that name the event.
    attributed = (
        select(MarketingEvent.marketing_event_id.label("event_id"), Deal.deal_id.label("deal_id"))
        .join(Participant, Participant.marketing_event_id == MarketingEvent.marketing_event_id)
        .join(Deal, Deal.company_id == Participant.company_id)
        .where(MarketingEvent.marketing_event_id.in_(ids), Deal.opened_at.is_not(None))
    )
    candidates = (
        await session.execute(
            attributed.add_columns(
                MarketingEvent.starts_on, Deal.opened_at, Deal.status, Deal.amount, Deal.currency
            ).where(*deals)
        )
    ).all()
    named = (
        await session.execute(
            select(Deal.marketing_event_id, Deal.deal_id, Deal.status, Deal.amount, Deal.currency).where(
                Deal.marketing_event_id.in_(ids), *deals
            )
        )
    ).all()
    per_event: dict = defaultdict(dict)
    for event_id, deal_id, starts_on, opened_at, status, amount, currency in candidates:
        opened = domain.as_utc(opened_at).date()
        if starts_on <= opened <= starts_on + timedelta(days=window_days):
            per_event[event_id][deal_id] = (status, amount, currency)
    for event_id, deal_id, status, amount, currency in named:
        per_event[event_id][deal_id] = (status, amount, currency)
    rows = []
    for e in events:
        found = per_event.get(e.marketing_event_id, {}).values()
        won = [a or ZERO for s, a, c in found if s == DealStatus.WON.value and c == scope.currency]
        revenue = sum(won, ZERO)
        cost = e.cost if e.cost is not None else None
        rows.append(
            {
                "marketing_event_id": str(e.marketing_event_id),
                "name": e.name,
                "kind": e.kind,
                "starts_on": e.starts_on.isoformat() if e.starts_on else None,
                "participants": statuses[e.marketing_event_id],
                "deals": len(found),
                "won": len(won),
                "revenue": money(revenue),
                "cost": None if cost is None else money(cost),
                "return": share(revenue - cost, cost) if cost else None,
            }
        )
    return {"window_days": window_days, "rows": rows}


# 10. Sales volume --------------------------------------------------------------------------------

VOLUME_DIMENSIONS = ("department", "manager", "product_group", "product", "region", "industry", "source", "period")


async def volume(
    session: AsyncSession, caller: Caller, scope: Scope, *, by: list[str], period: Period, facts: bool = False
) -> dict:
    by = list(dict.fromkeys(by))
    by_product = bool({"product", "product_group"} & set(by))
    if not facts and scope.on_months() and set(by) <= {"department", "manager", "period"}:
        raw = await _volume_cells(session, caller, scope, by)
    else:
        raw = await _volume_facts(session, caller, scope, by)
    return await _volume_report(session, by, period, by_product, raw)


async def _volume_cells(session: AsyncSession, caller: Caller, scope: Scope, by: list[str]) -> list:
    """Rows shaped as `_volume_facts` gives them, from the closed deals aggregate."""
    c = ClosedDeals
    columns = []
    for d in by:
        columns.append({"department": c.department_id, "manager": c.owner_id, "period": c.month}[d])
    n = func.coalesce(func.sum(c.deals), 0)
    stmt = select(*columns, n, func.sum(c.amount)).where(
        c.status == DealStatus.WON.value,
        c.currency == scope.currency,
        *_months(scope, c.month),
        *await _owned(session, caller, scope, c.owner_id, c.department_id),
    )
    if columns:  # without any, one row over everything, as the facts' query gives, also when it is empty
        stmt = stmt.group_by(*columns).having(n > 0)
    out = []
    for r in (await session.execute(stmt)).all():
        values = []
        for d, v in zip(by, r):
            values += [v.year, v.month] if d == "period" and v is not None else [None, None] if d == "period" else [v]
        out.append((*values, *r[len(by) :]))
    return out


async def _volume_facts(session: AsyncSession, caller: Caller, scope: Scope, by: list[str]) -> list:
    by_product = bool({"product", "product_group"} & set(by))
    columns, labels = [], []
    year, month = extract("year", Deal.closed_at), extract("month", Deal.closed_at)
    for d in by:
        if d == "department":
            columns.append(Deal.department_id)
        elif d == "manager":
            columns.append(Deal.owner_id)
        elif d == "product":
            columns.append(DealLine.product_id)
        elif d == "product_group":
            columns.append(Product.group_id)
        elif d in ("region", "industry", "source"):
            columns.append(_SEGMENTS[d][0] if d != "source" else func.coalesce(Deal.source_id, Client.source_id))
        elif d == "period":
            columns += [year, month]
    revenue = func.sum(_line_or_deal_amount()) if by_product else func.sum(Deal.amount)
    stmt = select(*columns, func.count(distinct(Deal.deal_id)), revenue).select_from(Deal)
    if by_product:
        stmt = stmt.outerjoin(DealLine, DealLine.deal_id == Deal.deal_id)
        if "product_group" in by:
            stmt = stmt.outerjoin(Product, Product.product_id == DealLine.product_id)
    if {"region", "industry", "source"} & set(by):
        stmt = stmt.outerjoin(Client, Client.company_id == Deal.company_id)
    stmt = stmt.where(*_won(scope), *await _deals(session, caller, scope))
    if columns:
        stmt = stmt.group_by(*columns)
    return (await session.execute(stmt)).all()


async def _volume_report(session: AsyncSession, by: list[str], period: Period, by_product: bool, raw: list) -> dict:
    labels_of = {d: await _dimension_names(session, d) for d in by if d != "period"}
    cells: dict = defaultdict(lambda: [0, ZERO])
    for r in raw:
        values, i = [], 0
        for d in by:
            if d == "period":
                y, m = r[i], r[i + 1]
                values.append(domain.period_key(date(int(y), int(m), 1), period) if y is not None else None)
                i += 2
            else:
                values.append(r[i])
                i += 1
        cell = cells[tuple(values)]
        cell[0] += r[i]
        cell[1] += r[i + 1] or ZERO
    rows = []
    for values, (n, rev) in cells.items():
        row = {}
        for d, v in zip(by, values):
            row[d] = _key(v)
            if d != "period":
                row[f"{d}_name"] = NO_PRODUCT[d] if v is None and d in NO_PRODUCT else labels_of[d].get(v)
        rows.append({**row, "deals": n, "revenue": money(rev), "average": money(rev / n) if n else None})
    rows.sort(key=lambda r: (-Decimal(r["revenue"]), *[r[d] or "" for d in by]))
    total_deals = sum(r["deals"] for r in rows) if not by_product else None
    return {
        "by": by,
        "period": period.value,
        "rows": rows,
        "total": {"revenue": money(sum((c[1] for c in cells.values()), ZERO)), "deals": total_deals},
    }


async def _dimension_names(session: AsyncSession, d: str) -> dict:
    if d == "manager":
        return dict((await session.execute(select(User.user_id, User.name))).all())
    if d == "department":
        return dict((await session.execute(select(Department.department_id, Department.name))).all())
    if d in ("product", "product_group"):
        return await _names(session, d, set())
    key, label = _SEGMENTS[d]
    return dict((await session.execute(select(key, func.max(label)).where(key.is_not(None)).group_by(key))).all())


# 11. Funnel --------------------------------------------------------------------------------------


async def _funnel(session: AsyncSession, caller: Caller, scope: Scope, facts: bool) -> dict[str, int]:
    """How many of the deals opened in the period reached each stage, and were won."""
    if facts or not scope.on_months():
        return await _reached(session, await _deals(session, caller, scope), scope.within(Deal.opened_at))
    n = func.sum(Funnel.deals)
    counts = dict(
        (
            await session.execute(
                select(Funnel.furthest, n)
                .where(
                    *_months(scope, Funnel.month),
                    *await _owned(session, caller, scope, Funnel.owner_id, Funnel.department_id),
                )
                .group_by(Funnel.furthest)
                .having(n > 0)
            )
        ).all()
    )
    return _reached_from(counts)


async def funnel(session: AsyncSession, caller: Caller, scope: Scope, *, facts: bool = False) -> dict:
    reached = await _funnel(session, caller, scope, facts)
    first = reached[domain.DEFAULT_STAGES[0][0]]
    rows = [{"stage": code, "reached": n, "share_of_first_contacts": share(n, first)} for code, n in reached.items()]
    return {"first_contacts": first, "won": reached["won"], "win_rate": share(reached["won"], first), "rows": rows}


# 12. Forecast ------------------------------------------------------------------------------------


async def forecast(session: AsyncSession, caller: Caller, scope: Scope, *, facts: bool = False) -> dict:
    """Each open deal weighs its amount times its stage's probability (`domain.weight`)."""
    if facts or not scope.on_month_dates():
        year, month = extract("year", Deal.expected_close_date), extract("month", Deal.expected_close_date)
        default = case(dict(domain.DEFAULT_STAGES), value=Deal.stage, else_=ZERO)
        weight = func.coalesce(Deal.probability, default)
        raw = (
            await session.execute(
                select(year, month, func.count(), func.sum(Deal.amount), func.sum(Deal.amount * weight))
                .where(
                    Deal.status == DealStatus.OPEN.value,
                    Deal.currency == scope.currency,
                    *scope.within_dates(Deal.expected_close_date),
                    *await _deals(session, caller, scope),
                )
                .group_by(year, month)
            )
        ).all()
    else:
        o, n = OpenDeals, func.sum(OpenDeals.deals)
        raw = [
            (m.year if m else None, m.month if m else None, count, amount, weighted)
            for m, count, amount, weighted in (
                await session.execute(
                    select(o.close_month, n, func.sum(o.amount), func.sum(o.weighted))
                    .where(
                        o.currency == scope.currency,
                        *scope.within_dates(o.close_month),
                        *await _owned(session, caller, scope, o.owner_id, o.department_id),
                    )
                    .group_by(o.close_month)
                    .having(n > 0)
                )
            ).all()
        ]
    months: dict = defaultdict(lambda: {"deals": 0, "amount": ZERO, "weighted": ZERO})
    for y, m, n, amount, weighted in raw:
        key = f"{int(y)}-{int(m):02d}" if y is not None else "unscheduled"
        cell = months[key]
        cell["deals"] += n
        cell["amount"] += amount or ZERO
        cell["weighted"] += weighted or ZERO
    rows = [
        {"month": k, "deals": v["deals"], "amount": money(v["amount"]), "weighted": money(v["weighted"])}
        for k, v in sorted(months.items(), key=lambda kv: (kv[0] == "unscheduled", kv[0]))
    ]
    return {
        "rows": rows,
        "total": {
            "deals": sum(v["deals"] for v in months.values()),
            "amount": money(sum((v["amount"] for v in months.values()), ZERO)),
            "weighted": money(sum((v["weighted"] for v in months.values()), ZERO)),
        },
    }
