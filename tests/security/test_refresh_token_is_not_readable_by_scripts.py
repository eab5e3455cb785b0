"""The web app's 30-day refresh token is out of reach of any script in the page.

It was kept in localStorage, where one injected script reads it and carries the session away for a month.
Now a browser asks for it as a cookie (`X-Refresh-Token-Transport: cookie`): HttpOnly, Secure, SameSite=Strict,
Path=/api/v1/auth, and never in a body; a refresh or sign-out by that cookie needs the double-submit CSRF token
(`X-CSRF-Token` equal to the `__Host-` cookie) and a same-origin `Origin`. Partners and the mobile app, which
do not ask, keep the refresh token in the body as before."""

import asyncio
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
import uvicorn

from mercator.common.testing.broker import free_port
from mercator.common.testing.plugin import need

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"

PASSWORD = "Correct-horse-42"  # the test kit's (conftest.py)
BROWSER = {"X-Refresh-Token-Transport": "cookie"}
REFRESH_COOKIE = "__Secure-mercator-refresh"
CSRF_COOKIE = "__Host-mercator-csrf"


def client(app) -> httpx.AsyncClient:
    # https: the client keeps and sends Secure cookies only there, as a browser does.
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("127.0.0.7", 40000)), base_url="https://gateway.test"
    )


def set_cookies(r: httpx.Response) -> dict[str, dict]:
    """Each Set-Cookie of an answer: its value and attributes (flags as True)."""
    out = {}
    for line in r.headers.get_list("set-cookie"):
        jar = SimpleCookie()
        jar.load(line)
        for name, morsel in jar.items():
            attrs = {k: v for k, v in morsel.items() if v}
            out[name] = {"value": morsel.value, **{k.lower(): v for k, v in attrs.items()}}
    return out


async def browser_sign_in(api: httpx.AsyncClient) -> httpx.Response:
    r = await api.post(
        "/api/v1/auth/token", data={"username": "anna@example.com", "password": PASSWORD}, headers=BROWSER
    )
    assert r.status_code == 200, r.text
    return r


async def test_a_browser_gets_its_refresh_token_as_an_httponly_strict_cookie_and_never_in_the_body(
    gateway_app, cheap_hashing
):
    async with client(gateway_app) as api:
        r = await browser_sign_in(api)
        assert "refresh_token" not in r.json(), "a script in the page reads the body of its own sign-in"
        assert r.json()["access_token"]
        cookies = set_cookies(r)
        refresh = cookies[REFRESH_COOKIE]
        assert refresh["httponly"] is True and refresh["secure"] is True
        assert refresh["samesite"].lower() == "strict"
        assert refresh["path"] == "/api/v1/auth"
        assert int(refresh["max-age"]) == 30 * 24 * 3600
        csrf = cookies[CSRF_COOKIE]
        assert not csrf.get("httponly"), "the app's script copies it into X-CSRF-Token"
        assert csrf["secure"] is True and csrf["samesite"].lower() == "strict" and csrf["path"] == "/"
        assert len(csrf["value"]) >= 32

        # The cookie is the session: it opens a refresh that answers a new access token, and a new cookie.
        again = await api.post("/api/v1/auth/refresh", headers={"X-CSRF-Token": csrf["value"]})
        assert again.status_code == 200, again.text
        assert "refresh_token" not in again.json()
        renewed = set_cookies(again)
        assert renewed[REFRESH_COOKIE]["value"] != refresh["value"] and renewed[REFRESH_COOKIE]["httponly"]
        me = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {again.json()['access_token']}"})
        assert me.json()["email"] == "anna@example.com"


async def test_a_refresh_by_cookie_without_the_csrf_header_is_refused(gateway_app, cheap_hashing):
    async with client(gateway_app) as api:
        csrf = set_cookies(await browser_sign_in(api))[CSRF_COOKIE]["value"]
        # What a form or an image on another site can make the browser send: the cookies, no header.
        assert (await api.post("/api/v1/auth/refresh")).status_code == 403
        assert (await api.post("/api/v1/auth/refresh", json={})).status_code == 403
        wrong = await api.post("/api/v1/auth/refresh", headers={"X-CSRF-Token": "guessed"})
        assert wrong.status_code == 403
        # With the header but from another site's page (a browser names it in Origin).
        foreign = await api.post(
            "/api/v1/auth/refresh", headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        # None of the refusals spent the token: the app's own refresh still works.
        ok = await api.post("/api/v1/auth/refresh", headers={"X-CSRF-Token": csrf, "Origin": "https://gateway.test"})
        assert ok.status_code == 200, ok.text


async def test_signing_out_by_cookie_revokes_the_token_and_drops_the_cookies(gateway_app, cheap_hashing):
    async with client(gateway_app) as api:
        cookies = set_cookies(await browser_sign_in(api))
        stolen, csrf = cookies[REFRESH_COOKIE]["value"], cookies[CSRF_COOKIE]["value"]
        assert (await api.post("/api/v1/auth/logout")).status_code == 403, "a sign-out by cookie needs CSRF too"
        out = await api.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204
        dropped = set_cookies(out)
        assert dropped[REFRESH_COOKIE]["max-age"] == "0" and dropped[REFRESH_COOKIE]["path"] == "/api/v1/auth"
        assert dropped[CSRF_COOKIE]["max-age"] == "0"
        assert REFRESH_COOKIE not in api.cookies
        # A copy of the cookie taken before the sign-out opens nothing afterwards.
        api.cookies.set(REFRESH_COOKIE, stolen, domain="gateway.test", path="/api/v1/auth")
        api.cookies.set(CSRF_COOKIE, csrf, domain="gateway.test", path="/")
        assert (await api.post("/api/v1/auth/refresh", headers={"X-CSRF-Token": csrf})).status_code == 401


# --- in a real browser --------------------------------------------------------------------------------


@pytest.fixture
async def served_gateway(gateway_app):
    """The kit's gateway over real HTTP on a loopback port, for a browser (no services behind it: the screens
    after sign-in show their errors, the header with its Sign out button is all that counts here)."""
    if not Path(CHROMIUM).exists():
        need("chromium", "the browser half runs in Debian's chromium (deploy/debian-packages.txt; make system)")
    if not (ROOT / "web" / "dist" / "index.html").exists():
        need("web/dist", "the built front end (make web)")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(gateway_app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), task
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.mark.slow
async def test_after_signing_in_the_page_holds_no_refresh_token_and_a_reload_keeps_the_session(
    served_gateway, cheap_hashing
):
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = await browser.new_context(base_url=served_gateway, locale="en-GB")
            await context.add_init_script("localStorage.setItem('mercator.lang', 'en')")
            page = await context.new_page()
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text))
            await page.goto("/")
            await page.get_by_label("E-mail").fill("anna@example.com")
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await page.get_by_role("button", name="Sign out").wait_for()

            cookies = {c["name"]: c for c in await context.cookies()}
            assert REFRESH_COOKIE in cookies, "the browser took no refresh cookie (Secure over http://127.0.0.1?)"
            refresh = cookies[REFRESH_COOKIE]
            assert refresh["httpOnly"] and refresh["secure"] and refresh["sameSite"] == "Strict"
            stored = await page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
            assert refresh["value"] not in stored and "refresh" not in stored.lower(), stored
            assert refresh["value"] not in await page.evaluate("document.cookie")

            # A reload has nothing in storage to go on: the cookie brings the session back.
            await page.reload()
            await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
            after = {c["name"]: c["value"] for c in await context.cookies()}
            assert after[REFRESH_COOKIE] != refresh["value"], "the reload's refresh spends the old token"

            # Two tabs loading at once each refresh by the one cookie; spent twice, it would look stolen and the
            # gateway would end the session. The app takes turns (a Web Lock), each tab with the newest cookie.
            other = await context.new_page()
            await asyncio.gather(page.reload(), other.goto("/"))
            for tab in (page, other, page):
                await expect(tab.get_by_role("button", name="Sign out")).to_be_visible()
                await tab.reload()
            await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
            await other.close()

            await page.get_by_role("button", name="Sign out").click()
            await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
            # The screen signs out at once; the gateway's answer that drops the cookie may come a moment later.
            for _ in range(100):
                if REFRESH_COOKIE not in {c["name"] for c in await context.cookies()}:
                    break
                await asyncio.sleep(0.1)
            assert REFRESH_COOKIE not in {c["name"] for c in await context.cookies()}
            await page.reload()
            await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
            assert not [m for m in console if "Content Security Policy" in m], console
        finally:
            await browser.close()
