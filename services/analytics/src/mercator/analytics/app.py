"""Wiring of the analytics service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from mercator.analytics import api, consumers
from mercator.analytics.settings import AnalyticsSettings
from mercator.common.http.app import create_app
from mercator.common.runtime import Runtime

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"


def build_app(settings: AnalyticsSettings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or AnalyticsSettings()
    runtime = runtime or Runtime(settings, consumers={"contacts": consumers.CONTACTS})
    app = create_app(runtime, title="Mercator analytics", routers=[api.router],
                     description="Read models of the business events and the reports built on them.")
    return app
