from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher

from mercator.common.testing import kit
from mercator.common.testing.api import client, rolled_back_app
from mercator.gateway import passwords, users
from mercator.gateway.app import build_app
from mercator.gateway.settings import GatewaySettings

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
PASSWORD = "Correct-horse-42"


@pytest.fixture(scope="session", autouse=True)
def cheap_hashing():
    """argon2 at its lowest cost: the same code paths, a hundred times faster."""
    real, passwords.HASHER = passwords.HASHER, PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    passwords.HASHER = real


gateway_db = kit.database("gateway", MIGRATIONS)


@pytest.fixture
def settings(gateway_db) -> GatewaySettings:
    return GatewaySettings(**kit.quiet(gateway_db.url, admin_email=None, admin_password=None))


@pytest.fixture
def upstream_transports() -> dict:
    """How the gateway reaches the services; tests of routing override this with in-process services."""
    return {}


@pytest.fixture
async def app(settings, gateway_db, upstream_transports):
    async with rolled_back_app(
        settings, gateway_db.engine, lambda s, runtime: build_app(s, runtime, transports=upstream_transports)
    ) as app:
        yield app


@pytest.fixture
def make_user(app):
    """A user straight through the use case (no API), returning the row."""
    from mercator.gateway import schemas

    async def make(
        email: str, roles=("manager",), password: str = PASSWORD, name: str = "Анна Петрова", department_id=None
    ):
        async with app.state.runtime.uow() as uow:
            row = await users.create_user(
                uow,
                schemas.UserCreate(
                    name=name, email=email, password=password, roles=list(roles), department_id=department_id
                ),
            )
            await uow.commit()  # as the route's unit of work does
            return row

    return make


@pytest.fixture
async def anon(app):
    async with client(app) as c:
        yield c


@pytest.fixture
def sign_in(anon):
    async def post(email: str, password: str = PASSWORD):
        return await anon.post(
            "/api/v1/auth/token", data={"username": email, "password": password, "grant_type": "password"}
        )

    return post


@pytest.fixture
async def admin_api(app, make_user, sign_in):
    await make_user("admin@mercator.test", roles=("admin",), name="Администратор")
    r = await sign_in("admin@mercator.test")
    assert r.status_code == 200, r.text
    async with client(app, {"Authorization": f"Bearer {r.json()['access_token']}"}) as c:
        yield c


@pytest.fixture
async def manager_api(app, make_user, sign_in):
    """A manager signed in through the gateway, as the web app would be."""
    await make_user("manager@mercator.test", roles=("manager",))
    r = await sign_in("manager@mercator.test")
    assert r.status_code == 200, r.text
    async with client(app, {"Authorization": f"Bearer {r.json()['access_token']}"}) as c:
        yield c


@pytest.fixture(scope="module")
async def services(postgres):
    """contacts, deals and billing in-process, each with its own fresh database, talking to each other
    over HTTP as the gateway talks to them (no broker: their relays and consumers are off)."""
    from mercator.billing.app import MIGRATIONS as BILLING
    from mercator.billing.app import build_app as build_billing
    from mercator.billing.settings import BillingSettings
    from mercator.common.runtime import Runtime
    from mercator.common.testing.api import Switch
    from mercator.contacts.app import MIGRATIONS as CONTACTS
    from mercator.contacts.app import build_app as build_contacts
    from mercator.contacts.settings import ContactsSettings
    from mercator.deals.app import MIGRATIONS as DEALS
    from mercator.deals.app import build_app as build_deals
    from mercator.deals.settings import DealsSettings

    off = dict(relay_enabled=False, consumers_enabled=False, kafka_bootstrap="127.0.0.1:9")

    urls = {
        name: await postgres.migrated(name, migrations)
        for name, migrations in (("contacts", CONTACTS), ("deals", DEALS), ("billing", BILLING))
    }
    contacts = build_contacts(s := ContactsSettings(database_url=urls["contacts"], **off), Runtime(s))
    to_contacts = httpx.AsyncClient(transport=Switch(contacts), base_url="http://contacts")
    deals = build_deals(s := DealsSettings(database_url=urls["deals"], **off), Runtime(s), contacts_http=to_contacts)
    to_deals = httpx.AsyncClient(transport=Switch(deals), base_url="http://deals")
    billing = build_billing(
        s := BillingSettings(database_url=urls["billing"], **off),
        Runtime(s),
        deals_http=to_deals,
        contacts_http=to_contacts,
    )
    from mercator.notifications.app import MIGRATIONS as NOTIFICATIONS
    from mercator.notifications.app import build_app as build_notifications
    from mercator.notifications.settings import NotificationsSettings

    urls["notifications"] = await postgres.migrated("notifications", NOTIFICATIONS)
    notifications = build_notifications(
        s := NotificationsSettings(database_url=urls["notifications"], **off), Runtime(s)
    )
    yield {"contacts": contacts, "deals": deals, "billing": billing, "notifications": notifications}
    for app in (contacts, deals, billing, notifications):
        await app.state.runtime.engine.dispose()


@pytest.fixture
def switched_services(services) -> dict:
    """The gateway's way to each in-process service, with a switch to take it down."""
    from mercator.common.testing.api import Switch

    return {name: Switch(app) for name, app in services.items()}


@pytest.fixture(scope="module")
async def analytics_service(postgres):
    """analytics in-process with a fresh database of its own, for the tests that ask for it (test_fuzz.py
    leaves analytics out)."""
    from mercator.analytics.app import MIGRATIONS, build_app
    from mercator.analytics.settings import AnalyticsSettings
    from mercator.common.runtime import Runtime

    settings = AnalyticsSettings(
        database_url=await postgres.migrated("analytics", MIGRATIONS),
        relay_enabled=False,
        consumers_enabled=False,
        kafka_bootstrap="127.0.0.1:9",
    )
    app = build_app(settings, Runtime(settings))
    yield app
    await app.state.runtime.engine.dispose()
