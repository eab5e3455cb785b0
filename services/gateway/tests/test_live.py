"""Live updates under a flood: the events that queued up while a screen's stream was busy are judged
together, one question per record, a few at a time — not one after another, minutes behind."""

import asyncio
import uuid
from types import SimpleNamespace

from mercator.common.auth import Caller
from mercator.gateway import web


class CountingUpstreams:
    """Answers "may this caller see it?" after a pause, and counts the questions and how many overlapped."""

    def __init__(self, hidden: set[str]):
        self.hidden = hidden
        self.asked: list[str] = []
        self.now = self.most = 0

    async def send(self, service, method, path, headers):
        self.asked.append(path)
        self.now += 1
        self.most = max(self.most, self.now)
        await asyncio.sleep(0.02)
        self.now -= 1
        return SimpleNamespace(status_code=404 if path.rsplit("/", 1)[1] in self.hidden else 200)


def viewer(upstreams) -> web.Visibility:
    settings = SimpleNamespace(forwarded_token_seconds=60)
    request = SimpleNamespace(
        app=SimpleNamespace(state=SimpleNamespace(upstreams=upstreams, runtime=SimpleNamespace(settings=settings)))
    )
    caller = Caller(uuid.uuid4(), "Helen Sidorova", frozenset({"head"}))
    return web.Visibility(request, SimpleNamespace(caller=caller))


async def test_a_burst_of_events_asks_once_per_record_and_several_at_a_time(monkeypatch):
    async def identity(request, principal, settings):
        return {"authorization": "Bearer forwarded"}

    monkeypatch.setattr(web, "forwarded_headers", identity)
    deals = [str(uuid.uuid4()) for _ in range(20)]
    upstreams = CountingUpstreams(hidden=set(deals[:5]))
    visibility = viewer(upstreams)
    burst = [{"deal_id": d, "owner_id": str(uuid.uuid4())} for d in deals for _ in range(3)]

    seen = await asyncio.gather(*(visibility.allows(data) for data in burst))

    assert sorted(upstreams.asked) == sorted(f"/api/v1/deals/{d}" for d in deals)  # one question per deal
    assert 1 < upstreams.most <= 8
    assert seen == [d not in deals[:5] for d in deals for _ in range(3)]
    # Asked again within the while: the kept answer, no new question.
    assert await visibility.allows(burst[0]) is False and len(upstreams.asked) == 20
