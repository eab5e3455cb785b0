"""The reports over data put in by the projection handlers; every test's writes are rolled back."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from mercator.common.pagination import encode_cursor
from mercator.common.testing.api import client

pytestmark = pytest.mark.postgres

NOW = datetime.now(UTC).replace(microsecond=0)
MOSCOW, SPB = uuid.uuid4(), uuid.uuid4()
ANNA, BORIS = uuid.uuid4(), uuid.uuid4()


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


@pytest.fixture
async def base(contacts) -> dict[str, uuid.UUID]:
    """Five cards in the base, one merged away, one only known by its history."""
    ids = {name: uuid.uuid4() for name in ("romashka", "lutik", "vasilek", "kedr", "sosna", "dubl", "unknown")}
    moscow = {"region_id": MOSCOW, "region_name": "Москва"}
    await contacts.card(ids["romashka"], name="Ромашка", owner_id=ANNA, **moscow)
    await contacts.card(ids["lutik"], name="Лютик", owner_id=ANNA, **moscow)
    await contacts.card(ids["vasilek"], name="Василёк", owner_id=BORIS, status="prospect", **moscow)
    await contacts.card(ids["kedr"], name="Кедр", owner_id=ANNA, region_id=SPB, region_name="Санкт-Петербург")
    await contacts.card(ids["sosna"], name="Сосна", owner_id=BORIS, status="former")
    await contacts.card(ids["dubl"], name="Ромашка (дубль)", owner_id=ANNA, **moscow)
    await contacts.activity(ids["romashka"], days_ago(40), kind="call", author_id=ANNA)
    await contacts.activity(ids["romashka"], days_ago(10), kind="meeting", author_id=ANNA)
    await contacts.activity(ids["lutik"], days_ago(5), kind="email", author_id=BORIS)
    await contacts.activity(ids["dubl"], days_ago(3), kind="call", author_id=ANNA)
    await contacts.activity(ids["kedr"], days_ago(45), kind="fax", author_id=ANNA)
    await contacts.activity(ids["sosna"], days_ago(31), kind="letter", author_id=BORIS)
    await contacts.activity(ids["unknown"], days_ago(1), kind="note", author_id=ANNA)
    await contacts.merge(ids["romashka"], ids["dubl"], 2)
    return ids


async def report(api, path: str, **params) -> dict:
    r = await api.get(f"/api/v1/reports/{path}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_client_base_by_region_counts_each_card_once(api, base):
    got = await report(api, "client-base", by="region")
    assert got == {
        "by": "region",
        "total": 5,
        "rows": [
            {"key": str(MOSCOW), "name": "Москва", "clients": 3},
            {"key": str(SPB), "name": "Санкт-Петербург", "clients": 1},
            {"key": None, "name": None, "clients": 1},
        ],
    }


async def test_client_base_by_manager_status_and_with_filters(api, base):
    by_owner = await report(api, "client-base", by="owner")
    assert [(r["key"], r["clients"]) for r in by_owner["rows"]] == [(str(ANNA), 3), (str(BORIS), 2)]
    by_status = await report(api, "client-base", by="status")
    assert [(r["key"], r["clients"]) for r in by_status["rows"]] == [("client", 3), ("former", 1), ("prospect", 1)]
    annas = await report(api, "client-base", by="region", owner_id=str(ANNA))
    assert [(r["name"], r["clients"]) for r in annas["rows"]] == [("Москва", 2), ("Санкт-Петербург", 1)]
    prospects = await report(api, "client-base", by="region", status="prospect")
    assert (prospects["rows"], prospects["total"]) == ([{"key": str(MOSCOW), "name": "Москва", "clients": 1}], 1)


async def test_a_reassignment_moves_the_card_between_managers(api, base, contacts):
    await contacts.reassign(base["lutik"], 2, BORIS)
    by_owner = await report(api, "client-base", by="owner")
    assert [(r["key"], r["clients"]) for r in by_owner["rows"]] == [(str(BORIS), 3), (str(ANNA), 2)]


async def test_activity_in_a_period_by_kind_author_and_client(api, base):
    # `from` is inclusive (Сосна's letter, 31 days ago), `to` exclusive (the note a day ago).
    period = {"from": days_ago(31).isoformat(), "to": days_ago(1).isoformat()}
    by_kind = await report(api, "activity", by="kind", **period)
    assert by_kind["total"] == 4
    assert {r["key"]: r["entries"] for r in by_kind["rows"]} == {"call": 1, "meeting": 1, "email": 1, "letter": 1}
    assert by_kind["from"] == period["from"].replace("+00:00", "Z")
    by_author = await report(api, "activity", by="author", **period)
    assert {r["key"]: r["entries"] for r in by_author["rows"]} == {str(ANNA): 2, str(BORIS): 2}
    by_client = await report(api, "activity", by="company", **period)
    # The absorbed duplicate's call now belongs to the card it was merged into.
    assert [(r["name"], r["entries"]) for r in by_client["rows"]] == [("Ромашка", 2), ("Лютик", 1), ("Сосна", 1)]
    everything = await report(api, "activity", by="kind")
    assert everything["total"] == 7 and everything["from"] is None


async def test_inactive_clients_longest_silence_first(api, base):
    got = await report(api, "inactive-clients", days=30)
    assert [(i["name"], i["days_inactive"]) for i in got["items"]] == [("Василёк", None), ("Кедр", 45), ("Сосна", 31)]
    assert got["next_cursor"] is None and got["items"][0]["last_activity_at"] is None
    borises = await report(api, "inactive-clients", days=30, owner_id=str(BORIS))
    assert [i["name"] for i in borises["items"]] == ["Василёк", "Сосна"]
    week = await report(api, "inactive-clients", days=4)
    assert [i["name"] for i in week["items"]] == ["Василёк", "Кедр", "Сосна", "Лютик"]


@pytest.mark.parametrize("limit", [1, 2])
async def test_inactive_clients_page_through_without_gaps_or_repeats(api, base, contacts, limit):
    await contacts.card(uuid.uuid4(), name="Берёза")  # a second client never contacted
    seen, cursor = [], None
    for _ in range(10):
        page = await report(api, "inactive-clients", days=1, limit=limit, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= limit
        seen += [i["name"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen[:2]) == ["Берёза", "Василёк"]
    assert seen[2:] == ["Кедр", "Сосна", "Лютик", "Ромашка"]


async def test_a_new_history_entry_takes_a_client_off_the_inactive_list(api, base, contacts):
    await contacts.activity(base["kedr"], days_ago(0.5))
    got = await report(api, "inactive-clients", days=30)
    assert "Кедр" not in [i["name"] for i in got["items"]]


@pytest.mark.parametrize(
    "path, params, field",
    [
        ("client-base", {"by": "planet"}, "by"),
        ("client-base", {}, "by"),
        ("client-base", {"by": "region", "owner_id": "anna"}, "owner_id"),
        ("activity", {"by": "mood"}, "by"),
        ("activity", {"by": "kind", "from": "2026-11-01T10:00:00"}, "from"),
        ("activity", {"by": "kind", "from": "2026-11-01T10:00:00Z", "to": "2026-11-30T00:00:00"}, "to"),
        ("activity", {"by": "kind", "from": "2026-11-30T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "to"),
        ("activity", {"by": "kind", "from": "yesterday"}, "from"),
        ("inactive-clients", {"days": 0}, "days"),
        ("inactive-clients", {"days": "month"}, "days"),
        ("inactive-clients", {"limit": 0}, "limit"),
        ("inactive-clients", {"cursor": "garbage!!"}, "cursor"),
        ("inactive-clients", {"cursor": encode_cursor(["not a time", "not an id"])}, "cursor"),
    ],
)
async def test_bad_input_is_a_problem_naming_the_field(api, path, params, field):
    r = await api.get(f"/api/v1/reports/{path}", params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in r.json()["errors"]]


async def test_reports_need_a_valid_token(app):
    async with client(app) as anonymous:
        for path in ("client-base?by=region", "activity?by=kind", "inactive-clients"):
            r = await anonymous.get(f"/api/v1/reports/{path}")
            assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        forged = await anonymous.get("/api/v1/reports/inactive-clients", headers={"Authorization": "Bearer x.y.z"})
        assert forged.status_code == 401
