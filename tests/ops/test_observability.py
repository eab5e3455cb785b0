"""What ops sees of a running Mercator: a real Prometheus scraping every service (with the alert
rules loaded), and JSON logs in which one request can be followed through every service."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from mercator.common.bus.kafka import make_producer
from mercator.common.testing.broker import free_port
from mercator.common.testing.bus import until
from mercator.common.testing.plugin import need
from mercator.common.testing.processes import wait_http

pytestmark = [pytest.mark.postgres, pytest.mark.broker, pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CONSUMING = ("contacts", "deals", "billing", "analytics")
# Who consumes a client card's creation (CompanyCreated): where the request's trail must show up.
CARD_READERS = ("deals", "billing", "analytics")


def prometheus_config(stack, own_port: int) -> dict:
    """deploy/prometheus/prometheus.yml with each target moved to where the test runs the service."""
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    for job in config["scrape_configs"]:
        kept = []
        for group in job["static_configs"]:
            service = group.get("labels", {}).get("service")
            if job["job_name"] == "prometheus":
                group["targets"] = [f"127.0.0.1:{own_port}"]
            elif service in stack.members:
                group["targets"] = [r.ops_url.removeprefix("http://") for r in stack.members[service]]
            else:
                continue  # a service not installed in this checkout
            kept.append(group)
        job["static_configs"] = kept
    return config


@pytest.fixture(scope="module")
def prometheus(stack, tmp_path_factory):
    binary = shutil.which("prometheus")
    if binary is None:
        need("prometheus (Debian package prometheus)", "a real Prometheus scrapes the services")
    workdir = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    shutil.copy(ROOT / "deploy/prometheus/alerts.yml", workdir / "alerts.yml")
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config(stack, port)))
    log = open(workdir / "prometheus.log", "ab")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready", 60, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@asynccontextmanager
async def signed_in(stack):
    """The gateway, signed in as the first admin (made from the settings at start)."""
    async with httpx.AsyncClient(base_url=stack.url("gateway"), timeout=20) as api:
        answers: list[httpx.Response] = []

        async def sign_in() -> bool:
            answers.append(
                await api.post(
                    "/api/v1/auth/token",
                    data={"username": stack.admin_email, "password": stack.admin_password, "grant_type": "password"},
                )
            )
            return answers[-1].status_code == 200

        # The gateway makes its first admin in a job beside serving: it may answer before it exists.
        assert await until(sign_in, timeout=60, every=0.5), answers[-1].text
        api.headers["Authorization"] = f"Bearer {answers[-1].json()['access_token']}"
        yield api


async def query(prom: httpx.AsyncClient, promql: str) -> list[dict]:
    r = await prom.get("/api/v1/query", params={"query": promql})
    assert r.status_code == 200, r.text
    return r.json()["data"]["result"]


async def by_service(prom, promql: str) -> dict[str, float]:
    return {s["metric"].get("service", ""): float(s["value"][1]) for s in await query(prom, promql)}


async def test_prometheus_scrapes_every_service_and_finds_each_key_series(stack, prometheus):
    async with signed_in(stack) as api, httpx.AsyncClient(base_url=prometheus, timeout=10) as prom:
        # Traffic through the gateway to every service, and one client card whose event each reader consumes.
        card = await api.post("/api/v1/companies", json={"name": "ООО Наблюдение"})
        assert card.status_code == 201, card.text
        for path in ("/api/v1/companies", "/api/v1/deals", "/api/v1/invoices", "/api/v1/reports/client-base?by=status"):
            assert (await api.get(path)).status_code == 200, path
        assert (await api.get(f"/api/v1/companies/{uuid.uuid4()}")).status_code == 404
        # A message no consumer can read: each reader of the topic dead-letters it.
        producer = make_producer(stack.bootstrap, "ops-test")
        await producer.start()
        try:
            await producer.send_and_wait(f"{stack.prefix}CompanyCreated", value=b"not a cloud event", key=b"x")
        finally:
            await producer.stop()

        services = set(stack.members)

        async def all_up():
            return await by_service(prom, 'up{job="mercator"}') == dict.fromkeys(services, 1.0)

        assert await until(all_up, timeout=60, every=1), await by_service(prom, 'up{job="mercator"}')

        expected = {
            'sum by (service) (http_requests_total{job="mercator"})': {
                "gateway",
                "contacts",
                "deals",
                "billing",
                "analytics",
            },
            'sum by (service) (http_requests_total{job="mercator", status="404"})': {"gateway", "contacts"},
            "histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket[1m])))": {
                "gateway",
                "contacts",
                "deals",
                "billing",
                "analytics",
            },
            'outbox_backlog{job="mercator"}': services,
            'outbox_oldest_age_seconds{job="mercator"}': services,
            'sum by (service) (consumer_lag{job="mercator"})': set(CONSUMING) & services,
            'consumer_last_poll_timestamp_seconds{job="mercator"}': set(CONSUMING) & services,
            'sum by (service) (events_dead_lettered_total{job="mercator", type="CompanyCreated"})': set(CARD_READERS),
            'events_published_total{job="mercator", type="CompanyCreated"}': {"contacts"},
            'sum by (service) (events_consumed_total{job="mercator", type="CompanyCreated", outcome="applied"})': set(
                CARD_READERS
            ),
            'task_last_success_timestamp_seconds{job="mercator", task="overdue_sweep"}': {"billing"},
        }
        missing: dict[str, set[str]] = {}

        async def every_series_present():
            missing.clear()
            for promql, want in expected.items():
                got = set(await by_service(prom, promql))
                if not want <= got:
                    missing[promql] = want - got
            return not missing

        assert await until(every_series_present, timeout=90, every=1), missing

        # The overdue sweep's last success keeps moving (it runs every 5 s here).
        first = (await by_service(prom, 'task_last_success_timestamp_seconds{task="overdue_sweep"}'))["billing"]
        assert first > time.time() - 60

        async def moved():
            now = await by_service(prom, 'task_last_success_timestamp_seconds{task="overdue_sweep"}')
            return now.get("billing", 0) > first

        assert await until(moved, timeout=30, every=1)

        # The alert rules are loaded, evaluate without error, and the dead letter fired one.
        rules = (await prom.get("/api/v1/rules")).json()["data"]["groups"]
        assert {r["name"] for g in rules for r in g["rules"]} >= {"MercatorServiceDown", "MercatorDeadLetter"}
        assert all(r["health"] == "ok" for g in rules for r in g["rules"]), rules

        async def dead_letter_alert():
            alerts = (await prom.get("/api/v1/alerts")).json()["data"]["alerts"]
            return {
                a["labels"].get("service")
                for a in alerts
                if a["labels"]["alertname"] == "MercatorDeadLetter" and a["state"] == "firing"
            } >= set(CARD_READERS)

        assert await until(dead_letter_alert, timeout=30, every=1)
        # Every panel of the Grafana dashboard is PromQL this Prometheus accepts, and the panels
        # about what just happened show it.
        dashboard = json.loads((ROOT / "deploy/grafana/dashboards/mercator.json").read_text())
        empty = []
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                promql = target["expr"].replace("$__rate_interval", "1m").replace("$service", ".*")
                r = await prom.get("/api/v1/query", params={"query": promql})
                assert r.status_code == 200 and r.json()["status"] == "success", (panel["title"], r.text)
                if not r.json()["data"]["result"]:
                    empty.append(panel["title"])
        for title in (
            "Replicas up",
            "Requests per second",
            "Latency p50 / p99",
            "Consumer lag per group",
            "Outbox backlog",
            "Oldest unpublished event",
            "Dead letters (last 24 h)",
            "Events published per second",
            "Events consumed per second",
        ):
            assert title not in empty, f"panel {title!r} shows nothing"

        # Nothing is down, so no service-down alert.
        alerts = (await prom.get("/api/v1/alerts")).json()["data"]["alerts"]
        assert not [a for a in alerts if a["labels"]["alertname"] == "MercatorServiceDown"]


async def test_one_request_followed_through_every_service_and_event_in_the_json_logs(stack):
    request_id = f"trace-{uuid.uuid4()}"
    async with signed_in(stack) as api:
        r = await api.post("/api/v1/companies", json={"name": "ООО След"}, headers={"X-Request-ID": request_id})
        assert r.status_code == 201, r.text
        assert r.headers["x-request-id"] == request_id
        company_id = r.json()["id"]

    def lines(service: str) -> list[dict]:
        return [
            x
            for x in stack.log_records(stack.members[service][0])
            if isinstance(x, dict) and x.get("correlation_id") == request_id
        ]

    def applied_everywhere() -> bool:
        return all(
            any(x["message"] == "event applied" and x.get("event_type") == "CompanyCreated" for x in lines(s))
            for s in CARD_READERS
        )

    assert await until(lambda: asyncio.to_thread(applied_everywhere), timeout=60, every=0.5), {
        s: lines(s) for s in CARD_READERS
    }

    gateway = lines("gateway")
    assert any(
        x["message"] == "request"
        and x["request_id"] == request_id
        and x["route"] == "/api/v1/{resource}"
        and x["status"] == 201
        and x["method"] == "POST"
        for x in gateway
    ), gateway
    contacts = lines("contacts")
    assert any(x["message"] == "request" and x["request_id"] == request_id and x["status"] == 201 for x in contacts), (
        contacts
    )
    recorded = [x for x in contacts if x["message"] == "event recorded" and x["event_type"] == "CompanyCreated"]
    assert len(recorded) == 1 and recorded[0]["subject"] == company_id, contacts
    event_id = recorded[0]["event_id"]
    for service in CARD_READERS:
        applied = [x for x in lines(service) if x["message"] == "event applied"]
        # The same event, once, in every reader, under the request's correlation id.
        assert [x["event_id"] for x in applied if x["event_type"] == "CompanyCreated"] == [event_id], applied
        assert all(x["service"] == service and x["level"] == "INFO" for x in applied)

    # Every line every service wrote is one JSON object with the fields ops filters on.
    for replica in stack.all():
        for record in stack.log_records(replica):
            assert isinstance(record, dict), f"{replica.name} wrote a line that is not JSON: {record!r}"
            assert {"time", "level", "message", "service", "correlation_id", "request_id"} <= set(record), record
