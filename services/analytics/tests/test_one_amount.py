"""One truth for money: every report and every slice of the same deals adds up to the deals' amounts (and to their
invoices), whether a deal's lines were re-priced by an accepted offer, its amount came only from an accepted offer,
or it is plain; from the aggregates and from the facts, after a refill, and whatever order the events came in."""

import random
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from analytics_history import (
    ANNA,
    BORIS,
    CEO,
    EAST,
    EXHIBITION,
    LATHE,
    MACHINES,
    MOSCOW,
    NOW,
    REPAIR,
    SALES,
    SERVICE,
    TODAY,
    URAL,
    WEB,
    History,
    company,
    drop_read_models,
    get,
    invoice,
)

from mercator.analytics import reports
from mercator.analytics.domain import Period
from mercator.analytics.refill import refill
from mercator.common.events import catalogue as ev

pytestmark = pytest.mark.postgres

C1, C2 = uuid.uuid4(), uuid.uuid4()
# Won: re-priced by an accepted offer, priced only by an accepted offer (no lines), plain.
REPRICED_WON, OFFER_ONLY_WON, PLAIN_WON = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
# Open: the same three kinds.
REPRICED_OPEN, OFFER_ONLY_OPEN, PLAIN_OPEN = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
WON = Decimal("1100000") + Decimal("250000") + Decimal("200000")
OPEN = Decimal("120000") + Decimal("300000") + Decimal("80000")
NEXT_MONTH = (TODAY.replace(day=1) + timedelta(days=40)).replace(day=1)
PIPELINE = uuid.UUID(int=1)


def money(value) -> str:
    return f"{Decimal(value):.2f}"


def line(product, quantity: str, unit_price: str, total: str) -> ev.DealLinePayload:
    return ev.DealLinePayload(
        product_id=product, quantity=Decimal(quantity), unit_price=Decimal(unit_price), total=Decimal(total)
    )


class Deal:
    """One deal's events as the deals service publishes them, each with the deal's next sequence."""

    def __init__(
        self, h: History, deal_id, company_id, owner, *, days_ago: int, amount: str | None, lines=(), expected=None
    ):
        self.h, self.id, self.company_id, self.owner, self.seq = h, deal_id, company_id, owner, 1
        self.at, self.stage = NOW - timedelta(days=days_ago), "interest"
        self.card = dict(
            deal_id=deal_id,
            title="Поставка",
            company_id=company_id,
            owner_id=owner.user_id,
            department_id=owner.department_id,
            pipeline_id=PIPELINE,
            currency="RUB",
            expected_close_date=expected,
            opened_at=self.at,
        )
        h.add(
            ev.DealOpened(
                **self.card,
                stage="interest",
                status="open",
                amount=None if amount is None else Decimal(amount),
                lines=list(lines),
            ),
            deal_id,
            1,
        )

    def later(self, days: int = 1):
        self.seq += 1
        self.at += timedelta(days=days)
        return self.at

    def move(self, to: str, kind: str = "move") -> None:
        at = self.later()
        self.h.add(
            ev.DealStageChanged(
                deal_id=self.id,
                company_id=self.company_id,
                owner_id=self.owner.user_id,
                pipeline_id=PIPELINE,
                from_stage=self.stage,
                to_stage=to,
                at=at,
                kind=kind,
                seconds_in_previous=86400,
            ),
            self.id,
            self.seq,
        )
        self.stage = to

    def accept(self, amount: str, lines=()) -> None:
        offer = uuid.uuid4()
        at = self.later()
        self.h.add(
            ev.PriceOffered(
                offer_id=offer,
                deal_id=self.id,
                company_id=self.company_id,
                side="ours",
                amount=Decimal(amount),
                currency="RUB",
                at=at,
            ),
            self.id,
            self.seq,
        )
        at = self.later()
        self.h.add(
            ev.OfferAccepted(
                offer_id=offer,
                deal_id=self.id,
                company_id=self.company_id,
                amount=Decimal(amount),
                currency="RUB",
                at=at,
                lines=list(lines),
            ),
            self.id,
            self.seq,
        )

    def update(self, amount: str | None, lines=(), **changed) -> None:
        self.later()
        self.card.update(changed)
        self.h.add(
            ev.DealUpdated(
                **self.card,
                stage=self.stage,
                status="open",
                changed=sorted(changed),
                amount=None if amount is None else Decimal(amount),
                lines=list(lines),
            ),
            self.id,
            self.seq,
        )

    def win(self, amount: str | None, lines=()) -> None:
        from_stage = self.stage
        self.move("won", kind="won")
        self.h.add(
            ev.DealWon(
                deal_id=self.id,
                company_id=self.company_id,
                owner_id=self.owner.user_id,
                department_id=self.owner.department_id,
                currency="RUB",
                won_at=self.at,
                from_stage=from_stage,
                amount=None if amount is None else Decimal(amount),
                lines=list(lines),
            ),
            self.id,
            self.seq,
        )


def six_deals() -> History:
    h = History()
    h.add(ev.DepartmentChanged(department_id=SALES, name="Продажи"), SALES)
    h.add(ev.DepartmentChanged(department_id=EAST, name="Восток", parent_id=SALES), EAST)
    for who in (ANNA, BORIS):
        h.add(
            ev.UserCreated(user_id=who.user_id, name=who.name, roles=["manager"], department_id=who.department_id),
            who.user_id,
        )
    for product, code, name, group, group_name in (
        (LATHE, "L1", "Токарный станок", MACHINES, "Станки"),
        (REPAIR, "R1", "Ремонт", SERVICE, "Сервис"),
    ):
        h.add(
            ev.ProductCreated(
                product_id=product,
                code=code,
                name=name,
                group_id=group,
                group_name=group_name,
                unit="шт",
                list_price=Decimal(1),
                currency="RUB",
            ),
            product,
        )
    company(h, C1, "Альфа", ANNA, MOSCOW, "Москва", EXHIBITION, "Выставка")
    company(h, C2, "Бета", BORIS, URAL, "Урал", WEB, "Сайт")

    # 1 200 000 at list prices; the accepted 1 100 000 re-prices the lines, the remainder cent on the larger one.
    d = Deal(
        h,
        REPRICED_WON,
        C1,
        ANNA,
        days_ago=40,
        amount="1200000",
        lines=[line(LATHE, "2", "350000", "700000"), line(REPAIR, "1", "500000", "500000")],
    )
    repriced = [line(LATHE, "2", "350000", "641666.67"), line(REPAIR, "1", "500000", "458333.33")]
    d.move("commercial_proposal")
    d.accept("1100000", repriced)
    d.move("contract")
    d.win("1100000", repriced)

    d = Deal(h, OFFER_ONLY_WON, C2, BORIS, days_ago=35, amount=None)
    d.move("commercial_proposal")
    d.accept("250000")
    d.move("contract")
    d.win("250000")

    d = Deal(h, PLAIN_WON, C1, ANNA, days_ago=30, amount="200000", lines=[line(LATHE, "1", "200000", "200000")])
    d.move("needs")
    d.win("200000", [line(LATHE, "1", "200000", "200000")])

    d = Deal(
        h,
        REPRICED_OPEN,
        C1,
        ANNA,
        days_ago=20,
        amount="150000",
        expected=NEXT_MONTH,
        lines=[line(LATHE, "1", "100000", "100000"), line(REPAIR, "1", "50000", "50000")],
    )
    d.move("commercial_proposal")
    d.accept("120000", [line(LATHE, "1", "100000", "80000"), line(REPAIR, "1", "50000", "40000")])
    d.update(
        "120000", [line(LATHE, "1", "100000", "80000"), line(REPAIR, "1", "50000", "40000")], title="Поставка станков"
    )
    d.move("contract")

    # The finding: the board showed 300 000 while the workload and the forecast showed 0.00.
    d = Deal(h, OFFER_ONLY_OPEN, C2, BORIS, days_ago=15, amount=None, expected=NEXT_MONTH)
    d.move("commercial_proposal")
    d.accept("300000")
    d.move("contract")

    Deal(h, PLAIN_OPEN, C2, BORIS, days_ago=10, amount="80000", lines=[line(REPAIR, "1", "80000", "80000")])

    for deal, company_id, total in (
        (REPRICED_WON, C1, "1100000"),
        (OFFER_ONLY_WON, C2, "250000"),
        (PLAIN_WON, C1, "200000"),
    ):
        invoice(h, uuid.uuid4(), deal, company_id, total, TODAY + timedelta(days=10))
    return h


VOLUME_SLICES = [
    [],
    ["department"],
    ["manager"],
    ["period"],
    ["product"],
    ["product_group"],
    ["region"],
    ["industry"],
    ["source"],
    ["product", "region"],
    ["department", "product_group"],
    ["manager", "industry", "period"],
]
# The aggregates answer a period on whole months; one that cuts a month is read from the facts.
PERIODS = [{}, {"from": (NOW - timedelta(days=75, hours=5)).isoformat(), "to": (NOW + timedelta(hours=1)).isoformat()}]


def total_of(rows, field: str) -> Decimal:
    return sum((Decimal(r[field]) for r in rows), Decimal(0))


async def slices(app, settings) -> dict:
    """Every money figure of every report over the six deals, as (sum of its rows, its own total if it has one)."""
    out = {}
    for period in PERIODS:
        tag = "facts" if period else "aggregates"
        for by in ("manager", "product", "product_group"):
            for p in ("month", "quarter"):
                r = await get(app, settings, CEO, "results", by=by, period=p, **period)
                out[f"results by {by} per {p}, {tag}"] = (
                    total_of(r["totals"], "revenue"),
                    total_of(r["rows"], "revenue"),
                )
        for by in VOLUME_SLICES:
            r = await get(app, settings, CEO, "sales-volume", by=by, **period)
            out[f"sales volume by {by}, {tag}"] = (total_of(r["rows"], "revenue"), Decimal(r["total"]["revenue"]))
        for by in ("region", "industry"):
            r = await get(app, settings, CEO, "segments", by=by, **period)
            out[f"segments by {by}, {tag}"] = (total_of(r["rows"], "revenue"),)
        out[f"sources, {tag}"] = (total_of((await get(app, settings, CEO, "sources", **period))["rows"], "revenue"),)
    # The open deals: the period of the forecast is the expected close date, that of the workload nothing.
    out["workload"] = (total_of((await get(app, settings, CEO, "workload"))["rows"], "open_amount"),)
    for tag, period in (("forecast", {}), ("forecast from a day", {"from": f"{TODAY - timedelta(days=3)}T07:00:00Z"})):
        forecast = await get(app, settings, CEO, "forecast", **period)
        out[tag] = (total_of(forecast["rows"], "amount"), Decimal(forecast["total"]["amount"]))
    out["receivables"] = (total_of((await get(app, settings, CEO, "receivables"))["rows"], "outstanding"),)
    return out


# What is not the won deals' total: the open deals', and those of them with an expected close date.
NOT_WON = {"workload": OPEN, "forecast": OPEN, "forecast from a day": OPEN - Decimal("80000")}


async def test_every_slice_of_every_report_adds_up_to_the_deals_amounts_and_invoices(app, settings, feed):
    await feed(six_deals().events)
    found = await slices(app, settings)
    wrong = {name: sums for name, sums in found.items() if any(s != NOT_WON.get(name, WON) for s in sums)}
    assert not wrong, wrong

    # The deal won after an accepted offer counts at the offer's amount in the slices by product too; the one
    # without lines is there under "no product", so the products add up to the same total.
    products = {
        t["key"]: (t["name"], t["won"], t["revenue"])
        for t in (await get(app, settings, CEO, "results", by="product"))["totals"]
    }
    assert products == {
        str(LATHE): ("Токарный станок", 2, "841666.67"),
        str(REPAIR): ("Ремонт", 1, "458333.33"),
        None: ("no product", 1, "250000.00"),
    }
    volume = {
        r["product"]: (r["product_name"], r["revenue"])
        for r in (await get(app, settings, CEO, "sales-volume", by=["product"]))["rows"]
    }
    assert volume[None] == ("no product", "250000.00")
    managers = {r["manager_id"]: r["open_amount"] for r in (await get(app, settings, CEO, "workload"))["rows"]}
    assert managers == {str(ANNA.user_id): "120000.00", str(BORIS.user_id): "380000.00"}
    forecast = {r["month"]: r["amount"] for r in (await get(app, settings, CEO, "forecast"))["rows"]}
    assert forecast == {NEXT_MONTH.strftime("%Y-%m"): "420000.00", "unscheduled": "80000.00"}


async def test_the_aggregates_the_facts_and_a_refill_give_the_same_money(app, feed):
    await feed(six_deals().events)
    runs = {
        "workload": lambda s, sc, f: reports.workload(s, CEO, sc, facts=f),
        "forecast": lambda s, sc, f: reports.forecast(s, CEO, sc, facts=f),
        "results": lambda s, sc, f: reports.results(s, CEO, sc, by="manager", period=Period.MONTH, facts=f),
        **{
            f"volume by {by}": lambda s, sc, f, by=by: reports.volume(s, CEO, sc, by=by, period=Period.MONTH, facts=f)
            for by in VOLUME_SLICES
        },
        **{
            f"segments by {by}": lambda s, sc, f, by=by: reports.segments(s, CEO, sc, by=by, facts=f)
            for by in ("region", "industry", "source")
        },
    }
    scopes = [reports.Scope(), reports.Scope(department_id=EAST), reports.Scope(owner_id=BORIS.user_id)]

    async def figures() -> dict:
        out = {}
        async with app.state.runtime.sessionmaker() as s:
            for name, run in runs.items():
                for i, scope in enumerate(scopes):
                    from_cells, from_facts = await run(s, scope, False), await run(s, scope, True)
                    assert from_cells == from_facts, (name, scope)
                    out[(name, i)] = from_cells
        return out

    before = await figures()
    assert before[("volume by []", 0)]["total"]["revenue"] == money(WON)
    assert sum(Decimal(r["open_amount"]) for r in before[("workload", 0)]["rows"]) == OPEN
    assert before[("forecast", 0)]["total"]["amount"] == money(OPEN)
    async with app.state.runtime.sessionmaker() as s:
        await refill(s)
        await s.commit()
    assert await figures() == before


async def test_events_in_any_order_and_repeated_end_in_the_same_money(app, settings, feed, feed_in_batches):
    events = six_deals().events
    await feed(events)
    in_order = await slices(app, settings)
    for seed, largest in ((11, 1), (12, 5), (13, 3 * len(events))):
        await drop_read_models(app)
        rnd = random.Random(seed)
        shuffled = events + rnd.sample(events, len(events) // 2)
        rnd.shuffle(shuffled)
        await feed_in_batches(shuffled, rnd, largest)
        assert await slices(app, settings) == in_order, seed


@pytest.mark.broker
async def test_the_read_models_rebuilt_from_the_topics_give_the_same_money(postgres, tansu):
    from test_rebuild import on_topics

    from mercator.analytics import jobs
    from mercator.analytics.app import build_app

    async with on_topics(postgres, tansu, "analytics_money", six_deals().events) as (settings, runtime, published):
        app = build_app(settings, runtime)
        assert await jobs.rebuild(runtime) == published
        found = await slices(app, settings)
        assert {name: sums for name, sums in found.items() if any(s != NOT_WON.get(name, WON) for s in sums)} == {}
