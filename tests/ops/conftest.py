"""Whole Mercator stacks for the operations tests: every installed service as its own process on
its own PostgreSQL database, one shared Tansu broker, replicas on demand."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mercator.common.devrun import SERVICES, installed
from mercator.common.testing.broker import free_port
from mercator.common.testing.processes import sigkill, start_service, wait_http

ADMIN_EMAIL = "ops-admin@example.com"
ADMIN_PASSWORD = "ops-admin-password-0123"


@dataclass
class Replica:
    service: str
    index: int
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None
    ops_port: int | None = None  # the gateway's internal listener

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ops_url(self) -> str:
        """Where its probes, /metrics and /ops answer."""
        return f"http://127.0.0.1:{self.ops_port}" if self.ops_port else self.url

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"


@dataclass
class Stack:
    """`replicas` processes of each service sharing the service's database; the first replica
    of each is the address the others are given."""

    postgres: object
    bootstrap: str
    logs: Path
    names: tuple[str, ...] = tuple(n for n in SERVICES if installed(n))
    replicas: int = 1
    prefix: str = field(default_factory=lambda: f"ops{uuid.uuid4().hex[:8]}.")
    extra_env: dict[str, str] = field(default_factory=dict)
    members: dict[str, list[Replica]] = field(default_factory=dict)
    admin_email: str = ADMIN_EMAIL
    admin_password: str = ADMIN_PASSWORD

    def url(self, service: str) -> str:
        return self.members[service][0].url

    def all(self) -> list[Replica]:
        return [r for rs in self.members.values() for r in rs]

    async def start(self) -> Stack:
        self.logs.mkdir(parents=True, exist_ok=True)
        ports = {(n, i): free_port() for n in self.names for i in range(self.replicas)}
        first = {n: f"http://127.0.0.1:{ports[(n, 0)]}" for n in self.names}
        for name in self.names:
            database = await self.postgres.create(name)
            p = f"MERCATOR_{name.upper()}_"
            for i in range(self.replicas):
                env = {
                    p + "DATABASE_URL": database,
                    p + "HTTP_HOST": "127.0.0.1",
                    p + "HTTP_PORT": str(ports[(name, i)]),
                    p + "KAFKA_BOOTSTRAP": self.bootstrap,
                    p + "TOPIC_PREFIX": self.prefix,
                    p + "JSON_LOGS": "true",
                    p + "LOG_LEVEL": "INFO",
                    p + "ADMIN_EMAIL": ADMIN_EMAIL,
                    p + "ADMIN_PASSWORD": ADMIN_PASSWORD,
                    **{f"{p}{o.upper()}_URL": u for o, u in first.items() if o != name},
                    **{k.replace("{P}", p): v for k, v in self.extra_env.items()},
                }
                ops_port = free_port() if name == "gateway" else None
                if ops_port:
                    env[p + "OPS_PORT"] = str(ops_port)
                self.members.setdefault(name, []).append(
                    Replica(name, i, ports[(name, i)], env, self.logs / f"{name}-{i}.log", ops_port=ops_port)
                )
        # The first replica of each service migrates its database; the others start after it.
        for wave in range(self.replicas):
            for rs in self.members.values():
                self.launch(rs[wave])
            for rs in self.members.values():
                await self.wait(rs[wave])
        return self

    def launch(self, replica: Replica) -> None:
        replica.proc = start_service(replica.service, replica.env, replica.log)

    async def wait(self, replica: Replica, timeout: float = 120) -> None:
        await asyncio.to_thread(wait_http, f"{replica.url}/healthz", timeout, replica.proc)

    def kill(self, replica: Replica) -> None:
        if replica.proc is not None:
            sigkill(replica.proc)

    def stop(self) -> None:
        for r in self.all():
            if r.proc is not None and r.proc.poll() is None:
                sigkill(r.proc)

    def log_records(self, replica: Replica) -> list[dict | str]:
        """Each line of the replica's log: the JSON object, or the raw line if it is not JSON."""
        out: list[dict | str] = []
        for line in replica.log.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append(line)
        return out


@pytest.fixture(scope="module")
async def stack(postgres, tansu, tmp_path_factory):
    """Every installed service, one replica each, for the module's tests."""
    # Billing's overdue sweep every 5 s instead of hourly, so its metric moves during the test.
    s = Stack(
        postgres,
        tansu.bootstrap,
        tmp_path_factory.mktemp("stack") / "logs",
        extra_env={"{P}OVERDUE_CHECK_SECONDS": "5"},
    )
    try:
        yield await s.start()
    finally:
        s.stop()


@pytest.fixture
async def make_stack(postgres, tansu, tmp_path):
    """Starts stacks of the test's own shape: `await make_stack(names=(...), replicas=2)`."""
    made: list[Stack] = []

    async def make(**shape) -> Stack:
        s = Stack(postgres, tansu.bootstrap, tmp_path / "logs", **shape)
        made.append(s)
        return await s.start()

    yield make
    for s in made:
        s.stop()
