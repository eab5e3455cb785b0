"""The identity rules, without a database."""

import uuid

import pytest

from mercator.common.errors import InvalidValue, RuleViolation
from mercator.gateway.identity import (
    SCOPES,
    ApiKey,
    Role,
    check_parent,
    check_password,
    check_scopes,
    must_keep_an_admin,
    needed_scope,
    new_api_key,
    normalise_email,
    parse_api_key,
    subtree,
    user_roles,
)


@pytest.mark.parametrize(
    "password", ["Short1!", "abcdefghijkl", "ABCDEFGHIJKL", "123456789012", "!!!!!!!!!!!!", "парольпароль", "abcdefgh1"]
)
def test_a_weak_password_is_refused_naming_the_field(password):
    with pytest.raises(InvalidValue) as e:
        check_password(password)
    assert (e.value.rule, e.value.field) == ("weak_password", "password")


@pytest.mark.parametrize("password", ["abcdefghi1", "Пароль-для-Анны", "correct horse", "ABCDEFGHIJ-"])
def test_ten_characters_of_two_kinds_will_do(password):
    check_password(password)


def test_the_e_mail_is_no_password_and_a_huge_one_is_refused():
    with pytest.raises(InvalidValue):
        check_password("anna@example.ru", email="Anna@Example.ru")
    with pytest.raises(InvalidValue, match="at most"):
        check_password("aA1" * 100)


def test_e_mail_addresses_are_normalised_and_checked():
    assert normalise_email("  Anna.Petrova@Example.RU ") == "anna.petrova@example.ru"
    assert normalise_email("Иван@Пример.рф") == "иван@пример.рф"
    for bad in ["anna", "anna@", "@example.ru", "anna@example", "an na@example.ru", "a@b@c.ru", "a@.ru"]:
        with pytest.raises(InvalidValue) as e:
            normalise_email(bad)
        assert e.value.field == "email", bad


def test_people_have_known_roles_and_never_the_partner_one():
    assert user_roles(["manager", "head", "manager"]) == ["head", "manager"]
    assert {r.value for r in Role} == {
        "manager",
        "head",
        "marketing",
        "executive",
        "support",
        "admin",
        "importer",
        "partner",
    }
    for bad, rule in [(["chief"], "unknown_role"), (["partner"], "partner_role"), ([], "no_role")]:
        with pytest.raises(InvalidValue) as e:
            user_roles(bad)
        assert (e.value.rule, e.value.field) == (rule, "roles")


def test_the_last_admin_stays():
    must_keep_an_admin(1, False)
    must_keep_an_admin(0, True)
    with pytest.raises(RuleViolation, match="last"):
        must_keep_an_admin(0, False)


def test_an_api_key_round_trips_and_a_malformed_one_is_refused():
    key = new_api_key()
    text = str(key)
    assert text.startswith("mk_") and parse_api_key(text) == key and parse_api_key(f" {text} ") == key
    assert new_api_key() != key
    with_underscore = ApiKey("0123456789abcdef", "_" * 43)  # the secret may hold the separator itself
    assert parse_api_key(str(with_underscore)) == with_underscore
    for bad in [
        "",
        "mk_",
        text[3:],
        "xx_" + text[3:],
        text[:-1],
        text + "x",
        "mk_0123_" + key.secret,
        text.replace(key.key_id, key.key_id.upper()),
    ]:
        with pytest.raises(InvalidValue):
            parse_api_key(bad)


def test_scopes_are_from_the_list():
    assert {"read:companies", "read:deals", "write:history"} <= SCOPES
    assert check_scopes(["read:deals", "read:companies", "read:deals"]) == ["read:companies", "read:deals"]
    for bad in [["read:everything"], [], ["write:invoices"]]:
        with pytest.raises(InvalidValue) as e:
            check_scopes(bad)
        assert e.value.field == "scopes"
    assert needed_scope("GET", "deals") == "read:deals" and needed_scope("post", "history") == "write:history"


def test_a_department_subtree_holds_it_and_all_below():
    sales, moscow, msk_retail, spb, it = (uuid.uuid4() for _ in range(5))
    parents = {sales: None, moscow: sales, msk_retail: moscow, spb: sales, it: None}
    assert subtree(sales, parents) == {sales, moscow, msk_retail, spb}
    assert subtree(moscow, parents) == {moscow, msk_retail}
    assert subtree(it, parents) == {it}
    check_parent(spb, moscow, parents)  # a move sideways is fine
    check_parent(moscow, None, parents)
    for dept, parent in [(sales, msk_retail), (moscow, moscow), (sales, moscow)]:
        with pytest.raises(RuleViolation) as e:
            check_parent(dept, parent, parents)
        assert (e.value.rule, e.value.field) == ("department_cycle", "parent_id")


def test_a_loop_in_the_tree_is_refused():
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with pytest.raises(RuleViolation) as e:
        subtree(a, {a: b, b: a, c: a})
    assert e.value.rule == "department_cycle"
