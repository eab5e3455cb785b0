"""Wiring of the deals service."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from mercator.common.http.app import create_app
from mercator.common.runtime import Runtime
from mercator.deals import api, consumers
from mercator.deals.settings import DealsSettings

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"


def build_app(
    settings: DealsSettings | None = None,
    runtime: Runtime | None = None,
    contacts_http: httpx.AsyncClient | None = None,
) -> FastAPI:
    settings = settings or DealsSettings()
    runtime = runtime or Runtime(
        settings, consumers={"contacts": consumers.CONTACTS, "gateway": consumers.GATEWAY, "billing": consumers.BILLING}
    )
    app = create_app(
        runtime,
        title="Mercator deals",
        routers=[api.router],
        description="Pipelines and stages, deals from first contact to won or lost, offers, proposals, "
        "the product catalogue.",
    )
    if contacts_http is None:  # made here, so closed with the app; a client handed in belongs to the caller
        contacts_http = httpx.AsyncClient(base_url=settings.contacts_url)
        app.state.closing.append(contacts_http)
    app.state.contacts_http = contacts_http
    return app
