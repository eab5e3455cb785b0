"""Whole service processes for end-to-end and fault tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx


def wait_http(url: str, timeout: float = 60, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def start_service(name: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """`python -m mercator.<name> serve` in its own session, output appended to `log`."""
    return _start([sys.executable, "-m", f"mercator.{name}", "serve"], env, log)


# Every part `make run` starts, each on a port of its own.
RUN_PARTS = ("broker", "gateway", "gateway_ops", "contacts", "deals", "billing", "notifications", "analytics")


def run_ports() -> dict[str, int]:
    """A free loopback port for every part of `make run`, so runs side by side do not meet."""
    from mercator.common.testing.broker import free_port

    return {part: free_port() for part in RUN_PARTS}


def run_env(data_dir: Path, ports: dict[str, int], **settings: str) -> dict[str, str]:
    """The environment of `make run` on those ports with its data under `data_dir`; `settings` are more
    MERCATOR_* variables (e.g. MERCATOR_RUN_DEMO="false")."""
    return {
        **os.environ,
        "MERCATOR_RUN_DATA_DIR": str(data_dir),
        **{f"MERCATOR_RUN_{part.upper()}_PORT": str(port) for part, port in ports.items()},
        **settings,
    }


def start_run(env: dict[str, str], log: Path) -> subprocess.Popen:
    """`make run`'s launcher (python -m mercator.common.devrun) in its own session, output appended to `log`."""
    return _start([sys.executable, "-m", "mercator.common.devrun"], env, log)


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:  # the child holds its own copy
        return subprocess.Popen(
            command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def sigkill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def sigkill_pids(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
