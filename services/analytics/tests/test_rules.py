"""The projection and report rules, without a database."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mercator.analytics.domain import (
    CardVersions,
    InvalidValue,
    MeetingStatus,
    MeetingView,
    as_utc,
    check_period,
    days_since,
)

NINE = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TEN = NINE + timedelta(hours=1)


def test_a_newer_snapshot_replaces_the_card_and_an_older_or_repeated_one_does_not():
    versions, take_card, take_owner = CardVersions().snapshot(1)
    assert (versions, take_card, take_owner) == (CardVersions(1, 1), True, True)
    assert CardVersions(3, 3).snapshot(2) == (CardVersions(3, 3), False, False)
    assert CardVersions(3, 3).snapshot(3) == (CardVersions(3, 3), False, False)  # the same event again


def test_a_late_snapshot_still_renames_but_does_not_undo_a_newer_reassignment():
    # Created (1), renamed (2), reassigned (3); the rename arrives last.
    after_reassign, take = CardVersions(1, 1).reassignment(3)
    assert take and after_reassign == CardVersions(1, 3)
    versions, take_card, take_owner = after_reassign.snapshot(2)
    assert (versions, take_card, take_owner) == (CardVersions(2, 3), True, False)


def test_an_older_reassignment_is_ignored():
    assert CardVersions(2, 4).reassignment(3) == (CardVersions(2, 4), False)
    # A reassignment ahead of the card itself: kept, and the card's own snapshot cannot undo it.
    versions, take = CardVersions().reassignment(2)
    assert take and versions.snapshot(1)[1:] == (True, False)


def test_a_meeting_scheduled_then_moved_then_done():
    view = MeetingView().scheduled(NINE, 1).rescheduled(TEN, 2).settled(MeetingStatus.DONE, 3)
    assert view == MeetingView(MeetingStatus.DONE, TEN, 3, 2)


def test_a_meeting_whose_events_arrive_backwards_ends_the_same():
    view = MeetingView().settled(MeetingStatus.DONE, 3).rescheduled(TEN, 2).scheduled(NINE, 1)
    assert view == MeetingView(MeetingStatus.DONE, TEN, 3, 2)


def test_repeated_meeting_events_change_nothing():
    view = MeetingView().scheduled(NINE, 1).settled(MeetingStatus.CANCELLED, 2)
    assert view.scheduled(NINE, 1).settled(MeetingStatus.CANCELLED, 2) == view
    assert view.status is MeetingStatus.CANCELLED


def test_a_period_must_be_aware_and_not_empty():
    check_period(None, None)
    check_period(NINE, TEN)
    check_period(NINE.astimezone(timezone(timedelta(hours=3))), None)
    for start, end, field, rule in (
        (NINE.replace(tzinfo=None), None, "from", "naive_time"),
        (NINE, TEN.replace(tzinfo=None), "to", "naive_time"),
        (TEN, NINE, "to", "empty_period"),
        (NINE, NINE, "to", "empty_period"),
    ):
        with pytest.raises(InvalidValue) as caught:
            check_period(start, end)
        assert (caught.value.field, caught.value.rule) == (field, rule)


def test_days_since_the_last_entry():
    assert days_since(None, NINE) is None
    assert days_since(NINE - timedelta(days=40, hours=1), NINE) == 40
    assert days_since(NINE - timedelta(hours=23), NINE) == 0
    assert days_since(NINE + timedelta(hours=1), NINE) == 0  # an entry dated ahead is not negative silence


def test_as_utc_moves_a_time_to_utc_and_refuses_one_without_a_zone():
    assert as_utc(datetime(2026, 1, 1, 15, tzinfo=timezone(timedelta(hours=3)))) == datetime(2026, 1, 1, 12, tzinfo=UTC)
    with pytest.raises(ValueError):
        as_utc(datetime(2026, 1, 1, 12))
    assert as_utc(None) is None
