"""The web front end in a real browser (Debian's chromium, driven by Playwright) against the whole running
system (`make run`'s launcher on free loopback ports): what a manager does in a day, at desktop and at phone
size; a manager cannot open another manager's client by URL; an open board follows a move made elsewhere.
Every screen is written to var/screenshots/."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from mercator.common.testing.plugin import need
from mercator.common.testing.processes import run_env, run_ports, sigkill_pids, start_run, wait_http

pytestmark = [pytest.mark.broker, pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "var" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ADMIN = ("admin@example.com", "a long admin passphrase")
PASSWORD = "Correct-horse-42"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


class System:
    def __init__(self, gateway: str, tmp: Path):
        self.gateway = gateway
        self.tmp = tmp
        self.users: dict[str, dict] = {}

    def api(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.gateway, headers=headers, timeout=20)

    async def token(self, email: str, password: str = PASSWORD) -> str:
        async with self.api() as api:
            r = await api.post("/api/v1/auth/token", data={"username": email, "password": password})
            r.raise_for_status()
            return r.json()["access_token"]


@pytest.fixture(scope="module")
async def system(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        need("chromium", "the web front end is tested in a real browser (deploy/debian-packages.txt; make system)")
    if not (ROOT / "web" / "dist" / "index.html").exists():
        need("web/dist", "the built front end (make web; make test builds it)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        need("playwright", "drives the browser (services/gateway's test extra)")
    tmp = tmp_path_factory.mktemp("web")
    ports = run_ports()
    env = run_env(
        tmp / "var",
        ports,
        MERCATOR_RUN_DEMO="false",  # the screens under test start empty
        MERCATOR_GATEWAY_ADMIN_EMAIL=ADMIN[0],
        MERCATOR_GATEWAY_ADMIN_PASSWORD=ADMIN[1],
    )
    launcher = start_run(env, tmp / "run.log")
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    try:
        for name in ("gateway", "contacts", "deals", "billing", "analytics"):
            await asyncio.to_thread(wait_http, f"http://127.0.0.1:{ports[name]}/healthz", 120, launcher)
        s = System(gateway, tmp)
        admin = await s.token(*ADMIN)
        async with s.api(admin) as api:
            dept = (await api.post("/api/v1/departments", json={"name": "Sales"})).json()
            for key, name, roles in (
                ("anna", "Anna Petrova", ["manager"]),
                ("boris", "Boris Ivanov", ["manager"]),
                ("helen", "Helen Sidorova", ["head"]),
            ):
                r = await api.post(
                    "/api/v1/users",
                    json={
                        "name": name,
                        "email": f"{key}@example.com",
                        "password": PASSWORD,
                        "roles": roles,
                        "department_id": dept["id"],
                    },
                )
                assert r.status_code == 201, r.text
                s.users[key] = {**r.json(), "email": f"{key}@example.com"}
        yield s
    finally:
        launcher.terminate()
        try:
            launcher.wait(40)
        except subprocess.TimeoutExpired:
            pids = tmp / "var" / "run.pids"
            sigkill_pids([launcher.pid, *([int(p) for p in pids.read_text().split()] if pids.exists() else [])])


@pytest.fixture(scope="module")
async def browser(system):
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        await b.close()


async def page_for(browser, system: System, viewport: dict, lang: str = "en"):
    # Our users sit in billing's time zone: a browser on the machine's UTC day dates a payment the day
    # before the invoice billing issued on Moscow's day (from 21:00 UTC).
    context = await browser.new_context(
        viewport=viewport, base_url=system.gateway, locale="en-GB", timezone_id="Europe/Moscow"
    )
    await context.add_init_script(f"localStorage.setItem('mercator.lang', '{lang}')")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # The gateway's Content-Security-Policy: anything of the app it blocks (a script, a style, a request) is
    # a failure of the screen under test, reported on the console.
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.errors = errors  # type: ignore[attr-defined]
    return page


async def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def sign_in(page, email: str, password: str = PASSWORD) -> None:
    await page.goto("/")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("button", name="Sign out").wait_for()


async def open_menu(page, viewport) -> None:
    if viewport is PHONE:
        await page.get_by_role("button", name="Menu").click()


async def drag(page, source, target) -> None:
    """A drag as a hand makes it: press on the visible part of the card, move in steps, release just inside
    the target column (not at the screen's edge, where the board scrolls by itself)."""
    from playwright.async_api import expect

    width = page.viewport_size["width"]  # a phone shows one column and a strip of the next
    a, b = await source.bounding_box(), await target.bounding_box()
    ax = (max(a["x"], 0) + min(a["x"] + a["width"], width)) / 2
    ay = a["y"] + a["height"] / 2
    bx = max(b["x"], 0) + min(8, (min(b["x"] + b["width"], width) - max(b["x"], 0)) / 2)
    by = b["y"] + 120
    await page.mouse.move(ax, ay)
    await page.mouse.down()
    for i in range(1, 11):
        await page.mouse.move(ax + (bx - ax) * i / 10, ay + (by - ay) * i / 10)
        await page.wait_for_timeout(30)
    # A hand lets go once the column it aims at is lit, not before.
    await expect(target).to_have_class(re.compile(r"\bover\b"))
    await page.mouse.up()


async def day_of_a_manager(page, system: System, viewport: dict, tag: str) -> str:
    """Sign in, open a client card, log a call, open a deal, drag it to the next stage, draft and issue an
    invoice, record its payment, and find the payment on the dashboard. Returns the card's id."""
    from playwright.async_api import expect

    await sign_in(page, system.users["anna"]["email"])
    await expect(page.get_by_role("heading", name="Clients")).to_be_visible()
    await shot(page, f"{tag}-01-clients")

    client = f"Romashka {tag}"
    await page.get_by_role("button", name="New client card").click()
    form = page.get_by_role("form", name="New client card")
    await form.get_by_label("Name").fill(client)
    await form.get_by_label("Phone").fill("+7 495 123-45-67")
    await form.get_by_role("button", name="Create").click()
    await page.wait_for_url(re.compile(r"/clients/[0-9a-f-]{36}$"))
    company_id = page.url.rsplit("/", 1)[1]
    await expect(page.get_by_role("heading", name=client)).to_be_visible()

    # The call is logged from the keyboard alone: Alt+L, the kind, Tab to the summary, Ctrl+Enter.
    await page.keyboard.press("Alt+l")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await page.keyboard.type(f"Called the buyer ({tag}): wants a demo next week")
    await page.keyboard.press("Control+Enter")
    await expect(page.get_by_test_id("history")).to_contain_text(f"Called the buyer ({tag})")
    await shot(page, f"{tag}-02-client-card")

    await page.get_by_role("button", name="New deal").click()
    deal_form = page.get_by_role("form", name="New deal")
    await deal_form.get_by_label("Title").fill(f"Servers for {client}")
    await deal_form.get_by_label("Amount").fill("120000")
    await deal_form.get_by_role("button", name="Create").click()
    await page.get_by_test_id("deals").get_by_role("link", name=f"Servers for {client}").click()
    await page.wait_for_url(re.compile(r"/deals/[0-9a-f-]{36}$"))
    deal_id = page.url.rsplit("/", 1)[1]
    await expect(page.get_by_test_id("deal")).to_contain_text("Interest")
    await shot(page, f"{tag}-03-deal")

    await open_menu(page, viewport)
    await page.get_by_role("link", name="Pipeline").click()
    card = page.locator(f"[data-deal='{deal_id}']")
    await card.wait_for()
    needs = page.get_by_test_id("column-needs")
    token = await system.token(system.users["anna"]["email"])
    async with system.api(token) as api:
        board = (await api.get("/api/v1/board", params={"owner_id": system.users["anna"]["id"]})).json()
    before = next(c["count"] for c in board["columns"] if c["stage"] == "needs")
    await expect(needs.get_by_test_id("count")).to_have_text(str(before))
    await drag(page, card, needs)
    await expect(needs.locator(f"[data-deal='{deal_id}']")).to_be_visible()
    await expect(needs.get_by_test_id("count")).to_have_text(str(before + 1))
    await shot(page, f"{tag}-04-board")
    async with system.api(token) as api:
        assert (await api.get(f"/api/v1/deals/{deal_id}")).json()["stage"] == "needs"

    # An invoice on the deal, issued, then paid from the billing screen.
    await page.goto(f"/deals/{deal_id}")
    invoice_form = page.get_by_role("form", name="Draft an invoice")
    await invoice_form.get_by_label("Description").fill("Server rack")
    await invoice_form.get_by_label("Unit price").fill("1000")
    await invoice_form.get_by_role("button", name="Draft an invoice").click()
    await page.get_by_test_id("deal-invoices").get_by_role("button", name="Issue").click()
    await expect(page.get_by_test_id("deal-invoices")).to_contain_text("issued")
    await open_menu(page, viewport)
    await page.get_by_role("link", name="Billing").click()
    row = page.get_by_test_id("invoices").locator("tr", has_text=client)
    await row.get_by_role("button", name="Record a payment").click()
    pay = page.get_by_role("form", name="Record a payment")
    await expect(pay.get_by_label("Amount")).to_have_value("1220.00")
    await pay.get_by_label("Payment order no.").fill(f"PO-{tag}")
    await shot(page, f"{tag}-05-payment")
    await pay.get_by_role("button", name="Record").click()
    await expect(row).to_contain_text("paid")
    await shot(page, f"{tag}-06-billing")

    await open_menu(page, viewport)
    await page.get_by_role("link", name="Dashboards").click()
    receivables = page.get_by_test_id("report-/receivables")
    await expect(receivables.locator("tr", has_text=company_id[:8])).to_contain_text("1,220")
    await expect(receivables.locator("canvas")).to_be_visible()
    # ECharts writes its tooltip as HTML with style attributes: shown here under the gateway's CSP.
    await receivables.locator("canvas").hover()
    await page.wait_for_timeout(300)
    await shot(page, f"{tag}-07-dashboard")
    return company_id


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_a_managers_day_in_the_browser(system, browser, viewport):
    tag = "desktop" if viewport is DESKTOP else "phone"
    page = await page_for(browser, system, viewport)
    try:
        await day_of_a_manager(page, system, viewport, tag)
        assert not page.errors, page.errors
        # The session lived through every page load above on its HttpOnly cookie, never in the page's storage.
        stored = await page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
        assert "refresh" not in stored.lower() and "token" not in stored.lower(), stored
    finally:
        await page.context.close()


async def open_card_via_api(system: System, who: str, name: str) -> tuple[str, str]:
    """A client card with one open deal, made through the public API as `who`."""
    token = await system.token(system.users[who]["email"])
    async with system.api(token) as api:
        company = (await api.post("/api/v1/companies", json={"name": name})).json()
        r = await api.post(
            "/api/v1/deals", json={"title": f"Deal of {name}", "company_id": company["id"], "amount": "50000"}
        )
        assert r.status_code == 201, r.text
        return company["id"], r.json()["id"]


async def test_a_manager_cannot_open_another_managers_client_by_url(system, browser):
    from playwright.async_api import expect

    company_id, deal_id = await open_card_via_api(system, "anna", "Anna's private client")
    page = await page_for(browser, system, DESKTOP)
    try:
        await sign_in(page, system.users["boris"]["email"])
        await page.goto(f"/clients/{company_id}")
        await expect(page.get_by_role("alert")).to_contain_text("Not found, or not yours to see")
        await expect(page.get_by_text("Anna's private client")).to_have_count(0)
        await shot(page, "desktop-08-not-yours")
        await page.goto(f"/deals/{deal_id}")
        await expect(page.get_by_role("alert")).to_contain_text("Not found, or not yours to see")
        await expect(page.get_by_text("Deal of Anna's private client")).to_have_count(0)
        # Nor does it show in his lists.
        await page.goto("/clients")
        await expect(page.get_by_role("heading", name="Clients")).to_be_visible()
        await expect(page.get_by_text("Anna's private client")).to_have_count(0)
        # Anna herself opens it.
        await page.get_by_role("button", name="Sign out").click()
        await sign_in(page, system.users["anna"]["email"])
        await page.goto(f"/clients/{company_id}")
        await expect(page.get_by_role("heading", name="Anna's private client")).to_be_visible()
    finally:
        await page.context.close()


async def test_an_open_board_follows_a_move_made_elsewhere_without_a_reload(system, browser):
    """The head of sales watches the department's board; Anna moves her deal from her phone (the API); the
    head's board shows it in the new column, and the page was never reloaded."""
    from playwright.async_api import expect

    _company_id, deal_id = await open_card_via_api(system, "anna", "Live client")
    page = await page_for(browser, system, DESKTOP)
    try:
        await sign_in(page, system.users["helen"]["email"])
        await page.goto("/board")
        await page.get_by_label("Owner").select_option(label="My department")
        card = page.locator(f"[data-deal='{deal_id}']")
        await expect(page.get_by_test_id("column-interest").locator(f"[data-deal='{deal_id}']")).to_be_visible()
        await expect(card).to_contain_text("Anna Petrova")  # the head sees whose deal it is, by name
        await expect(page.get_by_test_id("live")).to_have_class(re.compile(r"\bon\b"))
        await page.evaluate("window.__sameDocument = true")
        token = await system.token(system.users["anna"]["email"])
        async with system.api(token) as api:
            r = await api.post(f"/api/v1/deals/{deal_id}/moves", json={"stage": "needs", "comment": "from the phone"})
            assert r.status_code == 200, r.text
        await expect(page.get_by_test_id("column-needs").locator(f"[data-deal='{deal_id}']")).to_be_visible(
            timeout=15000
        )
        await expect(card).to_have_count(1)
        assert await page.evaluate("window.__sameDocument === true"), "the page was reloaded"
        await shot(page, "desktop-09-live-board")
    finally:
        await page.context.close()


async def test_the_app_speaks_russian_with_russian_numbers_and_dates(system, browser):
    from playwright.async_api import expect

    _company_id, deal_id = await open_card_via_api(system, "anna", "Клиент по-русски")
    page = await page_for(browser, system, DESKTOP, lang="ru")
    try:
        await page.goto("/")
        await page.get_by_label("Эл. почта").fill(system.users["anna"]["email"])
        await page.get_by_label("Пароль").fill(PASSWORD)
        await page.get_by_role("button", name="Войти").click()
        await page.get_by_role("button", name="Выйти").wait_for()
        await page.goto(f"/deals/{deal_id}")
        # 50 000,00 ₽ — a narrow no-break space between the thousands and a decimal comma, as Russians write it.
        await expect(page.get_by_test_id("deal")).to_contain_text("50\u00a0000,00\u00a0₽")
        await expect(page.get_by_role("combobox", name="Перевести на этап")).to_be_visible()
        await shot(page, "desktop-10-russian")
        await page.get_by_label("Язык").select_option("en")
        await expect(page.get_by_role("combobox", name="Move to")).to_be_visible()
        await expect(page.get_by_test_id("deal")).to_contain_text("RUB\u00a050,000.00")
    finally:
        await page.context.close()


async def sse_events(system: System, email: str, into: list[dict], ready: asyncio.Event) -> None:
    token = await system.token(email)
    async with system.api(token) as api, api.stream("GET", "/api/v1/live", timeout=httpx.Timeout(5, read=60)) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        async for line in r.aiter_lines():
            if line.startswith("event: hello"):
                ready.set()
            if line.startswith('data: {"type"'):
                into.append(json.loads(line[len("data: ") :]))


async def test_the_live_stream_carries_only_what_the_viewer_may_see(system):
    """Anna's move reaches her head of department, not Boris; Boris's own move reaches Boris (so his stream
    was working when Anna's move went by)."""
    _, annas = await open_card_via_api(system, "anna", "Streamed client A")
    _, boriss = await open_card_via_api(system, "boris", "Streamed client B")
    seen = {"helen": [], "boris": []}
    ready = {k: asyncio.Event() for k in seen}
    tasks = [asyncio.create_task(sse_events(system, system.users[k]["email"], seen[k], ready[k])) for k in seen]
    try:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready.values())), 20)
        await asyncio.sleep(1)  # the feed reads from the newest offset: let it settle on its partitions
        for who, deal in (("anna", annas), ("boris", boriss)):
            token = await system.token(system.users[who]["email"])
            async with system.api(token) as api:
                r = await api.post(f"/api/v1/deals/{deal}/moves", json={"stage": "needs"})
                assert r.status_code == 200, r.text

        async def until(who: str, deal: str):
            while not any(e.get("deal_id") == deal and e["type"] == "DealStageChanged" for e in seen[who]):
                await asyncio.sleep(0.1)

        await asyncio.wait_for(asyncio.gather(until("helen", annas), until("boris", boriss)), 20)
        assert not any(e.get("deal_id") == annas for e in seen["boris"]), seen["boris"]
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_opening_a_deal_and_making_an_offer_reach_an_open_board(system):
    """The head's board refreshes when Anna opens a deal and records a price offer, not only when a deal moves:
    the stream carries DealOpened and PriceOffered to whoever may see the deal."""
    seen: list[dict] = []
    ready = asyncio.Event()
    task = asyncio.create_task(sse_events(system, system.users["helen"]["email"], seen, ready))
    try:
        await asyncio.wait_for(ready.wait(), 20)
        await asyncio.sleep(1)  # the feed reads from the newest offset: let it settle on its partitions
        _, deal = await open_card_via_api(system, "anna", "Streamed client C")
        token = await system.token(system.users["anna"]["email"])
        async with system.api(token) as api:
            r = await api.post(f"/api/v1/deals/{deal}/offers", json={"side": "ours", "amount": "45000"})
            assert r.status_code == 201, r.text

        async def until(*types: str):
            while not set(types) <= {e["type"] for e in seen if e.get("deal_id") == deal}:
                await asyncio.sleep(0.1)

        await asyncio.wait_for(until("DealOpened", "PriceOffered"), 20)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_marketing_event_gathers_its_participants_from_a_filter_and_sends_its_mailing(system, browser):
    """The head of sales plans a mailing, adds every client card of one region from a filter (and not the card
    elsewhere), marks one participant responded, and sends the mailing with a template picked from the list."""
    from playwright.async_api import expect

    admin = await system.token(*ADMIN)
    async with system.api(admin) as api:
        r = await api.post("/api/v1/regions", json={"name": "Ural (web)"})
        assert r.status_code == 201, r.text
        region = r.json()
    anna = await system.token(system.users["anna"]["email"])
    names = ["Uralmash (web)", "Uralkali (web)", "Volga trade (web)"]
    async with system.api(anna) as api:
        for i, name in enumerate(names):
            r = await api.post(
                "/api/v1/companies",
                json={
                    "name": name,
                    "region_id": region["id"] if i < 2 else None,
                    "persons": [{"name": f"Buyer {i}", "emails": [f"buyer{i}@example.com"]}],
                },
            )
            assert r.status_code == 201, r.text
    page = await page_for(browser, system, DESKTOP)
    try:
        await sign_in(page, system.users["helen"]["email"])
        await page.get_by_role("link", name="Marketing events").click()
        await page.get_by_role("button", name="New marketing event").click()
        form = page.get_by_role("form", name="New marketing event")
        await form.get_by_label("Name").fill("Spring offer to the Urals")
        await form.get_by_label("Kind").select_option("mailing")
        await form.get_by_label("Special offer").fill("10% off servers until May")
        await form.get_by_role("button", name="Create").click()
        await page.wait_for_url(re.compile(r"/marketing/[0-9a-f-]{36}$"))
        await expect(page.get_by_role("heading", name="Spring offer to the Urals")).to_be_visible()
        await expect(page.get_by_text("No participants yet")).to_be_visible()

        await (
            page.get_by_role("form", name="From a filter of the client base")
            .get_by_label("Regions")
            .select_option(label="Ural (web)")
        )
        await page.get_by_role("button", name="Add from filter").click()
        await expect(page.get_by_role("status")).to_have_text("Added: 2; already taking part: 0")
        participants = page.get_by_test_id("participants")
        await expect(participants).to_contain_text(names[0])
        await expect(participants).to_contain_text(names[1])
        await expect(participants.get_by_text(names[2])).to_have_count(0)
        await participants.get_by_label(f"Status {names[0]}").select_option("responded")
        await expect(page.get_by_test_id("participant-counts")).to_contain_text("responded: 1")
        await expect(page.get_by_test_id("participant-counts")).to_contain_text("invited: 1")

        mailing = page.get_by_role("form", name="Send the mailing")
        await mailing.get_by_label("Template").select_option(label="mailing")
        page.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
        await mailing.get_by_role("button", name="Send").click()
        await expect(mailing.get_by_role("status")).to_have_text("The mailing is on its way to 2 recipients")
        await shot(page, "desktop-11-marketing-event")
        await page.get_by_role("link", name="Marketing events").first.click()
        await expect(
            page.get_by_test_id("marketing-events").locator("tr", has_text="Spring offer to the Urals")
        ).to_contain_text("responded: 1")
        await shot(page, "desktop-12-marketing-events")
        assert not page.errors, page.errors
    finally:
        await page.context.close()


async def test_a_template_error_is_shown_at_its_line_and_every_edit_is_a_version(system, browser):
    from playwright.async_api import expect

    page = await page_for(browser, system, DESKTOP)
    try:
        await sign_in(page, system.users["helen"]["email"])
        await page.get_by_role("link", name="Administration").click()
        await page.get_by_role("tab", name="Templates").click()
        await page.get_by_role("button", name="New template").click()
        form = page.get_by_role("form", name="New template")
        await form.get_by_label("Name").fill("web_offer")
        await form.locator("textarea[name=subject]").fill("Offer for {{ company.name }}")
        body = form.locator("textarea[name=body]")
        await body.fill("Hello {{ person.name }}!\n{{ company.name | no_such_filter }}\nBye")
        await form.get_by_role("button", name="Create").click()
        await expect(form.get_by_test_id("error-body")).to_contain_text("line 2")
        await expect(form.locator(".bad-line")).to_have_attribute("data-line", "2")
        await shot(page, "desktop-13-template-error")
        await body.fill("Hello {{ person.name }}!\n{{ company.name | upper }}\nBye")
        await form.get_by_role("button", name="Create").click()

        edit = page.get_by_role("form", name="Edit the template")
        await expect(edit.get_by_role("heading")).to_contain_text("v1")
        await edit.locator("textarea[name=body]").fill("Hello {{ person.name }}!\n{{ company.name | upper }}\nRegards")
        await edit.get_by_role("button", name="Save").click()
        await expect(edit.get_by_role("status")).to_have_text("Saved · v2")
        versions = page.get_by_test_id("template-versions")
        await expect(versions.get_by_role("button")).to_have_text(["v2", "v1"])
        await versions.get_by_role("button", name="v1").click()
        await expect(page.get_by_test_id("template-version")).to_contain_text("Bye")
        await shot(page, "desktop-14-templates")
        assert not page.errors, page.errors
    finally:
        await page.context.close()


async def test_the_deliveries_list_shows_a_waybill_and_marks_it_delivered(system, browser):
    from playwright.async_api import expect

    _, deal_id = await open_card_via_api(system, "anna", "Shipped client")
    async with system.api(await system.token(*ADMIN)) as api:
        r = await api.post("/api/v1/products", json={"code": "RACK-web", "name": "Rack", "list_price": "900"})
        assert r.status_code == 201, r.text
        product = r.json()
    token = await system.token(system.users["anna"]["email"])
    async with system.api(token) as api:
        r = await api.post(
            "/api/v1/deliveries",
            json={
                "deal_id": deal_id,
                "waybill_number": "WB-web-1",
                "shipped_on": "2026-03-02",
                "carrier": "DPD",
                "items": [{"product_id": product["id"], "quantity": "2"}],
            },
        )
        assert r.status_code == 201, r.text
    page = await page_for(browser, system, DESKTOP)
    try:
        await sign_in(page, system.users["anna"]["email"])
        await page.get_by_role("link", name="Billing").click()
        row = page.get_by_test_id("deliveries").locator("tr", has_text="WB-web-1")
        await expect(row).to_contain_text("Shipped client")
        await expect(row).to_contain_text("shipped")
        await row.get_by_role("button", name="Mark delivered").click()
        await expect(row).to_contain_text("delivered")
        await expect(row.get_by_role("button", name="Mark delivered")).to_have_count(0)
        await shot(page, "desktop-15-deliveries")
        async with system.api(token) as api:
            assert (await api.get("/api/v1/deliveries", params={"deal_id": deal_id})).json()[0]["status"] == "delivered"
    finally:
        await page.context.close()


async def test_the_newest_screens_fit_a_phone_with_their_primary_action_in_reach(system, browser):
    """At 390 × 844 the marketing events, billing (invoices and deliveries), administration's templates and the
    dashboards scroll only up and down, and each screen's first action is on the screen, whole, and works."""
    from playwright.async_api import expect

    page = await page_for(browser, system, PHONE)

    async def fits(name: str, action) -> None:
        await action.scroll_into_view_if_needed()
        await expect(action).to_be_visible()
        box = await action.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (name, box)
        wide = await page.evaluate("document.documentElement.scrollWidth")
        assert wide <= PHONE["width"], f"{name}: the page is {wide} px wide on a {PHONE['width']} px phone"
        await shot(page, f"phone-{name}")

    try:
        await sign_in(page, system.users["helen"]["email"])
        await page.goto("/marketing")
        await expect(page.get_by_role("heading", name="Marketing events")).to_be_visible()
        new_event = page.get_by_role("button", name="New marketing event")
        await fits("20-marketing-events", new_event)
        await new_event.click()
        await expect(page.get_by_role("form", name="New marketing event")).to_be_visible()
        await fits(
            "21-new-marketing-event",
            page.get_by_role("form", name="New marketing event").get_by_role("button", name="Create"),
        )

        await page.goto("/billing")
        await expect(page.get_by_role("heading", name="Invoices")).to_be_visible()
        await fits("22-billing", page.get_by_role("button", name="+ Record a payment"))

        await page.goto("/admin")
        await page.get_by_role("tab", name="Templates").click()
        new_template = page.get_by_role("button", name="+ New template")
        await fits("24-templates", new_template)
        await new_template.click()
        await fits(
            "25-new-template", page.get_by_role("form", name="New template").get_by_role("button", name="Create")
        )

        await page.goto("/dashboards")
        await expect(page.get_by_role("heading", name="Dashboards")).to_be_visible()
        await fits("26-dashboards", page.get_by_label("Report", exact=True))
        assert not page.errors, page.errors
    finally:
        await page.context.close()
