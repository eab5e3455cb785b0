"""Wiring of the analytics service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from mercator.analytics import api, consumers, jobs
from mercator.analytics.settings import AnalyticsSettings
from mercator.common.http.app import create_app
from mercator.common.runtime import Runtime

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"
# One consumer group per publishing service: analytics follows every business event.
CONSUMERS = {
    "contacts": consumers.CONTACTS,
    "deals": consumers.DEALS,
    "billing": consumers.BILLING,
    "gateway": consumers.GATEWAY,
}


def build_app(settings: AnalyticsSettings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or AnalyticsSettings()
    runtime = runtime or Runtime(settings, consumers=CONSUMERS)
    runtime.background.append(lambda: jobs.inactivity_watch(runtime, settings))
    # Reports write their own CSV (a report is rarely one flat list); the common export would refuse most.
    app = create_app(
        runtime,
        title="Mercator analytics",
        routers=api.ROUTERS,
        description="Read models of the business events and the reports built on them.",
        export_skip=lambda path: path.startswith("/api/v1/reports/"),
    )
    return app
