"""The command line every service shares: `python -m mercator.<service> serve|migrate`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI

from mercator.common.logs import configure_logging
from mercator.common.migrate import upgrade
from mercator.common.settings import ServiceSettings


def main(settings: ServiceSettings, build_app: Callable[[ServiceSettings], FastAPI], migrations_dir: Path,
         argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"mercator.{settings.service_name}")
    parser.add_argument("command", choices=["serve", "migrate"], nargs="?", default="serve")
    args = parser.parse_args(argv)
    configure_logging(settings.service_name, settings.log_level, settings.json_logs)
    upgrade(settings.database_url, migrations_dir)
    if args.command == "migrate":
        return
    import uvicorn

    uvicorn.run(build_app(settings), host=settings.http_host, port=settings.http_port, log_config=None,
                access_log=False, timeout_graceful_shutdown=15)
