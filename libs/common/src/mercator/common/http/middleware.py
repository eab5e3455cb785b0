"""The edge of every service: request id, body size limit, metrics. Pure ASGI, no buffering."""

from __future__ import annotations

import json
import logging
import time
import uuid

from mercator.common.context import Cause, current_cause, current_request_id
from mercator.common.http.errors import PROBLEM
from mercator.common.metrics import Metrics

_SKIP_METRICS = {"/metrics", "/healthz", "/readyz", "/livez"}
log = logging.getLogger("mercator.http")


async def send_problem(
    send, status: int, title: str, detail: str, headers: list | None = None, errors: list[dict] | None = None
) -> None:
    problem = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        problem["errors"] = errors
    body = json.dumps(problem).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(body)).encode())]
            + (headers or []),
        }
    )
    await send({"type": "http.response.body", "body": body})


def _nul_path(value, path: str = "") -> str | None:
    """Where in a JSON document a string holds U+0000 (PostgreSQL cannot store it in text)."""
    if isinstance(value, str):
        return path or "body" if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            found = _nul_path(k, path) if "\x00" in k else _nul_path(v, f"{path}.{k}" if path else k)
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _nul_path(v, f"{path}[{i}]")
            if found:
                return found
    return None


BINARY_BODIES = {b"application/octet-stream", b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def nul_field(body: bytes, query: bytes) -> str | None:
    """The field whose text carries a NUL character, refused once here for every service."""
    if b"%00" in query:
        for pair in query.split(b"&"):
            name, _, value = pair.partition(b"=")
            if b"%00" in value or b"%00" in name:
                return name.decode("latin-1") or "query"
    if b"\\u0000" in body or b"\x00" in body:
        try:
            return _nul_path(json.loads(body)) or "body"
        except ValueError:
            return "body"
    return None


def replay_body(body: bytes, receive):
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class EdgeMiddleware:
    def __init__(self, app, *, metrics: Metrics, max_body_bytes: int):
        self.app = app
        self.metrics = metrics
        self.max_body = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:200] or str(uuid.uuid4())
        token = current_cause.set(Cause(correlation_id=request_id))
        try:
            await self._answer(scope, receive, send, headers, request_id)
        finally:
            current_cause.reset(token)

    async def _answer(self, scope, receive, send, headers: dict, request_id: str) -> None:
        started = time.perf_counter()
        rid_header = (b"x-request-id", request_id.encode("latin-1"))
        too_large = f"the body may be at most {self.max_body} bytes"
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return await send_problem(send, 413, "Content too large", too_large, [rid_header])
        body = b""
        if scope.get("method") in ("POST", "PUT", "PATCH"):
            # Read the body here, under the limit, so no handler ever sees a partial one.
            read = await self._whole_body(receive)
            if read is None:  # the client went away
                return
            if len(read) > self.max_body:
                return await send_problem(send, 413, "Content too large", too_large, [rid_header])
            body, receive = read, replay_body(read, receive)
        content_type = next((v for k, v in scope.get("headers", []) if k == b"content-type"), b"")
        # A file sent as bytes (a spreadsheet) has NULs of its own; only text bodies are checked.
        text_body = b"" if content_type.split(b";")[0].strip().lower() in BINARY_BODIES else body
        bad = nul_field(text_body, scope.get("query_string", b""))
        if bad is not None:
            return await send_problem(
                send,
                422,
                "Invalid request",
                "text may not contain NUL characters",
                [rid_header],
                errors=[{"field": bad, "message": "NUL characters are not allowed"}],
            )
        status_holder = {"status": 500}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message = dict(message)
                message["headers"] = [*list(message.get("headers", [])), rid_header]
            await send(message)

        rid_token = current_request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status_holder["status"], time.perf_counter() - started)
            current_request_id.reset(rid_token)

    async def _whole_body(self, receive) -> bytes | None:
        """The body, read until it ends or passes the limit by a chunk; None when the client disconnected."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            if size > self.max_body or not message.get("more_body"):
                return b"".join(chunks)

    def _record(self, scope, status: int, elapsed: float) -> None:
        if scope.get("path", "") in _SKIP_METRICS:
            return
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        self.metrics.http_requests.labels(method, template, str(status)).inc()
        self.metrics.http_latency.labels(method, template).observe(elapsed)
        # The access line: the route template, never the query (it may carry personal data).
        log.info(
            "request",
            extra={"method": method, "route": template, "status": status, "duration_ms": round(elapsed * 1000, 1)},
        )
