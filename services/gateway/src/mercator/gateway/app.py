"""Wiring of the gateway."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware

from mercator.common.http.app import create_app
from mercator.common.runtime import Runtime
from mercator.gateway import (
    admin_api,
    auth_api,
    composition,
    openapi,
    passwords,
    proxy,
    throttle,
    users,
    web,
)
from mercator.gateway.headers import SecurityHeadersMiddleware
from mercator.gateway.settings import GatewaySettings

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"
log = logging.getLogger(__name__)


def build_app(
    settings: GatewaySettings | None = None,
    runtime: Runtime | None = None,
    transports: dict[str, httpx.AsyncBaseTransport] | None = None,
) -> FastAPI:
    settings = settings or GatewaySettings()
    runtime = runtime or Runtime(settings)

    async def first_admin() -> None:
        async with runtime.uow() as uow:
            made = await users.ensure_first_admin(uow, settings)
            await uow.commit()
            if made:
                log.warning("created the first admin %s from the settings", settings.admin_email)

    runtime.background.append(first_admin)
    # The catch-all proxy goes after the gateway's own routes; the web app's files after every API route.
    app = create_app(
        runtime,
        title="Mercator",
        routers=[
            auth_api.router,
            admin_api.router,
            composition.router,
            openapi.router,
            web.live_router,
            proxy.router,
            web.static_router,
        ],
        description="The public API of Mercator: sign-in, users and roles, the client card, and every "
        "service's resources under /api/v1.",
        export_skip=proxy.forwarded_path,
    )
    app.state.upstreams = proxy.Upstreams(settings, transports)
    app.state.sign_in_guard = throttle.SignInGuard(settings)
    passwords.bound_password_checks(settings.password_checks_at_once)
    app.state.public_openapi = openapi.Cached()
    web.install(app, runtime, settings)
    # Between the gateway and a browser or phone on a real network the board's 5,000 cards (1.1 MB of JSON)
    # travel as 0.15 MB; the live stream (text/event-stream) is never buffered for it.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=5)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["ETag", "Location", "X-Request-ID"],
        )
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: CORS preflights and edge refusals carry them too
    return app
