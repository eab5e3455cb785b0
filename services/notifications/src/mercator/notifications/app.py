"""Wiring of the notifications service: routes, consumers, the sender and the morning digest."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from prometheus_client import Counter, Histogram

from mercator.common.clock import now
from mercator.common.http.app import create_app
from mercator.common.runtime import Runtime
from mercator.notifications import api, consumers, digests, rendering, sending
from mercator.notifications.domain import Channel, Outcome
from mercator.notifications.settings import NotificationsSettings
from mercator.notifications.transports import Outgoing, Transports

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"
log = logging.getLogger(__name__)


class Sender:
    """Sends what is due: claims a batch (marked sending), sends it a few at a time, records each outcome
    in its own transaction (with MessageSent or MessageFailed through the outbox)."""

    def __init__(self, runtime: Runtime, settings: NotificationsSettings, transports: Transports | None = None):
        self.runtime, self.settings = runtime, settings
        self.transports = transports or Transports(settings)
        self.wake = asyncio.Event()
        registry = runtime.metrics.registry
        self.attempts = Counter(
            "message_attempts_total",
            "Attempts to send a message, by what came of them (sent, retry, failed)",
            ["channel", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "message_send_seconds",
            "Time one attempt took at the SMTP server or sendfax",
            ["channel"],
            registry=registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        for channel in Channel:  # at zero from the start, so increase() sees the first failure
            self.latency.labels(channel)
            for outcome in ("sent", "retry", "failed"):
                self.attempts.labels(channel, outcome)

    async def run_once(self) -> int:
        async with self.runtime.uow() as uow:
            batch = await sending.claim_due(uow, self.settings)
            await uow.commit()  # marked sending before anything goes out
        if not batch:
            return 0
        gate = asyncio.Semaphore(self.settings.send_concurrency)

        async def one(m: Outgoing) -> None:
            async with gate:
                started = time.perf_counter()
                try:
                    outcome = await self.transports.send(m)
                except Exception as exc:
                    log.exception("sending %s failed", m.id)
                    outcome = Outcome(False, f"{type(exc).__name__}: {exc}")
                self.latency.labels(m.channel).observe(time.perf_counter() - started)
                async with self.runtime.uow() as uow:
                    row = await sending.record_outcome(uow, uuid.UUID(m.id), outcome, self.settings)
                    await uow.commit()
                if row is not None:
                    self.attempts.labels(m.channel, {"sent": "sent", "failed": "failed"}.get(row.status, "retry")).inc()
                if not outcome.ok:
                    log.info("message %s to %s not sent: %s", m.id, m.recipient, outcome.error)

        await asyncio.gather(*(one(m) for m in batch))
        return len(batch)

    async def run(self) -> None:
        while True:
            sent = 0
            try:
                if not self.runtime.quiesced:
                    sent = await self.run_once()
            except Exception as exc:  # the next round tries again: claims and outcomes are each one transaction
                log.warning("sender round failed: %r", exc)
            if sent < self.settings.send_batch_size:  # a full batch: more may be waiting, go on at once
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=self.settings.send_poll_seconds)
                self.wake.clear()


async def digest_job(runtime: Runtime, settings: NotificationsSettings) -> None:
    """From the digest hour on, each manager's digest of the day is made once (keyed by user and date)."""
    while True:
        try:
            local = now().astimezone(ZoneInfo(settings.time_zone))
            if not runtime.quiesced and local.hour >= settings.digest_hour:
                async with runtime.uow() as uow:
                    await digests.make_digests(uow, settings)
                    await uow.commit()
        except Exception as exc:
            log.warning("digest job failed: %r", exc)
        await asyncio.sleep(settings.digest_check_seconds)


def build_app(
    settings: NotificationsSettings | None = None, runtime: Runtime | None = None, transports: Transports | None = None
) -> FastAPI:
    settings = settings or NotificationsSettings()
    runtime = runtime or Runtime(settings, consumers=consumers.handlers(settings))
    sender = Sender(runtime, settings, transports)
    runtime.background.append(sender.run)
    runtime.background.append(lambda: digest_job(runtime, settings))
    app = create_app(
        runtime,
        title="Mercator notifications",
        routers=[api.router],
        description="Templates, documents (PDF), e-mail and fax, meeting reminders, alerts, digests.",
    )
    app.state.sender = sender
    # The render workers start with the service (so the first document does not wait for them) and stop
    # with it.
    renderer = rendering.renderer(settings)
    runtime.background.append(renderer.warm)
    app.state.closing.append(renderer)
    return app
