"""Who sees and changes which cards, history, meetings and dictionaries (mercator.common.visibility),
enforced by contacts itself, against a real PostgreSQL; every test's writes are rolled back."""

import uuid
from contextlib import AsyncExitStack

import pytest

from mercator.common.testing.api import caller

pytestmark = pytest.mark.postgres

SALES, SUB, OTHER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()  # SUB is below SALES; OTHER is elsewhere
ANNA = caller("Анна", department_id=SUB)
BORIS = caller("Борис", department_id=OTHER)
HEAD = caller("Ольга", roles=("head",), department_id=SALES, departments={SALES, SUB})
CEO = caller("Генеральный", roles=("executive",))
MARKETING = caller("Маркетолог", roles=("marketing",))
SUPPORT = caller("Инженер", roles=("support",))


@pytest.fixture
async def as_(api_as):
    """as_[WHO]: an API client with WHO's token."""
    async with AsyncExitStack() as stack:
        yield {
            who: await stack.enter_async_context(api_as(who)) for who in (ANNA, BORIS, HEAD, CEO, MARKETING, SUPPORT)
        }


async def card(api, name: str, **fields) -> dict:
    r = await api.post("/api/v1/companies", json={"name": name, **fields})
    assert r.status_code == 201, r.text
    return r.json()


async def names(api, **params) -> list[str]:
    r = await api.get("/api/v1/companies", params=params)
    assert r.status_code == 200, r.text
    return sorted(c["name"] for c in r.json()["items"])


async def test_a_manager_cannot_see_list_change_log_on_schedule_on_or_merge_another_managers_card(as_, app, published):
    anna, boris = as_[ANNA], as_[BORIS]
    theirs = await card(boris, "Чужой клиент", tax_id="7707083893", persons=[{"name": "Иван"}])
    tid, pid = theirs["id"], theirs["persons"][0]["id"]
    meeting = (await boris.post(f"/api/v1/companies/{tid}/meetings", json={"starts_at": "2026-12-01T09:00:00Z"})).json()
    mine = await card(anna, "Свой клиент")
    before = len(await published())

    for method, url, body in [
        ("GET", f"/api/v1/companies/{tid}", None),
        ("GET", f"/api/v1/companies/{tid}/persons", None),
        ("GET", f"/api/v1/companies/{tid}/persons/{pid}", None),
        ("GET", f"/api/v1/companies/{tid}/history", None),
        ("PATCH", f"/api/v1/companies/{tid}", {"name": "Моё"}),
        ("POST", f"/api/v1/companies/{tid}/reassign", {"owner_id": str(ANNA.user_id)}),
        ("POST", f"/api/v1/companies/{tid}/merge", {"absorbed_id": mine["id"]}),
        ("POST", f"/api/v1/companies/{tid}/persons", {"name": "Пётр"}),
        ("PATCH", f"/api/v1/companies/{tid}/persons/{pid}", {"position": "директор"}),
        ("POST", f"/api/v1/companies/{tid}/history", {"kind": "call", "summary": "позвонила"}),
        ("POST", f"/api/v1/companies/{tid}/meetings", {"starts_at": "2026-12-02T09:00:00Z"}),
        ("GET", f"/api/v1/meetings/{meeting['id']}", None),
        ("POST", f"/api/v1/meetings/{meeting['id']}/reschedule", {"starts_at": "2026-12-03T09:00:00Z"}),
        ("POST", f"/api/v1/meetings/{meeting['id']}/complete", {"summary": "провела"}),
        ("POST", f"/api/v1/meetings/{meeting['id']}/cancel", {}),
    ]:
        r = await anna.request(method, url, json=body, headers={"If-Match": '"1"'})
        assert r.status_code == 404, (method, url, r.text)
        if "/meetings/" not in url and "/persons/" not in url:
            assert r.json()["detail"] == f"no client card {tid}"  # word for word what a missing card answers

    # Merging it into her own card, or logging it in a batch: refused like an id that does not exist.
    ghost = str(uuid.uuid4())
    for absorbed in (tid, ghost):
        r = await anna.post(f"/api/v1/companies/{mine['id']}/merge", json={"absorbed_id": absorbed})
        assert (r.status_code, r.json()["detail"]) == (422, f"no client card {absorbed}")
    batch = await anna.post(
        "/api/v1/history/batch",
        json={
            "entries": [
                {"company_id": mine["id"], "kind": "call", "summary": "мой"},
                {"company_id": tid, "kind": "call", "summary": "чужой"},
            ]
        },
    )
    assert batch.status_code == 422 and batch.json()["errors"][0]["field"] == "entries[1].company_id"

    # Never in her lists, whatever she searches or filters by.
    assert await names(anna) == ["Свой клиент"]
    for params in (
        {"q": "Чужой"},
        {"q": "7707083893"},
        {"owner_id": str(BORIS.user_id)},
        {"department_id": str(OTHER)},
    ):
        assert await names(anna, **params) == []
    assert (await anna.get("/api/v1/meetings")).json()["items"] == []

    # She may not open a card in his name either.
    assert (
        await anna.post("/api/v1/companies", json={"name": "Подарок", "owner_id": str(BORIS.user_id)})
    ).status_code == 403
    assert len(await published()) == before  # nothing changed anywhere

    got = (await boris.get(f"/api/v1/companies/{tid}")).json()
    assert (got["name"], got["version"], got["owner_id"]) == ("Чужой клиент", 1, str(BORIS.user_id))
    assert (await boris.get(f"/api/v1/companies/{tid}/history")).json()["items"] == []
    assert (await boris.get(f"/api/v1/meetings/{meeting['id']}")).json()["status"] == "planned"

    # The duplicate check still warns her (one client, one card), with no more than id, name and reasons.
    dups = (await anna.get("/api/v1/companies/duplicates", params={"name": "Другой", "tax_id": "7707083893"})).json()
    assert [(d["company_id"], d["name"], d["reasons"]) for d in dups] == [(tid, "Чужой клиент", ["same_tax_id"])]
    assert set(dups[0]) == {"company_id", "name", "reasons", "score"}
    created = await card(anna, "Копия", tax_id="7707083893")
    assert [d["company_id"] for d in created["likely_duplicates"]] == [tid]


async def test_a_head_sees_their_sub_departments_cards_but_not_another_departments(as_):
    annas = await card(as_[ANNA], "Клиент Анны")
    assert annas["department_id"] == str(SUB)
    boriss = await card(as_[BORIS], "Клиент Бориса")
    head = as_[HEAD]
    own = await card(head, "Клиент Ольги")
    assert await names(head) == ["Клиент Анны", "Клиент Ольги"]
    assert (await head.get(f"/api/v1/companies/{annas['id']}")).status_code == 200
    assert (await head.get(f"/api/v1/companies/{boriss['id']}")).status_code == 404
    assert (
        await head.post(f"/api/v1/companies/{annas['id']}/history", json={"kind": "note", "summary": "проверила"})
    ).status_code == 201
    assert (
        await head.post(f"/api/v1/companies/{boriss['id']}/history", json={"kind": "note", "summary": "?"})
    ).status_code == 404

    # Cards go to managers of her subtree only, whether she opens them or hands them over.
    newcomer = uuid.uuid4()
    r = await head.post(
        "/api/v1/companies", json={"name": "Для Анны", "owner_id": str(ANNA.user_id), "department_id": str(SUB)}
    )
    assert r.status_code == 201 and r.json()["owner_id"] == str(ANNA.user_id)
    assert (
        await head.post(
            "/api/v1/companies",
            json={"name": "Для Бориса", "owner_id": str(BORIS.user_id), "department_id": str(OTHER)},
        )
    ).status_code == 403
    assert (
        await head.post(
            f"/api/v1/companies/{own['id']}/reassign", json={"owner_id": str(newcomer), "department_id": str(OTHER)}
        )
    ).status_code == 403
    r = await head.post(
        f"/api/v1/companies/{own['id']}/reassign", json={"owner_id": str(newcomer), "department_id": str(SUB)}
    )
    assert r.status_code == 200 and r.json()["owner_id"] == str(newcomer)
    assert (
        await head.post(f"/api/v1/companies/{boriss['id']}/reassign", json={"owner_id": str(newcomer)})
    ).status_code == 404
    # A manager cannot give his own card away.
    assert (
        await as_[BORIS].post(f"/api/v1/companies/{boriss['id']}/reassign", json={"owner_id": str(ANNA.user_id)})
    ).status_code == 403

    ceo = as_[CEO]
    assert await names(ceo) == ["Для Анны", "Клиент Анны", "Клиент Бориса", "Клиент Ольги"]
    assert (await ceo.get(f"/api/v1/companies/{boriss['id']}/history")).status_code == 200


async def test_marketing_reads_cards_but_changes_nothing(as_, app, published):
    annas = await card(as_[ANNA], "Клиент Анны")
    mkt = as_[MARKETING]
    before = len(await published())
    assert await names(mkt) == ["Клиент Анны"]
    assert (await mkt.get(f"/api/v1/companies/{annas['id']}")).status_code == 200
    assert (await mkt.get(f"/api/v1/companies/{annas['id']}/persons")).status_code == 200
    assert (await mkt.post("/api/v1/companies", json={"name": "Своя"})).status_code == 403
    r = await mkt.patch(f"/api/v1/companies/{annas['id']}", json={"name": "Другое"}, headers={"If-Match": '"1"'})
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    assert (await mkt.post(f"/api/v1/companies/{annas['id']}/persons", json={"name": "Пётр"})).status_code == 403
    assert len(await published()) == before


async def test_support_sees_clients_only_and_logs_their_history_but_edits_no_card(as_, app, published):
    client_card = await card(as_[BORIS], "Купивший", status="client")
    prospect = await card(as_[ANNA], "Думающий")
    sup = as_[SUPPORT]
    assert await names(sup) == ["Купивший"]
    assert (await sup.get(f"/api/v1/companies/{prospect['id']}")).status_code == 404
    r = await sup.post(
        f"/api/v1/companies/{client_card['id']}/history",
        json={"kind": "support", "direction": "inbound", "summary": "жалоба на доставку"},
    )
    assert r.status_code == 201, r.text
    assert [
        h["summary"] for h in (await sup.get(f"/api/v1/companies/{client_card['id']}/history")).json()["items"]
    ] == ["жалоба на доставку"]
    before = len(await published())
    assert (
        await sup.post(f"/api/v1/companies/{prospect['id']}/history", json={"kind": "support", "summary": "?"})
    ).status_code == 404
    assert (
        await sup.patch(f"/api/v1/companies/{client_card['id']}", json={"name": "Иначе"}, headers={"If-Match": '"1"'})
    ).status_code == 403
    assert (await sup.post("/api/v1/companies", json={"name": "Новый"})).status_code == 403
    assert len(await published()) == before


async def test_everyone_reads_the_dictionaries_heads_change_them(as_):
    anna, head = as_[ANNA], as_[HEAD]
    regions = (await anna.get("/api/v1/regions")).json()
    assert regions
    assert (await anna.post("/api/v1/regions", json={"name": "Тверь"})).status_code == 403
    assert (await anna.patch(f"/api/v1/regions/{regions[0]['id']}", json={"active": False})).status_code == 403
    assert (await as_[SUPPORT].get("/api/v1/industries")).status_code == 200
    r = await head.post("/api/v1/regions", json={"name": "Тверь"})
    assert r.status_code == 201, r.text
    assert "Тверь" in [x["name"] for x in (await anna.get("/api/v1/regions")).json()]
