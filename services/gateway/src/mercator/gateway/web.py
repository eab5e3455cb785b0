"""The web front end: its built files served at `/` (any other path that is no API answers with the app's
index.html, the browser's router takes it from there), and live updates for it: `GET /api/v1/live`, a
server-sent event stream of the events the viewer may see, read from Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, StreamingResponse

from mercator.common.bus.kafka import ensure_topics
from mercator.common.errors import NotFound
from mercator.common.events.envelope import Envelope
from mercator.common.visibility import SEE_ALL
from mercator.gateway.auth_api import PrincipalDep
from mercator.gateway.identity import Principal
from mercator.gateway.proxy import Unavailable, forwarded_headers
from mercator.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

# --- the built app ---------------------------------------------------------------------------------

static_router = APIRouter()
# Served on the operations listener (ops_port), never as the web app's page on the public port.
_OPERATIONS = {"metrics", "livez", "readyz", "ops"}


def dist_dir(settings: GatewaySettings) -> Path:
    return Path(settings.web_dist).resolve()


@static_router.get("/{path:path}", include_in_schema=False)
async def web_app(path: str, request: Request):
    if path == "api" or path.startswith("api/") or path.split("/", 1)[0] in _OPERATIONS:
        raise NotFound(f"no resource /{path}")  # not the app's page: a probe or a scraper must see it is not here
    dist = dist_dir(request.app.state.runtime.settings)
    index = dist / "index.html"
    if not index.is_file():
        raise NotFound("the web front end is not built: `make web` builds it into web/dist")
    wanted = (dist / path).resolve() if path else index
    if wanted.is_file() and wanted.is_relative_to(dist):
        # Vite names every asset by its content's hash: such a file never changes, anything else may.
        immutable = path.startswith("assets/")
        return FileResponse(
            wanted, headers={"Cache-Control": "public, max-age=31536000, immutable" if immutable else "no-cache"}
        )
    if "." in path.rsplit("/", 1)[-1]:
        raise NotFound(f"no file /{path}")  # a missing script or image is a 404, not the app's page
    return FileResponse(index, headers={"Cache-Control": "no-cache"})


# --- live updates ----------------------------------------------------------------------------------

# What changes an open board, client card or invoice list; the stream carries only the type and the ids
# (the screen fetches what it shows through the API, where every service applies its own rules).
LIVE_TYPES = (
    "DealOpened",
    "DealUpdated",
    "DealStageChanged",
    "DealInterestRated",
    "DealWon",
    "DealLost",
    "DealReopened",
    "PriceOffered",
    "OfferAccepted",
    "ProposalSent",
    "CompanyCreated",
    "CompanyUpdated",
    "CompanyReassigned",
    "CompanyMerged",
    "ActivityLogged",
    "MeetingScheduled",
    "MeetingRescheduled",
    "MeetingCompleted",
    "MeetingCancelled",
    "InvoiceIssued",
    "InvoiceCancelled",
    "InvoiceCredited",
    "InvoicePaid",
    "InvoiceOverdue",
    "PaymentReceived",
    "DeliveryShipped",
    "DeliveryDelivered",
)

# Which service answers "may this caller see it?" for an event, by the most specific id it carries.
_OWNERS = (
    ("deal_id", "deals", "/api/v1/deals/{}"),
    ("invoice_id", "billing", "/api/v1/invoices/{}"),
    ("company_id", "contacts", "/api/v1/companies/{}"),
)


class LiveFeed:
    """Reads the live event types from Kafka (no consumer group, from the newest offset: a screen that
    was not open needs no history, and one that reconnects fetches afresh) and hands each event to every
    open stream. Nothing here is a record of anything, so there is no inbox and no offset to commit."""

    def __init__(self, settings: GatewaySettings):
        self.settings = settings
        self.streams: set[asyncio.Queue] = set()
        self.connected = asyncio.Event()

    async def run(self) -> None:
        topics = [f"{self.settings.topic_prefix}{t}" for t in LIVE_TYPES]
        pause = 1.0
        while True:
            consumer = None
            try:
                await ensure_topics(
                    self.settings.kafka_bootstrap,
                    topics,
                    self.settings.topic_partitions,
                    client_id="gateway-live-admin",
                )
                consumer = AIOKafkaConsumer(
                    bootstrap_servers=self.settings.kafka_bootstrap,
                    group_id=None,
                    auto_offset_reset="latest",
                    enable_auto_commit=False,
                    client_id="gateway-live",
                )
                await consumer.start()
                # Pin every partition's end before saying "connected": a subscription resolves "latest"
                # lazily, and an event published in between would be skipped by a screen already listening.
                await consumer.topics()
                partitions = [
                    TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())
                ]
                consumer.assign(partitions)
                await consumer.seek_to_end(*partitions)
                for tp in partitions:
                    await consumer.position(tp)
                self.connected.set()
                pause = 1.0
                async for record in consumer:
                    try:
                        envelope = Envelope.from_kafka(record.headers, record.value)
                    except (ValueError, json.JSONDecodeError):
                        continue
                    for queue in list(self.streams):
                        if queue.full():
                            queue.get_nowait()  # a stalled screen loses the oldest hint, not the feed
                        queue.put_nowait(envelope)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker is down or restarting: try again, quietly
                log.debug("live feed interrupted: %s", exc)
            finally:
                self.connected.clear()
                if consumer is not None:
                    with contextlib.suppress(Exception):
                        await consumer.stop()
            await asyncio.sleep(pause)
            pause = min(pause * 2, 30.0)


def _ids(data: dict) -> dict[str, str]:
    return {k: v for k, v in data.items() if k.endswith("_id") and isinstance(v, str)}


class Visibility:
    """Whether one viewer may see one event: their own record or their departments' at once, otherwise
    the owning service is asked with the viewer's identity (a 200 means yes), the answer kept a while."""

    TTL = 30.0

    def __init__(self, request: Request, principal: Principal):
        self.request = request
        self.principal = principal
        self.caller = principal.caller
        self.known: dict[str, tuple[float, bool]] = {}
        self.asking: dict[str, asyncio.Future] = {}
        self.limit = asyncio.Semaphore(8)
        self.identity: tuple[float, dict[str, str]] | None = None

    async def allows(self, data: dict) -> bool:
        if self.caller.roles & SEE_ALL:
            return True
        if data.get("owner_id") == str(self.caller.user_id) and "owner_id" in data:
            return True
        for key, service, path in _OWNERS:
            value = data.get(key)
            if isinstance(value, str):
                return await self._ask(service, path.format(value))
        return False

    async def _ask(self, service: str, path: str) -> bool:
        now = time.monotonic()
        hit = self.known.get(path)
        if hit and now - hit[0] < self.TTL:
            return hit[1]
        # Several events of one record in a batch share one question; at most a few are asked at once.
        pending = self.asking.get(path)
        if pending is None:
            pending = self.asking[path] = asyncio.ensure_future(self._fetch(service, path))
            pending.add_done_callback(lambda _f: self.asking.pop(path, None))
        return await asyncio.shield(pending)

    async def _headers(self) -> dict[str, str]:
        # One forwarded identity serves the questions of a while (it is good for forwarded_token_seconds).
        settings: GatewaySettings = self.request.app.state.runtime.settings
        now = time.monotonic()
        if self.identity is None or now - self.identity[0] > settings.forwarded_token_seconds / 2:
            self.identity = (now, await forwarded_headers(self.request, self.principal, settings))
        return self.identity[1]

    async def _fetch(self, service: str, path: str) -> bool:
        async with self.limit:
            now = time.monotonic()
            try:
                answer = await self.request.app.state.upstreams.send(
                    service, "GET", path, headers=await self._headers()
                )
                seen = answer.status_code == 200
            except Exception:
                seen = False
        self.known[path] = (now, seen)
        return seen


live_router = APIRouter(prefix="/api/v1")
LIVE_BATCH = 200


# Not in the OpenAPI document: a stream that never ends is no request-and-answer operation to fuzz or
# generate a client for; the front end reads it with fetch (README, "Live updates").
@live_router.get("/live", include_in_schema=False)
async def live(request: Request, principal: PrincipalDep) -> StreamingResponse:
    """Live updates for open screens (server-sent events). The stream ends when the access token would
    expire; the client reconnects with a fresh one. Events missed while disconnected are not replayed:
    a client refreshes what it shows when it reconnects."""
    feed: LiveFeed | None = getattr(request.app.state, "live_feed", None)
    if feed is None:
        raise Unavailable("live updates are off in this gateway", headers={"Retry-After": "60"})
    settings: GatewaySettings = request.app.state.runtime.settings
    queue: asyncio.Queue = asyncio.Queue(maxsize=1000)
    visibility = Visibility(request, principal)
    until = time.monotonic() + settings.access_token_minutes * 60

    async def stream() -> AsyncIterator[bytes]:
        feed.streams.add(queue)
        try:
            yield b"retry: 2000\nevent: hello\ndata: {}\n\n"
            while time.monotonic() < until:
                try:
                    first: Envelope = await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                # Under a flood (an import, the demo filler) one look-up per event, one after another, would
                # leave the screen minutes behind: what has queued up is judged together, concurrently.
                batch = [first]
                while not queue.empty() and len(batch) < LIVE_BATCH:
                    batch.append(queue.get_nowait())
                payloads = [envelope.payload() for envelope in batch]
                seen = await asyncio.gather(*(visibility.allows(data) for data in payloads))
                for envelope, data, ok in zip(batch, payloads, seen, strict=False):
                    if ok:
                        body = json.dumps({"type": envelope.type, **_ids(data)}, separators=(",", ":"))
                        yield f"id: {envelope.id}\nevent: {envelope.type}\ndata: {body}\n\n".encode()
        finally:
            feed.streams.discard(queue)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


def install(app, runtime, settings: GatewaySettings) -> None:
    """The live feed runs where the gateway reads the bus (not in tests that run it without a broker)."""
    if settings.consumers_enabled and settings.live_updates:
        feed = LiveFeed(settings)
        app.state.live_feed = feed
        runtime.background.append(feed.run)
