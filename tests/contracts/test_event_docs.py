"""docs/events, what partners read to consume Mercator's events, against what runs: the published schemas are
exactly what a fresh `make events` writes, and the AsyncAPI document says where the brokers are and how (not)
to authenticate to them."""

import json
import re
from pathlib import Path

import yaml

from mercator.common.devrun import RunSettings
from mercator.common.events import CATALOGUE
from mercator.common.events.export import main as export

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "events"
MAKE_EVENTS = "docs/events is not what the events in catalogue.py are: run `make events` and commit docs/events"


def published() -> dict[str, str]:
    return {str(p.relative_to(DOCS)): p.read_text() for p in sorted(DOCS.rglob("*.json"))}


def test_docs_events_is_exactly_a_fresh_export(tmp_path):
    export(["--out", str(tmp_path)])
    fresh = {str(p.relative_to(tmp_path)): p.read_text() for p in sorted(tmp_path.rglob("*.json"))}
    docs = published()
    assert sorted(docs) == sorted(fresh), (
        f"{MAKE_EVENTS} (files differ: "
        f"stale {sorted(set(docs) - set(fresh))}, missing {sorted(set(fresh) - set(docs))})"
    )
    differing = [name for name in fresh if docs[name] != fresh[name]]
    assert not differing, f"{MAKE_EVENTS} (differ: {', '.join(differing)})"


# --- the AsyncAPI 3.0 document's structure ---------------------------------------------------------------
# No PyPI package validates AsyncAPI 3 offline (the official JSON Schema ships only on npm), so the parts of
# the specification this document uses are checked here.

SECURITY_TYPES = {
    "userPassword",
    "apiKey",
    "X509",
    "symmetricEncryption",
    "asymmetricEncryption",
    "httpApiKey",
    "http",
    "oauth2",
    "openIdConnect",
    "plain",
    "scramSha256",
    "scramSha512",
    "gssapi",
}


def resolve(doc: dict, ref: str):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolved $ref {ref}"
        node = node[part]
    return node


def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def asyncapi_problems(doc: dict) -> list[str]:
    problems = []
    if doc.get("asyncapi") != "3.0.0":
        problems.append(f"asyncapi is {doc.get('asyncapi')!r}, not 3.0.0")
    if not (doc.get("info", {}).get("title") and doc.get("info", {}).get("version")):
        problems.append("info needs title and version")
    for ref in refs(doc):
        try:
            resolve(doc, ref)
        except AssertionError as exc:
            problems.append(str(exc))
    components = doc.get("components", {})
    for name, scheme in components.get("securitySchemes", {}).items():
        if scheme.get("type") not in SECURITY_TYPES:
            problems.append(f"security scheme {name}: type {scheme.get('type')!r}")
    for name, server in doc.get("servers", {}).items():
        for field in ("host", "protocol"):
            if not isinstance(server.get(field), str) or not server[field]:
                problems.append(f"server {name}: no {field}")
        if "://" in server.get("host", ""):
            problems.append(f"server {name}: host is host[:port], without a scheme")
        if not isinstance(server.get("security", []), list):
            problems.append(f"server {name}: security is a list")
        for item in server.get("security", []):
            if set(item) != {"$ref"} or not item["$ref"].startswith("#/components/securitySchemes/"):
                problems.append(f"server {name}: security items refer to components/securitySchemes")
    for name, channel in doc.get("channels", {}).items():
        if not isinstance(channel.get("address"), str):
            problems.append(f"channel {name}: no address")
        for server in channel.get("servers", []):
            if not server.get("$ref", "").startswith("#/servers/"):
                problems.append(f"channel {name}: servers refer to #/servers")
    for name, op in doc.get("operations", {}).items():
        if op.get("action") not in ("send", "receive"):
            problems.append(f"operation {name}: action {op.get('action')!r}")
        channel_ref = op.get("channel", {}).get("$ref", "")
        if not channel_ref.startswith("#/channels/"):
            problems.append(f"operation {name}: channel is a $ref to #/channels")
        # A message of an operation must be one of its channel's messages.
        for message in op.get("messages", []):
            if not message.get("$ref", "").startswith(channel_ref + "/messages/"):
                problems.append(f"operation {name}: message {message} is not its channel's")
    for name, message in components.get("messages", {}).items():
        if "payload" not in message:
            problems.append(f"message {name}: no payload")
    return problems


def test_the_structure_check_finds_what_breaks_asyncapi_3():
    doc = json.loads((DOCS / "asyncapi.json").read_text())
    assert asyncapi_problems(doc) == []
    doc["servers"]["embedded"]["host"] = "kafka://127.0.0.1:9092"
    doc["components"]["securitySchemes"]["scram"] = {"type": "SCRAM"}
    doc["operations"]["receiveDealWon"]["messages"] = [{"$ref": "#/channels/DealLost/messages/DealLost"}]
    doc["channels"]["DealWon"]["messages"]["DealWon"]["$ref"] = "#/components/messages/NoSuch"
    assert len(asyncapi_problems(doc)) == 4


def test_the_asyncapi_document_says_where_the_brokers_are_and_that_they_take_no_credentials():
    doc = json.loads((DOCS / "asyncapi.json").read_text())
    assert asyncapi_problems(doc) == []
    assert {f"receive{name}" for name in CATALOGUE} == set(doc["operations"])
    servers = doc["servers"]

    # `make run`'s broker, where the launcher starts it.
    run = RunSettings.model_fields
    embedded = servers["embedded"]
    assert embedded["host"] == f"{run['host'].default}:{run['broker_port'].default}" == "127.0.0.1:9092"
    assert embedded["protocol"] == "kafka"  # not kafka-secure: no TLS

    # docker-compose's Kafka, as its services reach it (the listener it advertises; no port is published).
    kafka = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["kafka"]
    env = kafka["environment"]
    protocols = dict(pair.split(":") for pair in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    advertised = re.fullmatch(r"(\w+)://([^,]+)", env["KAFKA_ADVERTISED_LISTENERS"])
    assert advertised, "compose advertises one listener; describe each in asyncapi() when there are more"
    compose = servers["compose"]
    assert compose["host"] == advertised[2] == "kafka:9092"
    assert protocols[advertised[1]] == "PLAINTEXT" and compose["protocol"] == "kafka"
    assert compose["protocolVersion"] == kafka["image"].split(":")[1]

    # Neither asks for credentials today; the document must not claim otherwise, and says so in words.
    for name in ("embedded", "compose"):
        assert servers[name]["security"] == [], name
        assert "PLAINTEXT" in servers[name]["description"] and "no authentication" in servers[name]["description"]
    # SASL/SCRAM is described for when production turns it on, and plainly not in force on any server yet.
    schemes = doc["components"]["securitySchemes"]
    assert schemes["scramSha256"]["type"] == "scramSha256"
    assert "not enabled" in schemes["scramSha256"]["description"]
    assert not [
        s
        for s in servers.values()
        for item in s["security"]
        if item["$ref"] == "#/components/securitySchemes/scramSha256"
    ]
