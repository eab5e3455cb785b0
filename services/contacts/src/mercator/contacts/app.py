"""Wiring of the contacts service."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from mercator.common.http.app import create_app
from mercator.common.runtime import Runtime
from mercator.contacts import api, consumers, marketing_api
from mercator.contacts.imports import api as import_api
from mercator.contacts.imports import reading, run
from mercator.contacts.settings import ContactsSettings

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"


def build_app(
    settings: ContactsSettings | None = None,
    runtime: Runtime | None = None,
    deals_http: httpx.AsyncClient | None = None,
) -> FastAPI:
    settings = settings or ContactsSettings()
    runtime = runtime or Runtime(settings, consumers=consumers.CONSUMERS)
    runtime.background.append(lambda: run.runner(runtime, lambda: app.state.deals_http))
    # Marketing and import routes first: `/api/v1/{dictionary}` would otherwise take them.
    app = create_app(
        runtime,
        title="Mercator contacts",
        routers=[marketing_api.router, import_api.router, api.router],
        description="Client cards, contact persons, history, scheduled meetings, dictionaries, "
        "marketing events, imports.",
    )
    if deals_http is None:  # made here, so closed with the app; a client handed in belongs to the caller
        deals_http = httpx.AsyncClient(base_url=settings.deals_url)
        app.state.closing.append(deals_http)
    app.state.deals_http = deals_http
    app.state.closing.append(reading.of(runtime))  # its readers still at work are killed at the stop
    return app
