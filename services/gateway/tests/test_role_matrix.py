"""Every role against every kind of record and action, through the gateway and the real services:
allowed and denied, including a manager guessing another manager's ids."""

import pytest

from mercator.common.testing.api import billing_today, client

pytestmark = pytest.mark.postgres
PASSWORD = "Correct-horse-42"
ROLES = ("manager_a", "manager_b", "head", "executive", "marketing", "support", "admin", "partner")


@pytest.fixture
def upstream_transports(switched_services):
    return switched_services


@pytest.fixture
async def people(app, admin_api, anon, sign_in):
    """Departments: sales (head) above north (manager A); south (manager B) elsewhere."""
    sales = (await admin_api.post("/api/v1/departments", json={"name": "Продажи"})).json()
    north = (await admin_api.post("/api/v1/departments", json={"name": "Север", "parent_id": sales["id"]})).json()
    south = (await admin_api.post("/api/v1/departments", json={"name": "Юг"})).json()
    who = {
        "manager_a": ("manager", north),
        "manager_b": ("manager", south),
        "head": ("head", sales),
        "executive": ("executive", None),
        "marketing": ("marketing", None),
        "support": ("support", None),
    }
    clients = {"admin": admin_api}
    for name, (role, dept) in who.items():
        r = await admin_api.post(
            "/api/v1/users",
            json={
                "name": name,
                "email": f"{name}@mercator.test",
                "password": PASSWORD,
                "roles": [role],
                "department_id": dept["id"] if dept else None,
            },
        )
        assert r.status_code == 201, r.text
        token = (await sign_in(f"{name}@mercator.test")).json()["access_token"]
        clients[name] = client(app, {"Authorization": f"Bearer {token}"})
    key = (await admin_api.post("/api/v1/api-keys", json={"name": "ERP", "scopes": ["read:companies"]})).json()
    clients["partner"] = client(app, {"X-API-Key": key["key"]})
    yield clients
    for name, c in clients.items():
        if name != "admin":
            await c.aclose()


async def test_who_may_see_and_do_what(people):
    a, b = people["manager_a"], people["manager_b"]
    card_a = (await a.post("/api/v1/companies", json={"name": "Клиент A"})).json()
    assert (
        await a.patch(f"/api/v1/companies/{card_a['id']}", json={"status": "client"}, headers={"If-Match": '"1"'})
    ).status_code == 200
    card_b = (await b.post("/api/v1/companies", json={"name": "Клиент B"})).json()
    deal_a = (await a.post("/api/v1/deals", json={"title": "Сделка A", "company_id": card_a["id"]})).json()
    invoice = (
        await a.post(
            "/api/v1/invoices",
            json={
                "deal_id": deal_a["id"],
                "due_date": str(billing_today()),
                "lines": [{"description": "x", "quantity": "1", "unit_price": "10.00"}],
            },
        )
    ).json()
    assert "id" in invoice, invoice

    async def status(role, method, path, **kw):
        return (await people[role].request(method, path, **kw)).status_code

    checks = {  # action: {role: expected status}
        ("GET", f"/api/v1/companies/{card_a['id']}", None): dict(
            manager_a=200, manager_b=404, head=200, executive=200, marketing=200, support=200, admin=200, partner=200
        ),
        ("GET", f"/api/v1/companies/{card_b['id']}", None): dict(
            manager_a=404, manager_b=200, head=404, executive=200, marketing=200, support=404, admin=200, partner=200
        ),
        ("POST", f"/api/v1/companies/{card_a['id']}/history", "history"): dict(
            manager_a=201, manager_b=404, head=201, executive=201, marketing=403, support=201, admin=201, partner=403
        ),
        ("POST", f"/api/v1/companies/{card_b['id']}/history", "history"): dict(
            manager_a=404, manager_b=201, head=404, support=404
        ),
        ("GET", f"/api/v1/deals/{deal_a['id']}", None): dict(
            manager_a=200, manager_b=404, head=200, executive=200, marketing=403, support=403, admin=200, partner=403
        ),
        ("POST", f"/api/v1/deals/{deal_a['id']}/moves", "move"): dict(
            manager_b=404, marketing=403, support=403, partner=403
        ),
        ("GET", f"/api/v1/invoices/{invoice['id']}", None): dict(
            manager_a=200, manager_b=404, head=200, executive=200, marketing=403, support=403, admin=200, partner=403
        ),
        ("POST", "/api/v1/products", "product"): dict(
            manager_a=403, manager_b=403, marketing=403, support=403, partner=403
        ),
    }
    bodies = {
        "history": {"kind": "call", "summary": "звонок"},
        "move": {"stage": "needs"},
        "product": {"code": "P-1", "name": "Товар", "list_price": "1.00"},
    }
    failures = []
    for (method, path, body), expected in checks.items():
        for role, want in expected.items():
            got = await status(role, method, path, **({"json": bodies[body]} if body else {}))
            if got != want:
                failures.append(f"{role} {method} {path}: {got}, expected {want}")
    assert not failures, "\n".join(failures)

    # A manager's lists hold only what is theirs; a head's their department tree.
    names = lambda r: sorted(c["name"] for c in r.json()["items"])  # noqa: E731
    assert names(await b.get("/api/v1/companies")) == ["Клиент B"]
    assert names(await people["head"].get("/api/v1/companies")) == ["Клиент A"]
    assert names(await people["executive"].get("/api/v1/companies")) == ["Клиент A", "Клиент B"]
    assert [d["title"] for d in (await b.get("/api/v1/deals")).json()["items"]] == []
    assert (await people["head"].post("/api/v1/products", json=bodies["product"])).status_code == 201
