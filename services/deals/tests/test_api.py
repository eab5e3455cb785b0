"""The deals API against a real PostgreSQL; every test's writes are rolled back."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from mercator.common.testing.kit import published

pytestmark = pytest.mark.postgres


async def events(app) -> list[tuple[str, dict]]:
    return [(e.type, e.data) for e in await published(app)]


async def product(api, code="SE-1", price="100000.00") -> dict:
    r = await api.post("/api/v1/products", json={"code": code, "name": "Sales Expert, лицензия", "list_price": price})
    assert r.status_code == 201, r.text
    return r.json()


async def open_deal(api, company_id, **fields) -> dict:
    r = await api.post("/api/v1/deals", json={"title": "Внедрение CRM", "company_id": str(company_id), **fields})
    assert r.status_code == 201, r.text
    return r.json()


async def lost_reason(api, name="Цена") -> str:
    return next(r["id"] for r in (await api.get("/api/v1/lost-reasons")).json() if r["name"] == name)


async def test_a_deal_goes_from_first_contact_to_won(api, head_api, app, card_event, person_event, manager):
    company = await card_event()
    p = await product(head_api)
    deal = await open_deal(
        api,
        company,
        amount="250000.00",
        expected_close_date="2027-01-31",
        lines=[{"product_id": p["id"], "quantity": "2", "unit_price": "100000.00", "discount_percent": "10"}],
    )
    assert deal["stage"] == "interest" and deal["status"] == "open" and deal["owner_id"] == str(manager.user_id)
    # The amount named is the deal's price: the line (180 000 at its list price) is re-priced to it.
    assert deal["amount"] == "250000.00" and deal["lines"][0]["total"] == "250000.00"
    assert deal["lines"][0]["unit_price"] == "100000.00"
    assert deal["weighted_amount"] == "25000.00"
    url = f"/api/v1/deals/{deal['id']}"
    for stage in ("needs", "demo"):
        assert (await api.post(f"{url}/moves", json={"stage": stage})).status_code == 200
    refused = await api.post(f"{url}/moves", json={"stage": "tech_proposal"})
    assert refused.status_code == 422 and refused.json()["rule"] == "requirement_missing"
    assert (await api.post(f"{url}/interest", json={"rating": 4, "comment": "заинтересованы"})).status_code == 200
    assert (await api.post(f"{url}/moves", json={"stage": "tech_proposal"})).status_code == 200
    person = str(await person_event(company))
    sent = await api.post(
        f"{url}/proposals", json={"documents": ["Техническое предложение.pdf"], "recipient_person_ids": [person]}
    )
    assert sent.status_code == 201
    stranger = await api.post(
        f"{url}/proposals", json={"documents": ["x.pdf"], "recipient_person_ids": [str(uuid.uuid4())]}
    )
    assert stranger.status_code == 422 and stranger.json()["errors"][0]["field"] == "recipient_person_ids[0]"
    await api.post(f"{url}/moves", json={"stage": "commercial_proposal"})
    ours = (await api.post(f"{url}/offers", json={"side": "ours", "amount": "250000.00"})).json()
    theirs = (
        await api.post(f"{url}/offers", json={"side": "client", "amount": "220000.00", "comment": "бюджет ограничен"})
    ).json()
    counter = (
        await api.post(f"{url}/offers", json={"side": "ours", "amount": "240000.00", "discount_percent": "5"})
    ).json()
    assert (await api.post(f"{url}/moves", json={"stage": "contract"})).json()["rule"] == "requirement_missing"
    accepted = await api.post(f"{url}/offers/{counter['id']}/accept")
    assert accepted.status_code == 200 and accepted.json()["amount"] == "228000.00"
    assert accepted.json()["lines"][0]["total"] == "228000.00"
    assert [o["status"] for o in accepted.json()["offers"]] == ["superseded", "superseded", "accepted"]
    for stage in ("contract", "payment", "delivery"):
        assert (await api.post(f"{url}/moves", json={"stage": stage})).status_code == 200
    won = await api.post(f"{url}/win", json={"comment": "подписали"})
    assert won.status_code == 200 and won.json()["status"] == "won" and won.json()["stage"] == "won"
    moved = await api.post(f"{url}/moves", json={"stage": "delivery"})
    assert moved.status_code == 422 and moved.json()["rule"] == "deal_closed"

    timeline = (await api.get(f"{url}/timeline")).json()
    path = [i["to_stage"] for i in timeline if i["type"] == "transition"]
    assert path == [
        "interest",
        "needs",
        "demo",
        "tech_proposal",
        "commercial_proposal",
        "contract",
        "payment",
        "delivery",
        "won",
    ]
    assert [i["type"] for i in timeline].count("offer") == 3 and ours and theirs
    assert any(i["type"] == "interest_rating" and i["rating"] == 4 for i in timeline)
    types = [t for t, _ in await events(app)]
    assert types[0] == "ProductCreated" and types[1] == "DealOpened"
    assert types.count("DealStageChanged") == 8 and types[-1] == "DealWon"  # every move after opening
    assert {"DealInterestRated", "ProposalSent", "PriceOffered", "OfferAccepted"} <= set(types)
    won_event = next(p for t, p in await events(app) if t == "DealWon")
    assert won_event["amount"] == "228000.00" and won_event["from_stage"] == "delivery"
    assert [l["total"] for l in won_event["lines"]] == ["228000.00"]
    accepted_event = next(p for t, p in await events(app) if t == "OfferAccepted")
    assert accepted_event["amount"] == "228000.00" and [l["total"] for l in accepted_event["lines"]] == ["228000.00"]


async def test_moves_keep_author_comment_and_time_spent_and_may_skip_or_go_back(api, card_event, manager):
    deal = await open_deal(api, await card_event())
    url = f"/api/v1/deals/{deal['id']}"
    await api.post(f"{url}/moves", json={"stage": "tech_proposal", "comment": "сразу к делу"})
    back = await api.post(f"{url}/moves", json={"stage": "needs", "comment": "вернулись"})
    assert back.status_code == 200 and back.json()["stage"] == "needs"
    timeline = [i for i in (await api.get(f"{url}/timeline")).json() if i["type"] == "transition"]
    assert [(t["from_stage"], t["to_stage"]) for t in timeline] == [
        (None, "interest"),
        ("interest", "tech_proposal"),
        ("tech_proposal", "needs"),
    ]
    assert timeline[1]["comment"] == "сразу к делу" and timeline[1]["author_id"] == str(manager.user_id)
    assert all(t["seconds_in_previous"] is not None and t["seconds_in_previous"] >= 0 for t in timeline[1:])


async def test_a_lost_deal_records_reason_and_stage_and_reopens_where_it_was(api, app, card_event):
    deal = await open_deal(api, await card_event())
    url = f"/api/v1/deals/{deal['id']}"
    await api.post(f"{url}/moves", json={"stage": "needs"})
    no_reason = await api.post(f"{url}/lose", json={"reason_id": None})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason_id"
    lost = await api.post(f"{url}/lose", json={"reason_id": await lost_reason(api, "Конкурент")})
    assert lost.status_code == 200
    assert lost.json()["status"] == "lost" and lost.json()["lost_at_stage"] == "needs"
    assert lost.json()["lost_reason"] == "Конкурент"
    reopened = await api.post(f"{url}/reopen", json={"comment": "вернулись к переговорам"})
    assert reopened.status_code == 200 and reopened.json()["stage"] == "needs"
    assert reopened.json()["status"] == "open" and reopened.json()["lost_reason"] is None
    kinds = [i["kind"] for i in (await api.get(f"{url}/timeline")).json() if i["type"] == "transition"]
    assert kinds == ["open", "move", "lost", "reopen"]
    lost_event = next(p for t, p in await events(app) if t == "DealLost")
    assert lost_event["lost_at_stage"] == "needs" and lost_event["reason"] == "Конкурент"


async def test_the_board_sums_per_stage_weights_by_probability_and_flags_stalled_deals(api, app, card_event):
    company = await card_event()
    a = await open_deal(api, company, amount="100000.00")
    b = await open_deal(api, company, amount="300000.00")
    await open_deal(api, company, amount="1000.00", currency="USD")
    await api.post(f"/api/v1/deals/{b['id']}/moves", json={"stage": "needs"})
    # Deal a entered its stage long ago: past the 14 days of 'interest'.
    from mercator.deals.tables import Deal

    async with app.state.runtime.sessionmaker() as s:
        row = await s.get(Deal, uuid.UUID(a["id"]))
        row.entered_stage_at = datetime.now(UTC) - timedelta(days=20)
        await s.commit()
    board = (await api.get("/api/v1/board")).json()
    columns = {c["stage"]: c for c in board["columns"]}
    assert columns["interest"]["count"] == 2
    assert columns["interest"]["amounts"] == {"RUB": "100000.00", "USD": "1000.00"}
    assert columns["interest"]["weighted"] == {"RUB": "10000.00", "USD": "100.00"}
    assert columns["interest"]["stalled_deal_ids"] == [a["id"]]
    assert columns["needs"]["count"] == 1 and columns["needs"]["weighted"] == {"RUB": "60000.00"}
    assert [c["stage"] for c in board["columns"]][-2:] == ["won", "lost"]


async def test_the_pipeline_as_it_stood_on_a_past_date(api, app, card_event):
    company = await card_event()
    deal = await open_deal(api, company, amount="500000.00")
    url = f"/api/v1/deals/{deal['id']}"
    await api.post(f"{url}/moves", json={"stage": "needs"})
    await api.post(f"{url}/moves", json={"stage": "commercial_proposal"})
    from mercator.deals.tables import Transition

    async with app.state.runtime.sessionmaker() as s:  # spread the kept moves over three days
        rows = (
            (
                await s.execute(
                    select(Transition).where(Transition.deal_id == uuid.UUID(deal["id"])).order_by(Transition.id)
                )
            )
            .scalars()
            .all()
        )
        for row, day in zip(rows, (1, 2, 3), strict=True):
            row.at = datetime(2026, 11, day, 12, tzinfo=UTC)
        await s.commit()

    async def stage_on(moment):
        board = (await api.get("/api/v1/board", params={"as_of": moment})).json()
        return {c["stage"]: c["count"] for c in board["columns"] if c["count"]}

    assert await stage_on("2026-10-31T00:00:00Z") == {}
    assert await stage_on("2026-11-01T13:00:00Z") == {"interest": 1}
    assert await stage_on("2026-11-02T16:00:00+03:00") == {"needs": 1}  # 13:00 UTC
    assert await stage_on("2026-11-05T00:00:00Z") == {"commercial_proposal": 1}
    naive = await api.get("/api/v1/board", params={"as_of": "2026-11-05T00:00:00"})
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "as_of"


async def test_a_second_pipeline_is_data_not_code(api, head_api, card_event):
    stages = [
        {"code": "lead", "name": "Lead", "position": 1, "probability": "0.2", "stalled_after_days": 7},
        {"code": "pilot", "name": "Pilot", "position": 2, "probability": "0.6", "require_to_enter": ["amount_set"]},
        {"code": "won", "name": "Won", "position": 3, "probability": "1", "kind": "won"},
        {"code": "lost", "name": "Lost", "position": 4, "probability": "0", "kind": "lost"},
    ]
    r = await head_api.post("/api/v1/pipelines", json={"name": "Пилоты", "stages": stages})
    assert r.status_code == 201, r.text
    pipeline = r.json()
    deal = await open_deal(api, await card_event(), pipeline_id=pipeline["id"])
    assert deal["stage"] == "lead"
    url = f"/api/v1/deals/{deal['id']}"
    assert (await api.post(f"{url}/moves", json={"stage": "pilot"})).json()["rule"] == "requirement_missing"
    await api.patch(url, json={"amount": "90000.00"}, headers={"If-Match": f'"{deal["version"]}"'})
    assert (await api.post(f"{url}/moves", json={"stage": "pilot"})).json()["stage"] == "pilot"
    broken = await head_api.post("/api/v1/pipelines", json={"name": "Без исхода", "stages": stages[:2] + stages[:1]})
    assert broken.status_code == 422
    names = [p["name"] for p in (await api.get("/api/v1/pipelines")).json()]
    assert names[0] == "Sales Expert" and "Пилоты" in names


async def test_the_catalogue_keeps_a_group_hierarchy(api, head_api):
    software = (await head_api.post("/api/v1/product-groups", json={"name": "Программы"})).json()
    crm = (await head_api.post("/api/v1/product-groups", json={"name": "CRM", "parent_id": software["id"]})).json()
    await head_api.post(
        "/api/v1/products",
        json={"code": "CRM-10", "name": "CRM на 10 мест", "group_id": crm["id"], "list_price": "90000.00"},
    )
    await head_api.post("/api/v1/products", json={"code": "SRV", "name": "Сервер", "list_price": "500000.00"})
    in_software = (await api.get("/api/v1/products", params={"group_id": software["id"]})).json()["items"]
    assert [p["code"] for p in in_software] == ["CRM-10"]
    p = in_software[0]
    r = await head_api.patch(
        f"/api/v1/products/{p['id']}", json={"list_price": "95000.00", "active": False}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 200 and r.json()["list_price"] == "95000.00" and r.json()["version"] == 2
    assert (await api.get("/api/v1/products")).json()["items"][0]["code"] == "SRV"


async def test_a_deal_for_a_card_created_a_moment_ago_is_checked_with_contacts(api, contacts_says):
    cards, _ = contacts_says
    fresh = uuid.uuid4()
    cards[str(fresh)] = {"id": str(fresh), "name": "Только что", "owner_id": str(uuid.uuid4()), "status": "prospect"}
    assert (await api.post("/api/v1/deals", json={"title": "Сделка", "company_id": str(fresh)})).status_code == 201
    ghost = await api.post("/api/v1/deals", json={"title": "Сделка", "company_id": str(uuid.uuid4())})
    assert ghost.status_code == 422 and ghost.json()["errors"][0]["field"] == "company_id"


async def test_two_managers_editing_one_deal_cannot_overwrite_each_other(api, card_event):
    deal = await open_deal(api, await card_event())
    url = f"/api/v1/deals/{deal['id']}"
    assert (await api.patch(url, json={"title": "A"}, headers={"If-Match": '"1"'})).status_code == 200
    assert (await api.patch(url, json={"title": "B"}, headers={"If-Match": '"1"'})).status_code == 412
    assert (await api.patch(url, json={"title": "B"})).status_code == 428
    assert (await api.get(url)).json()["title"] == "A"


async def test_expected_close_date_and_lines_update(api, head_api, card_event):
    p = await product(head_api, "X-1", "10.00")
    deal = await open_deal(api, await card_event())
    r = await api.patch(
        f"/api/v1/deals/{deal['id']}",
        headers={"If-Match": '"1"'},
        json={
            "expected_close_date": str(date(2027, 3, 1)),
            "lines": [{"product_id": p["id"], "quantity": "3", "unit_price": "10.00"}],
        },
    )
    assert r.status_code == 200
    assert r.json()["expected_close_date"] == "2027-03-01" and r.json()["lines"][0]["total"] == "30.00"


async def test_an_amount_set_on_a_deal_with_lines_reprices_them_and_is_not_cleared_while_they_stay(
    api, head_api, app, card_event
):
    a, b = await product(head_api, "X-2", "100.00"), await product(head_api, "X-3", "300.00")
    deal = await open_deal(
        api,
        await card_event(),
        lines=[
            {"product_id": a["id"], "quantity": "1", "unit_price": "100.00"},
            {"product_id": b["id"], "quantity": "1", "unit_price": "300.00"},
        ],
    )
    assert deal["amount"] == "400.00"
    url = f"/api/v1/deals/{deal['id']}"
    r = await api.patch(url, headers={"If-Match": '"1"'}, json={"amount": "100.01"})
    assert r.status_code == 200 and r.json()["amount"] == "100.01"
    assert [(l["unit_price"], l["total"]) for l in r.json()["lines"]] == [("100.00", "25.00"), ("300.00", "75.01")]
    assert [l["total"] for l in (await api.get(url)).json()["lines"]] == ["25.00", "75.01"]
    cleared = await api.patch(url, headers={"If-Match": '"2"'}, json={"amount": None})
    assert cleared.status_code == 422 and cleared.json()["rule"] == "amount_required"
    updated = [p for t, p in await events(app) if t == "DealUpdated"]
    assert [(p["amount"], [l["total"] for l in p["lines"]]) for p in updated] == [("100.01", ["25.00", "75.01"])]


async def test_a_proposal_to_a_person_added_a_moment_ago_is_checked_with_contacts(
    api, card_event, contacts_says, person_event
):
    cards, _ = contacts_says
    company = await card_event()
    other_company = await card_event("Чужая")
    fresh = uuid.uuid4()
    cards[str(company)] = {
        "id": str(company),
        "name": "x",
        "owner_id": str(uuid.uuid4()),
        "status": "prospect",
        "persons": {str(fresh): {"id": str(fresh), "name": "Новенький"}},
    }
    deal = await open_deal(api, company)
    url = f"/api/v1/deals/{deal['id']}/proposals"
    ok = await api.post(url, json={"documents": ["КП.pdf"], "recipient_person_ids": [str(fresh)], "channel": "fax"})
    assert ok.status_code == 201 and ok.json()["channel"] == "fax"
    foreign = await person_event(other_company)
    r = await api.post(url, json={"documents": ["КП.pdf"], "recipient_person_ids": [str(fresh), str(foreign)]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "recipient_person_ids[1]"


async def test_a_stages_probability_and_requirements_are_edited_as_data(api, head_api, card_event):
    pipeline = (await api.get("/api/v1/pipelines")).json()[0]
    company = await card_event()
    await open_deal(api, company, amount="100000.00")
    url = f"/api/v1/pipelines/{pipeline['id']}/stages/interest"
    r = await head_api.patch(url, json={"probability": "0.25", "name": "Интерес", "require_to_leave": ["amount_set"]})
    assert r.status_code == 200, r.text
    stage = next(s for s in r.json()["stages"] if s["code"] == "interest")
    assert (stage["name"], stage["probability"], stage["require_to_leave"]) == ("Интерес", "0.25", ["amount_set"])
    board = (await api.get("/api/v1/board")).json()
    assert next(c for c in board["columns"] if c["stage"] == "interest")["weighted"] == {"RUB": "25000.00"}
    clash = await head_api.patch(url, json={"position": 3})  # 'demo' has position 3
    assert clash.status_code == 422
    assert (
        await head_api.patch(f"/api/v1/pipelines/{pipeline['id']}/stages/nowhere", json={"name": "x"})
    ).status_code == 422


async def test_an_interest_rating_keeps_its_comment_as_the_deal_cleaned_it(api, app, card_event):
    """The rating's comment is stored and published as the domain cleaned it (trimmed; blank is none), not raw."""
    deal = await open_deal(api, await card_event())
    url = f"/api/v1/deals/{deal['id']}"
    assert (await api.post(f"{url}/interest", json={"rating": 4, "comment": "  заинтересованы \n"})).status_code == 200
    assert (await api.post(f"{url}/interest", json={"rating": 5, "comment": "   "})).status_code == 200
    ratings = [i for i in (await api.get(f"{url}/timeline")).json() if i["type"] == "interest_rating"]
    assert [(r["rating"], r["comment"]) for r in ratings] == [(4, "заинтересованы"), (5, None)]
    assert [p["comment"] for t, p in await events(app) if t == "DealInterestRated"] == ["заинтересованы", None]
