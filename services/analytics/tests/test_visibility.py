"""Each caller's reports count the clients they see (mercator.common.visibility, Kind.REPORT), and a
history entry counts in the slice of its client, whoever wrote it; every test's writes are rolled back."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from mercator.common.testing.api import auth, caller, client

pytestmark = pytest.mark.postgres

SALES, SUB, OTHER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()  # SUB is below SALES; OTHER is elsewhere
ANNA = caller("Анна", department_id=SUB)
BORIS = caller("Борис", department_id=OTHER)
VERA = caller("Вера", department_id=SALES)
HEAD = caller("Ольга", roles=("head",), department_id=SALES, departments={SALES, SUB})
CEO = caller("Генеральный", roles=("executive",))
MARKETING = caller("Маркетолог", roles=("marketing",))
SUPPORT = caller("Инженер", roles=("support",))
LONG_AGO = datetime.now(UTC) - timedelta(days=40)


@pytest.fixture
async def base(contacts) -> dict[str, uuid.UUID]:
    """Anna's two clients (SUB), Vera's (SALES), the head's own (no department), Boris's (OTHER);
    Anna wrote an entry on Boris's client and Boris one on Anna's; one entry's card is not projected."""
    ids = {name: uuid.uuid4() for name in ("anna1", "anna2", "vera", "head", "boris", "unknown")}
    for name, who, dept in (
        ("anna1", ANNA, SUB),
        ("anna2", ANNA, SUB),
        ("vera", VERA, SALES),
        ("head", HEAD, None),
        ("boris", BORIS, OTHER),
    ):
        await contacts.card(ids[name], name=name, owner_id=who.user_id, department_id=dept)
    for name, author in (("anna1", ANNA), ("anna2", BORIS), ("boris", ANNA), ("vera", VERA), ("unknown", ANNA)):
        await contacts.activity(ids[name], LONG_AGO, author_id=author.user_id)
    return ids


async def report(app, settings, who, path: str, **params) -> dict:
    async with client(app, auth(settings, who)) as api:
        r = await api.get(f"/api/v1/reports/{path}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_the_client_base_counts_what_the_caller_sees(app, settings, base):
    async def owners(who, **params):
        got = await report(app, settings, who, "client-base", by="owner", **params)
        return {r["key"]: r["clients"] for r in got["rows"]}, got["total"]

    assert await owners(ANNA) == ({str(ANNA.user_id): 2}, 2)
    assert await owners(BORIS) == ({str(BORIS.user_id): 1}, 1)
    assert await owners(HEAD) == ({str(ANNA.user_id): 2, str(VERA.user_id): 1, str(HEAD.user_id): 1}, 4)
    for who in (CEO, MARKETING):
        assert (await owners(who))[1] == 5
    # A filter narrows the caller's slice, never widens it.
    assert await owners(BORIS, owner_id=str(ANNA.user_id)) == ({}, 0)
    assert await owners(HEAD, owner_id=str(BORIS.user_id)) == ({}, 0)


async def test_activity_counts_in_the_slice_of_its_client(app, settings, base):
    async def by(who, key):
        got = await report(app, settings, who, "activity", by=key)
        return {r["key"]: r["entries"] for r in got["rows"]}, got["total"]

    # Boris's entry on Anna's client is hers; hers on Boris's client is his.
    assert await by(ANNA, "company") == ({str(base["anna1"]): 1, str(base["anna2"]): 1}, 2)
    assert await by(ANNA, "author") == ({str(ANNA.user_id): 1, str(BORIS.user_id): 1}, 2)
    assert await by(BORIS, "kind") == ({"call": 1}, 1)
    assert await by(HEAD, "company") == ({str(base[n]): 1 for n in ("anna1", "anna2", "vera")}, 3)
    assert (await by(CEO, "kind"))[1] == (await by(MARKETING, "kind"))[1] == 5  # the unprojected one too


async def test_inactive_clients_are_the_callers_own_or_their_departments(app, settings, base):
    async def silent(who, **params):
        got = await report(app, settings, who, "inactive-clients", days=30, **params)
        return sorted(i["name"] for i in got["items"])

    assert await silent(ANNA) == ["anna1", "anna2"]
    assert await silent(HEAD) == ["anna1", "anna2", "head", "vera"]
    assert await silent(HEAD, owner_id=str(BORIS.user_id)) == []
    assert await silent(CEO) == ["anna1", "anna2", "boris", "head", "vera"]


async def test_support_gets_no_reports(api_as, base):
    async with api_as(SUPPORT) as api:
        for path in ("client-base?by=region", "activity?by=kind", "inactive-clients"):
            r = await api.get(f"/api/v1/reports/{path}")
            assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
