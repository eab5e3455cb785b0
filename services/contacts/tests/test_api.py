"""The contacts API against a real PostgreSQL; every test's writes are rolled back."""

import uuid

import pytest

from mercator.common.testing.api import caller

pytestmark = pytest.mark.postgres


async def region_id(api, name="Москва") -> str:
    regions = (await api.get("/api/v1/regions")).json()
    return next(r["id"] for r in regions if r["name"] == name)


async def new_company(api, **fields) -> dict:
    body = {"name": "ООО «Ромашка»", **fields}
    r = await api.post("/api/v1/companies", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_manager_opens_a_client_card_and_reads_it_back(api, app, manager, published):
    moscow = await region_id(api)
    r = await api.post(
        "/api/v1/companies",
        json={
            "name": "ООО «Ромашка»",
            "tax_id": "7707083893",
            "region_id": moscow,
            "phones": ["8 (495) 123-45-67"],
            "emails": ["Info@Romashka.RU"],
            "persons": [{"name": "Иван Сидоров", "position": "закупщик", "phones": ["+7 916 123 45 67"]}],
        },
    )
    assert r.status_code == 201, r.text
    card = r.json()
    assert card["owner_id"] == str(manager.user_id)
    assert card["status"] == "prospect"
    assert card["phones"] == ["+74951234567"]
    assert card["emails"] == ["info@romashka.ru"]
    assert card["region"] == {"id": moscow, "name": "Москва"}
    assert card["persons"][0]["phones"] == ["+79161234567"]
    assert r.headers["location"] == f"/api/v1/companies/{card['id']}"
    assert r.headers["etag"] == '"1"'

    got = await api.get(r.headers["location"])
    assert got.status_code == 200
    assert got.json()["name"] == "ООО «Ромашка»"
    assert [e.type for e in await published()] == ["CompanyCreated", "PersonAdded"]


async def test_search_is_case_insensitive_in_cyrillic_and_finds_phone_email_and_tax_id(api):
    a = await new_company(api, name="ООО «Ёлка»", tax_id="7736207543", phones=["+7 812 555-01-02"])
    await new_company(api, name="Лютик", emails=["sales@lutik.ru"])

    async def found(q):
        r = await api.get("/api/v1/companies", params={"q": q})
        assert r.status_code == 200, r.text
        return [c["name"] for c in r.json()["items"]]

    assert await found("ЁЛКА") == ["ООО «Ёлка»"]
    assert await found("елка") == ["ООО «Ёлка»"]
    assert await found("7736207543") == ["ООО «Ёлка»"]
    assert await found("8 812 555 01 02") == ["ООО «Ёлка»"]
    assert await found("555-01") == ["ООО «Ёлка»"]
    assert await found("SALES@lutik") == ["Лютик"]
    assert await found("незнакомец") == []
    assert a["id"]


async def test_lists_filter_and_page_in_a_stable_order(api, api_as):
    other = caller("Борис")
    async with api_as(other) as api2:
        for i in range(3):
            await new_company(api2, name=f"Борис-{i}")
    for i in range(5):
        await new_company(api, name=f"Компания {i}")
    # Both managers' cards in one list: a reader who sees everything (a manager sees only their own).
    async with api_as(caller("CEO", roles=("executive",))) as ceo:
        seen, cursor = [], None
        while True:
            r = await ceo.get("/api/v1/companies", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
            page = r.json()
            assert len(page["items"]) <= 2
            seen += [c["name"] for c in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == sorted(seen, key=str.casefold)
        assert len(seen) == len(set(seen)) == 8
        borises = await ceo.get("/api/v1/companies", params={"owner_id": str(other.user_id)})
        assert sorted(c["name"] for c in borises.json()["items"]) == ["Борис-0", "Борис-1", "Борис-2"]


async def test_likely_duplicates_are_reported_when_a_card_is_created(api):
    first = await new_company(api, name="ООО Ромашка", tax_id="7707083893")
    dup = await new_company(api, name="Ромашка, ООО", phones=["+7 495 000 11 22"])
    assert [d["company_id"] for d in dup["likely_duplicates"]] == [first["id"]]
    assert "similar_name" in dup["likely_duplicates"][0]["reasons"]
    by_tax = await new_company(api, name="Совсем другое имя", tax_id="7707083893")
    assert by_tax["likely_duplicates"][0]["reasons"][0] == "same_tax_id"
    by_phone = await api.get("/api/v1/companies/duplicates", params={"name": "Неизвестно", "phone": "84950001122"})
    assert [d["company_id"] for d in by_phone.json()] == [dup["id"]]
    unrelated = await new_company(api, name="Лютик")
    assert unrelated["likely_duplicates"] == []


async def test_merging_two_cards_loses_no_history(api, app, published):
    survivor = await new_company(api, name="Ромашка", phones=["+74951112233"])
    absorbed = await new_company(
        api, name="ООО Ромашка", website="romashka.ru", emails=["a@romashka.ru"], persons=[{"name": "Пётр"}]
    )
    for kind in ("call", "meeting"):
        r = await api.post(f"/api/v1/companies/{absorbed['id']}/history", json={"kind": kind, "summary": "говорили"})
        assert r.status_code == 201
    await api.post(f"/api/v1/companies/{survivor['id']}/history", json={"kind": "note", "summary": "заметка"})
    r = await api.post(f"/api/v1/companies/{survivor['id']}/merge", json={"absorbed_id": absorbed["id"]})
    assert r.status_code == 200, r.text
    merged = r.json()
    assert merged["website"] == "romashka.ru"
    assert merged["emails"] == ["a@romashka.ru"]
    assert merged["phones"] == ["+74951112233"]
    history = (await api.get(f"/api/v1/companies/{survivor['id']}/history")).json()["items"]
    assert sorted(h["kind"] for h in history) == ["call", "meeting", "note"]
    persons = (await api.get(f"/api/v1/companies/{survivor['id']}/persons")).json()
    assert [p["name"] for p in persons] == ["Пётр"]
    gone = await api.get(f"/api/v1/companies/{absorbed['id']}")
    assert gone.status_code == 404 and survivor["id"] in gone.json()["detail"]
    assert "CompanyMerged" in [e.type for e in await published()]


async def test_two_managers_editing_one_card_cannot_overwrite_each_other(api):
    card = await new_company(api)
    url = f"/api/v1/companies/{card['id']}"
    first = await api.patch(url, json={"website": "a.ru"}, headers={"If-Match": '"1"'})
    assert first.status_code == 200 and first.headers["etag"] == '"2"'
    stale = await api.patch(url, json={"website": "b.ru"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    missing = await api.patch(url, json={"website": "b.ru"})
    assert missing.status_code == 428
    assert (await api.get(url)).json()["website"] == "a.ru"


async def test_history_entries_keep_last_activity_and_come_newest_first(api, app):
    card = await new_company(api)
    url = f"/api/v1/companies/{card['id']}/history"
    for day in ("2026-11-01", "2026-11-03", "2026-11-02"):
        r = await api.post(
            url,
            json={
                "kind": "call",
                "direction": "inbound",
                "summary": f"звонок {day}",
                "happened_at": f"{day}T10:00:00Z",
            },
        )
        assert r.status_code == 201, r.text
    items = (await api.get(url, params={"limit": 2})).json()
    assert [i["summary"] for i in items["items"]] == ["звонок 2026-11-03", "звонок 2026-11-02"]
    rest = (await api.get(url, params={"cursor": items["next_cursor"]})).json()
    assert [i["summary"] for i in rest["items"]] == ["звонок 2026-11-01"] and rest["next_cursor"] is None
    assert (await api.get(f"/api/v1/companies/{card['id']}")).json()["last_activity_at"].startswith("2026-11-03")


async def test_a_completed_meeting_writes_its_history_entry(api, app, published):
    card = await new_company(api, persons=[{"name": "Иван"}])
    person = card["persons"][0]["id"]
    r = await api.post(
        f"/api/v1/companies/{card['id']}/meetings",
        json={
            "starts_at": "2026-12-01T09:00:00+03:00",
            "duration_minutes": 45,
            "place": "офис клиента",
            "person_ids": [person],
            "reminder_minutes_before": 30,
        },
    )
    assert r.status_code == 201, r.text
    meeting = r.json()
    assert meeting["starts_at"].startswith("2026-12-01T06:00:00")
    done = await api.post(
        f"/api/v1/meetings/{meeting['id']}/complete",
        json={"summary": "обсудили потребности", "done_at": "2026-12-01T07:00:00Z"},
    )
    assert done.status_code == 200, done.text
    entry = done.json()
    assert entry["kind"] == "meeting" and entry["meeting_id"] == meeting["id"] and entry["person_id"] == person
    history = (await api.get(f"/api/v1/companies/{card['id']}/history")).json()["items"]
    assert [h["summary"] for h in history] == ["обсудили потребности"]
    again = await api.post(f"/api/v1/meetings/{meeting['id']}/cancel", json={})
    assert again.status_code == 422 and again.json()["rule"] == "meeting_not_planned"
    assert [e.type for e in await published()][-2:] == ["ActivityLogged", "MeetingCompleted"]


async def test_a_cancelled_meeting_cannot_be_completed(api):
    card = await new_company(api)
    m = (
        await api.post(
            f"/api/v1/companies/{card['id']}/meetings", json={"kind": "call", "starts_at": "2026-12-02T10:00:00Z"}
        )
    ).json()
    assert (await api.post(f"/api/v1/meetings/{m['id']}/cancel", json={"reason": "клиент болен"})).status_code == 200
    r = await api.post(f"/api/v1/meetings/{m['id']}/complete", json={"summary": "?"})
    assert r.status_code == 422 and r.json()["rule"] == "meeting_not_planned"
    listed = (await api.get("/api/v1/meetings", params={"company_id": card["id"], "status": "cancelled"})).json()
    assert [x["id"] for x in listed["items"]] == [m["id"]]


async def test_dictionaries_are_seeded_and_editable(api, api_as):
    sources = [s["name"] for s in (await api.get("/api/v1/contact-sources")).json()]
    assert "Реклама в журнале" in sources and "Выставка" in sources
    async with api_as(caller("Ольга", roles=("head",))) as head:  # edits are for heads
        r = await head.post("/api/v1/contact-sources", json={"name": "Вебинар"})
        assert r.status_code == 201
        dup = await head.post("/api/v1/contact-sources", json={"name": "вебинар"})
        assert dup.status_code == 422 and dup.json()["errors"][0]["field"] == "name"
        retired = await head.patch(f"/api/v1/contact-sources/{r.json()['id']}", json={"active": False})
        assert retired.json()["active"] is False
    assert "Вебинар" not in [s["name"] for s in (await api.get("/api/v1/contact-sources")).json()]


async def test_status_rule_former_client_never_becomes_prospect(api):
    card = await new_company(api, status="former")
    r = await api.patch(f"/api/v1/companies/{card['id']}", json={"status": "prospect"}, headers={"If-Match": '"1"'})
    assert r.status_code == 422 and r.json()["rule"] == "status_change_not_allowed"


async def test_reassigning_a_card_records_who_owns_it(api, published, api_as):
    dept = uuid.uuid4()
    async with api_as(caller("Анна", department_id=dept)) as anna:
        card = await new_company(anna)  # filed under Anna's department
    assert card["department_id"] == str(dept)
    boris = uuid.uuid4()
    # Handing a card to another manager is for the head of its department (a manager gets 403).
    async with api_as(caller("Ольга", roles=("head",), department_id=dept)) as head:
        r = await head.post(f"/api/v1/companies/{card['id']}/reassign", json={"owner_id": str(boris)})
    assert r.status_code == 200 and r.json()["owner_id"] == str(boris)
    assert (await published())[-1].type == "CompanyReassigned"


async def test_a_phone_syncs_many_history_entries_at_once_all_or_nothing(api, app, published):
    a, b = await new_company(api, name="А"), await new_company(api, name="Б", persons=[{"name": "Иван"}])
    person = b["persons"][0]["id"]
    entries = [
        {"company_id": a["id"], "kind": "call", "summary": "звонок", "happened_at": "2026-11-20T10:00:00Z"},
        {
            "company_id": b["id"],
            "kind": "meeting",
            "summary": "встреча",
            "person_id": person,
            "happened_at": "2026-11-21T10:00:00Z",
        },
    ]
    before = [e.type for e in await published()]
    bad = await api.post(
        "/api/v1/history/batch",
        json={"entries": [*entries, {"company_id": a["id"], "kind": "note", "summary": "x", "person_id": person}]},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "entries[2].person_id"
    assert [e.type for e in await published()] == before
    r = await api.post("/api/v1/history/batch", json={"entries": entries})
    assert r.status_code == 201 and [i["summary"] for i in r.json()["items"]] == ["звонок", "встреча"]
    assert [e.type for e in await published()][len(before) :] == ["ActivityLogged", "ActivityLogged"]
    card = (await api.get(f"/api/v1/companies/{b['id']}")).json()
    assert card["last_activity_at"].startswith("2026-11-21")
    too_many = await api.post("/api/v1/history/batch", json={"entries": entries * 251})
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "entries"
