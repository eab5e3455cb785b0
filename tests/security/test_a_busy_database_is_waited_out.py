"""A database busy for a few seconds is waited out, not dead-lettered.

Consumer retries gave up after about 0.75 s for any error: a burst of lock timeouts (or a PostgreSQL restart)
sent business facts to the DLQ, where only a manual replay brought them back. Now a database that is busy or away
for a moment (a lock timeout, a deadlock, SQLite's "database is locked", a lost connection, the pool exhausted) is
waited out with backoff for up to `consumer_transient_retry_seconds` (a minute); a broken handler still goes to
the DLQ after its few attempts (libs/common/tests/test_bus.py)."""

import time

import pytest

from mercator.common.runtime import Runtime
from mercator.common.testing.bus import (
    activity,
    bus_settings,
    count_it,
    create_bus_database,
    projection,
    projector,
    until,
)
from mercator.common.testing.dead_letters import assert_nothing_dead_lettered

pytestmark = [pytest.mark.postgres, pytest.mark.broker]


@pytest.fixture(params=["postgresql", "sqlite"])
async def bus_db(request, postgres, tmp_path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/bus.db" if request.param == "sqlite" else await postgres.create("bus")
    await create_bus_database(url)
    return url


async def projected(runtime, n):
    return len(await projection(runtime)) >= n


async def test_a_database_busy_for_seconds_is_waited_out_not_dead_lettered(bus_db, tansu):
    """A burst of lock timeouts outlasted the few quick retries (under a second in all) and needed a manual
    replay from the DLQ; now a database that is busy or away for a moment is waited out."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    busy_until = None
    tries = 0

    async def behind_a_lock(uow, delivery):
        nonlocal tries, busy_until
        tries += 1
        busy_until = busy_until or time.monotonic() + 2.5  # from the first try: joining the group takes seconds
        if time.monotonic() < busy_until:
            if tries % 2:
                raise OperationalError("INSERT ...", {}, Exception("database is locked"))
            lock_timeout = type("Orig", (Exception,), {"sqlstate": "55P03"})("canceling statement due to lock timeout")
            raise DBAPIError("UPDATE ...", {}, lock_timeout)
        await count_it(uow, delivery)

    publisher = Runtime(bus_settings(bus_db, tansu.bootstrap))
    reader = projector(bus_db, tansu.bootstrap, publisher.settings.topic_prefix, handler=behind_a_lock)
    await publisher.start()
    await reader.start()
    try:
        async with publisher.uow() as uow:
            event = uow.emit(activity(summary="while locked"), subject="busy-key", sequence=1)
            await uow.commit()
        assert await until(lambda: projected(reader, 1), timeout=60)
        assert set(await projection(reader)) == {event.id}
        assert tries > reader.settings.consumer_max_attempts, "it kept trying past the attempts for a broken handler"
        await assert_nothing_dead_lettered({"reader": bus_db}, tansu.bootstrap, publisher.settings.topic_prefix)
    finally:
        await reader.stop()
        await publisher.stop()
