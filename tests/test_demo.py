"""`make run` on an empty install fills it with the demo company through the gateway, and every report of the
head of sales, marketing and the CEO has something to show: two years of it, month by month."""

import asyncio
import signal
import subprocess
import sys

import httpx
import pytest

from mercator.common.devrun import SERVICES
from mercator.common.testing.bus import until
from mercator.common.testing.dead_letters import assert_nothing_dead_lettered
from mercator.common.testing.processes import run_env, run_ports, sigkill_pids, start_run, wait_http

pytestmark = [pytest.mark.broker, pytest.mark.e2e, pytest.mark.slow]
SCALE = "0.04"  # 12 managers x 2 client cards, 12 x 7 deals: the demo's own rounding
CARDS, DEALS = 24, 84

ADMIN, PASSWORD = "admin@demo.example", "a long demo passphrase"


# Seventeen Argon2 sign-ups and sign-ins and about two thousand requests through the gateway on SQLite: minutes on a
# busy 2-core machine, more than the suite's default limit.
@pytest.mark.timeout(1200)
async def test_an_empty_install_is_filled_with_the_demo_company(tmp_path):
    ports = run_ports()
    env = run_env(
        tmp_path / "var",
        ports,
        MERCATOR_RUN_DEMO_SCALE=SCALE,
        MERCATOR_GATEWAY_ADMIN_EMAIL=ADMIN,
        MERCATOR_GATEWAY_ADMIN_PASSWORD=PASSWORD,
    )
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    demo_log = tmp_path / "var" / "logs" / "demo.log"
    launcher = start_run(env, tmp_path / "run.log")
    try:
        for name in ("gateway", "analytics"):
            await asyncio.to_thread(wait_http, f"http://127.0.0.1:{ports[name]}/healthz", 120, launcher)

        async def demo_done():
            return demo_log.exists() and "demo: done" in demo_log.read_text()

        assert await until(demo_done, timeout=600, every=2), demo_log.read_text() if demo_log.exists() else "no log"
        async with httpx.AsyncClient(base_url=gateway, timeout=30) as anon:
            token = (await anon.post("/api/v1/auth/token", data={"username": ADMIN, "password": PASSWORD})).json()
        async with httpx.AsyncClient(
            base_url=gateway, timeout=30, headers={"Authorization": f"Bearer {token['access_token']}"}
        ) as api:
            won = (await api.get("/api/v1/deals", params={"status": "won", "limit": 200})).json()["items"]
            assert won, "the demo won no deal"

            async def caught_up():
                # Every deal and every win in the read models, not merely the first ones: the reports below look at
                # how they spread over the months (waiting for one win, a slow projection showed one month).
                # The results by manager read the month aggregates, which follow the facts when each deal's events,
                # one topic per type, have all arrived: they are waited for too.
                funnel = (await api.get("/api/v1/reports/funnel")).json()
                by_manager = (await api.get("/api/v1/reports/results", params={"by": "manager"})).json()["rows"]
                return (
                    funnel.get("first_contacts") == DEALS
                    and funnel.get("won", 0) >= len(won)
                    and sum(r["won"] for r in by_manager) >= len(won)
                )

            assert await until(caught_up, timeout=120, every=1), (await api.get("/api/v1/reports/funnel")).text
            workload = (await api.get("/api/v1/reports/workload")).json()["rows"]
            assert len([r for r in workload if r["clients"]]) == 12  # a dozen managers, each with clients
            assert len((await api.get("/api/v1/departments")).json()["items"]) == 4  # sales and its three
            losses = (await api.get("/api/v1/reports/losses")).json()
            assert losses["team_lost"] > 0 and losses["team"][0]["reason"]
            assert len({(r["reason"], r["stage"]) for r in losses["team"]}) > 1  # reasons differ by stage
            assert (await api.get("/api/v1/reports/results", params={"by": "product"})).json()["rows"]
            # Two years of history, not one day: deals were opened, lost and won in many months ...
            opened = {t["at"][:7] for t in await deals_opened(api)}
            assert len(opened) >= 12, sorted(opened)
            closed = (await api.get("/api/v1/reports/results", params={"by": "manager"})).json()["rows"]
            duration = (await api.get("/api/v1/reports/deal-duration", params={"by": "manager"})).json()
            assert len({r["period"] for r in closed}) >= 2, closed
            # ... and took days, not seconds, at each stage and from first contact to close.
            assert duration["all"]["lost"]["mean_days"] > 1 and duration["all"]["won"]["mean_days"] > 1
            assert all(s["mean_days"] > 0 for s in duration["stages"]), duration["stages"]

            # Late payers: debts past due, beyond the "current" bucket.
            async def overdue():
                rows = (await api.get("/api/v1/reports/receivables", params={"by": "manager"})).json()["rows"]
                return sum(float(v) for r in rows for b, v in r["ageing"].items() if b != "current") > 0

            assert await until(overdue, timeout=60, every=1), (
                await api.get("/api/v1/reports/receivables", params={"by": "manager"})
            ).text
            # The managers brought their own history in; afterwards they work in the present like anyone.
            users = (await api.get("/api/v1/users", params={"limit": 100})).json()["items"]
            managers = [u for u in users if "manager" in u["roles"]]
            assert len(managers) == 12 and all(u["roles"] == ["manager"] for u in managers)
            events = (await api.get("/api/v1/reports/marketing-events")).json()["rows"]
            assert (
                len(events) == 5
                and sum(
                    e["participants"]["invited"] + e["participants"]["attended"] + e["participants"]["responded"]
                    for e in events
                )
                > 0
            )
            regions = (await api.get("/api/v1/reports/segments", params={"by": "region"})).json()["rows"]
            assert sum(r["clients"] for r in regions) == CARDS
            # The demo fills an empty install only: asked again, it leaves the company as it is.
            again = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "mercator.demo", "--gateway", gateway],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert again.returncode == 0 and "empty install only" in again.stdout, again.stdout + again.stderr
        # Two years of an ordinary company's work: no fact of it may be one a service could not read.
        await assert_nothing_dead_lettered(
            {name: f"sqlite+aiosqlite:///{tmp_path / 'var' / f'{name}.db'}" for name in SERVICES},
            f"127.0.0.1:{ports['broker']}",
        )
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(90) == 0
    finally:
        if launcher.poll() is None:
            pidfile = tmp_path / "var" / "run.pids"
            pids = [int(p) for p in pidfile.read_text().split()] if pidfile.exists() else []
            sigkill_pids([launcher.pid, *pids])


async def deals_opened(api: httpx.AsyncClient) -> list[dict]:
    """Every deal's opening, as the deals service kept it (all pages)."""
    out, cursor = [], None
    while True:
        page = (await api.get("/api/v1/deals", params={"limit": 200, **({"cursor": cursor} if cursor else {})})).json()
        out += [{"at": d["opened_at"]} for d in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            return out
