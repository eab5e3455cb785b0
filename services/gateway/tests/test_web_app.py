"""The web front end's files at `/`: the app's page for any path the browser's router owns, assets with
long caching, and nothing of the API or the file system changed or exposed by it."""

import pytest

from mercator.common.testing.api import client

pytestmark = pytest.mark.postgres


@pytest.fixture
def dist(tmp_path):
    d = tmp_path / "dist"
    (d / "assets").mkdir(parents=True)
    (d / "index.html").write_text("<!doctype html><div id=root></div>")
    (d / "assets" / "app-1a2b3c.js").write_text("console.log('app')")
    (d / "sw.js").write_text("// service worker")
    (tmp_path / "secret.txt").write_text("not for the web")
    return d


@pytest.fixture
def settings(settings, dist):
    return settings.model_copy(update={"web_dist": dist})


async def test_the_app_page_answers_every_path_the_browser_router_owns(anon):
    for path in ("/", "/clients", "/clients/6b1f0a52-3a7e-4c1e-9d55-0d3c5b2f1e10", "/board"):
        r = await anon.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        assert "id=root" in r.text
        assert r.headers["cache-control"] == "no-cache"


async def test_assets_are_cached_for_good_and_other_files_revalidated(anon):
    r = await anon.get("/assets/app-1a2b3c.js")
    assert r.status_code == 200 and "console.log" in r.text
    assert "immutable" in r.headers["cache-control"]
    r = await anon.get("/sw.js")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-cache"


async def test_a_missing_file_is_404_not_the_app_page(anon):
    r = await anon.get("/assets/gone-000.js")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_nothing_outside_the_built_files_is_served(anon):
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt"):
        r = await anon.get(path)
        assert "not for the web" not in r.text, path


async def test_the_api_is_untouched(anon):
    assert (await anon.get("/api/v1/companies")).status_code == 401
    r = await anon.get("/api/v2/anything")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert (await anon.get("/healthz")).json()
    assert (await anon.get("/api/v1/live")).status_code == 401


async def test_live_updates_answer_503_where_the_gateway_reads_no_bus(admin_api):
    r = await admin_api.get("/api/v1/live")
    assert r.status_code == 503 and "Retry-After" in r.headers


async def test_without_a_build_the_root_says_how_to_make_one(app, tmp_path):
    app.state.runtime.settings.web_dist = tmp_path / "nothing-here"
    async with client(app) as c:
        r = await c.get("/")
    assert r.status_code == 404
    assert "make web" in r.json()["detail"]


async def test_answers_travel_compressed_to_a_client_that_takes_gzip(anon):
    # httpx unpacks gzip itself; the header says what travelled, the body must still be the document.
    r = await anon.get("/api/v1/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers.get("content-encoding") == "gzip"
    assert "/api/v1/auth/token" in r.json()["paths"]
    plain = await anon.get("/api/v1/openapi.json", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.json() == r.json()
