"""Security headers on every answer of the gateway: a Content-Security-Policy, no framing, no MIME sniffing,
no full URLs in the Referer. Pure ASGI, so errors, 404s and streams carry them too."""

from __future__ import annotations

import base64
import hashlib
import re

# The built web app: scripts, styles and data only from the gateway itself. ECharts writes its tooltips as
# HTML with style attributes: those (and only attributes, never a <style> element or a script) are let in.
APP_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "object-src 'none'",
    )
)

# FastAPI's /docs (Swagger UI) and /redoc load their bundles from jsDelivr and start them with an inline
# script. That script is allowed by its hash, computed from the page as served (it names the page's own
# OpenAPI URL), never by 'unsafe-inline'.
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
DOCS_SOURCES = {
    "script-src": "'self' https://cdn.jsdelivr.net",
    "style-src": "'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com",
    "font-src": "'self' https://fonts.gstatic.com",
    "img-src": "'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
    "worker-src": "'self' blob:",
}
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)

HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
)


def docs_policy(html: bytes) -> str:
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(m).digest()).decode()}'" for m in _INLINE_SCRIPT.findall(html)
    )
    sources = {**DOCS_SOURCES, "script-src": f"{DOCS_SOURCES['script-src']} {hashes}".strip()}
    return "; ".join(
        (
            "default-src 'self'",
            *(f"{k} {v}" for k, v in sources.items()),
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "object-src 'none'",
        )
    )


def _with(headers: list, policy: str) -> list:
    names = {k.lower() for k, _ in headers}
    extra = [(k, v) for k, v in HEADERS if k not in names]
    if b"content-security-policy" not in names:
        extra.append((b"content-security-policy", policy.encode()))
    return [*headers, *extra]


class SecurityHeadersMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"] not in DOCS_PATHS:

            async def send_with_headers(message):
                if message["type"] == "http.response.start":
                    message = {**message, "headers": _with(list(message.get("headers", [])), APP_POLICY)}
                await send(message)

            return await self.app(scope, receive, send_with_headers)

        # A docs page is a few hundred bytes of HTML: held whole to hash its inline script, and asked for
        # uncompressed (the compression sits inside this middleware) so the script can be read.
        scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"]}
        start: dict | None = None
        body = bytearray()

        async def send_buffered(message):
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            assert start is not None
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": _with(headers, docs_policy(bytes(body)))})
            await send({"type": "http.response.body", "body": bytes(body)})

        await self.app(scope, receive, send_buffered)
