"""The gateway's connections to a service: at most `upstream_connections` at once, each reused."""

import asyncio

import httpx
import pytest

from mercator.gateway.proxy import Unavailable, Upstreams
from mercator.gateway.settings import GatewaySettings


class Slow(httpx.AsyncBaseTransport):
    def __init__(self, seconds: float):
        self.seconds, self.busy, self.most = seconds, 0, 0

    async def handle_async_request(self, request):
        self.busy += 1
        self.most = max(self.most, self.busy)
        try:
            await asyncio.sleep(self.seconds)
        finally:
            self.busy -= 1
        return httpx.Response(200, json={"path": request.url.path})


def upstreams(transport, connections: int, timeout: float = 5.0) -> Upstreams:
    settings = GatewaySettings(
        upstream_connections=connections, upstream_timeout_seconds=timeout, database_url="sqlite+aiosqlite:///unused.db"
    )
    return Upstreams(settings, {"contacts": transport})


async def test_requests_beyond_the_connections_wait_and_every_client_is_reused():
    slow = Slow(0.02)
    up = upstreams(slow, connections=3)
    answers = await asyncio.gather(*(up.send("contacts", "GET", f"/api/v1/regions/{i}") for i in range(12)))
    assert [a.json()["path"] for a in answers] == [f"/api/v1/regions/{i}" for i in range(12)]
    assert slow.most == 3 and len(up.clients["contacts"]._all) == 3
    await up.close()


async def test_no_free_connection_in_time_is_a_503():
    up = upstreams(Slow(0.5), connections=1, timeout=0.05)
    first = asyncio.create_task(up.send("contacts", "POST", "/api/v1/companies"))
    await asyncio.sleep(0.01)
    with pytest.raises(Unavailable):
        await up.send("contacts", "POST", "/api/v1/companies")
    assert (await first).status_code == 200
    await up.close()
