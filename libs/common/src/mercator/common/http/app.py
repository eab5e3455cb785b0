"""The app factory: every service gets the same edge, errors, health, metrics and ops endpoints."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mercator.common.auth import Caller
from mercator.common.http.deps import RuntimeDep, ops_caller
from mercator.common.http.errors import install_error_handlers
from mercator.common.http.export import ExportMiddleware
from mercator.common.http.idempotency import IdempotencyMiddleware
from mercator.common.http.middleware import EdgeMiddleware
from mercator.common.runtime import Runtime
from mercator.common.settings import refuse_weak_secrets

OpsCaller = Annotated[Caller, Depends(ops_caller)]
health = APIRouter(tags=["ops"])
ops = APIRouter(tags=["ops"])


@health.get("/healthz")
async def healthz() -> dict:
    """The process is alive."""
    return {"status": "ok"}


@ops.get("/livez")
async def livez(runtime: RuntimeDep) -> JSONResponse:
    """Alive while every running consumer's poll loop keeps coming round; a hung one (a handler
    stuck on a lock, a wedged client) answers 503 so the orchestrator restarts the process. The
    broker being away is not a reason: the loop goes on reconnecting."""
    stalled = runtime.liveness()
    if stalled:
        return JSONResponse({"status": "stalled", "consumers": stalled}, status_code=503)
    return JSONResponse({"status": "ok"})


@ops.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Ready when the database answers. The broker is reported too: while it is down the service
    still takes writes (they wait in the outbox), so it is `degraded`, not unready."""
    database = await runtime.database_ok()
    broker = await runtime.broker_ok()
    status = "ready" if database and broker else ("degraded" if database else "unready")
    if runtime.quiesced:
        status = "stopping"
    body = {"status": status, "database": "up" if database else "down", "broker": "up" if broker else "down"}
    return JSONResponse(body, status_code=200 if database and not runtime.quiesced else 503)


@ops.get("/metrics")
async def metrics(runtime: RuntimeDep) -> Response:
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@ops.get("/ops/status")
async def ops_status(runtime: RuntimeDep, _: OpsCaller) -> dict:
    """Outbox backlog and consumer lag: what an orderly shutdown waits for."""
    return await runtime.status()


@ops.post("/ops/quiesce")
async def ops_quiesce(runtime: RuntimeDep, _: OpsCaller) -> dict:
    """Stop taking writes (503 with Retry-After); reads, the relay and consumers go on."""
    runtime.quiesced = True
    return await runtime.status()


def create_app(
    runtime: Runtime,
    *,
    title: str,
    routers: list[APIRouter],
    version: str = "0.1.0",
    description: str = "",
    export_skip: Callable[[str], bool] | None = None,
) -> FastAPI:
    refuse_weak_secrets(runtime.settings)  # whatever starts the app: the command line, uvicorn, a test

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()
            for client in app.state.closing:  # peers' HTTP clients the service made for itself
                await client.aclose()

    app = FastAPI(title=title, version=version, description=description, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.closing = []
    install_error_handlers(app)
    app.include_router(health)
    if runtime.settings.ops_port is None:
        app.include_router(ops)
    else:
        app.state.operations = operations_app(runtime, title)
    for router in routers:
        app.include_router(router)
    app.add_middleware(ExportMiddleware, skip=export_skip)  # innermost: it pages through the routes as JSON
    # Added last = outermost: the edge sees every request first.
    app.add_middleware(IdempotencyMiddleware, settings=runtime.settings, sessionmaker=lambda: runtime.sessionmaker)
    app.add_middleware(EdgeMiddleware, metrics=runtime.metrics, max_body_bytes=runtime.settings.max_body_bytes)
    return app


def operations_app(runtime: Runtime, title: str) -> FastAPI:
    """The internal listener (`ops_port`): probes, metrics and the ops calls, away from a public port. On the
    gateway's public port a token with the ops role could stop every write (POST /ops/quiesce), and anyone
    read the metrics. Served beside the app by the command line; its lifespan is the app's."""
    internal = FastAPI(title=f"{title}: operations", openapi_url=None, docs_url=None, redoc_url=None)
    internal.state.runtime = runtime
    install_error_handlers(internal)
    internal.include_router(health)
    internal.include_router(ops)
    return internal
