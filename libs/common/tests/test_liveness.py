"""/livez: a consumer whose loop stops coming round (a handler hung) makes the process not alive."""

import asyncio

import httpx
import pytest

from mercator.common.http.app import create_app
from mercator.common.runtime import Runtime
from mercator.common.testing.bus import bus_settings, count_it, until, write_events

pytestmark = [pytest.mark.postgres, pytest.mark.broker]


async def test_livez_answers_503_naming_the_consumer_whose_handler_hangs(bus_db, projection_db, tansu):
    release = asyncio.Event()
    first_call = asyncio.Event()

    async def hangs_until_released(uow, delivery):
        first_call.set()
        await release.wait()
        await count_it(uow, delivery)

    publisher = Runtime(bus_settings(bus_db, tansu.bootstrap))
    settings = bus_settings(
        projection_db,
        tansu.bootstrap,
        topic_prefix=publisher.settings.topic_prefix,
        service_name="projector",
        liveness_poll_stale_seconds=2.0,
    )
    reader = Runtime(settings, consumers={"projection": {"ActivityLogged": hangs_until_released}})
    app = create_app(reader, title="projector", routers=[])
    await publisher.start()
    await reader.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://projector") as api:
            assert await until(lambda: asyncio.sleep(0, reader.consumers[0].assigned.is_set()), timeout=60)
            # Idle but polling: alive, however long nothing comes.
            await asyncio.sleep(3)
            assert (await api.get("/livez")).status_code == 200

            await write_events(publisher, 1)
            await asyncio.wait_for(first_call.wait(), 30)

            async def stalled():
                return (await api.get("/livez")).status_code == 503

            assert await until(stalled, timeout=10)
            body = (await api.get("/livez")).json()
            assert body["status"] == "stalled" and list(body["consumers"]) == [reader.consumers[0].name]
            assert body["consumers"][reader.consumers[0].name] >= 2.0

            release.set()  # the handler finishes: the loop comes round again

            async def alive():
                return (await api.get("/livez")).status_code == 200

            assert await until(alive, timeout=10)
            metrics = (await api.get("/metrics")).text
            assert f'consumer_last_poll_timestamp_seconds{{consumer="{reader.consumers[0].name}"}}' in metrics
    finally:
        release.set()
        await reader.stop()
        await publisher.stop()
