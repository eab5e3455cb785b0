"""Prometheus metrics of one service process (its own registry, so tests can run many apps).

A registry of its own has none of the collectors prometheus-client puts on its default one, so the process's
(`process_*`: memory, CPU, file descriptors, start time), the interpreter's (`python_info`) and the garbage
collector's (`python_gc_*`) are registered here. The relay's child process (bus/relay_process.py) shows under
the same `process_*` names with `process="relay"`; the service's own series have no `process` label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

# What a consumer counts for each event type it handles (events_consumed_total's `outcome`).
CONSUMED_OUTCOMES = ("applied", "duplicate", "dead_lettered")


class Processes(Collector):
    """`process_*` of this process, and of its child processes (`watch`) with a `process` label."""

    def __init__(self) -> None:
        self._own = ProcessCollector(registry=None)
        self._children: dict[str, ProcessCollector] = {}

    def watch(self, name: str, pid: Callable[[], int | None]) -> None:
        """Shows the process `pid()` names (none while it answers None) as `process="<name>"`."""

        def path() -> str:
            found = pid()
            return "none" if found is None else str(found)  # /proc/none does not exist: no samples

        self._children[name] = ProcessCollector(pid=path, registry=None)

    def collect(self) -> Iterable[Metric]:
        families = {family.name: family for family in self._own.collect()}
        for name, collector in self._children.items():
            for family in collector.collect():
                merged = families.get(family.name)
                if merged is None:  # this process's own reading failed
                    merged = families[family.name] = Metric(family.name, family.documentation, family.type)
                for sample in family.samples:
                    merged.samples.append(sample._replace(labels={**sample.labels, "process": name}))
        return list(families.values())


class Metrics:
    def __init__(self, service: str):
        self.registry = r = CollectorRegistry()
        self.service = service
        self.processes = Processes()
        r.register(self.processes)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.http_requests = Counter(
            "http_requests_total", "HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.http_latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.outbox_backlog = Gauge("outbox_backlog", "Outbox rows committed but not yet published", registry=r)
        self.outbox_oldest_age = Gauge(
            "outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row", registry=r
        )
        self.events_published = Counter("events_published_total", "Events published to Kafka", ["type"], registry=r)
        self.broker_resets = Counter(
            "relay_broker_resets_total", "Times the relay found the broker had lost its log", registry=r
        )
        self.events_consumed = Counter(
            "events_consumed_total", "Events consumed", ["consumer", "type", "outcome"], registry=r
        )
        self.dead_lettered = Counter(
            "events_dead_lettered_total", "Events sent to a dead-letter topic", ["consumer", "type"], registry=r
        )
        self.consumer_lag = Gauge(
            "consumer_lag", "Messages behind the end of the partition", ["consumer", "topic", "partition"], registry=r
        )
        self.consumer_last_poll = Gauge(
            "consumer_last_poll_timestamp_seconds",
            "Unix time of the consumer's last completed poll of the broker",
            ["consumer"],
            registry=r,
        )
        # "task", not "job": Prometheus gives every series a `job` label of its own.
        self.task_last_success = Gauge(
            "task_last_success_timestamp_seconds",
            "Unix time a periodic task last finished without error",
            ["task"],
            registry=r,
        )
        self.task_failures = Counter("task_failures_total", "Runs of a periodic task that failed", ["task"], registry=r)

    def consumer(self, name: str, event_types: Iterable[str]) -> None:
        """A consumer's series at zero for each type it handles, before the first event: `increase()` and an
        alert see the first dead letter, not a series that appears with it."""
        for event_type in event_types:
            self.dead_lettered.labels(name, event_type)
            for outcome in CONSUMED_OUTCOMES:
                self.events_consumed.labels(name, event_type, outcome)

    def publisher(self, event_types: Iterable[str]) -> None:
        """events_published_total at zero for each type the service publishes."""
        for event_type in event_types:
            self.events_published.labels(event_type)

    def task(self, name: str) -> None:
        """A periodic task's failures at zero. Not its last success: a timestamp of 0 would say it never ran
        well since 1970 (MercatorOverdueSweepNotRun), where no series says it has not run yet."""
        self.task_failures.labels(name)
