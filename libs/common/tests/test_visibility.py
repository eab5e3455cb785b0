import uuid

import pytest

from mercator.common.auth import Caller
from mercator.common.visibility import Kind, NoAccess, sight

ME, OTHER, DEPT, SUB, ELSEWHERE = (uuid.uuid4() for _ in range(5))


def who(*roles, departments=()):
    return Caller(ME, "x", frozenset(roles), DEPT, frozenset(departments))


def test_a_manager_sees_only_what_they_own():
    s = sight(who("manager"), Kind.DEAL)
    assert s.sees(ME, ELSEWHERE) and not s.sees(OTHER, DEPT)


def test_a_head_sees_their_department_and_below_and_what_they_own():
    s = sight(who("head", departments={DEPT, SUB}), Kind.BILLING)
    assert s.sees(OTHER, SUB) and s.sees(OTHER, DEPT) and s.sees(ME, ELSEWHERE) and not s.sees(OTHER, ELSEWHERE)


@pytest.mark.parametrize("role", ["executive", "admin", "partner"])
def test_executives_admins_and_partners_see_everything(role):
    assert sight(who(role), Kind.DEAL, write=True).sees(OTHER, ELSEWHERE)


def test_marketing_reads_cards_and_reports_only():
    assert sight(who("marketing"), Kind.CARD).sees(OTHER, ELSEWHERE)
    assert sight(who("marketing"), Kind.REPORT).sees(OTHER, ELSEWHERE)
    for kind, write in ((Kind.CARD, True), (Kind.DEAL, False), (Kind.BILLING, False), (Kind.HISTORY, False)):
        with pytest.raises(NoAccess):
            sight(who("marketing"), kind, write=write)


def test_support_reads_clients_and_keeps_their_history():
    cards = sight(who("support"), Kind.CARD)
    assert cards.sees(OTHER, ELSEWHERE, "client") and not cards.sees(OTHER, ELSEWHERE, "prospect")
    assert sight(who("support"), Kind.HISTORY, write=True).sees(OTHER, ELSEWHERE, "client")
    with pytest.raises(NoAccess):
        sight(who("support"), Kind.CARD, write=True)
    with pytest.raises(NoAccess):
        sight(who("support"), Kind.DEAL)


def test_settings_are_read_by_all_and_changed_by_heads_and_admins():
    assert sight(who("manager"), Kind.SETTINGS).everything
    with pytest.raises(NoAccess):
        sight(who("manager"), Kind.SETTINGS, write=True)
    assert sight(who("head"), Kind.SETTINGS, write=True).everything


def test_no_role_no_access():
    with pytest.raises(NoAccess):
        sight(who(), Kind.CARD)
