"""The twelve reports over one known history, fed through the projection handlers against a real PostgreSQL;
the same history shuffled and repeated gives the same reports; CSV on request; visibility; bad input."""

import csv
import io
import random
import uuid
from datetime import timedelta

import pytest
from analytics_history import (
    ANNA,
    BORIS,
    C2,
    C3,
    CEO,
    EAST,
    EAST_HEAD,
    LATHE,
    NOW,
    REPAIR,
    REPORTS,
    SALES,
    SHOW,
    TODAY,
    drop_read_models,
    get,
    sales_department,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
async def base(feed):
    await feed(sales_department().events)


def by_key(rows, key="manager_id"):
    return {r[key]: r for r in rows}


async def test_workload_per_manager_and_stage(app, settings, base):
    rows = by_key((await get(app, settings, CEO, "workload"))["rows"])
    anna, boris = rows[str(ANNA.user_id)], rows[str(BORIS.user_id)]
    assert (anna["manager"], anna["clients"], anna["open_deals"], anna["open_amount"]) == ("Анна", 2, 1, "10000.00")
    assert anna["by_stage"]["interest"] == 1 and sum(anna["by_stage"].values()) == 1
    assert (boris["clients"], boris["open_deals"], boris["by_stage"]["commercial_proposal"]) == (1, 1, 1)


async def test_inactivity_counts_silent_cards_and_flags_the_manager_who_logs_little(app, settings, base):
    report = await get(app, settings, CEO, "inactivity")
    assert report["days"] == 14 and report["team_mean_activities"] == 2.5
    rows = by_key(report["rows"])
    anna, boris = rows[str(ANNA.user_id)], rows[str(BORIS.user_id)]
    assert (anna["inactive_clients"], anna["activities"], anna["low_activity"]) == (1, 4, False)
    assert (boris["inactive_clients"], boris["activities"], boris["low_activity"]) == (1, 1, True)
    # The period narrows the activities: Boris's only entry is a month old.
    recent = by_key(
        (await get(app, settings, CEO, "inactivity", days=60, **{"from": (NOW - timedelta(days=7)).isoformat()}))[
            "rows"
        ]
    )
    assert recent[str(BORIS.user_id)]["activities"] == 0 and recent[str(BORIS.user_id)]["inactive_clients"] == 0


async def test_receivables_with_ageing_per_manager_client_and_invoice(app, settings, base):
    rows = by_key((await get(app, settings, CEO, "receivables"))["rows"], "key")
    anna, boris = rows[str(ANNA.user_id)], rows[str(BORIS.user_id)]
    assert (anna["outstanding"], anna["overdue"], anna["overdue_invoices"]) == ("60000.00", "60000.00", 1)
    assert anna["ageing"]["31-60"] == "60000.00" and anna["ageing"]["current"] == "0.00"
    assert (boris["outstanding"], boris["overdue"], boris["ageing"]["current"]) == ("10000.00", "0.00", "10000.00")
    clients = by_key((await get(app, settings, CEO, "receivables", by="client"))["rows"], "key")
    assert clients[str(C3)]["name"] == "Гамма-Про" and clients[str(C3)]["outstanding"] == "10000.00"
    [late] = (await get(app, settings, CEO, "receivables", by="invoice"))["rows"]
    assert (late["days_overdue"], late["outstanding"], late["bucket"], late["manager"]) == (
        45,
        "60000.00",
        "31-60",
        "Анна",
    )


async def test_deal_duration_stage_times_and_conversion(app, settings, base):
    report = await get(app, settings, CEO, "deal-duration")
    rows = by_key(report["rows"], "key")
    assert rows[str(ANNA.user_id)]["won"] == {"deals": 1, "mean_days": 30.0, "median_days": 30.0}
    assert rows[str(ANNA.user_id)]["lost"] == {"deals": 1, "mean_days": 10.0, "median_days": 10.0}
    assert rows[str(BORIS.user_id)]["won"]["mean_days"] == 10.0
    assert report["all"]["won"] == {"deals": 2, "mean_days": 20.0, "median_days": 20.0}
    stages = {s["stage"]: s for s in report["stages"]}
    # Interest: D1 3 days, D2 4, D3 5, D4 7.
    assert stages["interest"] == {"stage": "interest", "exits": 4, "mean_days": 4.75}
    conversion = {c["from_stage"]: c for c in report["conversion"]}
    assert (conversion["interest"]["reached"], conversion["interest"]["went_on"]) == (5, 4)
    assert (conversion["needs"]["reached"], conversion["needs"]["went_on"]) == (4, 3)
    assert conversion["delivery"]["to_stage"] == "won" and conversion["delivery"]["conversion"] == 1.0
    products = by_key((await get(app, settings, CEO, "deal-duration", by="product"))["rows"], "key")
    assert products[str(LATHE)]["won"]["deals"] == 2 and products[str(LATHE)]["name"] == "Токарный станок"
    assert products[str(REPAIR)]["won"]["median_days"] == 10.0


async def test_losses_by_reason_and_stage_beside_the_team(app, settings, base):
    report = await get(app, settings, CEO, "losses")
    assert report["team_lost"] == 1
    assert report["team"] == [{"reason": "Дорого", "stage": "needs", "lost": 1, "share": 1.0}]
    [row] = report["rows"]
    assert (row["manager"], row["reason"], row["stage"], row["lost"], row["team_share"]) == (
        "Анна",
        "Дорого",
        "needs",
        1,
        1.0,
    )
    mine = await get(app, settings, CEO, "losses", owner_id=str(BORIS.user_id))
    assert mine["rows"] == [] and mine["team_lost"] == 1  # Boris lost nothing; his team did


async def test_results_by_manager_product_and_group_with_what_does_not_sell(app, settings, base):
    report = await get(app, settings, CEO, "results")
    totals = by_key(report["totals"], "key")
    assert totals[str(ANNA.user_id)] == {"key": str(ANNA.user_id), "name": "Анна", "won": 1, "revenue": "100000.00"}
    assert totals[str(BORIS.user_id)]["revenue"] == "50000.00"
    products = await get(app, settings, CEO, "results", by="product", period="quarter")
    assert [(t["name"], t["won"], t["revenue"]) for t in products["totals"]] == [
        ("Токарный станок", 2, "120000.00"),
        ("Ремонт", 1, "30000.00"),
        ("Пресс", 0, "0.00"),
    ]
    assert all("-Q" in r["period"] for r in products["rows"])
    groups = by_key((await get(app, settings, CEO, "results", by="product_group"))["totals"], "name")
    assert (groups["Станки"]["revenue"], groups["Сервис"]["revenue"]) == ("120000.00", "30000.00")


async def test_results_trend_compares_each_period_with_the_one_before(app, settings, feed):
    # Anna wins 100 000 in one month and 150 000 in the next: +50 %.
    from analytics_history import History, deal_history

    h = History()
    first = (TODAY.replace(day=1) - timedelta(days=80)).replace(day=3)
    for deal, opened, amount in ((uuid.uuid4(), first, "100000"), (uuid.uuid4(), first + timedelta(days=31), "150000")):
        deal_history(
            h,
            deal,
            C2,
            ANNA,
            opened=NOW.replace(year=opened.year, month=opened.month, day=3),
            path=["interest"],
            days=[1],
            amount=amount,
            end="won",
        )
    await feed(h.events)
    rows = (await get(app, settings, CEO, "results"))["rows"]
    assert [r["change"] for r in rows] == [None, 0.5]


async def test_sources_and_the_client_base_by_region(app, settings, base):
    sources = by_key((await get(app, settings, CEO, "sources"))["rows"], "name")
    assert {k: (v["clients"], v["deals"], v["won"], v["revenue"], v["conversion"]) for k, v in sources.items()} == {
        "Выставка": (1, 2, 1, "100000.00", 0.5),
        "Сайт": (2, 3, 1, "50000.00", 0.3333),
    }
    regions = by_key((await get(app, settings, CEO, "segments", by="region"))["rows"], "name")
    assert (regions["Москва"]["clients"], regions["Москва"]["deals"], regions["Москва"]["revenue"]) == (
        2,
        4,
        "150000.00",
    )
    assert (regions["Урал"]["deals"], regions["Урал"]["won"], regions["Урал"]["conversion"]) == (1, 0, 0.0)
    industries = (await get(app, settings, CEO, "segments", by="industry"))["rows"]
    assert [(r["name"], r["clients"], r["deals"]) for r in industries] == [("Металлообработка", 3, 5)]


async def test_a_marketing_event_with_its_participants_deals_cost_and_return(app, settings, base):
    [row] = (await get(app, settings, CEO, "marketing-events"))["rows"]
    assert row["name"] == "Металлообработка-2026" and row["marketing_event_id"] == str(SHOW)
    assert row["participants"] == {"invited": 1, "attended": 1, "responded": 0}
    # Alpha's and Gamma's deals opened within 90 days of the show; won: D1 and D3.
    assert (row["deals"], row["won"], row["revenue"], row["cost"], row["return"]) == (
        4,
        2,
        "150000.00",
        "30000.00",
        4.0,
    )
    short = (await get(app, settings, CEO, "marketing-events", window_days=10))["rows"][0]
    assert short["deals"] == 1  # only D1, opened three days after the show began


async def test_sales_volume_in_any_slice(app, settings, base):
    report = await get(app, settings, CEO, "sales-volume", by=["manager", "period"])
    assert report["total"] == {"revenue": "150000.00", "deals": 2}
    assert {(r["manager_name"], r["revenue"], r["average"]) for r in report["rows"]} == {
        ("Анна", "100000.00", "100000.00"),
        ("Борис", "50000.00", "50000.00"),
    }
    groups = (await get(app, settings, CEO, "sales-volume", by=["product_group", "region"]))["rows"]
    assert {(r["product_group_name"], r["region_name"], r["deals"], r["revenue"]) for r in groups} == {
        ("Станки", "Москва", 2, "120000.00"),
        ("Сервис", "Москва", 1, "30000.00"),
    }
    east = await get(app, settings, CEO, "sales-volume", department_id=str(EAST))
    assert east["total"] == {"revenue": "100000.00", "deals": 1}
    whole = await get(app, settings, CEO, "sales-volume", department_id=str(SALES), by=["department"])
    assert {r["department_name"]: r["revenue"] for r in whole["rows"]} == {"Восток": "100000.00", "Продажи": "50000.00"}


async def test_the_funnel_from_first_contact_to_won(app, settings, base):
    report = await get(app, settings, CEO, "funnel")
    assert (report["first_contacts"], report["won"], report["win_rate"]) == (5, 2, 0.4)
    reached = {r["stage"]: r["reached"] for r in report["rows"]}
    # D3 skipped from interest to the demo and won: it passed every stage on its way.
    assert reached == {
        "interest": 5,
        "needs": 4,
        "demo": 3,
        "tech_proposal": 3,
        "commercial_proposal": 3,
        "contract": 2,
        "payment": 2,
        "delivery": 2,
        "won": 2,
    }


async def test_the_forecast_weights_the_open_pipeline_by_stage_and_close_month(app, settings, base):
    report = await get(app, settings, CEO, "forecast")
    rows = {r["month"]: r for r in report["rows"]}
    [month] = [m for m in rows if m != "unscheduled"]
    assert (rows[month]["amount"], rows[month]["weighted"]) == ("80000.00", "40000.00")
    assert (rows["unscheduled"]["amount"], rows["unscheduled"]["weighted"]) == ("10000.00", "1000.00")
    assert report["total"]["weighted"] == "41000.00"


async def test_each_caller_sees_their_own_slice(app, settings, base):
    assert (await get(app, settings, ANNA, "funnel"))["first_contacts"] == 3
    assert (await get(app, settings, EAST_HEAD, "funnel"))["first_contacts"] == 3
    assert [r["manager"] for r in (await get(app, settings, ANNA, "workload"))["rows"]] == ["Анна"]
    assert (await get(app, settings, BORIS, "sales-volume"))["total"]["revenue"] == "50000.00"
    # Asking for someone else's figures gives an empty report, not theirs.
    assert (await get(app, settings, ANNA, "funnel", owner_id=str(BORIS.user_id)))["first_contacts"] == 0
    [row] = (await get(app, settings, ANNA, "marketing-events"))["rows"]
    assert row["participants"] == {"invited": 0, "attended": 1, "responded": 0} and row["deals"] == 2


async def test_every_report_as_csv(api_as, base):
    async with api_as(CEO) as api:
        r = await api.get("/api/v1/reports/workload", params={"format": "csv"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert {row["manager"]: row["by_stage.commercial_proposal"] for row in rows} == {"Анна": "0", "Борис": "1"}
        r = await api.get("/api/v1/reports/receivables", params={"by": "invoice"}, headers={"Accept": "text/csv"})
        [late] = list(csv.DictReader(io.StringIO(r.text)))
        assert (late["outstanding"], late["bucket"]) == ("60000.00", "31-60")
        for name, params in REPORTS:
            r = await api.get(f"/api/v1/reports/{name}", params={**params, "format": "csv"})
            assert r.status_code == 200 and r.text.strip(), (name, r.text)


async def test_bad_filters_are_refused_naming_the_field(api_as, base):
    async with api_as(CEO) as api:
        for name, params, field in (
            ("funnel", {"from": "2026-01-01T00:00:00"}, "from"),
            ("funnel", {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
            ("results", {"by": "weather"}, "by"),
            ("sales-volume", {"by": "colour"}, "by"),
            ("forecast", {"currency": "rubles"}, "currency"),
            ("receivables", {"department_id": "x"}, "department_id"),
        ):
            r = await api.get(f"/api/v1/reports/{name}", params=params)
            assert r.status_code == 422, (name, params, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert field in str(r.json()["errors"]), r.text


async def test_support_has_no_reports(api_as, base):
    from mercator.common.testing.api import caller

    async with api_as(caller("Инженер", roles=("support",))) as api:
        assert (await api.get("/api/v1/reports/funnel")).status_code == 403


async def _all_reports(app, settings) -> list:
    return [await get(app, settings, CEO, name, **params) for name, params in REPORTS]


async def test_the_same_history_shuffled_and_repeated_gives_the_same_reports(app, settings, feed):
    events = sales_department().events
    await feed(events)
    in_order = await _all_reports(app, settings)
    assert in_order[-2]["won"] == 2  # the funnel saw the whole history
    for seed in (1, 2, 3):
        await drop_read_models(app)
        shuffled = events + random.Random(seed).sample(events, len(events) // 2)
        random.Random(seed).shuffle(shuffled)
        await feed(shuffled)
        assert await _all_reports(app, settings) == in_order, seed


async def test_the_same_history_shuffled_and_repeated_in_batches_gives_the_same_reports(
    app, settings, feed, feed_in_batches
):
    events = sales_department().events
    await feed(events)
    in_order = await _all_reports(app, settings)
    assert in_order[-2]["won"] == 2
    # Small batches, then batches as long as the whole history: every copy of an event and every event of a
    # deal or a card may share one batch with the others, in any order.
    for seed, largest in ((1, 8), (2, 20), (3, 3 * len(events)), (4, 3 * len(events))):
        await drop_read_models(app)
        rnd = random.Random(seed)
        shuffled = events + rnd.sample(events, len(events) // 2) + (events if seed == 4 else [])
        rnd.shuffle(shuffled)
        await feed_in_batches(shuffled, rnd, largest)
        assert await _all_reports(app, settings) == in_order, seed
