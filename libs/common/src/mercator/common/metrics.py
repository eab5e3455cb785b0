"""Prometheus metrics of one service process (its own registry, so tests can run many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self, service: str):
        self.registry = r = CollectorRegistry()
        self.service = service
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
