"""The edge of every service: request id, body size limit, metrics. Pure ASGI, no buffering."""

from __future__ import annotations

import json
import time
import uuid

from mercator.common.context import Cause, current_cause
from mercator.common.http.errors import PROBLEM
from mercator.common.metrics import Metrics

_SKIP_METRICS = {"/metrics", "/healthz", "/readyz"}


async def send_problem(send, status: int, title: str, detail: str, headers: list | None = None) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(body)).encode())]
                + (headers or [])})
    await send({"type": "http.response.body", "body": body})


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
        rid_header = (b"x-request-id", request_id.encode("latin-1"))
        token = current_cause.set(Cause(correlation_id=request_id))
        started = time.perf_counter()
        status_holder = {"status": 500}

        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            current_cause.reset(token)
            return await send_problem(send, 413, "Content too large",
                                      f"the body may be at most {self.max_body} bytes", [rid_header])

        if scope.get("method") in ("POST", "PUT", "PATCH"):
            # Read the body here, under the limit, so no handler ever sees a partial one.
            chunks, size = [], 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    current_cause.reset(token)
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body:
                    current_cause.reset(token)
                    return await send_problem(send, 413, "Content too large",
                                              f"the body may be at most {self.max_body} bytes", [rid_header])
                chunks.append(chunk)
                if not message.get("more_body"):
                    break
            receive = replay_body(b"".join(chunks), receive)

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + [rid_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_cause.reset(token)
            path = scope.get("path", "")
            if path not in _SKIP_METRICS:
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                method = scope.get("method", "")
                self.metrics.http_requests.labels(method, template, str(status_holder["status"])).inc()
                self.metrics.http_latency.labels(method, template).observe(time.perf_counter() - started)
