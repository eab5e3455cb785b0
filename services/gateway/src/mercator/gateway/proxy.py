"""Routing to the services: the caller's identity forwarded as a short-lived signed token, timeouts,
one retry for safe methods, a circuit breaker per service, per-caller rate limits, an audit row for
every change."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from urllib.parse import quote_from_bytes

import httpx
from fastapi import APIRouter, Request, Response
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from sqlalchemy import select

from mercator.common.auth import Caller, mint_token
from mercator.common.context import current_cause
from mercator.common.errors import (
    NotFound,
    TooManyRequests,
    Unavailable,
)
from mercator.gateway.audit import audit
from mercator.gateway.auth_api import PrincipalDep
from mercator.gateway.identity import Principal, subtree
from mercator.gateway.settings import GatewaySettings
from mercator.gateway.tables import Department

# The first segment after /api/v1 names the resource; the resource names its owning service.
ROUTES: dict[str, str] = {
    **dict.fromkeys(
        ("companies", "regions", "industries", "contact-sources", "history", "meetings", "marketing-events"), "contacts"
    ),
    **dict.fromkeys(("deals", "pipelines", "lost-reasons", "products", "product-groups", "board"), "deals"),
    **dict.fromkeys(("contracts", "invoices", "payments", "deliveries", "receivables", "clients"), "billing"),
    "reports": "analytics",
    **dict.fromkeys(("templates", "documents", "messages"), "notifications"),
    **dict.fromkeys(("bank-statements", "accounting"), "billing"),
    **dict.fromkeys(("imports", "import-mappings"), "contacts"),
}
SAFE = {"GET", "HEAD"}


def forwarded_path(path: str) -> bool:
    """A path the gateway forwards: its service exports it as a file too (`?format=csv`), in one request."""
    parts = path.split("/")
    return len(parts) > 3 and parts[1:3] == ["api", "v1"] and parts[3] in ROUTES


_FORWARDED = {"content-type", "accept", "if-match", "idempotency-key", "accept-language"}
_RETURNED = {"content-type", "etag", "location", "retry-after", "idempotent-replayed"}


class Connections:
    """Keep-alive connections to one service, each in an httpx client of its own; a request takes a free one
    (or opens one, up to `size`, or waits) and gives it back.

    One httpx client with many connections costs more than the request itself: for every request httpcore
    compares each queued request with each connection and polls every idle socket (two fifths of the gateway's
    CPU per forwarded read with 16 callers, measured by bench/gateway.py)."""

    def __init__(self, size: int, make: Callable[[], httpx.AsyncClient], wait_seconds: float):
        self._make = make
        self._wait = wait_seconds
        self._free = asyncio.Semaphore(size)
        self._idle: list[httpx.AsyncClient] = []  # the last given back is taken first: its connection is warm
        self._all: list[httpx.AsyncClient] = []

    async def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            async with asyncio.timeout(self._wait):
                await self._free.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout(f"no free connection within {self._wait} s") from None
        try:
            client = self._idle.pop() if self._idle else self._new()
            try:
                return await client.request(method, path, **kwargs)
            finally:
                self._idle.append(client)
        finally:
            self._free.release()

    def _new(self) -> httpx.AsyncClient:
        client = self._make()
        self._all.append(client)
        return client

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self._all))


class Upstreams:
    """Connections and a circuit breaker per service."""

    def __init__(self, settings: GatewaySettings, transports: dict[str, httpx.AsyncBaseTransport] | None = None):
        self.settings = settings
        transports = transports or {}
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)

        def client(name: str) -> Callable[[], httpx.AsyncClient]:
            return lambda: httpx.AsyncClient(
                base_url=getattr(settings, f"{name}_url"),
                limits=one,
                timeout=settings.upstream_timeout_seconds,
                transport=transports.get(name),
            )

        self.clients = {
            name: Connections(settings.upstream_connections, client(name), settings.upstream_timeout_seconds)
            for name in ("contacts", "deals", "billing", "notifications", "analytics")
        }
        self.breakers = AsyncCircuitBreakerFactory(
            default_threshold=settings.breaker_failures, default_ttl=settings.breaker_reset_seconds
        )
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.limit = parse(settings.rate_limit)

    async def close(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.clients.values()))

    async def send(
        self, service: str, method: str, path: str, *, params=None, headers=None, content: bytes | None = None
    ) -> httpx.Response:
        """Through the service's breaker; a safe request is tried once more after a failure."""
        attempts = 2 if method in SAFE else 1
        for attempt in range(1, attempts + 1):
            try:
                breaker = await self.breakers.get_breaker(service)
                async with breaker:
                    answer = await self.clients[service].request(
                        method, path, params=params, headers=headers, content=content
                    )
                    if answer.status_code in (502, 503, 504):
                        raise httpx.HTTPStatusError("upstream unavailable", request=answer.request, response=answer)
                    return answer
            except OpenedState as exc:
                raise Unavailable(
                    f"{service} is failing; the gateway gives it a moment",
                    headers={"Retry-After": str(int(self.settings.breaker_reset_seconds))},
                ) from exc
            except httpx.HTTPStatusError as exc:
                if attempt == attempts:
                    return exc.response
            except httpx.HTTPError as exc:
                if attempt == attempts:
                    raise Unavailable(
                        f"{service} did not answer: {type(exc).__name__}", headers={"Retry-After": "5"}
                    ) from exc
            await asyncio.sleep(0.05)
        raise AssertionError("unreachable")

    async def check_rate(self, key: str) -> None:
        if not await self.limiter.hit(self.limit, key):
            stats = await self.limiter.get_window_stats(self.limit, key)
            wait = max(1, int(stats.reset_time - time.time()) + 1)
            raise TooManyRequests(f"at most {self.settings.rate_limit} per caller", headers={"Retry-After": str(wait)})


async def visible_departments(request: Request, caller: Caller) -> frozenset[uuid.UUID]:
    """A head sees their department and every one below it; the services get the list in the token."""
    if "head" not in caller.roles or caller.department_id is None:
        return frozenset()
    async with request.app.state.runtime.sessionmaker() as s:
        parents = dict((await s.execute(select(Department.id, Department.parent_id))).all())
    return frozenset(subtree(caller.department_id, parents))


async def forwarded_headers(request: Request, principal: Principal, settings: GatewaySettings) -> dict[str, str]:
    headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED}
    caller = replace(principal.caller, departments=await visible_departments(request, principal.caller))
    token = mint_token(settings, caller, timedelta(seconds=settings.forwarded_token_seconds))
    headers["authorization"] = f"Bearer {token}"
    headers["x-request-id"] = current_cause.get().correlation_id or ""
    return headers


# Kept as sent in the path forwarded: RFC 3986's unreserved and sub-delims, ':', '@', '/' and '%' (escapes stay).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


def upstream_path(request: Request) -> str:
    """The path to send to the service: as the caller encoded it (an escaped `/` or control character
    stays escaped), so the service routes exactly what the gateway checked. A `.` or `..` segment is
    refused: the URL to the service would be resolved to another resource than the one authorised
    (`/api/v1/companies/%2E%2E/meetings` with a `read:companies` key), or outside `/api/v1` altogether."""
    if any(segment in (".", "..") for segment in request.url.path.split("/")):
        raise NotFound(f"no resource {request.url.path}")
    raw = request.scope.get("raw_path") or request.url.path.encode()
    return quote_from_bytes(raw.split(b"?", 1)[0], safe=_PATH_SAFE)


# Kept as sent in the query forwarded: what RFC 3986 allows there, '%' included (escapes stay as the caller wrote them).
_QUERY_SAFE = "/?%:@!$&'()*+,;=-._~"


def upstream_target(request: Request) -> str:
    """The path and the query to send to the service. The query goes as the caller wrote it, not parsed into a
    dict and written again: a dict keeps one value of a repeated parameter (`?by=department&by=region`)."""
    query = quote_from_bytes(request.scope.get("query_string") or b"", safe=_QUERY_SAFE)
    path = upstream_path(request)
    return f"{path}?{query}" if query else path


router = APIRouter()


@router.api_route(
    "/api/v1/{resource}/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
@router.api_route("/api/v1/{resource}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def forward(request: Request, resource: str, principal: PrincipalDep, rest: str = "") -> Response:
    service = ROUTES.get(resource)
    if service is None:
        raise NotFound(f"no resource /api/v1/{resource}")
    target = upstream_target(request)  # a key's scopes were checked with the principal (scopes.check)
    upstreams: Upstreams = request.app.state.upstreams
    settings: GatewaySettings = request.app.state.runtime.settings
    await upstreams.check_rate(str(principal.caller.user_id))
    body = await request.body()
    answer = await upstreams.send(
        service,
        request.method,
        target,
        headers=await forwarded_headers(request, principal, settings),
        content=body or None,
    )
    if request.method not in SAFE:
        await audit(
            request.app.state.runtime.sessionmaker,
            caller=principal.caller,
            api_key_id=principal.api_key_id,
            method=request.method,
            path=request.url.path,
            status=answer.status_code,
            request_id=current_cause.get().correlation_id,
        )
    return Response(
        answer.content,
        status_code=answer.status_code,
        headers={k: v for k, v in answer.headers.items() if k.lower() in _RETURNED},
    )
