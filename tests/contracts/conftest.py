"""What a partner integrating against Mercator gets: the published documents, and the API they describe."""

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from mercator.common.runtime import Runtime
from mercator.common.testing import apps
from mercator.common.testing.api import Switch
from mercator.common.testing.processes import run_env, run_ports, start_run


@pytest.fixture(scope="session")
def service_apps() -> dict:
    """Every service's app, as built for serving (their `/openapi.json` needs no database)."""
    return apps.service_apps()


@pytest.fixture(scope="session")
async def public_document(service_apps) -> dict:
    """`GET /api/v1/openapi.json` as the gateway merges it from every service's document (all in-process)."""
    from mercator.gateway.app import build_app as build_gateway
    from mercator.gateway.settings import GatewaySettings

    s = GatewaySettings(**apps.NOWHERE, admin_email=None, admin_password=None)
    gateway = build_gateway(s, Runtime(s), transports={name: Switch(app) for name, app in service_apps.items()})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway") as http:
        r = await http.get("/api/v1/openapi.json")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["x-missing-services"] == [], "every service's part is in it"
    return doc


ADMIN_EMAIL = "admin@contracts.test"
ADMIN_PASSWORD = "Contract-tests-42"
ADMIN_NAME = "Анна Партнёрова"


class Stack:
    """`make run` on free loopback ports: the broker, every service, the gateway in front."""

    def __init__(self, tmp: Path):

        self.data = tmp / "var"
        self.ports = run_ports()
        self.url = f"http://127.0.0.1:{self.ports['gateway']}"
        self.env = run_env(
            self.data,
            self.ports,
            MERCATOR_RUN_DEMO="false",
            MERCATOR_GATEWAY_ADMIN_EMAIL=ADMIN_EMAIL,
            MERCATOR_GATEWAY_ADMIN_PASSWORD=ADMIN_PASSWORD,
            MERCATOR_GATEWAY_ADMIN_NAME=ADMIN_NAME,
            # One partner's tools calling as fast as they can: not what the limit is there to stop.
            MERCATOR_GATEWAY_RATE_LIMIT="1000000/minute",
        )
        self.log = tmp / "run.log"
        self.admin_email, self.admin_password, self.admin_name = ADMIN_EMAIL, ADMIN_PASSWORD, ADMIN_NAME
        self.launcher: subprocess.Popen | None = None

    def start(self) -> None:
        self.launcher = start_run(self.env, self.log)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # up when the gateway merges every service's document
            if self.launcher.poll() is not None:
                raise RuntimeError(f"make run exited with {self.launcher.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                r = httpx.get(f"{self.url}/api/v1/openapi.json", timeout=5)
                if r.status_code == 200 and r.json()["x-missing-services"] == []:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"the stack did not come up:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        from mercator.common.testing.processes import sigkill_pids

        if self.launcher is None or self.launcher.poll() is not None:
            return
        self.launcher.send_signal(signal.SIGINT)  # the orderly stop
        try:
            self.launcher.wait(60)
        except subprocess.TimeoutExpired:
            pidfile = self.data / "run.pids"
            sigkill_pids(
                [self.launcher.pid, *(int(p) for p in pidfile.read_text().split())]
                if pidfile.exists()
                else [self.launcher.pid]
            )
            self.launcher.wait(10)

    def admin_token(self) -> str:
        r = httpx.post(
            f"{self.url}/api/v1/auth/token",
            timeout=10,
            data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "grant_type": "password"},
        )
        assert r.status_code == 200, r.text
        return r.json()["access_token"]


# For this folder's tests only: once they are done, its processes stop instead of idling through the rest of
# `make test`.
@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    """The whole system as `make run` starts it, with a first admin and a client card with a person and a deal."""
    running = Stack(tmp_path_factory.mktemp("stack"))
    try:
        running.start()
        headers = {"Authorization": f"Bearer {running.admin_token()}"}
        with httpx.Client(base_url=running.url, headers=headers, timeout=30) as api:
            card = api.post("/api/v1/companies", json={"name": "ООО «Партнёр»", "tax_id": "7707083893"})
            assert card.status_code == 201, card.text
            running.company_id = card.json()["id"]
            person = api.post(f"/api/v1/companies/{running.company_id}/persons", json={"name": "Иван Петров"})
            assert person.status_code == 201, person.text
            for _ in range(60):  # deals may learn of the new card from its event a moment later
                deal = api.post(
                    "/api/v1/deals",
                    json={"title": "Поставка станков", "company_id": running.company_id, "amount": "122000.00"},
                )
                if deal.status_code != 422:
                    break
                time.sleep(0.5)
            assert deal.status_code == 201, deal.text
            running.deal_id = deal.json()["id"]
        yield running
    finally:
        running.stop()
