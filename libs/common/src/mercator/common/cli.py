"""The command line every service shares: `python -m mercator.<service> serve|migrate`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from mercator.common.logs import configure_logging
from mercator.common.migrate import upgrade
from mercator.common.settings import ServiceSettings, WeakSecret, refuse_weak_secrets

S = TypeVar("S", bound=ServiceSettings)


def main(
    settings: S,
    build_app: Callable[[S], FastAPI],
    migrations_dir: Path,
    argv: list[str] | None = None,
) -> None:
    parser = argparse.ArgumentParser(prog=f"mercator.{settings.service_name}")
    parser.add_argument("command", choices=["serve", "migrate"], nargs="?", default="serve")
    args = parser.parse_args(argv)
    configure_logging(settings.service_name, settings.log_level, settings.json_logs)
    try:
        if args.command == "serve":  # a migration signs nothing
            refuse_weak_secrets(settings)
    except WeakSecret as exc:
        print(f"mercator.{settings.service_name}: refusing to start: {exc}", file=sys.stderr)
        sys.exit(2)
    upgrade(settings.database_url, migrations_dir)
    if args.command == "migrate":
        return
    app = build_app(settings)
    # What the imports made lives as long as the process: frozen, the collector stops walking it
    # again and again, and with a larger first generation it runs far less often under the many
    # short-lived objects of a busy request or relay turn. Together a quarter less CPU per event
    # and much shorter stalls of the event loop (bench/bus.py: the relay's lag on SQLite).
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=15,
        )
    )
    operations = getattr(app.state, "operations", None)
    if operations is None or settings.ops_port is None:
        server.run()
        return
    internal = _Beside(
        uvicorn.Config(
            operations,
            host=settings.ops_host,
            port=settings.ops_port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )

    async def both() -> None:
        beside = asyncio.create_task(internal.serve())
        try:
            await server.serve()
        finally:  # the app drained and stopped (SIGTERM or Ctrl-C): the probes and metrics go with it
            internal.should_exit = True
            await beside

    with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:  # uvloop, as server.run() has
        runner.run(both())


class _Beside(uvicorn.Server):
    """The operations listener: it leaves the signals to the app's server, which stops it after itself."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield
