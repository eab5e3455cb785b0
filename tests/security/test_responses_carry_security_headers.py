"""Every answer of the gateway tells the browser what the page may do.

It sent no Content-Security-Policy, no X-Frame-Options and no nosniff: an injected script could load more code
from anywhere and send what it read anywhere, and any site could frame the app to trick clicks out of a
manager. Now the app's pages may run only the gateway's own scripts, talk only to the gateway and never be
framed; /docs (Swagger UI from a CDN, started by an inline script) gets a policy naming that CDN and the
hash of its one inline script, never 'unsafe-inline' for scripts."""

import base64
import hashlib
import re

import httpx


def directives(policy: str) -> dict[str, list[str]]:
    out = {}
    for part in policy.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("127.0.0.8", 40000)), base_url="http://gateway.test"
    )


def assert_locked_down(r: httpx.Response) -> dict[str, list[str]]:
    assert r.headers["x-frame-options"] == "DENY", r.request.url
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    csp = directives(r.headers["content-security-policy"])
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"] and csp["form-action"] == ["'self'"]
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    return csp


async def test_the_app_its_api_and_its_errors_carry_the_headers(gateway_app):
    async with client(gateway_app) as api:
        for r in (
            await api.get("/"),
            await api.get("/clients/some-card"),
            await api.get("/api/v1/me"),
            await api.post("/api/v1/auth/token", data={}),
            await api.get("/healthz"),
        ):
            csp = assert_locked_down(r)
            assert csp["default-src"] == ["'self'"] and csp["script-src"] == ["'self'"]
            assert csp["connect-src"] == ["'self'"]
            assert csp["style-src"] == ["'self'"], "no <style> element from anywhere but the gateway"
            assert set(csp["img-src"]) == {"'self'", "data:", "blob:"}


async def test_the_swagger_page_may_run_its_own_inline_script_and_nothing_else_inline(gateway_app):
    async with client(gateway_app) as api:
        for path in ("/docs", "/docs/oauth2-redirect", "/redoc"):
            r = await api.get(path, headers={"Accept-Encoding": "gzip"})
            assert r.status_code == 200
            csp = assert_locked_down(r)
            inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", r.text, re.S)
            hashes = {f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline}
            assert hashes <= set(csp["script-src"]), f"{path}: its inline script would be blocked"
            for src in re.findall(r"<script[^>]*\bsrc=\"(https://[^/\"]+)", r.text):
                assert src in csp["script-src"], f"{path}: {src} would be blocked"
