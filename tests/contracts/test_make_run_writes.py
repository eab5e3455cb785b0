"""The gateway's own writes on `make run` (SQLite, one connection per service): a refused one answers at once."""

import time
import uuid

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.slow]


def test_a_refused_revoke_and_an_unknown_sign_out_answer_at_once(stack):
    """Both used to hold their request's transaction while the audit row waited for the one connection: 60 s
    each, and every other request to the gateway's database queued behind them."""
    headers = {"Authorization": f"Bearer {stack.admin_token()}"}
    with httpx.Client(base_url=stack.url, headers=headers, timeout=120) as api:
        for method, path, body, status in (
            ("POST", f"/api/v1/api-keys/{uuid.uuid4()}/revoke", None, 404),
            ("POST", "/api/v1/auth/logout", {"refresh_token": "x" * 43}, 204),
        ):
            started = time.monotonic()
            r = api.request(method, path, json=body)
            assert r.status_code == status, r.text
            assert time.monotonic() - started < 5, f"{path} took {time.monotonic() - started:.0f} s"
        assert api.get("/api/v1/users").status_code == 200
