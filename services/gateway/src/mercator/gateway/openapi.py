"""One OpenAPI document for the whole public API: `GET /api/v1/openapi.json`.

Built from the gateway's own document (sign-in, users, departments, API keys, the client card) and
every service's `/openapi.json`, fetched through the gateway's `Upstreams` (breaker, retry):

- merged by the rules of `openapi_merge`;
- a service that does not answer is left out and named in `x-missing-services`.

The document is cached for a minute (a partial one for a few seconds, so a service that comes back
is soon in it again).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from fastapi import APIRouter, FastAPI, Request, Response

from mercator.common.errors import DomainError
from mercator.gateway.openapi_merge import merge
from mercator.gateway.proxy import Upstreams

log = logging.getLogger(__name__)

SERVICES = ("contacts", "deals", "billing", "notifications", "analytics")
CACHE_SECONDS = 60.0
PARTIAL_CACHE_SECONDS = 5.0


async def fetch(upstreams: Upstreams, service: str) -> dict | None:
    """A service's own document, or None (logged) when it cannot be had."""
    try:
        answer = await upstreams.send(service, "GET", "/openapi.json", headers={"accept": "application/json"})
    except DomainError as exc:
        log.warning("no OpenAPI document from %s: %s", service, exc)
        return None
    if answer.status_code != 200:
        log.warning("no OpenAPI document from %s: it answered %s", service, answer.status_code)
        return None
    try:
        doc = answer.json()
    except ValueError:
        log.warning("no OpenAPI document from %s: not JSON", service)
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        log.warning("no OpenAPI document from %s: not an OpenAPI document", service)
        return None
    return doc


async def build(app: FastAPI) -> dict:
    upstreams: Upstreams = app.state.upstreams
    docs = await asyncio.gather(*(fetch(upstreams, s) for s in SERVICES))
    services = {s: d for s, d in zip(SERVICES, docs, strict=True) if d is not None}
    return merge(app.openapi(), services, [s for s in SERVICES if s not in services])


class Cached:
    """The merged document, serialised, for `seconds` (`partial_seconds` when a service was missing)."""

    def __init__(self, seconds: float = CACHE_SECONDS, partial_seconds: float = PARTIAL_CACHE_SECONDS):
        self.seconds, self.partial_seconds = seconds, partial_seconds
        self.body: bytes | None = None
        self.complete = False
        self.expires = 0.0
        self._lock = asyncio.Lock()

    def fresh(self) -> bool:
        return self.body is not None and time.monotonic() < self.expires

    async def get(self, app: FastAPI) -> bytes:
        if self.body is not None and self.fresh():
            return self.body
        async with self._lock:  # one rebuild at a time; the others wait for it
            if self.body is None or not self.fresh():
                doc = await build(app)
                body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
                self.body, self.complete = body, not doc["x-missing-services"]
                self.expires = time.monotonic() + (self.seconds if self.complete else self.partial_seconds)
                return body
            return self.body

    def max_age(self) -> int:
        return int(self.seconds if self.complete else self.partial_seconds)

    def clear(self) -> None:
        self.body, self.complete, self.expires = None, False, 0.0


router = APIRouter(tags=["openapi"])


@router.get(
    "/api/v1/openapi.json",
    response_class=Response,
    summary="The OpenAPI document of the public API",
    responses={
        200: {
            "description": "OpenAPI 3.1; `x-missing-services` names the services that did not answer and are left out",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def public_openapi(request: Request) -> Response:
    """Every public operation: the gateway's own and every service's routed through it. No sign-in needed."""
    cache: Cached = request.app.state.public_openapi
    body = await cache.get(request.app)
    return Response(
        body, media_type="application/json", headers={"Cache-Control": f"public, max-age={cache.max_age()}"}
    )
