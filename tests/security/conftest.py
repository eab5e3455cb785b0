"""The security findings' test kit: a gateway on its own SQLite file, as `make run` has it (one connection)."""

import asyncio
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from mercator.common.migrate import upgrade
from mercator.common.runtime import Runtime
from mercator.gateway import schemas, service
from mercator.gateway.app import build_app
from mercator.gateway.settings import GatewaySettings

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Correct-horse-42"


@pytest.fixture
def cheap_hashing(monkeypatch):
    """argon2 at its lowest cost: the same code paths, a hundred times faster."""
    monkeypatch.setattr(service, "HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
async def gateway_app(tmp_path):
    """The gateway app (no broker, no services behind it) with an admin and a manager."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    await asyncio.to_thread(upgrade, url, ROOT / "services/gateway/migrations")
    settings = GatewaySettings(database_url=url, relay_enabled=False, consumers_enabled=False,
                               kafka_bootstrap="127.0.0.1:9", admin_email=None, admin_password=None)
    runtime = Runtime(settings)
    app = build_app(settings, runtime)
    for name, email, roles in (("Admin", "admin@example.com", ["admin"]), ("Anna", "anna@example.com", ["manager"])):
        async with runtime.uow() as uow:
            await service.create_user(uow, schemas.UserCreate(name=name, email=email, password=PASSWORD,
                                                              roles=roles))
    yield app
    await runtime.engine.dispose()
