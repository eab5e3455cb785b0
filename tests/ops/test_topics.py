"""Topics as code: `mercator topics apply` against a real Kafka-protocol broker (Tansu, one node)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from mercator.common.bus.kafka import ensure_topics
from mercator.common.events.catalogue import CATALOGUE
from mercator.common.topics import TopicSpec, clamp, wanted_topics

ROOT = Path(__file__).resolve().parents[2]
FILE = ROOT / "deploy/kafka/topics.yml"
SPEC = yaml.safe_load(FILE.read_text())


def mercator(*args: str) -> subprocess.CompletedProcess:
    """The `mercator` command as an operator runs it (the console script beside this Python)."""
    exe = shutil.which("mercator", path=str(Path(sys.executable).parent))
    assert exe, "the mercator console script is not installed (make venv)"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


async def topic_state(bootstrap: str, names: list[str]) -> dict[str, tuple[int, dict[str, str]]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        # Only listed ones: naming a missing topic in a metadata request would create it.
        listed = [n for n in names if n in set(await admin.list_topics())]
        described = {
            t["topic"]: len(t["partitions"])
            for t in (await admin.describe_topics(listed) if listed else [])
            if t["error_code"] == 0
        }
        configs = {}
        for response in await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in described]):
            for _code, _msg, _type, name, entries in response.resources:
                configs[name] = {e[0]: e[1] for e in entries}
        return {n: (p, configs.get(n, {})) for n, p in described.items()}
    finally:
        await admin.close()


def test_every_event_type_gets_a_topic_and_a_dead_letter_topic_shaped_by_the_file():
    topics = {t.name: t for t in wanted_topics(SPEC, "p.")}
    assert set(topics) == {f"p.{t}" for t in CATALOGUE} | {f"p.{t}.DLQ" for t in CATALOGUE}
    assert topics["p.DealWon"] == TopicSpec(
        "p.DealWon",
        6,
        3,
        {"min.insync.replicas": "2", "retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"},
    )
    assert topics["p.ActivityLogged"].partitions == 12
    assert topics["p.DealWon.DLQ"].partitions == 1
    assert topics["p.DealWon.DLQ"].config["retention.ms"] == str(30 * 24 * 3600 * 1000)


def test_a_replication_factor_is_clamped_to_the_brokers_and_min_insync_below_it():
    [one] = clamp([TopicSpec("t", 6, 3, {"min.insync.replicas": "2"})], brokers=1)
    assert (one.replication_factor, one.config["min.insync.replicas"]) == (1, "1")
    [five] = clamp([TopicSpec("t", 6, 3, {"min.insync.replicas": "2"})], brokers=5)
    assert (five.replication_factor, five.config["min.insync.replicas"]) == (3, "2")


def test_a_file_naming_an_unknown_event_type_is_refused_and_changes_nothing(tmp_path):
    bad = tmp_path / "topics.yml"
    bad.write_text(yaml.safe_dump({**SPEC, "topics": {"DealWonn": {"partitions": 3}}}))
    out = mercator("topics", "apply", "--bootstrap", "127.0.0.1:1", "--file", str(bad))
    assert out.returncode == 2
    assert "DealWonn" in out.stderr


@pytest.mark.broker
async def test_apply_creates_every_topic_then_finds_nothing_to_do(tansu):
    prefix = f"topics{uuid.uuid4().hex[:8]}."
    out = await asyncio.to_thread(mercator, "topics", "apply", "--bootstrap", tansu.bootstrap, "--prefix", prefix)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"replication factor 3 clamped to 1: the cluster at {tansu.bootstrap} has 1 broker" in out.stdout
    wanted = wanted_topics(SPEC, prefix)
    assert f"{len(wanted)} topics: {len(wanted)} changed, 0 already as asked" in out.stdout

    state = await topic_state(tansu.bootstrap, [t.name for t in wanted])
    assert set(state) == {t.name for t in wanted}
    assert state[f"{prefix}ActivityLogged"][0] == 12
    assert state[f"{prefix}InvoiceOverdue"] == (
        6,
        {"min.insync.replicas": "1", "retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"},
    )
    assert state[f"{prefix}InvoiceOverdue.DLQ"] == (
        1,
        {"min.insync.replicas": "1", "retention.ms": "2592000000", "cleanup.policy": "delete"},
    )

    again = await asyncio.to_thread(mercator, "topics", "apply", "--bootstrap", tansu.bootstrap, "--prefix", prefix)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{len(wanted)} topics: 0 changed, {len(wanted)} already as asked" in again.stdout
    assert "create " not in again.stdout


@pytest.mark.broker
async def test_a_topic_a_service_created_on_its_own_is_reported_and_what_the_broker_cannot_change_fails(tansu):
    prefix = f"topics{uuid.uuid4().hex[:8]}."
    # A service started before the topics were applied creates its topics bare (3 partitions, no retention).
    await ensure_topics(tansu.bootstrap, [f"{prefix}DealWon"], 3)

    plan = await asyncio.to_thread(mercator, "topics", "plan", "--bootstrap", tansu.bootstrap, "--prefix", prefix)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert f"{prefix}DealWon: partitions 3 -> 6" in plan.stdout
    assert "retention.ms None -> -1" in plan.stdout
    assert (await topic_state(tansu.bootstrap, [f"{prefix}DealLost"])) == {}, "plan created a topic"

    out = await asyncio.to_thread(mercator, "topics", "apply", "--bootstrap", tansu.bootstrap, "--prefix", prefix)
    # Tansu has neither CreatePartitions nor AlterConfigs: said, and a non-zero exit for the deployment.
    assert out.returncode == 1
    assert f"{prefix}DealWon: partitions not raised: the broker does not support this request" in out.stderr
    assert f"{prefix}DealWon: configs not set: the broker does not support this request" in out.stderr
    # Everything else was still created.
    state = await topic_state(tansu.bootstrap, [f"{prefix}DealLost", f"{prefix}DealWon.DLQ"])
    assert state[f"{prefix}DealLost"][1]["retention.ms"] == "-1"
    assert state[f"{prefix}DealWon.DLQ"][0] == 1
