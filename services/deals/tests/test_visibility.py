"""Who sees and changes which deals, enforced by the deals service itself (not only the gateway):
a manager their own, a head their department subtree, executives all; marketing and support no deals;
settings are read by all and changed by heads and admins. Against a real PostgreSQL, rolled back."""

import uuid
from contextlib import AsyncExitStack

import pytest
from sqlalchemy import func, select

from mercator.common.testing.api import auth, caller, client
from mercator.common.testing.kit import published
from mercator.deals.tables import Deal, Offer, Transition

pytestmark = pytest.mark.postgres

NORTH, NORTH_EAST, SOUTH = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()  # north-east is below north


@pytest.fixture
def manager():
    """Anna works in the north-east: she files her deals there."""
    return caller("Анна Петрова", department_id=NORTH_EAST)


@pytest.fixture
async def people(app, settings, api, manager):
    """Clients for: anna (the conftest's manager, in north-east), boris (a manager in the south),
    a head of the north, an executive, marketing and support."""
    who = {
        "boris": caller("Борис Орлов", department_id=SOUTH),
        "head": caller("Ольга Смирнова", roles=("head",), department_id=NORTH, departments=(NORTH, NORTH_EAST)),
        "ceo": caller("Пётр Ильин", roles=("executive",)),
        "marketing": caller("Мария Лисина", roles=("marketing",)),
        "support": caller("Сергей Ким", roles=("support",)),
    }
    async with AsyncExitStack() as stack:
        clients = {name: await stack.enter_async_context(client(app, auth(settings, c))) for name, c in who.items()}
        clients["anna"] = api
        yield clients, {**who, "anna": manager}


async def state(app) -> tuple:
    async with app.state.runtime.sessionmaker() as s:
        deals = (
            await s.execute(
                select(Deal.id, Deal.stage_code, Deal.status, Deal.owner_id, Deal.department_id, Deal.version).order_by(
                    Deal.id
                )
            )
        ).all()
        return (
            tuple(deals),
            await s.scalar(select(func.count()).select_from(Transition)),
            await s.scalar(select(func.count()).select_from(Offer)),
            len(await published(app)),
        )


async def open_deal(c, company, **fields) -> dict:
    r = await c.post(
        "/api/v1/deals", json={"title": "Сделка", "company_id": str(company), "amount": "1000.00", **fields}
    )
    assert r.status_code == 201, r.text
    return r.json()


def ids(r) -> set[str]:
    assert r.status_code == 200, r.text
    return {d["id"] for d in r.json()["items"]}


async def test_a_manager_neither_sees_nor_changes_another_managers_deal(app, people, card_event):
    c, who = people
    company = await card_event()
    anna = await open_deal(c["anna"], company, department_id=str(NORTH_EAST))
    boris = await open_deal(c["boris"], company)
    url = f"/api/v1/deals/{boris['id']}"
    before = await state(app)
    assert (await c["anna"].get(url)).status_code == 404
    assert (await c["anna"].get(f"{url}/timeline")).status_code == 404
    assert ids(await c["anna"].get("/api/v1/deals")) == {anna["id"]}
    assert ids(await c["anna"].get("/api/v1/deals", params={"owner_id": str(who["boris"].user_id)})) == set()
    for method, path, body in (
        ("post", "/moves", {"stage": "needs"}),
        ("post", "/offers", {"side": "ours", "amount": "900.00"}),
        ("post", "/win", {}),
        ("post", "/reopen", {}),
        ("post", "/interest", {"rating": 3}),
        ("post", "/reassign", {"owner_id": str(who["anna"].user_id)}),
        ("patch", "", {"title": "Моя"}),
    ):
        r = await getattr(c["anna"], method)(f"{url}{path}", json=body, headers={"If-Match": '"1"'})
        assert r.status_code == 404, (path, r.text)
        assert r.json()["detail"] == f"no deal {boris['id']}"  # word for word what a missing deal answers
    assert await state(app) == before
    # The board counts only her own deal; asking for Boris's finds nothing.
    board = (await c["anna"].get("/api/v1/board")).json()
    assert sum(col["count"] for col in board["columns"]) == 1
    assert next(col for col in board["columns"] if col["stage"] == "interest")["amounts"] == {"RUB": "1000.00"}
    theirs = (await c["anna"].get("/api/v1/board", params={"owner_id": str(who["boris"].user_id)})).json()
    assert sum(col["count"] for col in theirs["columns"]) == 0


async def test_a_manager_opens_and_keeps_deals_only_for_themselves(app, people, card_event):
    c, who = people
    company = await card_event()
    mine = await open_deal(c["anna"], company)
    before = await state(app)
    for_boris = await c["anna"].post(
        "/api/v1/deals", json={"title": "Чужая", "company_id": str(company), "owner_id": str(who["boris"].user_id)}
    )
    assert for_boris.status_code == 403
    away = await c["anna"].post(f"/api/v1/deals/{mine['id']}/reassign", json={"owner_id": str(who["boris"].user_id)})
    assert away.status_code == 403
    assert await state(app) == before


async def test_a_head_sees_their_sub_departments_deals_not_another_departments(app, people, card_event):
    c, who = people
    company = await card_event()
    anna = await open_deal(c["anna"], company, department_id=str(NORTH_EAST))
    boris = await open_deal(c["boris"], company)
    assert ids(await c["head"].get("/api/v1/deals")) == {anna["id"]}
    assert (await c["head"].get(f"/api/v1/deals/{anna['id']}")).status_code == 200
    assert (await c["head"].get(f"/api/v1/deals/{boris['id']}")).status_code == 404
    assert (await c["head"].post(f"/api/v1/deals/{boris['id']}/moves", json={"stage": "needs"})).status_code == 404
    assert (await c["head"].post(f"/api/v1/deals/{anna['id']}/moves", json={"stage": "needs"})).status_code == 200
    board = (await c["head"].get("/api/v1/board")).json()
    assert sum(col["count"] for col in board["columns"]) == 1
    # Within the subtree the head hands deals out; outside it, not.
    newcomer = uuid.uuid4()
    handed = await c["head"].post(
        f"/api/v1/deals/{anna['id']}/reassign", json={"owner_id": str(newcomer), "department_id": str(NORTH)}
    )
    assert handed.status_code == 200 and handed.json()["owner_id"] == str(newcomer)
    before = await state(app)
    south = await c["head"].post(
        f"/api/v1/deals/{anna['id']}/reassign",
        json={"owner_id": str(who["boris"].user_id), "department_id": str(SOUTH)},
    )
    assert south.status_code == 403
    assert (
        await c["head"].post(
            "/api/v1/deals",
            json={"title": "X", "company_id": str(company), "owner_id": str(newcomer), "department_id": str(SOUTH)},
        )
    ).status_code == 403
    assert await state(app) == before
    opened = await open_deal(c["head"], company, owner_id=str(who["anna"].user_id))  # the head's department
    assert opened["department_id"] == str(NORTH)
    assert (await c["anna"].get(f"/api/v1/deals/{opened['id']}")).status_code == 200


async def test_an_executive_sees_every_deal(people, card_event):
    c, _ = people
    company = await card_event()
    anna = await open_deal(c["anna"], company)
    boris = await open_deal(c["boris"], company)
    assert {anna["id"], boris["id"]} <= ids(await c["ceo"].get("/api/v1/deals"))
    assert (await c["ceo"].get(f"/api/v1/deals/{boris['id']}")).status_code == 200


async def test_marketing_and_support_have_no_access_to_deals(app, people, card_event):
    c, _ = people
    company = await card_event()
    deal = await open_deal(c["anna"], company)
    before = await state(app)
    for role in ("marketing", "support"):
        for r in (
            await c[role].get("/api/v1/deals"),
            await c[role].get(f"/api/v1/deals/{deal['id']}"),
            await c[role].get(f"/api/v1/deals/{deal['id']}/timeline"),
            await c[role].get("/api/v1/board"),
            await c[role].post(f"/api/v1/deals/{deal['id']}/moves", json={"stage": "needs"}),
            await c[role].post("/api/v1/deals", json={"title": "X", "company_id": str(company)}),
        ):
            assert r.status_code == 403, (role, r.request.url, r.text)
            assert r.headers["content-type"] == "application/problem+json"
    assert await state(app) == before


async def test_settings_are_read_by_everyone_and_changed_by_heads(people):
    c, _ = people
    pipeline = (await c["anna"].get("/api/v1/pipelines")).json()[0]
    reason = (await c["anna"].get("/api/v1/lost-reasons")).json()[0]
    assert (await c["anna"].get("/api/v1/products")).status_code == 200
    assert (await c["marketing"].get("/api/v1/product-groups")).status_code == 200
    stages = [
        {"code": "lead", "name": "Lead", "position": 1, "probability": "0.2"},
        {"code": "won", "name": "Won", "position": 2, "probability": "1", "kind": "won"},
        {"code": "lost", "name": "Lost", "position": 3, "probability": "0", "kind": "lost"},
    ]
    product = {"code": "SE-9", "name": "Sales Expert", "list_price": "1.00"}
    writes = (
        ("post", "/api/v1/products", product),
        ("post", "/api/v1/product-groups", {"name": "Услуги"}),
        ("post", "/api/v1/lost-reasons", {"name": "Ушёл к партнёру"}),
        ("patch", f"/api/v1/lost-reasons/{reason['id']}", {"position": 9}),
        ("post", "/api/v1/pipelines", {"name": "Короткая", "stages": stages}),
        ("patch", f"/api/v1/pipelines/{pipeline['id']}/stages/interest", {"name": "Интерес"}),
    )
    for who in ("anna", "marketing", "support"):
        for method, path, body in writes:
            r = await getattr(c[who], method)(path, json=body)
            assert r.status_code == 403, (who, path, r.text)
    for method, path, body in writes:
        r = await getattr(c["head"], method)(path, json=body)
        assert r.status_code in (200, 201), (path, r.text)
    made = next(p for p in (await c["anna"].get("/api/v1/products")).json()["items"] if p["code"] == "SE-9")
    assert (await c["anna"].patch(f"/api/v1/products/{made['id']}", json={"name": "X"})).status_code == 403
    assert (await c["head"].patch(f"/api/v1/products/{made['id']}", json={"name": "X"})).status_code == 200


async def test_the_boards_lean_cards_hold_only_what_the_caller_sees_with_the_owners_name(app, people, card_event):
    c, who = people
    company = await card_event()
    # The deals service learns names from the gateway's events; Boris's name has not arrived yet.
    await replica_user(app, who["anna"].user_id, "Анна Петрова", NORTH_EAST)
    anna = await open_deal(c["anna"], company, department_id=str(NORTH_EAST), stage="needs")
    boris = await open_deal(c["boris"], company)
    won = await open_deal(c["anna"], company, department_id=str(NORTH_EAST))
    assert (await c["anna"].post(f"/api/v1/deals/{won['id']}/win", json={})).status_code == 200

    def cards(r) -> list[dict]:
        assert r.status_code == 200, r.text
        return r.json()["items"]

    mine = cards(await c["anna"].get("/api/v1/board/cards"))
    assert mine == [
        {
            "id": anna["id"],
            "title": "Сделка",
            "amount": "1000.00",
            "currency": "RUB",
            "owner_id": str(who["anna"].user_id),
            "owner_name": "Анна Петрова",
            "stage": "needs",
            "version": anna["version"],
            "stalled": False,
        }
    ]  # the won deal is off the board
    assert cards(await c["anna"].get("/api/v1/board/cards", params={"owner_id": str(who["boris"].user_id)})) == []
    everyone = cards(await c["ceo"].get("/api/v1/board/cards"))
    assert {(d["id"], d["owner_name"]) for d in everyone} == {(anna["id"], "Анна Петрова"), (boris["id"], None)}
    assert [d["id"] for d in cards(await c["ceo"].get("/api/v1/board/cards", params={"stage": "needs"}))] == [
        anna["id"]
    ]
    assert [d["id"] for d in cards(await c["head"].get("/api/v1/board/cards"))] == [anna["id"]]
    assert [
        d["id"] for d in cards(await c["ceo"].get("/api/v1/board/cards", params={"department_id": str(SOUTH)}))
    ] == [boris["id"]]
    first = await c["ceo"].get("/api/v1/board/cards", params={"limit": 1})
    rest = await c["ceo"].get("/api/v1/board/cards", params={"limit": 1, "cursor": first.json()["next_cursor"]})
    assert {cards(first)[0]["id"], cards(rest)[0]["id"]} == {anna["id"], boris["id"]}
    assert rest.json()["next_cursor"] is None
    assert (await c["marketing"].get("/api/v1/board/cards")).status_code == 403
    bad = await c["ceo"].get("/api/v1/board/cards", params={"stage": "nowhere"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "stage", bad.text
    bad = await c["ceo"].get("/api/v1/board/cards", params={"limit": 5001})
    assert bad.status_code == 422 and "limit" in bad.text


async def replica_user(app, user_id, name, department_id) -> None:
    from mercator.deals.replicas import apply_user

    async with app.state.runtime.uow() as uow:
        await apply_user(uow.session, user_id, name, department_id, True, 1)
        await uow.commit()
