"""The aggregates the reports read: kept by the projections, they give the figures the facts give, for every
caller and filter, whatever order and how often the events came; `refill` (the bulk loader's path) computes the
same cells; a stage added to a pipeline as data weighs in the forecast with its own probability."""

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from analytics_history import (
    ANNA,
    BORIS,
    C1,
    C2,
    CEO,
    D1,
    EAST,
    EAST_HEAD,
    EXHIBITION,
    LATHE,
    MOSCOW,
    NOW,
    SALES,
    T0,
    TODAY,
    History,
    company,
    deal_history,
    drop_read_models,
    get,
    line,
    sales_department,
)
from sqlalchemy import select

from mercator.analytics import reports, tables
from mercator.analytics.domain import Period
from mercator.analytics.refill import refill
from mercator.common.events import catalogue as ev

pytestmark = pytest.mark.postgres


def _month(moment: datetime, months_back: int) -> datetime:
    first = moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(months_back):
        first = (first - timedelta(days=1)).replace(day=1)
    return first


SCOPES = [
    reports.Scope(),
    reports.Scope(department_id=SALES),
    reports.Scope(department_id=EAST),
    reports.Scope(owner_id=ANNA.user_id),
    reports.Scope(currency="USD"),
    reports.Scope(start=_month(NOW, 3)),
    reports.Scope(end=_month(NOW, 2)),
    reports.Scope(start=_month(NOW, 4), end=_month(NOW, 1), department_id=EAST),
    # Not on whole months: read from the facts either way, and still the same.
    reports.Scope(start=NOW - timedelta(days=75)),
]

RUNS = {
    "workload": lambda s, c, sc, f: reports.workload(s, c, sc, facts=f),
    "losses": lambda s, c, sc, f: reports.losses(s, c, sc, facts=f),
    "results by month": lambda s, c, sc, f: reports.results(s, c, sc, by="manager", period=Period.MONTH, facts=f),
    "results by quarter": lambda s, c, sc, f: reports.results(s, c, sc, by="manager", period=Period.QUARTER, facts=f),
    "volume by manager and period": lambda s, c, sc, f: reports.volume(
        s, c, sc, by=["manager", "period"], period=Period.MONTH, facts=f
    ),
    "volume by department": lambda s, c, sc, f: reports.volume(
        s, c, sc, by=["department"], period=Period.MONTH, facts=f
    ),
    "volume in total": lambda s, c, sc, f: reports.volume(s, c, sc, by=[], period=Period.YEAR, facts=f),
    "funnel": lambda s, c, sc, f: reports.funnel(s, c, sc, facts=f),
    "deal duration": lambda s, c, sc, f: reports.duration(s, c, sc, by="manager", facts=f),
    "forecast": lambda s, c, sc, f: reports.forecast(s, c, sc, facts=f),
    # Cutoffs on no card's day, and on the day of a card's last entry: before it, and at it exactly.
    **{
        f"inactivity {days} days at {now}": lambda s, c, sc, f, days=days, now=now: reports.inactivity(
            s, c, sc, days=days, low_share=0.5, now=now, facts=f
        )
        for days, now in ((14, NOW), (2, NOW), (2, NOW + timedelta(minutes=30)), (30, NOW + timedelta(hours=1)))
    },
    "receivables": lambda s, c, sc, f: reports.receivables(s, c, sc, by="manager", today=TODAY, facts=f),
    **{
        f"segments by {by}": lambda s, c, sc, f, by=by: reports.segments(s, c, sc, by=by, facts=f)
        for by in ("region", "industry", "source")
    },
}


def _history() -> History:
    """The shared history, a client card that moves to another region and source after its deal opened (its
    deal moves with it in the segment aggregates), and a won deal handed to another manager after it was
    invoiced (its debt goes with it)."""
    h = sales_department()
    company(h, C2, "Бета", ANNA, MOSCOW, "Москва", EXHIBITION, "Выставка", sequence=2)
    h.add(
        ev.DealUpdated(
            deal_id=D1,
            title="Поставка",
            company_id=C1,
            owner_id=BORIS.user_id,
            department_id=SALES,
            pipeline_id=uuid.UUID(int=1),
            stage="won",
            status="won",
            amount=Decimal("100000"),
            currency="RUB",
            opened_at=T0,
            lines=[line(LATHE, "100000")],
            changed=["owner_id"],
        ),
        D1,
        8,
    )
    return h


async def _agree(app) -> int:
    """Every report that reads the aggregates, for every caller and scope, beside the same read from the facts;
    returns how many figures were compared that were not empty."""
    compared = 0
    async with app.state.runtime.sessionmaker() as s:
        for who in (CEO, ANNA, BORIS, EAST_HEAD):
            for scope in SCOPES:
                for name, run in RUNS.items():
                    from_cells, from_facts = await run(s, who, scope, False), await run(s, who, scope, True)
                    assert from_cells == from_facts, (name, who.name, scope)
                    compared += bool(from_facts.get("rows"))
    return compared


async def _cells(app) -> dict:
    out = {}
    async with app.state.runtime.sessionmaker() as s:
        for model in (
            tables.OpenDeals,
            tables.ClosedDeals,
            tables.Funnel,
            tables.ClientCards,
            tables.DealSegments,
            tables.ClientSegments,
            tables.Receivables,
            tables.ClientSilence,
            tables.Activities,
            tables.DealDurations,
            tables.DealDurationTotals,
            tables.StageTimes,
        ):
            rows = (await s.execute(select(model))).scalars().all()
            measures = [
                c
                for c in (
                    "deals",
                    "amount",
                    "weighted",
                    "clients",
                    "won",
                    "won_amount",
                    "invoices",
                    "outstanding",
                    "entries",
                    "exits",
                    "seconds",
                    "microseconds",
                )
                if hasattr(model, c)
            ]
            out[model.__tablename__] = {
                r.cell: tuple(getattr(r, m) for m in measures) for r in rows if any(getattr(r, m) for m in measures)
            }
    return out


async def test_the_aggregates_give_what_the_facts_give_to_every_caller_and_filter(app, feed):
    await feed(_history().events)
    assert await _agree(app) > 50
    async with app.state.runtime.sessionmaker() as s:
        debts = await reports.receivables(s, CEO, reports.Scope(), by="manager", today=TODAY)
    # Anna's late invoice went to Boris with the deal; 10,000 of his own is not due yet.
    assert {r["key"]: (r["outstanding"], r["overdue"]) for r in debts["rows"]} == {
        str(BORIS.user_id): ("70000.00", "60000.00")
    }


async def test_shuffled_repeated_events_in_batches_keep_the_aggregates_and_refill_computes_the_same(
    app, feed, feed_in_batches
):
    events = _history().events
    await feed(events)
    in_order = await _cells(app)
    assert all(in_order.values()), in_order
    for seed, largest in ((5, 6), (6, 3 * len(events))):
        await drop_read_models(app)
        rnd = random.Random(seed)
        shuffled = events + rnd.sample(events, len(events) // 2)
        rnd.shuffle(shuffled)
        await feed_in_batches(shuffled, rnd, largest)
        assert await _cells(app) == in_order, seed
        await _agree(app)
    # Rows stored without the handlers (the benchmark's bulk load) get their cells from the same rules.
    async with app.state.runtime.sessionmaker() as s:
        await refill(s)
        await s.commit()
    assert await _cells(app) == in_order


def _custom_pipeline_deal(
    h: History, deal: uuid.UUID, *, first: str, first_p: str, then: str, then_p: str, amount: str, close: date
) -> None:
    """A deal in a pipeline of the company's own, opened at one custom stage and moved to another."""
    pipeline = uuid.UUID(int=2)
    h.add(
        ev.DealOpened(
            deal_id=deal,
            title="Пилот",
            company_id=C1,
            owner_id=ANNA.user_id,
            department_id=EAST,
            pipeline_id=pipeline,
            stage=first,
            status="open",
            amount=Decimal(amount),
            currency="RUB",
            expected_close_date=close,
            opened_at=NOW - timedelta(days=3),
            stage_probability=Decimal(first_p),
        ),
        deal,
        1,
    )
    h.add(
        ev.DealStageChanged(
            deal_id=deal,
            company_id=C1,
            owner_id=ANNA.user_id,
            pipeline_id=pipeline,
            from_stage=first,
            to_stage=then,
            to_probability=Decimal(then_p),
            at=NOW - timedelta(days=1),
            seconds_in_previous=172800,
        ),
        deal,
        2,
    )


async def test_a_stage_added_to_a_pipeline_weighs_its_own_probability_in_the_forecast(app, settings, feed):
    close = (TODAY.replace(day=1) + timedelta(days=100)).replace(day=1)
    h = History()
    _custom_pipeline_deal(
        h, uuid.uuid4(), first="pilot", first_p="0.35", then="pilot_signed", then_p="0.8", amount="100000", close=close
    )
    opened_only = uuid.uuid4()
    h.add(
        ev.DealOpened(
            deal_id=opened_only,
            title="Пилот",
            company_id=C1,
            owner_id=ANNA.user_id,
            department_id=EAST,
            pipeline_id=uuid.UUID(int=2),
            stage="pilot",
            status="open",
            amount=Decimal("20000"),
            currency="RUB",
            expected_close_date=close,
            opened_at=NOW - timedelta(days=2),
            stage_probability=Decimal("0.35"),
        ),
        opened_only,
        1,
    )
    # The move comes before the opening: the newer stage's probability must stay.
    await feed(list(reversed(h.events)))
    report = await get(app, settings, CEO, "forecast")
    [row] = [r for r in report["rows"] if r["month"] == close.strftime("%Y-%m")]
    assert (row["deals"], row["amount"], row["weighted"]) == (2, "120000.00", "87000.00")  # 80,000 + 7,000
    workload = await get(app, settings, CEO, "workload")
    [anna] = [r for r in workload["rows"] if r["manager_id"] == str(ANNA.user_id)]
    assert (anna["by_stage"]["pilot"], anna["by_stage"]["pilot_signed"]) == (1, 1)
    async with app.state.runtime.sessionmaker() as s:
        assert await reports.forecast(s, CEO, reports.Scope(), facts=True) == await reports.forecast(
            s, CEO, reports.Scope()
        )


async def test_deal_durations_give_the_exact_mean_and_the_median_of_whole_days(app, feed):
    h = History()
    company(h, C1, "Альфа", ANNA, MOSCOW, "Москва", EXHIBITION, "Выставка")
    # Won after 10 days 20 hours and after 12 days; lost after 3 days 23 hours.
    for days, end in (([10 + 20 / 24], "won"), ([12], "won"), ([3 + 23 / 24], "lost")):
        deal_history(
            h, uuid.uuid4(), C1, ANNA, opened=T0, path=["interest"], days=days, amount="1000", end=end, reason="Дорого"
        )
    await feed(h.events)
    async with app.state.runtime.sessionmaker() as s:
        from_cells = await reports.duration(s, CEO, reports.Scope(), by="manager")
        assert from_cells == await reports.duration(s, CEO, reports.Scope(), by="manager", facts=True)
    [anna] = from_cells["rows"]
    assert anna["won"] == {"deals": 2, "mean_days": 11.4, "median_days": 11.0}
    assert anna["lost"] == {"deals": 1, "mean_days": 4.0, "median_days": 3.0}
    assert from_cells["stages"] == [{"stage": "interest", "exits": 3, "mean_days": 8.93}]


async def test_a_step_from_before_the_win_read_after_it_leaves_the_deal_won(app, settings, feed):
    """Billing's delivery fact can reach deals after the deal was won, dated before the win: deals splices it
    into the kept path and publishes the step with the deal's next version. It is history, not the deal's stage
    now: the deal stays won in every report."""
    h = History()
    company(h, C1, "Альфа", ANNA, MOSCOW, "Москва", EXHIBITION, "Выставка")
    deal = uuid.uuid4()
    deal_history(h, deal, C1, ANNA, opened=T0, path=["interest", "payment"], days=[2, 10], amount="5000", end="won")
    h.add(
        ev.DealStageChanged(
            deal_id=deal,
            company_id=C1,
            owner_id=ANNA.user_id,
            pipeline_id=uuid.UUID(int=1),
            from_stage="payment",
            to_stage="delivery",
            at=T0 + timedelta(days=6),
            seconds_in_previous=4 * 86400,
            kind="automatic",
        ),
        deal,
        99,
    )
    await feed(h.events)
    results = await get(app, settings, CEO, "results", by="manager")
    assert sum(r["won"] for r in results["rows"]) == 1, results
    funnel = await get(app, settings, CEO, "funnel")
    assert funnel["won"] == 1, funnel
    workload = await get(app, settings, CEO, "workload")
    assert not [r for r in workload["rows"] if r["by_stage"].get("delivery")], workload
