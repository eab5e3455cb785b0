"""A document template fetches nothing and reads no file.

fpdf2, which lays a document's HTML out as a PDF, fetched an `<img>` whose src is a URL and read one that is a
path: whoever writes templates could make the notifications service call any address it reaches, or put its own
files into a PDF mailed to a client. Images are now embedded as data: URIs; any other src is refused at save,
naming the body, and nothing is fetched."""

import asyncio
import base64
import io
import socket
import threading

import pytest

from mercator.common.testing.api import auth, caller, client


@pytest.fixture
async def templates(service_app):
    settings, _, app = await service_app("notifications")
    async with client(app, auth(settings, caller("Мария", roles=("marketing",)))) as api:
        yield api


@pytest.fixture
def listener():
    """A loopback port that counts who connects to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    calls, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            calls.append(conn.recv(200))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], calls
    stop.set()
    thread.join(2)
    server.close()


def png() -> str:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (2, 2), (200, 30, 30)).save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


async def test_an_image_from_an_address_or_a_file_is_refused_and_nothing_is_fetched(templates, listener):
    port, calls = listener
    for src in (f"http://127.0.0.1:{port}/logo.png", "/etc/hostname", "file:///etc/hostname"):
        r = await templates.post(
            "/api/v1/templates",
            json={
                "name": f"logo-{abs(hash(src))}",
                "kind": "document",
                "subject": "Счёт",
                "body": f'<p>Счёт</p><img src="{src}" width="40" height="40">',
            },
        )
        assert r.status_code == 422, (src, r.text)
        assert r.json()["errors"][0]["field"] == "body"
        assert "data:image" in r.json()["errors"][0]["message"]
    await asyncio.sleep(0.3)
    assert calls == [], "the service fetched a template's image"


async def test_an_embedded_image_is_laid_out(templates):
    r = await templates.post(
        "/api/v1/templates",
        json={
            "name": "logo",
            "kind": "document",
            "subject": "Счёт",
            "body": f'<p>Счёт</p><img src="{png()}" width="40" height="40">',
        },
    )
    assert r.status_code == 201, r.text
