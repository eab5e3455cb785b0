"""The embedded run (`make run`): SIGKILL everything midway, run it again, every read model is complete."""

import asyncio
import os
import signal
import socket
import time
import uuid

import httpx
import pytest

from mercator.common.testing.bus import until
from mercator.common.testing.processes import run_env, run_ports, sigkill_pids, start_run, wait_http

pytestmark = [pytest.mark.broker, pytest.mark.e2e]


async def up(launcher, *urls):
    for url in urls:
        await asyncio.to_thread(wait_http, f"{url}/healthz", 120, launcher)


async def write(api: httpx.AsyncClient, companies: list[str], activities: list[str], n: int, tag: str):
    """Opens n client cards with two history entries each; keeps what was acknowledged."""
    for i in range(n):
        try:
            r = await api.post("/api/v1/companies", json={"name": f"{tag} клиент {i}"})
            if r.status_code != 201:
                continue
            companies.append(r.json()["id"])
            for kind in ("call", "meeting"):
                r = await api.post(f"/api/v1/companies/{companies[-1]}/history", json={"kind": kind, "summary": tag})
                if r.status_code == 201:
                    activities.append(r.json()["id"])
        except httpx.HTTPError:
            return  # the service was killed under us


async def test_sigkill_everything_midway_then_run_again_and_every_read_model_is_complete(tmp_path, token):
    ports = run_ports()
    env = run_env(tmp_path / "var", ports)
    contacts = f"http://127.0.0.1:{ports['contacts']}"
    analytics = f"http://127.0.0.1:{ports['analytics']}"
    headers = {"Authorization": f"Bearer {token}"}
    companies: list[str] = []
    activities: list[str] = []

    launcher = start_run(env, tmp_path / "run.log")
    try:
        await up(launcher, contacts, analytics)
        async with httpx.AsyncClient(base_url=contacts, headers=headers, timeout=10) as api:
            await write(api, companies, activities, 10, "до")
            # Kill everything while writes are still coming in: service, relay, consumer and broker alike.
            writer = asyncio.create_task(write(api, companies, activities, 1000, "во время"))
            await asyncio.sleep(0.5)
            pids = [int(p) for p in (tmp_path / "var" / "run.pids").read_text().split()]
            sigkill_pids([launcher.pid, *pids])
            await writer
        launcher.wait(10)
        assert len(companies) > 10, "no write was in flight when everything was killed"

        launcher = start_run(env, tmp_path / "run.log")  # the broker comes back empty
        await up(launcher, contacts, analytics)
        async with httpx.AsyncClient(base_url=contacts, headers=headers, timeout=10) as api:
            await write(api, companies, activities, 5, "после")
            # The source of truth: what contacts holds (it may hold a write whose answer was lost).
            truth = (await api.get("/api/v1/companies", params={"limit": 200})).json()["items"]
        truth_ids = {c["id"] for c in truth}
        assert set(companies) <= truth_ids

        async with httpx.AsyncClient(base_url=analytics, headers=headers, timeout=10) as reports:

            async def complete():
                base = (await reports.get("/api/v1/reports/client-base", params={"by": "status"})).json()
                acts = (await reports.get("/api/v1/reports/activity", params={"by": "company"})).json()
                return base.get("total") == len(truth_ids) and acts.get("total", 0) >= len(activities)

            assert await until(complete, timeout=120, every=0.5), "analytics never caught up with contacts"
            rows = (await reports.get("/api/v1/reports/activity", params={"by": "company"})).json()["rows"]
            assert {r["key"] for r in rows} <= truth_ids

        launcher.send_signal(signal.SIGINT)  # an orderly stop this time
        assert launcher.wait(90) == 0
        assert not (tmp_path / "var" / "run.pids").exists()
    finally:
        if launcher.poll() is None:
            pidfile = tmp_path / "var" / "run.pids"
            pids = [int(p) for p in pidfile.read_text().split()] if pidfile.exists() else []
            sigkill_pids([launcher.pid, *pids])


def port_free(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return False
    except OSError:
        return True


def test_sigkill_of_the_launcher_alone_takes_its_broker_and_services_with_it(tmp_path):
    ports = run_ports()
    env = run_env(tmp_path / "var", ports, MERCATOR_RUN_DEMO="false")
    pidfile = tmp_path / "var" / "run.pids"
    launcher = start_run(env, tmp_path / "run.log")
    pids: list[int] = []
    try:
        wait_http(f"http://127.0.0.1:{ports['gateway']}/healthz", 120, launcher)
        pids = [int(p) for p in pidfile.read_text().split()]
        os.kill(launcher.pid, signal.SIGKILL)  # the launcher only: each child is in a session of its own
        launcher.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not all(port_free(p) for p in ports.values()):
            time.sleep(0.1)
        assert [part for part, port in ports.items() if not port_free(port)] == []

        # And a second run on the same ports starts and answers.
        launcher = start_run(env, tmp_path / "run.log")
        wait_http(f"http://127.0.0.1:{ports['gateway']}/healthz", 120, launcher)
        pids += [int(p) for p in pidfile.read_text().split()]
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(90) == 0
    finally:
        if launcher.poll() is None:
            pids += [int(p) for p in pidfile.read_text().split()] if pidfile.exists() else []
            sigkill_pids([launcher.pid])
        sigkill_pids(pids)


@pytest.mark.postgres
async def test_make_run_on_postgresql_keeps_each_service_in_a_database_of_its_own(tmp_path, token, postgres):
    import asyncpg

    from mercator.common.devrun import SERVICES
    from mercator.common.testing.plugin import PG_ADMIN_DSN

    prefix = f"mercator_test_run_{uuid.uuid4().hex[:8]}"
    ports = run_ports()
    server = PG_ADMIN_DSN.rsplit("/", 1)[0]  # the server, without a database: the launcher picks its own
    env = run_env(
        tmp_path / "var",
        ports,
        MERCATOR_RUN_DEMO="false",
        MERCATOR_RUN_POSTGRES=server,
        MERCATOR_RUN_POSTGRES_PREFIX=prefix,
    )
    contacts = f"http://127.0.0.1:{ports['contacts']}"
    analytics = f"http://127.0.0.1:{ports['analytics']}"
    headers = {"Authorization": f"Bearer {token}"}
    pidfile = tmp_path / "var" / "run.pids"
    launcher = start_run(env, tmp_path / "run.log")
    try:
        await up(launcher, contacts, analytics)
        async with httpx.AsyncClient(base_url=contacts, headers=headers, timeout=10) as api:
            r = await api.post("/api/v1/companies", json={"name": "Клиент на PostgreSQL"})
            assert r.status_code == 201, r.text
            company = r.json()["id"]

        async with httpx.AsyncClient(base_url=analytics, headers=headers, timeout=10) as reports:

            async def counted():
                base = (await reports.get("/api/v1/reports/client-base", params={"by": "status"})).json()
                return base.get("total") == 1

            assert await until(counted, timeout=60, every=0.5), "analytics never counted the client card"

        # The card is in contacts' own PostgreSQL database, and no service made a SQLite file.
        conn = await asyncpg.connect(f"{server}/{prefix}_contacts")
        try:
            name = await conn.fetchval("SELECT name FROM companies WHERE id::text = $1", company)
        finally:
            await conn.close()
        assert name == "Клиент на PostgreSQL"
        assert list((tmp_path / "var").glob("*.db")) == []
        assert f"/{prefix}_<service>  (PostgreSQL" in (tmp_path / "run.log").read_text()  # the banner says so

        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(90) == 0
        assert not pidfile.exists()
    finally:
        if launcher.poll() is None:
            pids = [int(p) for p in pidfile.read_text().split()] if pidfile.exists() else []
            sigkill_pids([launcher.pid, *pids])
            launcher.wait(10)
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            for service in SERVICES:
                await conn.execute(f'DROP DATABASE IF EXISTS "{prefix}_{service}" WITH (FORCE)')
        finally:
            await conn.close()


def test_make_run_names_the_setting_when_the_postgresql_server_cannot_be_reached(tmp_path):
    from mercator.common.testing.broker import free_port

    ports = run_ports()
    env = run_env(
        tmp_path / "var",
        ports,
        MERCATOR_RUN_DEMO="false",
        MERCATOR_RUN_POSTGRES=f"postgresql://postgres@127.0.0.1:{free_port()}",
    )
    launcher = start_run(env, tmp_path / "run.log")
    try:
        assert launcher.wait(60) == 1
    finally:
        if launcher.poll() is None:
            sigkill_pids([launcher.pid])
    out = (tmp_path / "run.log").read_text()
    assert "cannot start: MERCATOR_RUN_POSTGRES=postgresql://postgres@127.0.0.1:" in out
    assert all(port_free(port) for port in ports.values())  # nothing was started
