"""The report arithmetic and the projection rules, without a database."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from mercator.analytics import domain
from mercator.analytics.domain import Period


def test_events_of_one_version_agree_and_only_older_ones_are_stale():
    assert domain.current(7, 7) and domain.current(8, 7) and not domain.current(6, 7)
    assert domain.status_after("won") is domain.DealStatus.WON
    assert domain.status_after("reopen") is domain.DealStatus.OPEN


def test_median_and_mean_of_nothing_are_unknown_not_zero():
    assert domain.median([]) is None and domain.mean([]) is None
    assert domain.median([30, 10, 20]) == 20 and domain.median([10, 20, 30, 40]) == 25


def test_shares_round_and_never_divide_by_zero():
    assert domain.share(1, 3) == 0.3333 and domain.share(5, 0) is None


def test_ageing_buckets_count_days_past_due():
    today = date(2026, 11, 27)
    assert [domain.ageing_bucket(today - timedelta(days=d), today) for d in (-5, 0, 1, 30, 31, 60, 61, 90, 91)] == [
        "current",
        "current",
        "1-30",
        "1-30",
        "31-60",
        "31-60",
        "61-90",
        "61-90",
        "90+",
    ]


def test_periods_and_the_trend_between_them():
    at = datetime(2026, 5, 20, tzinfo=UTC)
    assert [domain.period_key(at, p) for p in Period] == ["2026-05", "2026-Q2", "2026"]
    assert domain.trend([Decimal(100), Decimal(150), Decimal(0), Decimal(10)]) == [None, 0.5, -1.0, None]


def test_a_manager_is_low_against_the_team_only_when_the_team_logs_something():
    assert domain.below_team(1, 2.5, 0.5) and not domain.below_team(2, 2.5, 0.5)
    assert not domain.below_team(0, 0.0, 0.5) and not domain.below_team(0, None, 0.5)


def test_inactivity_counts_from_the_last_entry_or_from_the_card():
    now = datetime(2026, 11, 27, tzinfo=UTC)
    assert domain.crossed_inactivity(now - timedelta(days=14), None, now, 14)
    assert not domain.crossed_inactivity(now - timedelta(days=13), None, now, 14)
    assert domain.crossed_inactivity(None, now - timedelta(days=20), now, 14)
    assert not domain.crossed_inactivity(None, None, now, 14)
    last = now - timedelta(days=20)
    assert domain.already_announced(last, True, last.astimezone(timezone(timedelta(hours=3))))
    assert not domain.already_announced(last, True, now - timedelta(days=15))
    assert not domain.already_announced(None, False, None)
