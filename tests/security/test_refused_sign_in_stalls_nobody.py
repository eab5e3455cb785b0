"""A refused request lets go of the database before its audit row is written.

On SQLite the gateway has one connection. A sign-in with a wrong password (or a made-up refresh token,
or the revocation of a key that does not exist) had read the database in its unit of work and still held
that connection when the audit row asked for one: the refusal waited out the pool's 60-second timeout,
the audit entry was lost, and every other sign-in and write through the gateway waited behind it."""

import asyncio
import uuid

from sqlalchemy import select

from mercator.common.testing.api import client
from mercator.gateway.tables import AuditEntry

PASSWORD = "Correct-horse-42"  # the test kit's (conftest.py)

# A hang guard, not a speed limit: the bug made each of these wait 60 s for the pool.
HANG = 20


async def audit_rows(app) -> list[AuditEntry]:
    async with app.state.runtime.sessionmaker() as s:
        return list((await s.execute(select(AuditEntry).order_by(AuditEntry.at))).scalars())


async def test_a_wrong_password_is_refused_at_once_and_audited(gateway_app):
    async with client(gateway_app) as anon:
        wrong = await asyncio.wait_for(
            anon.post("/api/v1/auth/token", data={"username": "admin@example.com", "password": "a typo"}), HANG
        )
        assert wrong.status_code == 401
        # Meanwhile nobody else was held up: the right password signs in.
        right = await asyncio.wait_for(
            anon.post("/api/v1/auth/token", data={"username": "admin@example.com", "password": PASSWORD}), HANG
        )
        assert right.status_code == 200, right.text
    assert [(r.path, r.status) for r in await audit_rows(gateway_app)] == [
        ("/api/v1/auth/token", 401),
        ("/api/v1/auth/token", 200),
    ]


async def test_a_made_up_refresh_token_and_an_unknown_key_are_refused_at_once_and_audited(gateway_app):
    async with client(gateway_app) as anon:
        r = await asyncio.wait_for(anon.post("/api/v1/auth/refresh", json={"refresh_token": "made-up"}), HANG)
        assert r.status_code == 401
        token = (
            await anon.post("/api/v1/auth/token", data={"username": "admin@example.com", "password": PASSWORD})
        ).json()["access_token"]
        r = await asyncio.wait_for(
            anon.post(f"/api/v1/api-keys/{uuid.uuid4()}/revoke", headers={"Authorization": f"Bearer {token}"}), HANG
        )
        assert r.status_code == 404
    statuses = [
        ("/api/v1/api-keys" if "api-keys" in r.path else r.path, r.status) for r in await audit_rows(gateway_app)
    ]
    assert statuses == [("/api/v1/auth/refresh", 401), ("/api/v1/auth/token", 200), ("/api/v1/api-keys", 404)]
