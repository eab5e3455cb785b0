"""The gateway's /ops and /metrics are not on its public port.

The gateway served `/ops/status` and `/ops/quiesce` on the public port and took a service token for them: with
one, `POST /ops/quiesce` made every later write (sign-in included) answer 503 until a restart, and anyone read
/metrics. Now the probes, /metrics and /ops listen on an internal port of their own (`ops_port`), which neither
compose nor the Ingress publishes, and the public port answers 404 for them."""

import asyncio
import os
import signal
import subprocess
import sys

import httpx
import pytest

from mercator.common.auth import mint_token
from mercator.common.settings import ServiceSettings
from mercator.common.testing.api import caller, client
from mercator.common.testing.broker import free_port
from mercator.common.testing.processes import wait_http

OPS = caller("Дежурный", roles=("ops",))


async def test_the_public_app_has_no_operations_and_the_internal_one_has_them(gateway_app):
    token = mint_token(ServiceSettings(), OPS)
    headers = {"Authorization": f"Bearer {token}"}
    async with client(gateway_app, headers) as public:
        assert (await public.get("/healthz")).status_code == 200
        for path in ("/metrics", "/ops/status", "/livez", "/readyz"):
            assert (await public.get(path)).status_code == 404, path
        assert (await public.post("/ops/quiesce")).status_code in (404, 405)
    async with client(gateway_app.state.operations) as internal:
        assert (await internal.get("/metrics")).status_code == 200
        assert (await internal.get("/ops/status")).status_code == 401, "an ops token is still required"
        assert (await internal.get("/ops/status", headers=headers)).status_code == 200


async def test_a_running_gateway_listens_for_operations_apart_and_stops_both(tmp_path):
    port, ops_port = free_port(), free_port()
    env = {
        **os.environ,
        "MERCATOR_GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
        "MERCATOR_GATEWAY_HTTP_PORT": str(port),
        "MERCATOR_GATEWAY_OPS_PORT": str(ops_port),
        "MERCATOR_GATEWAY_KAFKA_BOOTSTRAP": "127.0.0.1:9",
        "MERCATOR_GATEWAY_RELAY_ENABLED": "false",
        "MERCATOR_GATEWAY_JSON_LOGS": "false",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "mercator.gateway", "serve"],
        env=env,
        stdout=open(tmp_path / "gateway.log", "ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/healthz", 60, proc)
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{ops_port}/healthz", 30, proc)
        headers = {"Authorization": f"Bearer {mint_token(ServiceSettings(), OPS)}"}
        async with httpx.AsyncClient(timeout=10, headers=headers) as http:
            assert (await http.post(f"http://127.0.0.1:{port}/ops/quiesce")).status_code in (404, 405)
            assert (await http.get(f"http://127.0.0.1:{port}/metrics")).status_code == 404
            # Nothing was quiesced: a write on the public port is still taken (401 for a made-up sign-in, not 503).
            r = await http.post(
                f"http://127.0.0.1:{port}/api/v1/auth/token", data={"username": "nobody@example.com", "password": "x"}
            )
            assert r.status_code == 401
            assert (await http.get(f"http://127.0.0.1:{ops_port}/metrics")).status_code == 200
            assert (await http.get(f"http://127.0.0.1:{ops_port}/ops/status")).status_code == 200
        proc.send_signal(signal.SIGTERM)
        # uvicorn stops gracefully, then lets the signal end the process as it would have.
        assert await asyncio.to_thread(proc.wait, 30) in (0, -signal.SIGTERM)
        for p in (port, ops_port):
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://127.0.0.1:{p}/healthz", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
