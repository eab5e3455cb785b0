"""One active relay per service: a PostgreSQL advisory lock, or a file lock beside a SQLite file."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class RelayLock:
    async def acquire(self) -> bool:  # True while this process holds the lock
        raise NotImplementedError

    async def release(self) -> None:
        raise NotImplementedError


class AdvisoryLock(RelayLock):
    """Session-level advisory lock, held by a dedicated connection for as long as it lives."""

    def __init__(self, engine: AsyncEngine, name: str):
        self._engine = engine
        self._key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        self._conn: AsyncConnection | None = None

    async def acquire(self) -> bool:
        if self._conn is not None:
            try:
                await self._conn.execute(text("SELECT 1"))
                return True
            except Exception:
                await self.release()
        conn = await self._engine.connect()
        try:
            got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key})).scalar()
            await conn.commit()
        except Exception:
            await conn.close()
            raise
        if got:
            self._conn = conn
            return True
        await conn.close()
        return False

    async def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.close()  # closing the session releases the lock


class FileLock(RelayLock):
    def __init__(self, path: Path):
        self._path = path
        self._fd: int | None = None

    async def acquire(self) -> bool:
        if self._fd is not None:
            return True
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def relay_lock(engine: AsyncEngine, url: str, service: str, purpose: str = "relay") -> RelayLock:
    """The lock one process of `service` holds to do `purpose` alone (the outbox relay, the import runner)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            return FileLock(Path(f"/tmp/mercator-{service}-{os.getpid()}.{purpose}.lock"))
        return FileLock(Path(database + f".{purpose}.lock"))
    return AdvisoryLock(engine, f"mercator-{purpose}-{service}")
