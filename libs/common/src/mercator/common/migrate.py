"""Alembic, shared: each service's `migrations/env.py` calls `run_env`, its CLI calls `upgrade`."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from alembic import __version__ as alembic_version
from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.ext.asyncio import create_async_engine

from mercator.common.db import is_sqlite

# Alembic 1.16 renamed the option that says how version_locations is split.
_SEPARATOR_OPTION = (
    "path_separator" if tuple(int(p) for p in alembic_version.split(".")[:2]) >= (1, 16) else "version_path_separator"
)
# The bus tables' migrations, shared by every service (their own Alembic branch, "bus").
BUS_MIGRATIONS = Path(__file__).resolve().parent / "bus" / "migrations"


def alembic_config(database_url: str, migrations_dir: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option(_SEPARATOR_OPTION, "os")
    cfg.set_main_option("version_locations", os.pathsep.join([str(migrations_dir / "versions"), str(BUS_MIGRATIONS)]))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, migrations_dir: Path, revision: str = "heads") -> None:
    """Blocking; from async code run it in a thread (env.py runs its own event loop)."""
    if is_sqlite(database_url):
        from sqlalchemy.engine import make_url

        database = make_url(database_url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url, migrations_dir), revision)


def run_env(target_metadata: list[MetaData]) -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None, "alembic_config() always sets sqlalchemy.url"
    sqlite = is_sqlite(url)
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=sqlite)
        with context.begin_transaction():
            context.run_migrations()
        return

    def do_run(connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=sqlite)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run())
