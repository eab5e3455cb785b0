"""Wiring of the analytics service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request

from mercator.analytics import api, consumers, domain
from mercator.analytics.settings import AnalyticsSettings
from mercator.common.http.app import create_app
from mercator.common.http.errors import problem
from mercator.common.runtime import Runtime

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"


def build_app(settings: AnalyticsSettings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or AnalyticsSettings()
    runtime = runtime or Runtime(settings, consumers={"contacts": consumers.CONTACTS})
    app = create_app(runtime, title="Mercator analytics", routers=[api.router],
                     description="Read models of the business events and the reports built on them.")

    @app.exception_handler(domain.InvalidValue)
    async def _invalid(_: Request, exc: domain.InvalidValue):
        errors = [{"field": exc.field, "message": exc.message}] if exc.field else None
        return problem(422, "Invalid request", exc.message, errors=errors, rule=exc.rule)

    return app
