"""What an operator watching a soak test in Prometheus sees on a service's /metrics from its first scrape: the
process's memory, CPU and file descriptors (the relay's child process's too), and every counter it can already
name at zero, so `increase()` and the alerts see the first dead letter rather than a series that appears with it."""

import asyncio
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mercator.billing import consumers
from mercator.common.events.catalogue import types_owned_by
from mercator.common.testing.broker import free_port
from mercator.common.testing.processes import sigkill, start_service, wait_http

pytestmark = [pytest.mark.e2e]


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scraped: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float | None:
    return scraped.get((name, frozenset(labels.items())))


async def test_a_fresh_service_shows_its_processes_and_its_counters_at_zero(tmp_path):
    port = free_port()
    prefix = f"m{uuid.uuid4().hex[:6]}."
    env = {
        "MERCATOR_BILLING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'billing.db'}",
        "MERCATOR_BILLING_HTTP_PORT": str(port),
        "MERCATOR_BILLING_TOPIC_PREFIX": prefix,
        # No broker: nothing is published or consumed, what is scraped is the state before any event.
        "MERCATOR_BILLING_KAFKA_BOOTSTRAP": "127.0.0.1:9",
        "MERCATOR_BILLING_JSON_LOGS": "false",
    }
    proc = start_service("billing", env, tmp_path / "billing.log")
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/healthz", 60, proc)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

            async def scrape() -> dict[tuple[str, frozenset], float]:
                answer = await http.get("/metrics")
                assert answer.status_code == 200
                return samples(answer.text)

            scraped = await scrape()
            # The service's own process.
            assert (value(scraped, "process_resident_memory_bytes") or 0) > 0
            assert (value(scraped, "process_open_fds") or 0) > 0
            assert value(scraped, "process_cpu_seconds_total") is not None
            assert value(scraped, "process_start_time_seconds") is not None
            assert any(name == "python_info" for name, _ in scraped)

            # Before any event: each consumer's dead letters and outcomes per type it handles, what the service
            # publishes per type, the sweep's failures.
            for group, handlers in {"deals": consumers.DEALS, "contacts": consumers.CONTACTS}.items():
                consumer = f"{prefix}billing.{group}"
                for event_type in handlers:
                    assert value(scraped, "events_dead_lettered_total", consumer=consumer, type=event_type) == 0
                    for outcome in ("applied", "duplicate", "dead_lettered"):
                        labels = {"consumer": consumer, "type": event_type, "outcome": outcome}
                        assert value(scraped, "events_consumed_total", **labels) == 0, labels
            assert types_owned_by("billing")
            for event_type in types_owned_by("billing"):
                assert value(scraped, "events_published_total", type=event_type) == 0
            assert value(scraped, "task_failures_total", task="overdue_sweep") == 0
            assert value(scraped, "relay_broker_resets_total") == 0
            # Never at zero (the sweep ran once at the start): a last success at 0 would say 1970.
            assert all(v > 0 for (name, _), v in scraped.items() if name == "task_last_success_timestamp_seconds")

            # The relay's child process, under the same names.
            for _ in range(100):
                if value(scraped, "process_resident_memory_bytes", process="relay"):
                    break
                await asyncio.sleep(0.1)
                scraped = await scrape()
            assert (value(scraped, "process_resident_memory_bytes", process="relay") or 0) > 0
            assert (value(scraped, "process_open_fds", process="relay") or 0) > 0
            assert value(scraped, "process_cpu_seconds_total", process="relay") is not None
            relay_start = value(scraped, "process_start_time_seconds", process="relay")
            own_start = value(scraped, "process_start_time_seconds")
            assert relay_start is not None and own_start is not None and relay_start >= own_start
    finally:
        sigkill(proc)
