"""Gateway benchmark: a read through the gateway beside the same read sent straight to the service.

    .venv/bin/python bench/gateway.py [--n 2000] [--concurrency 16] [--warmup 200] [--rounds 1] [--broker]

In one run, against real processes on free loopback ports (SQLite files in a temp dir):

- contacts: `python -m mercator.contacts serve`;
- gateway: `python -m mercator.gateway serve`, its MERCATOR_GATEWAY_CONTACTS_URL pointing at contacts,
  the first admin created from MERCATOR_GATEWAY_ADMIN_EMAIL / ADMIN_PASSWORD, its per-caller rate limit
  raised out of the way (the default, 300/minute, would answer most of the run with 429).

The admin signs in (POST /api/v1/auth/token), creates a manager, who signs in and opens a client card
through the gateway. Then C workers (one httpx client, one keep-alive connection each) send N
`GET /api/v1/companies/{id}` of that card:

1. direct: to contacts, with a service token minted for the same manager (mint_token, the default secret);
2. gateway: to the gateway with the manager's public token (authentication, rate limit, a minted
   forwarded token, the hop to contacts, the answer copied back).

Both get the same warm-up first, outside the clock. Every answer must be 200. `--rounds R` repeats the
pair R times (direct, gateway, then gateway, direct, ...) and adds the rounds up. No broker is needed for
reads: the services start without one, their relays and consumers off; with `--broker`, or when a service
will not start without one, a Tansu broker is started too and the relays and consumers are on.

Everything it starts is removed at the end, also on Ctrl-C, SIGTERM or an error. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from bus import (  # the bus benchmark's helpers (and its sniffio fix)
    HOST,
    TOKEN_SECRET,
    cpu_snapshot,
    pct,
    say,
)

from mercator.common.auth import Caller, mint_token
from mercator.common.settings import ServiceSettings
from mercator.common.testing.broker import TansuBroker, free_port

TARGET_RATIO = 0.5
ADMIN_EMAIL, ADMIN_PASSWORD = "bench-admin@mercator.test", "Bench-admin-2718"
MANAGER_EMAIL, MANAGER_PASSWORD = "bench-manager@mercator.test", "Bench-manager-3141"
RATE_LIMIT = "100000000/minute"


# --- what the bench starts, and removes whatever happens ---------------------------------------------


@dataclass
class Started:
    tmp: Path
    broker: TansuBroker | None = None
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def log(self, name: str) -> Path:
        return self.tmp / f"{name}.log"

    def diagnose(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                say(f"{name} (pid {proc.pid}) exited with {proc.returncode}")
            tail = self.log(name).read_text(errors="replace")[-2000:].strip() if self.log(name).exists() else ""
            if tail:
                say(f"end of {name}.log:\n{tail}")

    def stop_services(self) -> None:
        for proc in self.procs.values():  # all asked at once, then waited for
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
        self.procs.clear()

    def cleanup(self) -> None:
        self.stop_services()
        if self.broker is not None:
            self.broker.kill()
            self.broker = None
        shutil.rmtree(self.tmp, ignore_errors=True)


def start(started: Started, name: str, port: int, bootstrap: str, env: dict[str, str]) -> str:
    prefix = f"MERCATOR_{name.upper()}_"
    settings = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{started.tmp / f'{name}.db'}",
        "HTTP_HOST": HOST,
        "HTTP_PORT": str(port),
        "KAFKA_BOOTSTRAP": bootstrap,
        "TOPIC_PREFIX": f"bench{uuid.uuid4().hex[:8]}.",
        "TOKEN_SECRET": TOKEN_SECRET,
        "PUBLIC_TOKEN_SECRET": TOKEN_SECRET[::-1],
        "JSON_LOGS": "false",
        "LOG_LEVEL": "WARNING",
        **env,
    }
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **{prefix + k: v for k, v in settings.items()}}
    with open(started.log(name), "ab") as log:
        started.procs[name] = subprocess.Popen(
            [sys.executable, "-m", f"mercator.{name}", "serve"],
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return f"http://{HOST}:{port}"


class WontStart(RuntimeError):
    pass


async def wait_healthy(started: Started, name: str, base: str, timeout: float = 60) -> None:
    proc = started.procs[name]
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1) as http:
        while True:
            if proc.poll() is not None:
                raise WontStart(
                    f"{name} exited with {proc.returncode} while starting:\n"
                    f"{started.log(name).read_text(errors='replace')[-3000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{base}/healthz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise WontStart(
                    f"{name} did not answer within {timeout:.0f} s:\n"
                    f"{started.log(name).read_text(errors='replace')[-3000:]}"
                )
            await asyncio.sleep(0.1)


async def start_both(started: Started, bootstrap: str | None) -> tuple[str, str]:
    """Contacts, then the gateway in front of it. Without a broker (`bootstrap` None) their relays and
    consumers are off: they would only retry a dead port, and spend 10 s at exit trying to publish."""
    bus = {} if bootstrap else {"RELAY_ENABLED": "false", "CONSUMERS_ENABLED": "false"}
    bootstrap = bootstrap or f"{HOST}:{free_port()}"  # nothing listens there
    contacts = start(started, "contacts", free_port(), bootstrap, bus)
    gateway = start(
        started,
        "gateway",
        free_port(),
        bootstrap,
        {
            "CONTACTS_URL": contacts,
            "ADMIN_EMAIL": ADMIN_EMAIL,
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "ADMIN_NAME": "Bench Admin",
            "RATE_LIMIT": RATE_LIMIT,
            **bus,
        },
    )
    await asyncio.gather(wait_healthy(started, "contacts", contacts), wait_healthy(started, "gateway", gateway))
    return contacts, gateway


# --- setting the scene -----------------------------------------------------------------------------------


async def sign_in(http: httpx.AsyncClient, email: str, password: str, timeout: float = 30) -> str:
    """A public access token; the first admin is created in the background at start, so it is waited for."""
    deadline = time.monotonic() + timeout
    while True:
        r = await http.post(
            "/api/v1/auth/token", data={"username": email, "password": password, "grant_type": "password"}
        )
        if r.status_code == 200:
            return r.json()["access_token"]
        if time.monotonic() > deadline:
            raise RuntimeError(f"sign-in as {email} answered {r.status_code}: {r.text[:500]}")
        await asyncio.sleep(0.2)


def _ok(r: httpx.Response, status: int, what: str) -> dict:
    if r.status_code != status:
        raise RuntimeError(f"{what} answered {r.status_code}: {r.text[:500]}")
    return r.json()


async def scene(gateway: str) -> tuple[str, str, Caller]:
    """(the manager's public token, a client card's id, the manager as a caller)."""
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as http:
        admin = await sign_in(http, ADMIN_EMAIL, ADMIN_PASSWORD)
        _ok(
            await http.post(
                "/api/v1/users",
                headers={"Authorization": f"Bearer {admin}"},
                json={
                    "name": "Bench Manager",
                    "email": MANAGER_EMAIL,
                    "password": MANAGER_PASSWORD,
                    "roles": ["manager"],
                },
            ),
            201,
            "POST /api/v1/users",
        )
        token = await sign_in(http, MANAGER_EMAIL, MANAGER_PASSWORD)
        auth = {"Authorization": f"Bearer {token}"}
        me = _ok(await http.get("/api/v1/me", headers=auth), 200, "GET /api/v1/me")
        card = _ok(
            await http.post(
                "/api/v1/companies", headers=auth, json={"name": "ООО «Бенчмарк»", "persons": [{"name": "Иван Петров"}]}
            ),
            201,
            "POST /api/v1/companies",
        )
    caller = Caller(
        uuid.UUID(me["id"]),
        me["name"],
        frozenset(me["roles"]),
        uuid.UUID(me["department_id"]) if me.get("department_id") else None,
    )
    return token, card["id"], caller


# --- the measurement ----------------------------------------------------------------------------------------


async def read_many(clients: list[httpx.AsyncClient], path: str, n: int) -> tuple[list[float], float]:
    """n GETs by one worker per client; (latencies, wall seconds)."""
    latencies: list[float] = []
    left = iter(range(n))

    async def worker(http: httpx.AsyncClient) -> None:
        for _ in left:
            t = time.perf_counter()
            r = await http.get(path)
            latencies.append(time.perf_counter() - t)
            if r.status_code != 200:
                raise RuntimeError(f"GET {http.base_url}{path} answered {r.status_code}: {r.text[:500]}")

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(http) for http in clients))
    return latencies, time.perf_counter() - t0


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def add(self, latencies: list[float], seconds: float, cpu: dict[str, float]) -> None:
        self.latencies += latencies
        self.seconds += seconds
        for k, v in cpu.items():
            self.cpu[k] = self.cpu.get(k, 0.0) + v


def _cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    used = {k: after[k] - before[k] for k in before if k != "machine"}
    used["all else"] = max(0.0, after["machine"] - before["machine"] - sum(used.values()))
    return used


async def bench(args, started: Started) -> dict:
    bootstrap = None
    if args.broker:
        started.broker = TansuBroker(log_path=started.tmp / "broker.log").start()
        bootstrap = started.broker.bootstrap
    try:
        contacts, gateway = await start_both(started, bootstrap)
    except WontStart as exc:
        if started.broker is not None:
            raise
        say(f"a service would not start without a broker ({str(exc).splitlines()[0]}); again with Tansu")
        started.stop_services()
        started.broker = TansuBroker(log_path=started.tmp / "broker.log").start()
        contacts, gateway = await start_both(started, started.broker.bootstrap)
    say(
        f"contacts on {contacts}, gateway on {gateway}"
        + (f", Tansu on {started.broker.bootstrap}" if started.broker else ", no broker")
    )
    token, company_id, caller = await scene(gateway)
    service_token = mint_token(ServiceSettings(token_secret=TOKEN_SECRET), caller)
    path = f"/api/v1/companies/{company_id}"

    pids = {"contacts": started.procs["contacts"].pid, "gateway": started.procs["gateway"].pid, "bench (client)": None}
    if started.broker is not None:
        pids["tansu broker"] = started.broker.proc.pid
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    runs = {"direct": Run(), "gateway": Run()}
    async with contextlib.AsyncExitStack() as stack:

        def clients(base: str, bearer: str) -> list:
            return [
                httpx.AsyncClient(
                    base_url=base, headers={"Authorization": f"Bearer {bearer}"}, timeout=60, limits=limits
                )
                for _ in range(args.concurrency)
            ]

        pools = {"direct": clients(contacts, service_token), "gateway": clients(gateway, token)}
        for pool in pools.values():
            for http in pool:
                await stack.enter_async_context(http)
        for pool in pools.values():  # warm-up: connections, imports, caches, SQLite pages
            await read_many(pool, path, args.warmup)
        order = ["direct", "gateway"]
        for round_ in range(args.rounds):
            for name in order if round_ % 2 == 0 else order[::-1]:
                say(f"{name}: {args.n:,} GET {path} with {args.concurrency} workers ...")
                before = cpu_snapshot(pids)
                latencies, seconds = await read_many(pools[name], path, args.n)
                runs[name].add(latencies, seconds, _cpu_used(before, cpu_snapshot(pids)))
    return {"runs": runs, "company_id": company_id, "broker": started.broker is not None}


def report(args, result: dict, load_before: float) -> None:
    runs = result["runs"]
    w = 34
    lines = [
        "",
        f"Mercator gateway benchmark — {HOST}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"load average before the run {load_before:.2f}",
        f"GET /api/v1/companies/{{id}} of one client card, C={args.concurrency}, N={args.n:,} x {args.rounds} "
        f"round(s), warm-up {args.warmup}, SQLite, {'with' if result['broker'] else 'no'} broker",
        "-" * 78,
    ]
    for name, label in (("direct", "direct to contacts"), ("gateway", "through the gateway")):
        run = runs[name]
        lines.append(
            f"{label:<{w}} {run.rate:>9,.0f} req/s   p50 {pct(run.latencies, 50) * 1000:6.1f} ms   "
            f"p99 {pct(run.latencies, 99) * 1000:6.1f} ms   ({run.seconds:.2f} s)"
        )
        lines.append(
            "  CPU (s, and % of one core over the run): "
            + ", ".join(f"{k} {v:.2f} s {100 * v / run.seconds:.0f} %" for k, v in run.cpu.items() if v > 0.005)
        )
    ratio = runs["gateway"].rate / runs["direct"].rate
    added = pct(runs["gateway"].latencies, 50) - pct(runs["direct"].latencies, 50)
    lines += [
        "-" * 78,
        f"{'ratio gateway / direct':<{w}} {ratio:>9.3f}        target >= {TARGET_RATIO}: "
        f"{'MET' if ratio >= TARGET_RATIO else 'NOT MET'}   (p50 added by the hop: {added * 1000:.1f} ms)",
    ]
    print("\n".join(lines), flush=True)


async def run(args, started: Started) -> None:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # also when started with SIGINT ignored (`cmd &`)
        loop.add_signal_handler(sig, task.cancel)
    load_before = os.getloadavg()[0]
    result = await bench(args, started)
    report(args, result, load_before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A read through the gateway beside the same read sent to contacts.")
    parser.add_argument("--n", type=int, default=2000, help="timed GETs per target and round (default 2000)")
    parser.add_argument("--concurrency", "-c", type=int, default=16, help="concurrent workers (default 16)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed GETs per target first (default 200)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="direct/gateway pairs, alternating the order, added up (default 1)"
    )
    parser.add_argument("--broker", action="store_true", help="start a Tansu broker for the services too")
    args = parser.parse_args(argv)
    if min(args.n, args.concurrency, args.warmup, args.rounds) < 1:
        parser.error("--n, --concurrency, --warmup and --rounds must be at least 1")
    started = Started(tmp=Path(tempfile.mkdtemp(prefix="mercator-bench-gw-")))
    try:
        asyncio.run(run(args, started))
        return 0
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted")
        return 130
    except BaseException:
        started.diagnose()
        raise
    finally:
        say("cleaning up")
        started.cleanup()


if __name__ == "__main__":
    sys.exit(main())
