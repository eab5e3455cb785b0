"""Property-based fuzzing of the public API (schemathesis) through the gateway, in front of real contacts,
deals and billing apps (in-process, each with its own PostgreSQL database; analytics is left out and so
named in `x-missing-services`).

Every operation of the merged `/api/v1/openapi.json` gets a few derandomised examples, valid and invalid,
sent with a signed-in user's bearer token; each answer must not be a 5xx and must conform to the
document: a documented status code, the documented content type, a body valid against its schema.

schemathesis and Hypothesis are synchronous and the apps live on the test's event loop (their database
connections belong to it), so Hypothesis runs in a worker thread and every request it makes is handed to
the loop (`LoopAdapter`) and sent there through `httpx.ASGITransport`.
"""

import asyncio
import io
import os
from collections import Counter
from pathlib import Path

import httpx
import pytest
import requests
import urllib3

from mercator.common.testing.fuzz import fuzz, hypothesis_home

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# Per operation and per mode (valid, invalid); MERCATOR_FUZZ_EXAMPLES=50 for a deeper run by hand.
MAX_EXAMPLES = int(os.environ.get("MERCATOR_FUZZ_EXAMPLES", "5"))
BASE = "http://gateway.test"


# Bugs this test found in the services (not the gateway's to fix): while an operation here still fails, the
# test is an expected failure naming them; any other failure fails it.
def wire(app) -> httpx.ASGITransport:
    """In-process, but as over the network: a service's unhandled error is its 500 answer, not an exception
    raised into the caller."""
    return httpx.ASGITransport(app=app, raise_app_exceptions=False)


@pytest.fixture
def upstream_transports(switched_services):
    return switched_services


class LoopAdapter(requests.adapters.HTTPAdapter):
    """A `requests` adapter (what schemathesis sends with) that sends on the test's event loop instead."""

    def __init__(self, http: httpx.AsyncClient, loop: asyncio.AbstractEventLoop):
        super().__init__()
        self.http, self.loop = http, loop
        self.statuses: Counter[str] = Counter()

    def send(self, request: requests.PreparedRequest, *args, timeout=None, **kwargs) -> requests.Response:
        body = request.body.encode() if isinstance(request.body, str) else request.body
        sent = self.http.request(request.method, request.url, headers=dict(request.headers), content=body)
        answer = asyncio.run_coroutine_threadsafe(sent, self.loop).result(timeout=120)
        self.statuses[f"{answer.status_code // 100}xx" if answer.status_code < 400 else str(answer.status_code)] += 1
        # httpx has already decoded a gzipped body: its encoding and its length on the wire no longer apply.
        headers = [
            (k, v) for k, v in answer.headers.multi_items() if k.lower() not in ("content-encoding", "content-length")
        ]
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(answer.content),
            headers=headers,
            status=answer.status_code,
            reason=answer.reason_phrase,
            version=11,
            preload_content=False,
            decode_content=False,
            request_method=request.method,
        )
        return self.build_response(request, raw)


async def test_the_public_api_answers_as_its_document_says(app, make_user, sign_in, anon, tmp_path):
    hypothesis_home(tmp_path / "hypothesis")  # nothing left in the repo
    app.state.upstreams.limit = __import__("limits").parse("1000000/minute")  # the fuzzer is one busy caller
    # A manager who is also an admin, so the gateway's own admin routes are fuzzed past their 403.
    await make_user("fuzz@mercator.test", roles=("manager", "admin"), name="Fuzz Manager")
    r = await sign_in("fuzz@mercator.test")
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]

    r = await anon.get("/api/v1/openapi.json")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["x-missing-services"] == ["analytics"]  # not started here

    session = requests.Session()
    async with httpx.AsyncClient(transport=wire(app), base_url=BASE) as http:
        session.mount("http://", adapter := LoopAdapter(http, asyncio.get_running_loop()))
        auth = {"Authorization": f"Bearer {token}"}
        operations, calls, failures = await asyncio.to_thread(fuzz, doc, session, BASE, lambda: auth, MAX_EXAMPLES)
    print(f"\nfuzzed {operations} operations with {calls} calls; answers: {dict(sorted(adapter.statuses.items()))}")
    assert not list(Path.cwd().glob(".hypothesis"))  # the database stays off
    assert operations >= 60 and calls >= operations * MAX_EXAMPLES
    assert adapter.statuses["2xx"] >= operations  # not merely refused: the services answered
    assert not failures, f"{len(failures)} of {operations} operations failed:\n\n" + "\n\n".join(
        texts[0][:3000] for texts in failures.values()
    )
