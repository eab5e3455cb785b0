"""The security findings' test kit: a service on its own SQLite file, as `make run` has it (one connection), and
events fed through a service's real handlers."""

import asyncio
from importlib import import_module
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from mercator.common.migrate import upgrade
from mercator.common.runtime import Runtime
from mercator.common.testing import kit
from mercator.gateway import passwords, schemas, users

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Correct-horse-42"


@pytest.fixture
def cheap_hashing(monkeypatch):
    """argon2 at its lowest cost: the same code paths, a hundred times faster."""
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
async def service_app(tmp_path):
    """`await service_app("contacts", **settings)`: (settings, runtime, app) of a service on its own migrated SQLite
    file, nothing started (no broker, no relay, no consumers); disposed after the test."""
    runtimes: list[Runtime] = []

    async def make(name: str, **overrides):
        url = f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"
        await asyncio.to_thread(upgrade, url, ROOT / f"services/{name}/migrations")
        settings_class = getattr(import_module(f"mercator.{name}.settings"), f"{name.capitalize()}Settings")
        settings = settings_class(
            **{
                "database_url": url,
                "relay_enabled": False,
                "consumers_enabled": False,
                "kafka_bootstrap": "127.0.0.1:9",
                **overrides,
            }
        )
        runtime = Runtime(settings)
        runtimes.append(runtime)
        return settings, runtime, import_module(f"mercator.{name}.app").build_app(settings, runtime)

    yield make
    for runtime in runtimes:
        await runtime.engine.dispose()


@pytest.fixture
def feed():
    """`await feed(runtime, handlers, payload)`: an event through the service's real handler, committed as its
    consumer would (`handlers`: event type -> handler, e.g. `consumers.CONTACTS`)."""
    return kit.feed


@pytest.fixture
async def gateway_app(service_app):
    """The gateway app (no broker, no services behind it) with an admin and a manager."""
    _, runtime, app = await service_app("gateway", admin_email=None, admin_password=None)
    for name, email, roles in (("Admin", "admin@example.com", ["admin"]), ("Anna", "anna@example.com", ["manager"])):
        async with runtime.uow() as uow:
            await users.create_user(uow, schemas.UserCreate(name=name, email=email, password=PASSWORD, roles=roles))
            await uow.commit()
    return app
