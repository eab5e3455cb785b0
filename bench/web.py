"""Web benchmark: the pipeline board with 5,000 open deals, measured in a real browser, beside baselines.

    .venv/bin/python bench/web.py [--deals 5000] [--rounds 3] [--concurrency 8]

It starts the whole system as `make run` does (mercator.common.devrun: Tansu and every service, SQLite files
in a temp dir, free loopback ports, the gateway's per-caller rate limit raised out of the way), signs a manager
in, and opens `--deals` deals spread over seven of the default pipeline's eight open stages through the public API.
Then, in Debian's chromium (Playwright, executable /usr/bin/chromium), for each round:

1. static table: the same deals as one plain HTML table, no script, no network (the page is handed to the
   browser whole): the floor of showing this many rows at all;
2. fetch + table: a page with no framework that reads the same deals through the same API (every page of
   `GET /api/v1/deals?status=open`, 200 a page, one after another) and writes one table;
3. board: the web app at /board — every column's deals loaded (each column reads its own stage's lean cards
   from `GET /api/v1/board/cards`, up to 2,000 a read, the columns side by side), the counts and sums from
   /board, the cards virtualised.

Each figure is the time from the start of navigation until the page is interactive: everything shown and a
frame plus a task later (the main thread free again). For the board also the time to the first draggable
card. It prints the median of the rounds and the board's ratio to each baseline; the target is the board
interactive in under a second.

Everything it starts is removed at the end, also on Ctrl-C. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from mercator.common.testing.processes import run_env, run_ports, start_run, wait_http

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ADMIN = ("bench-admin@example.com", "a long bench passphrase")
PASSWORD = "Correct-horse-42"
# The default pipeline's open stages a deal may be opened at directly ("contract" wants an accepted offer).
OPEN_STAGES = ("interest", "needs", "demo", "tech_proposal", "commercial_proposal", "payment", "delivery")

IDLE = "await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))"


def launch(tmp: Path) -> tuple[subprocess.Popen, str, Path]:
    ports = run_ports()
    env = run_env(
        tmp / "var",
        ports,
        MERCATOR_RUN_DEMO="false",  # the board holds the benchmark's deals only
        MERCATOR_GATEWAY_ADMIN_EMAIL=ADMIN[0],
        MERCATOR_GATEWAY_ADMIN_PASSWORD=ADMIN[1],
        MERCATOR_GATEWAY_RATE_LIMIT="100000000/minute",
        MERCATOR_LOG_LEVEL="WARNING",
    )
    proc = start_run(env, tmp / "run.log")
    for name in ("gateway", "contacts", "deals", "billing", "analytics"):
        wait_http(f"http://127.0.0.1:{ports[name]}/healthz", 120, proc)
    return proc, f"http://127.0.0.1:{ports['gateway']}", tmp / "run.log"


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


async def seed(gateway: str, n: int, concurrency: int) -> tuple[dict, list[dict]]:
    async with httpx.AsyncClient(base_url=gateway, timeout=60) as api:
        admin = (await api.post("/api/v1/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]})).json()
        h = {"Authorization": f"Bearer {admin['access_token']}"}
        r = await api.post(
            "/api/v1/users",
            headers=h,
            json={"name": "Bench Manager", "email": "bench@example.com", "password": PASSWORD, "roles": ["manager"]},
        )
        assert r.status_code == 201, r.text
        tokens = (
            await api.post("/api/v1/auth/token", data={"username": "bench@example.com", "password": PASSWORD})
        ).json()
        h = {"Authorization": f"Bearer {tokens['access_token']}"}
        companies = []
        for i in range(max(1, n // 100)):
            r = await api.post("/api/v1/companies", headers=h, json={"name": f"Bench client {i:03d}"})
            assert r.status_code == 201, r.text
            companies.append(r.json()["id"])

        async def fresh_token() -> str:
            nonlocal tokens
            tokens = (
                await api.post("/api/v1/auth/token", data={"username": "bench@example.com", "password": PASSWORD})
            ).json()
            return tokens["access_token"]

        queue: asyncio.Queue = asyncio.Queue()
        for i in range(n):
            queue.put_nowait(i)
        started = time.perf_counter()

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                body = {
                    "title": f"Deal {i:05d}",
                    "company_id": companies[i % len(companies)],
                    "stage": OPEN_STAGES[i % len(OPEN_STAGES)],
                    "amount": str(1000 + i),
                }
                for _attempt in range(20):  # the deals service learns a new card from the bus a moment later
                    try:
                        r = await api.post("/api/v1/deals", headers=h, json=body)
                    except httpx.TransportError as exc:  # a dropped connection: try again, report at the end
                        print(f"retrying deal {i} after {type(exc).__name__}", file=sys.stderr)
                        await asyncio.sleep(1)
                        continue
                    if r.status_code == 401:  # seeding outlived the access token (a loaded machine): sign in again
                        h["Authorization"] = f"Bearer {await fresh_token()}"
                        continue
                    if r.status_code == 201 or r.json().get("rule") == "requirement_missing":
                        break
                    await asyncio.sleep(0.5)
                if r.status_code != 201:
                    raise AssertionError(r.text)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        print(f"seeded {n} deals in {time.perf_counter() - started:.0f} s", flush=True)
        deals, cursor = [], None
        while True:
            page = (
                await api.get(
                    "/api/v1/deals",
                    headers=h,
                    params={"status": "open", "limit": 200, **({"cursor": cursor} if cursor else {})},
                )
            ).json()
            deals += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                break
        # A write retried after a lost answer may have opened a deal twice: the figures use what is there.
        assert len(deals) >= n, len(deals)
        return tokens, deals


def static_table(deals: list[dict]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(d['title'])}</td><td>{d['stage']}</td><td>{d['amount']}</td>"
        f"<td>{d['currency']}</td></tr>"
        for d in deals
    )
    return (
        f"<!doctype html><meta charset=utf-8><title>static</title><table id=t><thead><tr><th>Deal<th>Stage"
        f"<th>Amount<th>Currency</thead><tbody>{rows}</tbody></table>"
    )


FETCH_TABLE = """<!doctype html><meta charset=utf-8><title>fetch</title><table id=t><tbody></tbody></table>
<script>
(async () => {
  const token = JSON.parse(localStorage.getItem('mercator.tokens')).access_token;
  let cursor = null, rows = [];
  do {
    const q = new URLSearchParams({status: 'open', limit: '200'}); if (cursor) q.set('cursor', cursor);
    const page = await (await fetch('/api/v1/deals?' + q, {headers: {authorization: 'Bearer ' + token}})).json();
    rows.push(...page.items); cursor = page.next_cursor;
  } while (cursor);
  const esc = s => String(s).replace(/[&<>]/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;'})[c]);
  document.querySelector('#t tbody').innerHTML = rows.map(d =>
    `<tr><td>${esc(d.title)}<td>${d.stage}<td>${d.amount}<td>${d.currency}`).join('');
  window.loaded = rows.length;
})();
</script>"""


async def measure(page, url: str, ready: str, first: str | None = None) -> tuple[float, float | None]:
    """Milliseconds from navigation start until `ready` holds and the main thread is free again; and until
    `first` holds, when given."""
    await page.goto(url, wait_until="commit")
    first_ms = None
    if first:
        await page.wait_for_function(first, timeout=60_000, polling="raf")
        first_ms = await page.evaluate("performance.now()")
    await page.wait_for_function(ready, timeout=60_000, polling="raf")
    done = await page.evaluate(f"(async () => {{ {IDLE}; return performance.now(); }})()")
    return done, first_ms


async def bench(args) -> None:
    from playwright.async_api import async_playwright

    tmp = Path(tempfile.mkdtemp(prefix="mercator-bench-web-"))
    proc, gateway, log = launch(tmp)
    try:
        tokens, deals = await seed(gateway, args.deals, args.concurrency)
        n = len(deals)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            context = await browser.new_context(viewport={"width": 1600, "height": 900}, base_url=gateway)
            await context.add_init_script(
                "localStorage.setItem('mercator.tokens', " + repr(__import__("json").dumps(tokens)) + ");"
                "localStorage.setItem('mercator.lang', 'en');"
            )
            # The fetch baseline is served from the gateway's origin (same connection rules as the app).
            await context.route(
                "**/bench-fetch.html", lambda route: route.fulfill(body=FETCH_TABLE, content_type="text/html")
            )
            await context.route(
                "**/bench-static.html", lambda route: route.fulfill(body=static_table(deals), content_type="text/html")
            )
            page = await context.new_page()
            board_ready = (
                "[...document.querySelectorAll('[data-loaded]')]"
                f".reduce((s, c) => s + Number(c.dataset.loaded), 0) >= {n}"
                " && document.querySelectorAll('[data-testid=count]').length >= 8"
                " && [...document.querySelectorAll('[data-testid=count]')]"
                f".reduce((s, c) => s + Number(c.textContent.replace(/\\D/g, '')), 0) >= {n}"
            )
            first_card = "document.querySelector('[data-deal]') !== null"
            figures: dict[str, list[float]] = {
                "static table": [],
                "fetch + table": [],
                "board": [],
                "board, first card": [],
            }
            await measure(page, "/board", board_ready)  # warm-up: the app's files in the cache, as for a user
            for _ in range(args.rounds):
                figures["static table"].append(
                    (
                        await measure(
                            page, "/bench-static.html", f"document.querySelectorAll('#t tbody tr').length === {n}"
                        )
                    )[0]
                )
                figures["fetch + table"].append((await measure(page, "/bench-fetch.html", f"window.loaded === {n}"))[0])
                done, first_ms = await measure(page, "/board", board_ready, first_card)
                figures["board"].append(done)
                figures["board, first card"].append(first_ms)
            await browser.close()
        med = {k: statistics.median(v) for k, v in figures.items()}
        print(
            f"\n{n} open deals, chromium {CHROMIUM}, median of {args.rounds} rounds (ms from navigation start "
            f"to interactive):"
        )
        for k, v in med.items():
            print(f"  {k:<20} {v:8.0f}   rounds: {', '.join(f'{x:.0f}' for x in figures[k])}")
        print(f"  board / static table  {med['board'] / med['static table']:.2f}x")
        print(f"  board / fetch + table {med['board'] / med['fetch + table']:.2f}x")
        verdict = "met" if med["board"] < 1000 else "NOT met"
        print(f"  target: board interactive under 1000 ms — {verdict}")
    except BaseException:
        print(f"log: {log}", file=sys.stderr)
        raise
    finally:
        stop(proc)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deals", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8, help="parallel writers while seeding")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (databases, logs)")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit("bench/web.py needs Debian's chromium at /usr/bin/chromium (make system)")
    if not (ROOT / "web" / "dist" / "index.html").exists():
        sys.exit("bench/web.py needs the built front end (make web)")
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
