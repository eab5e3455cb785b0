"""Render workers: a worker that dies takes no render with it, and the workers stop with the service."""

import asyncio
import multiprocessing
import os
import signal

from mercator.common.migrate import upgrade
from mercator.common.runtime import Runtime
from mercator.common.testing.api import auth, caller, client
from mercator.notifications import rendering
from mercator.notifications.app import MIGRATIONS, build_app
from mercator.notifications.settings import NotificationsSettings
from mercator.notifications.testing import pdf_text

ROWS = "<table><tbody>{% for i in range(n) %}<tr><td>{{ i }}</td><td>строка</td></tr>{% endfor %}</tbody></table>"


def workers_started_since(before: set) -> set:
    return {p for p in multiprocessing.active_children() if p not in before}


async def test_a_render_whose_worker_is_killed_is_rendered_again_by_new_workers():
    """As when the kernel kills a worker (out of memory) or its CPU limit does: the renders in the pool with
    it are not lost."""
    renderer = rendering.Renderer(
        rendering.Limits(cpu_seconds=20, seconds=60, memory_mb=512, output_bytes=10_000_000, workers=2)
    )
    before = set(multiprocessing.active_children())
    try:
        await renderer.warm()
        first = workers_started_since(before)
        rendering_now = asyncio.create_task(renderer.document("Таблица", ROWS, {"n": 1000}))
        await asyncio.sleep(0.3)
        assert not rendering_now.done()
        for process in first:
            os.kill(process.pid, signal.SIGKILL)
        filename, content = await rendering_now
        assert filename == "Таблица.pdf" and "строка" in pdf_text(content)
        assert not any(p.is_alive() for p in first)
        assert (await renderer.email("Счёт {{ n }}", "{{ n * 2 }}", {"n": 21})) == ("Счёт 21", "42")
    finally:
        await renderer.aclose()


async def test_the_render_workers_start_and_stop_with_the_service(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}"
    await asyncio.to_thread(upgrade, url, MIGRATIONS)
    # Limits of its own: workers no other test shares.
    settings = NotificationsSettings(
        database_url=url,
        relay_enabled=False,
        consumers_enabled=False,
        kafka_bootstrap="127.0.0.1:9",
        render_workers=1,
        render_seconds=37,
    )
    app = build_app(settings, Runtime(settings))
    before = set(multiprocessing.active_children())
    async with app.router.lifespan_context(app):
        async with client(app, auth(settings, caller(roles=("marketing",)))) as api:
            r = await api.post(
                "/api/v1/templates",
                json={"name": "greeting", "kind": "email", "subject": "Привет", "body": "{{ company.name }}"},
            )
            assert r.status_code == 201, r.text
        workers = workers_started_since(before)
        assert len(workers) == 1
    assert not any(p.is_alive() for p in workers)
