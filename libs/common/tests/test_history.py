"""Who may say that something happened before now, and how far back it can be placed."""

import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from mercator.common.auth import Caller
from mercator.common.errors import Forbidden, InvalidValue
from mercator.common.history import moment_of, recorded_at, recorded_on

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def who(*roles: str) -> Caller:
    return Caller(uuid.uuid4(), "Someone", frozenset(roles))


@pytest.mark.parametrize("roles", [("admin",), ("manager", "importer")])
def test_admins_and_importers_record_history(roles):
    msk = timezone(timedelta(hours=3))
    assert recorded_at(who(*roles), datetime(2025, 1, 5, 12, 0, tzinfo=msk), NOW) == datetime(
        2025, 1, 5, 9, 0, tzinfo=UTC
    )
    assert recorded_on(who(*roles), date(2025, 1, 5), NOW.date(), "issue_date") == date(2025, 1, 5)


@pytest.mark.parametrize("roles", [("manager",), ("head",), ("executive",), ("support",)])
def test_every_other_role_records_things_as_they_happen(roles):
    assert recorded_at(who(*roles), None, NOW) == NOW
    with pytest.raises(Forbidden) as caught:
        recorded_at(who(*roles), NOW - timedelta(days=1), NOW, "opened_at")
    assert caught.value.field == "opened_at" and caught.value.rule == "history_not_allowed"
    with pytest.raises(Forbidden):
        recorded_on(who(*roles), NOW.date() - timedelta(days=1), NOW.date(), "issue_date")


def test_nothing_is_recorded_in_the_future():
    with pytest.raises(InvalidValue) as caught:
        recorded_at(who("admin"), NOW + timedelta(seconds=1), NOW, "at")
    assert caught.value.rule == "time_in_future" and caught.value.field == "at"
    with pytest.raises(InvalidValue) as caught:
        recorded_on(who("admin"), NOW.date() + timedelta(days=1), NOW.date(), "issue_date")
    assert caught.value.rule == "date_in_future" and caught.value.field == "issue_date"


def test_a_day_s_fact_is_placed_at_the_start_of_an_earlier_day_and_now_for_today():
    assert moment_of(date(2025, 6, 1), NOW) == datetime(2025, 6, 1, tzinfo=UTC)
    assert moment_of(NOW.date(), NOW) == NOW
    assert moment_of(NOW.date() + timedelta(days=3), NOW) == NOW
