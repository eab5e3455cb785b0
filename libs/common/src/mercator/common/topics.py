"""Kafka topics as code: `mercator topics apply --bootstrap HOST:PORT` (deploy/kafka/topics.yml).

The wanted topics are one per event type of the catalogue plus its `.DLQ`, shaped by the file.
Applying creates what is missing, raises partition counts that are too low, and sets the configs
of what exists; it never deletes a topic or lowers a partition count. The replication factor is
clamped to the brokers the cluster has, and the output says so. What the broker cannot do (an
old or partial Kafka implementation, e.g. Tansu has no AlterConfigs) is reported and makes the
command exit non-zero, so a deployment notices.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code

from mercator.common.events.catalogue import CATALOGUE

DEFAULT_FILE = Path("deploy/kafka/topics.yml")


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]


@dataclass
class Outcome:
    lines: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    changed: int = 0

    def say(self, line: str) -> None:
        self.lines.append(line)

    def fail(self, line: str) -> None:
        self.lines.append(f"NOT APPLIED: {line}")
        self.failed.append(line)


def wanted_topics(spec: dict, prefix: str = "", event_types: list[str] | None = None) -> list[TopicSpec]:
    """Every topic the file asks for: each event type and its dead-letter topic."""
    defaults = spec.get("defaults", {})
    business = spec.get("business_events", {})
    dead = spec.get("dead_letters", {})
    overrides = spec.get("topics", {}) or {}
    unknown = set(overrides) - set(CATALOGUE)
    if unknown:
        raise ValueError(f"topics.yml names event types the catalogue does not have: {sorted(unknown)}")

    def shaped(name: str, *layers: dict) -> TopicSpec:
        partitions, factor, config = 1, 1, {}
        for layer in (defaults, *layers):
            partitions = int(layer.get("partitions", partitions))
            factor = int(layer.get("replication_factor", factor))
            config.update({k: str(v) for k, v in (layer.get("config") or {}).items()})
        return TopicSpec(name, partitions, factor, config)

    out = []
    for event_type in sorted(event_types if event_types is not None else CATALOGUE):
        topic = f"{prefix}{event_type}"
        out.append(shaped(topic, business, overrides.get(event_type, {})))
        out.append(shaped(f"{topic}.DLQ", dead))
    return out


def clamp(topics: list[TopicSpec], brokers: int) -> list[TopicSpec]:
    """A replication factor the cluster can hold, and min.insync.replicas below it."""
    out = []
    for t in topics:
        factor = min(t.replication_factor, brokers)
        config = dict(t.config)
        if "min.insync.replicas" in config:
            config["min.insync.replicas"] = str(min(int(config["min.insync.replicas"]), factor))
        out.append(TopicSpec(t.name, t.partitions, factor, config))
    return out


async def apply(
    bootstrap: str, topics: list[TopicSpec], *, dry_run: bool = False, say: Callable[[str], None] | None = None
) -> Outcome:
    outcome = Outcome()
    if say is not None:
        tell = say

        def keep_and_tell(line: str) -> None:
            outcome.lines.append(line)
            tell(line)

        outcome.say = keep_and_tell  # type: ignore[method-assign]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="mercator-topics", request_timeout_ms=30_000)
    await admin.start()
    try:
        topics = await _within_the_cluster(admin, bootstrap, topics, outcome)
        # Listed first: a metadata request naming a topic that does not exist creates it on a
        # broker with auto-creation on (Tansu, Kafka's default), with the broker's defaults.
        listed = set(await admin.list_topics())
        named = [t.name for t in topics if t.name in listed]
        existing = {
            t["topic"]: t for t in (await admin.describe_topics(named) if named else []) if t["error_code"] == 0
        }
        await _create_missing(admin, [t for t in topics if t.name not in existing], dry_run, outcome)
        await _bring_in_line(admin, [t for t in topics if t.name in existing], existing, dry_run, outcome)
        unchanged = len(topics) - outcome.changed
        verb = "would change" if dry_run else "changed"
        outcome.say(
            f"{len(topics)} topics: {outcome.changed} {verb}, {unchanged} already as asked"
            + (f", {len(outcome.failed)} not applied" if outcome.failed else "")
        )
        return outcome
    finally:
        await admin.close()


async def _within_the_cluster(
    admin: AIOKafkaAdminClient, bootstrap: str, topics: list[TopicSpec], outcome: Outcome
) -> list[TopicSpec]:
    """The topics with no replication factor above the number of brokers there are."""
    brokers = len((await admin.describe_cluster())["brokers"])
    wanted_factor = max((t.replication_factor for t in topics), default=1)
    if brokers < wanted_factor:
        outcome.say(
            f"replication factor {wanted_factor} clamped to {brokers}: "
            f"the cluster at {bootstrap} has {brokers} broker{'s' if brokers != 1 else ''}"
        )
    return clamp(topics, brokers)


async def _create_missing(
    admin: AIOKafkaAdminClient, missing: list[TopicSpec], dry_run: bool, outcome: Outcome
) -> None:
    for t in missing:
        outcome.say(
            f"create {t.name}: {t.partitions} partitions, replication factor {t.replication_factor}, "
            + ", ".join(f"{k}={v}" for k, v in sorted(t.config.items()))
        )
    if missing and not dry_run:
        response = await admin.create_topics(
            [NewTopic(t.name, t.partitions, t.replication_factor, topic_configs=t.config) for t in missing]
        )
        for name, code, message in response.topic_errors:
            if code:
                outcome.fail(f"create {name}: {for_code(code).__name__} {message or ''}".strip())
    outcome.changed += len(missing)


async def _bring_in_line(
    admin: AIOKafkaAdminClient, present: list[TopicSpec], existing: dict, dry_run: bool, outcome: Outcome
) -> None:
    """Topics that exist: more partitions where more are asked, their managed configs as the file says; what
    cannot be changed in place (fewer partitions, a higher replication factor) is said, not done."""
    current = await _configs(admin, [t.name for t in present]) if present else {}
    grow: dict[str, NewPartitions] = {}
    alter: list[TopicSpec] = []
    for t in present:
        have = len(existing[t.name]["partitions"])
        factors = {len(p["replicas"]) for p in existing[t.name]["partitions"]}
        if have < t.partitions:
            outcome.say(f"{t.name}: partitions {have} -> {t.partitions}")
            grow[t.name] = NewPartitions(t.partitions)
        elif have > t.partitions:
            outcome.say(
                f"{t.name}: has {have} partitions, more than the {t.partitions} asked; "
                "left as is (partitions cannot be removed)"
            )
        if factors and min(factors) < t.replication_factor:
            outcome.fail(
                f"{t.name}: replication factor {min(factors)}, {t.replication_factor} wanted; "
                "raise it by a partition reassignment (kafka-reassign-partitions.sh)"
            )
        drift = {
            k: (current.get(t.name, {}).get(k), v) for k, v in t.config.items() if current.get(t.name, {}).get(k) != v
        }
        if drift:
            outcome.say(f"{t.name}: " + ", ".join(f"{k} {old} -> {new}" for k, (old, new) in sorted(drift.items())))
            alter.append(t)
    outcome.changed += len(grow) + len(alter)
    if dry_run:
        return
    for name, partitions in grow.items():
        try:
            await admin.create_partitions({name: partitions})
        except Exception as exc:
            outcome.fail(f"{name}: partitions not raised: {_why(exc)}")
    if alter:
        try:
            # AlterConfigs sets the whole managed set at once: the file is the truth.
            responses = await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, t.name, configs=t.config) for t in alter]
            )
            for response in responses:
                for code, message, _type, name in response.resources:
                    if code:
                        outcome.fail(f"{name}: configs not set: {for_code(code).__name__} {message or ''}")
        except Exception as exc:
            for t in alter:
                outcome.fail(f"{t.name}: configs not set: {_why(exc)}")


async def _configs(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names]):
        for resource in response.resources:
            code, _message, _type, name, entries = resource[:5]
            if code == 0:
                out[name] = {e[0]: e[1] for e in entries}
    return out


def _why(exc: Exception) -> str:
    if type(exc).__name__ == "IncompatibleBrokerVersion":
        return "the broker does not support this request"
    return f"{type(exc).__name__}: {exc}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mercator topics", description="Kafka topics as code")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("apply", "create and update the topics"), ("plan", "say what apply would do")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--bootstrap", required=True, help="HOST:PORT of any broker")
        p.add_argument("--file", type=Path, default=DEFAULT_FILE, help=f"the topics file (default {DEFAULT_FILE})")
        p.add_argument("--prefix", default="", help="the deployment's topic prefix (MERCATOR_*_TOPIC_PREFIX)")
        if name == "apply":
            p.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")
    args = parser.parse_args(argv)
    if not args.file.exists():
        parser.error(f"no topics file at {args.file} (give --file)")
    try:
        topics = wanted_topics(yaml.safe_load(args.file.read_text()), args.prefix)
    except (ValueError, yaml.YAMLError) as exc:
        parser.error(f"{args.file}: {exc}")
    dry_run = args.command == "plan" or args.dry_run
    outcome = asyncio.run(apply(args.bootstrap, topics, dry_run=dry_run, say=print))
    for line in outcome.failed:
        print(f"error: {line}", file=sys.stderr)
    return 1 if outcome.failed else 0


def cli(argv: list[str] | None = None) -> None:
    """The `mercator` command: `mercator topics apply|plan ...`."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "topics":
        print("usage: mercator topics {apply,plan} --bootstrap HOST:PORT [--file F] [--prefix P]", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main(argv[1:]))


if __name__ == "__main__":
    raise SystemExit(main())
