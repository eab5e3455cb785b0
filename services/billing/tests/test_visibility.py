"""Who sees and changes which contracts, invoices, payments and deliveries, enforced by billing itself:
a record with a deal follows the deal's owner and department, one without a deal the client card's
(both from billing's replicas). A manager their own, a head their department subtree, executives all;
marketing and support nothing. Against a real PostgreSQL; every test's writes are rolled back."""

import uuid
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from mercator.billing import consumers
from mercator.billing.days import today
from mercator.billing.tables import (
    Allocation,
    Contract,
    CreditNote,
    Delivery,
    Invoice,
    Payment,
)
from mercator.billing.testing import announce_sale
from mercator.common.events import catalogue as ev
from mercator.common.testing.api import caller
from mercator.common.testing.kit import feed, published

pytestmark = pytest.mark.postgres
TODAY = today("Europe/Moscow")
NORTH, NORTH_EAST, SOUTH = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()  # north-east is below north


@pytest.fixture
async def people(api_as, api, manager):
    """Clients for anna (the conftest's manager), boris (another manager), a head of the north, an executive,
    marketing and support."""
    who = {
        "boris": caller("Борис Орлов", department_id=SOUTH),
        "head": caller("Ольга Смирнова", roles=("head",), department_id=NORTH, departments=(NORTH, NORTH_EAST)),
        "ceo": caller("Пётр Ильин", roles=("executive",)),
        "marketing": caller("Мария Лисина", roles=("marketing",)),
        "support": caller("Сергей Ким", roles=("support",)),
    }
    async with AsyncExitStack() as stack:
        clients = {name: await stack.enter_async_context(api_as(c)) for name, c in who.items()}
        clients["anna"] = api
        yield clients, {**who, "anna": manager}


@pytest.fixture
def sale(app):
    """A client card and a deal on it, as contacts and deals announced them (with their departments)."""

    async def announced(owner, department, card_owner=None, card_department=None) -> tuple[uuid.UUID, uuid.UUID]:
        return await announce_sale(
            app, owner, department_id=department, card_owner=card_owner, card_department_id=card_department
        )

    return announced


async def state(app) -> tuple:
    async with app.state.runtime.sessionmaker() as s:
        invoices = (
            await s.execute(
                select(
                    Invoice.id, Invoice.status, Invoice.paid, Invoice.credited, Invoice.due_date, Invoice.version
                ).order_by(Invoice.id)
            )
        ).all()
        counts = [
            await s.scalar(select(func.count()).select_from(t))
            for t in (Payment, Allocation, Contract, CreditNote, Delivery)
        ] + [len(await published(app))]
        delivered = (await s.execute(select(Delivery.id, Delivery.status).order_by(Delivery.id))).all()
        return tuple(invoices), tuple(counts), tuple(delivered)


async def issued(c, deal_id) -> dict:
    draft = await c.post(
        "/api/v1/invoices",
        json={
            "deal_id": str(deal_id),
            "due_date": str(TODAY + timedelta(days=9)),
            "lines": [{"description": "Лицензия", "quantity": "1", "unit_price": "1000.00"}],
        },
    )
    assert draft.status_code == 201, draft.text
    r = await c.post(f"/api/v1/invoices/{draft.json()['id']}/issue")
    assert r.status_code == 200, r.text
    return r.json()


def listed(r) -> set[str]:
    assert r.status_code == 200, r.text
    return {i["id"] for i in r.json()}


async def test_a_manager_neither_sees_nor_changes_another_managers_billing(app, people, sale):
    c, who = people
    mine, my_client = await sale(who["anna"], None)
    theirs, their_client = await sale(who["boris"], SOUTH)
    my_invoice = await issued(c["anna"], mine)
    their_invoice = await issued(c["boris"], theirs)
    made = [
        await c["boris"].post(
            "/api/v1/contracts",
            json={
                "number": "Д-1",
                "deal_id": str(theirs),
                "signed_on": str(TODAY),
                "amount": "1220.00",
                "due_in_days": 10,
            },
        ),
        await c["boris"].post(
            "/api/v1/deliveries",
            json={
                "deal_id": str(theirs),
                "waybill_number": "ТН-1",
                "shipped_on": str(TODAY),
                "items": [{"product_id": str(uuid.uuid4()), "quantity": "1"}],
            },
        ),
        await c["boris"].post(
            "/api/v1/payments",
            json={
                "company_id": str(their_client),
                "amount": "5000.00",
                "received_on": str(TODAY),
                "bank_reference": "1",
            },
        ),
    ]
    assert [r.status_code for r in made] == [201] * 3, [r.text for r in made]
    contract, shipped = made[0].json(), made[1].json()
    assert made[2].json()["credit"] == "3780.00"  # what Anna might try to apply
    before = await state(app)

    url = f"/api/v1/invoices/{their_invoice['id']}"
    for method, path, body in (
        ("get", "", None),
        ("patch", "", {"due_date": str(TODAY)}),
        ("post", "/issue", None),
        ("post", "/cancel", {"reason": "моё"}),
        ("post", "/credit", {"amount": "1.00", "reason": "скидка"}),
    ):
        r = await c["anna"].request(method.upper(), f"{url}{path}", json=body)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["detail"] == f"no invoice {their_invoice['id']}"  # as for a missing one
    assert listed(await c["anna"].get("/api/v1/invoices")) == {my_invoice["id"]}
    assert listed(await c["anna"].get("/api/v1/invoices", params={"deal_id": str(theirs)})) == set()
    assert (await c["anna"].get("/api/v1/payments", params={"company_id": str(their_client)})).json() == []
    delivered = await c["anna"].post(f"/api/v1/deliveries/{shipped['id']}/delivered", json={"delivered_on": str(TODAY)})
    assert delivered.status_code == 404
    credit = await c["anna"].post(f"/api/v1/clients/{their_client}/credit/apply", json={"currency": "RUB"})
    assert credit.status_code == 404

    # What names another's deal, contract or client answers word for word as for one that does not exist.
    async def refused(path, body, field, ghost_body):
        r, ghost = await c["anna"].post(path, json=body), await c["anna"].post(path, json=ghost_body)
        assert r.status_code == ghost.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == ghost.json()["errors"][0]["field"] == field
        assert r.json()["detail"].rsplit(" ", 1)[0] == ghost.json()["detail"].rsplit(" ", 1)[0]

    nobody = str(uuid.uuid4())
    await refused(
        "/api/v1/invoices", {"deal_id": str(theirs), "lines": []}, "deal_id", {"deal_id": nobody, "lines": []}
    )
    await refused(
        "/api/v1/invoices",
        {"contract_id": contract["id"], "lines": []},
        "contract_id",
        {"contract_id": nobody, "lines": []},
    )
    await refused(
        "/api/v1/invoices",
        {"company_id": str(their_client), "lines": []},
        "company_id",
        {"company_id": nobody, "lines": []},
    )
    contract_body = {"number": "Д-2", "signed_on": str(TODAY), "amount": "1.00", "due_in_days": 10}
    await refused(
        "/api/v1/contracts", {**contract_body, "deal_id": str(theirs)}, "deal_id", {**contract_body, "deal_id": nobody}
    )
    payment = {"amount": "1.00", "received_on": str(TODAY), "bank_reference": "2"}
    await refused(
        "/api/v1/payments",
        {**payment, "company_id": str(their_client)},
        "company_id",
        {**payment, "company_id": nobody},
    )
    waybill = {"waybill_number": "ТН-2", "shipped_on": str(TODAY), "items": [{"product_id": nobody, "quantity": "1"}]}
    await refused("/api/v1/deliveries", {**waybill, "deal_id": str(theirs)}, "deal_id", {**waybill, "deal_id": nobody})
    await refused(
        "/api/v1/payments",
        {
            **payment,
            "company_id": str(my_client),
            "allocations": [{"invoice_id": their_invoice["id"], "amount": "1.00"}],
        },
        "allocations[0].invoice_id",
        {**payment, "company_id": str(my_client), "allocations": [{"invoice_id": nobody, "amount": "1.00"}]},
    )
    assert await state(app) == before


async def test_receivables_show_a_manager_their_own_and_a_head_their_departments(people, sale):
    c, who = people
    north_east, ne_client = await sale(who["anna"], NORTH_EAST)
    south, south_client = await sale(who["boris"], SOUTH)
    await issued(c["anna"], north_east)
    await issued(c["boris"], south)

    async def rows(name, by="client"):
        r = await c[name].get("/api/v1/receivables", params={"by": by})
        assert r.status_code == 200, r.text
        return {(row["key"], row["debt"]) for row in r.json()["rows"]}

    assert await rows("anna") == {(str(ne_client), "1220.00")}
    assert await rows("anna", "manager") == {(str(who["anna"].user_id), "1220.00")}
    assert await rows("boris", "manager") == {(str(who["boris"].user_id), "1220.00")}
    assert await rows("head") == {(str(ne_client), "1220.00")}
    assert await rows("head", "manager") == {(str(who["anna"].user_id), "1220.00")}
    assert {(str(ne_client), "1220.00"), (str(south_client), "1220.00")} <= await rows("ceo")


async def test_a_head_sees_their_sub_departments_invoices_and_an_executive_all(people, sale):
    c, who = people
    north_east, _ = await sale(who["anna"], NORTH_EAST)
    south, _ = await sale(who["boris"], SOUTH)
    ne_invoice = await issued(c["anna"], north_east)
    south_invoice = await issued(c["boris"], south)
    assert listed(await c["head"].get("/api/v1/invoices")) == {ne_invoice["id"]}
    assert (await c["head"].get(f"/api/v1/invoices/{south_invoice['id']}")).status_code == 404
    credited = await c["head"].post(
        f"/api/v1/invoices/{ne_invoice['id']}/credit", json={"amount": "20.00", "reason": "скидка"}
    )
    assert credited.status_code == 201
    assert {ne_invoice["id"], south_invoice["id"]} <= listed(await c["ceo"].get("/api/v1/invoices"))
    assert (await c["ceo"].get(f"/api/v1/invoices/{south_invoice['id']}")).status_code == 200


async def test_the_deal_decides_before_the_client_card(app, people, sale):
    """Anna's deal with a client whose card is Boris's: the deal's invoice is hers; an invoice for the client
    with no deal, and the client's payments, are Boris's."""
    c, who = people
    deal_id, company = await sale(who["anna"], None, card_owner=who["boris"], card_department=SOUTH)
    on_deal = await issued(c["anna"], deal_id)
    assert (await c["boris"].get(f"/api/v1/invoices/{on_deal['id']}")).status_code == 404
    bare = await c["boris"].post("/api/v1/invoices", json={"company_id": str(company), "lines": []})
    assert bare.status_code == 201, bare.text
    assert (await c["anna"].get(f"/api/v1/invoices/{bare.json()['id']}")).status_code == 404
    assert listed(await c["anna"].get("/api/v1/invoices", params={"company_id": str(company)})) == {on_deal["id"]}
    paid = await c["anna"].post(
        "/api/v1/payments",
        json={"company_id": str(company), "amount": "1.00", "received_on": str(TODAY), "bank_reference": "x"},
    )
    assert paid.status_code == 422 and paid.json()["errors"][0]["field"] == "company_id"
    # A card handed over in contacts takes its billing without a deal along.
    await feed(
        app,
        consumers.CONTACTS,
        ev.CompanyReassigned(company_id=company, from_owner_id=who["boris"].user_id, to_owner_id=who["anna"].user_id),
        sequence=2,
    )
    assert (await c["anna"].get(f"/api/v1/invoices/{bare.json()['id']}")).status_code == 200
    assert (await c["boris"].get(f"/api/v1/invoices/{bare.json()['id']}")).status_code == 404


async def test_marketing_and_support_have_no_access_to_billing(app, people, sale):
    c, who = people
    deal_id, company = await sale(who["anna"], None)
    invoice = await issued(c["anna"], deal_id)
    before = await state(app)
    for role in ("marketing", "support"):
        for r in (
            await c[role].get("/api/v1/invoices"),
            await c[role].get(f"/api/v1/invoices/{invoice['id']}"),
            await c[role].get("/api/v1/receivables"),
            await c[role].get("/api/v1/payments", params={"company_id": str(company)}),
            await c[role].post("/api/v1/invoices", json={"deal_id": str(deal_id), "lines": []}),
            await c[role].post(f"/api/v1/invoices/{invoice['id']}/cancel", json={}),
            await c[role].post(
                "/api/v1/payments", json={"company_id": str(company), "amount": "1.00", "received_on": str(TODAY)}
            ),
        ):
            assert r.status_code == 403, (role, r.request.url, r.text)
            assert r.headers["content-type"] == "application/problem+json"
    assert await state(app) == before
