"""The rules of notifications, without a database."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from mercator.common.errors import InvalidValue, RuleViolation
from mercator.notifications import domain
from mercator.notifications.domain import Channel, Outcome, Staff, Status

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_backoff_doubles_and_is_capped():
    assert [domain.retry_delay(n, 30, 600).total_seconds() for n in range(1, 7)] == [30, 60, 120, 240, 480, 600]


def test_a_failed_attempt_is_retried_until_the_last_then_fails():
    step = domain.after_attempt(Outcome(False, "timeout"), 2, T, 4, 30, 600)
    assert step == domain.NextStep(Status.QUEUED, T + timedelta(seconds=60))
    assert domain.after_attempt(Outcome(False, "timeout"), 4, T, 4, 30, 600).status is Status.FAILED
    assert domain.after_attempt(Outcome(False, "550", permanent=True), 1, T, 4, 30, 600).status is Status.FAILED
    assert domain.after_attempt(Outcome(True), 3, T, 4, 30, 600).status is Status.SENT


def test_the_reason_of_a_final_failure_says_why_no_more_attempts_follow():
    assert (
        domain.give_up_reason(Outcome(False, "SMTP 451: try later"), 6)
        == "gave up after 6 attempts: SMTP 451: try later"
    )
    assert (
        domain.give_up_reason(Outcome(False, "SMTP 550: no mailbox", permanent=True), 1)
        == "refused for good: SMTP 550: no mailbox"
    )


def test_a_sent_or_cancelled_message_stays_so():
    for status in (Status.SENT, Status.CANCELLED):
        with pytest.raises(RuleViolation):
            domain.check_move(status.value, Status.QUEUED)
    domain.check_move("failed", Status.QUEUED)


@pytest.mark.parametrize(
    "written,e164",
    [("+7 (495) 123-45-67", "+74951234567"), ("8 812 555 12 34", "+78125551234"), ("+49 30 901820", "+4930901820")],
)
def test_fax_numbers_are_e164(written, e164):
    assert domain.fax_number(written, "RU") == e164


@pytest.mark.parametrize("written", ["12345", "+7 000", "fax please", ""])
def test_a_number_that_cannot_be_dialled_is_refused_naming_the_field(written):
    with pytest.raises(InvalidValue) as err:
        domain.fax_number(written, "RU", field="to")
    assert err.value.field == "to" and err.value.rule == "invalid_fax_number"


def test_a_person_is_reached_at_their_first_usable_address():
    assert domain.address_of(Channel.EMAIL, "Иван", ["not mail", "ivan@ex.ru"], [], "RU") == "ivan@ex.ru"
    assert domain.address_of(Channel.FAX, "Иван", [], ["доб. 12", "+7 495 123 45 67"], "RU") == "+74951234567"
    with pytest.raises(domain.NoAddress, match="Иван has no phone number a fax can be sent to"):
        domain.address_of(Channel.FAX, "Иван", ["ivan@ex.ru"], [], "RU")


def test_the_fax_gateway_address_is_the_digits_at_the_domain():
    assert domain.fax_gateway_address("+74951234567", "fax.provider.ru") == "74951234567@fax.provider.ru"


def test_a_reminder_goes_the_meetings_minutes_before_or_the_default():
    assert domain.reminder_at(T, 45, 30) == T - timedelta(minutes=45)
    assert domain.reminder_at(T, None, 30) == T - timedelta(minutes=30)
    assert domain.reminder_at(T, 0, 30) == T


def test_a_mailing_is_spread_at_the_rate():
    assert domain.mailing_slots(3, T, 2) == [T, T + timedelta(seconds=0.5), T + timedelta(seconds=1)]
    with pytest.raises(ValueError):
        domain.mailing_slots(1, T, 0)


def test_the_head_is_found_in_the_managers_department_or_above():
    top, sales = uuid.uuid4(), uuid.uuid4()
    manager = Staff(uuid.uuid4(), frozenset({"manager"}), sales)
    director = Staff(uuid.uuid4(), frozenset({"head"}), top)
    parents = {sales: top, top: None}
    assert domain.head_of(manager, [manager, director], parents) == director
    local = Staff(uuid.uuid4(), frozenset({"head"}), sales)
    assert domain.head_of(manager, [manager, director, local], parents) == local
    gone = Staff(local.user_id, local.roles, sales, active=False)
    assert domain.head_of(manager, [manager, director, gone], parents) == director
    assert domain.head_of(Staff(uuid.uuid4(), frozenset(), None), [director], parents) is None
    assert domain.head_of(manager, [manager], {sales: top, top: sales}) is None  # a cycle ends
