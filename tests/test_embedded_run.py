"""The embedded run (`make run`): SIGKILL everything midway, run it again, every read model is complete."""

import asyncio
import os
import signal
import socket
import time

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
