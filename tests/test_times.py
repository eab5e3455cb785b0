"""Every time the services answer with, single or in a list, and every time in an event they publish, carries its
UTC offset (RFC 3339), on SQLite (the embedded run) as on PostgreSQL: a client that reads a time without one takes
it as its own local time, hours off."""

import asyncio
import base64
import json
import re
import uuid

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from mercator.billing.app import MIGRATIONS as BILLING_MIGRATIONS
from mercator.billing.app import build_app as build_billing
from mercator.billing.settings import BillingSettings
from mercator.common.bus import tables
from mercator.common.migrate import upgrade
from mercator.common.runtime import Runtime
from mercator.common.testing.api import billing_today
from mercator.contacts.app import MIGRATIONS as CONTACTS_MIGRATIONS
from mercator.contacts.app import build_app as build_contacts
from mercator.contacts.settings import ContactsSettings
from mercator.deals.app import MIGRATIONS as DEALS_MIGRATIONS
from mercator.deals.app import build_app as build_deals
from mercator.deals.settings import DealsSettings
from mercator.gateway import passwords as gateway_passwords
from mercator.gateway import schemas as gateway_schemas
from mercator.gateway import users as gateway_users
from mercator.gateway.app import MIGRATIONS as GATEWAY_MIGRATIONS
from mercator.gateway.app import build_app as build_gateway
from mercator.gateway.settings import GatewaySettings

# A date and a time of day, with or without seconds and fractions: what any of the services writes for a time.
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(?P<offset>Z|[+-]\d{2}:?\d{2})?")


def zoneless_times(value, where: str = "") -> list[tuple[str, str]]:
    """(path, value) of every string in a JSON document that is a time without its offset."""
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in zoneless_times(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [found for i, v in enumerate(value) for found in zoneless_times(v, f"{where}[{i}]")]
    if isinstance(value, str):
        match = ISO_TIME.fullmatch(value)
        return [(where, value)] if match and not match["offset"] else []
    return []


def test_the_walker_finds_a_time_without_offset_anywhere_and_nothing_else():
    document = {
        "a": "2026-12-06T10:51:16.150832",
        "b": [{"c": "2026-12-06 10:51:16"}],
        "d": "2026-12-06",
        "e": "2026-12-06T10:51:16.150832Z",
        "f": "2026-12-06T13:51:16+03:00",
        "g": "Д-2026-12-06T10:51",
    }
    assert zoneless_times(document) == [(".a", "2026-12-06T10:51:16.150832"), (".b[0].c", "2026-12-06 10:51:16")]


@pytest.fixture(params=["sqlite", "postgresql"])
async def urls(request, tmp_path, postgres) -> dict[str, str]:
    """Each service's migrated database: a SQLite file as `make run` keeps, or a PostgreSQL database."""
    out = {}
    for name, migrations in (
        ("gateway", GATEWAY_MIGRATIONS),
        ("contacts", CONTACTS_MIGRATIONS),
        ("deals", DEALS_MIGRATIONS),
        ("billing", BILLING_MIGRATIONS),
    ):
        if request.param == "sqlite":
            out[name] = f"sqlite+aiosqlite:///{tmp_path}/{name}.db"
            await asyncio.to_thread(upgrade, out[name], migrations)
        else:
            out[name] = await postgres.migrated(name, migrations)
    return out


@pytest.fixture
def cheap_hashing(monkeypatch):
    monkeypatch.setattr(gateway_passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def _to(app, token: str | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://peer",
        headers={"Authorization": f"Bearer {token}"} if token else None,
    )


async def test_every_time_in_answers_and_events_carries_its_offset(urls, token, cheap_hashing):
    quiet = dict(relay_enabled=False, consumers_enabled=False, kafka_bootstrap="127.0.0.1:9")
    runtimes = {
        "gateway": Runtime(
            GatewaySettings(database_url=urls["gateway"], admin_email=None, admin_password=None, **quiet)
        ),
        "contacts": Runtime(ContactsSettings(database_url=urls["contacts"], **quiet)),
        "deals": Runtime(DealsSettings(database_url=urls["deals"], **quiet)),
        "billing": Runtime(BillingSettings(database_url=urls["billing"], **quiet)),
    }
    contacts_app = build_contacts(runtimes["contacts"].settings, runtimes["contacts"])
    deals_app = build_deals(runtimes["deals"].settings, runtimes["deals"], contacts_http=_to(contacts_app))
    billing_app = build_billing(
        runtimes["billing"].settings, runtimes["billing"], deals_http=_to(deals_app), contacts_http=_to(contacts_app)
    )
    gateway_app = build_gateway(runtimes["gateway"].settings, runtimes["gateway"], transports={})
    contacts, deals, billing = _to(contacts_app, token), _to(deals_app, token), _to(billing_app, token)
    answers: dict[str, object] = {}

    async def read(api: httpx.AsyncClient, path: str, **params) -> dict:
        r = await api.get(path, params=params)
        assert r.status_code == 200, f"{path}: {r.status_code} {r.text}"
        answers[f"GET {path}"] = r.json()
        return r.json()

    async def write(api: httpx.AsyncClient, path: str, body: dict, method: str = "post", **kw) -> dict:
        r = await api.request(method, path, json=body, **kw)
        assert r.status_code in (200, 201), f"{path}: {r.status_code} {r.text}"
        answers[f"{method.upper()} {path}"] = r.json()
        return r.json()

    try:
        async with runtimes["gateway"].uow() as uow:
            await gateway_users.create_user(
                uow,
                gateway_schemas.UserCreate(
                    name="Администратор", email="admin@example.com", password="Correct-horse-42", roles=["admin"]
                ),
            )
            await uow.commit()
        async with _to(gateway_app) as anon:
            signed_in = await anon.post(
                "/api/v1/auth/token",
                data={"username": "admin@example.com", "password": "Correct-horse-42", "grant_type": "password"},
            )
        assert signed_in.status_code == 200, signed_in.text
        async with _to(gateway_app, signed_in.json()["access_token"]) as gateway:
            await write(gateway, "/api/v1/api-keys", {"name": "1С", "scopes": ["read:companies"]})
            await read(gateway, "/api/v1/api-keys")
            await read(gateway, "/api/v1/users")
            await read(gateway, "/api/v1/me")

        card = await write(contacts, "/api/v1/companies", {"name": "ООО «Часовой пояс»", "tax_id": "7707083893"})
        c = f"/api/v1/companies/{card['id']}"
        person = await write(contacts, f"{c}/persons", {"name": "Иван"})
        await write(contacts, f"{c}/history", {"kind": "call", "summary": "звонок"})
        meeting = await write(
            contacts,
            f"{c}/meetings",
            {"starts_at": "2030-01-10T10:00:00+03:00", "duration_minutes": 60, "subject": "встреча"},
        )
        await read(contacts, c)
        await read(contacts, "/api/v1/companies")
        await read(contacts, f"{c}/persons")
        await read(contacts, f"{c}/persons/{person['id']}")
        await read(contacts, f"{c}/history")
        # A cursor whose time lost its offset is not one the service issued: refused, not a database error.
        forged = base64.urlsafe_b64encode(json.dumps(["2026-12-06T10:51:16", str(uuid.uuid4())]).encode()).decode()
        assert (await contacts.get(f"{c}/history", params={"cursor": forged})).status_code == 422
        await read(contacts, "/api/v1/meetings")
        await read(contacts, f"/api/v1/meetings/{meeting['id']}")

        deal = await write(deals, "/api/v1/deals", {"title": "Поставка", "company_id": card["id"]})
        d = f"/api/v1/deals/{deal['id']}"
        await write(deals, f"{d}/moves", {"stage": "needs"})
        await write(deals, f"{d}/interest", {"rating": 4})
        await write(deals, f"{d}/proposals", {"documents": ["ТП.pdf"], "recipient_person_ids": [person["id"]]})
        offer = await write(deals, f"{d}/offers", {"side": "ours", "amount": "122000.00"})
        await write(deals, f"{d}/offers/{offer['id']}/accept", {})
        await read(deals, d)
        await read(deals, "/api/v1/deals")
        await read(deals, f"{d}/timeline")
        await read(deals, "/api/v1/board")

        today = billing_today()
        contract = await write(
            billing,
            "/api/v1/contracts",
            {
                "number": f"Д-{uuid.uuid4().hex[:6]}",
                "deal_id": deal["id"],
                "signed_on": str(today),
                "amount": "122000.00",
                "due_in_days": 10,
            },
        )
        draft = await write(
            billing,
            "/api/v1/invoices",
            {
                "contract_id": contract["id"],
                "lines": [
                    {"description": "Оборудование", "quantity": "1", "unit_price": "100000.00", "vat_rate": "22"}
                ],
            },
        )
        await write(billing, f"/api/v1/invoices/{draft['id']}/issue", {})
        await write(
            billing,
            "/api/v1/payments",
            {"company_id": card["id"], "amount": "50000.00", "received_on": str(today), "bank_reference": "п/п 1"},
        )
        await write(
            billing,
            "/api/v1/deliveries",
            {
                "deal_id": deal["id"],
                "waybill_number": "ТН-501",
                "shipped_on": str(today),
                "items": [{"product_id": str(uuid.uuid4()), "quantity": "1"}],
            },
        )
        await read(billing, "/api/v1/invoices")
        await read(billing, f"/api/v1/invoices/{draft['id']}")
        await read(billing, "/api/v1/payments", company_id=card["id"])
        await read(billing, "/api/v1/deliveries")

        events = {}
        for name, runtime in runtimes.items():
            async with runtime.sessionmaker() as s:
                for row in await s.execute(
                    select(tables.outbox.c.type, tables.outbox.c.headers, tables.outbox.c.payload)
                ):
                    events[f"{name} {row.type} #{len(events)}"] = {
                        "headers": row.headers,
                        "payload": json.loads(row.payload),
                    }
    finally:
        for api in (contacts, deals, billing):
            await api.aclose()
        for runtime in runtimes.values():
            await runtime.stop()

    # The answers and events hold times at all (a walker that saw none would pass on anything).
    assert ISO_TIME.search(json.dumps(answers[f"GET {c}/history"])) and ISO_TIME.search(json.dumps(events))
    assert {"CompanyCreated", "DealOpened", "InvoiceIssued", "PaymentReceived"} <= {k.split()[1] for k in events}
    zoneless = [(request, *found) for request, answer in answers.items() for found in zoneless_times(answer)]
    zoneless += [(event, *found) for event, document in events.items() for found in zoneless_times(document)]
    assert not zoneless, "times without an offset:\n" + "\n".join(" ".join(z) for z in zoneless)
