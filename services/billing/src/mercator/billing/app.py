"""Wiring of the billing service."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
from fastapi import FastAPI

from mercator.billing import api, consumers, invoices
from mercator.billing.days import today
from mercator.billing.settings import BillingSettings
from mercator.common.http.app import create_app
from mercator.common.runtime import Runtime

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"
log = logging.getLogger(__name__)


async def overdue_sweep(runtime: Runtime, settings: BillingSettings) -> None:
    """Marks invoices overdue as their due dates pass (InvoiceOverdue once each)."""
    while True:
        try:
            if not runtime.quiesced:
                async with runtime.uow() as uow:
                    await invoices.mark_overdue(uow, today(settings.time_zone))
                    await uow.commit()
                # An alert fires when this stops moving (the sweep failing or not running at all).
                runtime.metrics.task_last_success.labels("overdue_sweep").set_to_current_time()
        except Exception as exc:  # the next sweep tries again; nothing is half-done (one transaction)
            runtime.metrics.task_failures.labels("overdue_sweep").inc()
            log.warning("overdue sweep failed: %r", exc)
        await asyncio.sleep(settings.overdue_check_seconds)


def build_app(
    settings: BillingSettings | None = None,
    runtime: Runtime | None = None,
    deals_http: httpx.AsyncClient | None = None,
    contacts_http: httpx.AsyncClient | None = None,
) -> FastAPI:
    settings = settings or BillingSettings()
    runtime = runtime or Runtime(settings, consumers={"deals": consumers.DEALS, "contacts": consumers.CONTACTS})
    runtime.metrics.task("overdue_sweep")
    runtime.background.append(lambda: overdue_sweep(runtime, settings))
    app = create_app(
        runtime,
        title="Mercator billing",
        routers=[api.router],
        description="Contracts, invoices, payments, deliveries (waybills), receivables.",
    )
    if deals_http is None:  # made here, so closed with the app; a client handed in belongs to the caller
        deals_http = httpx.AsyncClient(base_url=settings.deals_url)
        app.state.closing.append(deals_http)
    app.state.deals_http = deals_http
    if contacts_http is None:  # made here, so closed with the app; a client handed in belongs to the caller
        contacts_http = httpx.AsyncClient(base_url=settings.contacts_url)
        app.state.closing.append(contacts_http)
    app.state.contacts_http = contacts_http
    return app
