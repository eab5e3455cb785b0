"""Export the event catalogue for partners: JSON Schema per event type and an AsyncAPI 3 document.

python -m mercator.common.events.export --out docs/events [--prefix PREFIX]
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

from mercator.common.devrun import RunSettings
from mercator.common.events.catalogue import CATALOGUE
from mercator.common.events.envelope import attribute_names

_RUN = RunSettings.model_fields  # the defaults, not this shell's MERCATOR_RUN_*: the document is one for everybody

# Where a partner's consumer connects, and with what. Both brokers are PLAINTEXT listeners without SASL; a
# server that requires credentials lists its scheme under `security` the day it does, never before.
SERVERS = {
    "embedded": {
        "host": f"{_RUN['host'].default}:{_RUN['broker_port'].default}",
        "protocol": "kafka",
        "title": "make run",
        "description": "The embedded run's Tansu broker (in memory), on the loopback interface only. PLAINTEXT: "
        "no TLS and no authentication (no SASL); anyone who can reach the port can read and "
        "write every topic.",
        "security": [],
    },
    "compose": {
        "host": "kafka:9092",
        "protocol": "kafka",
        "protocolVersion": "3.9.0",
        "title": "docker compose",
        "description": "docker-compose.yml's Apache Kafka (KRaft, one node), reachable from the compose network "
        "only (no port is published to the host). PLAINTEXT: no TLS and no authentication "
        "(no SASL).",
        "security": [],
    },
}
SECURITY_SCHEMES = {
    "scramSha256": {
        "type": "scramSha256",
        "description": "SASL/SCRAM-SHA-256 with a user name and password per consumer, over TLS: planned for "
        "production brokers, not enabled on any server of this document yet. A server that "
        "requires it will list it under its `security`.",
    },
}


def json_schemas() -> dict[str, dict]:
    return {name: model.model_json_schema() for name, model in sorted(CATALOGUE.items())}


def asyncapi(prefix: str = "") -> dict:
    channels, operations, messages, schemas = {}, {}, {}, {}
    header_schema = {
        "type": "object",
        "description": "CloudEvents 1.0 attributes, Kafka binary content mode",
        "properties": {f"ce_{a}": {"type": "string"} for a in attribute_names()},
        "required": ["ce_id", "ce_type", "ce_source", "ce_specversion", "ce_subject"],
    }
    for name, model in sorted(CATALOGUE.items()):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in schema.pop("$defs", {}).items():
            schemas[def_name] = definition
        schemas[name] = schema
        messages[name] = {
            "name": name,
            "title": name,
            "summary": (model.__doc__ or name).strip().splitlines()[0],
            "contentType": "application/json",
            "headers": header_schema,
            "payload": {"$ref": f"#/components/schemas/{name}"},
            "bindings": {
                "kafka": {"key": {"type": "string", "format": "uuid", "description": f"{model.aggregate} id"}}
            },
        }
        channels[name] = {
            "address": f"{prefix}{name}",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "description": f"Published by the {model.owner} service; key = {model.aggregate} id.",
        }
        operations[f"receive{name}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{name}"},
            "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Mercator business events",
            "version": "1.0.0",
            "description": "Integration events of Mercator, one Kafka topic per event type.",
        },
        "defaultContentType": "application/json",
        "servers": copy.deepcopy(SERVERS),
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas, "securitySchemes": copy.deepcopy(SECURITY_SCHEMES)},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/events")
    parser.add_argument("--prefix", default="")
    args = parser.parse_args(argv)
    out = Path(args.out)
    (out / "schemas").mkdir(parents=True, exist_ok=True)
    for name, schema in json_schemas().items():
        (out / "schemas" / f"{name}.json").write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
    (out / "asyncapi.json").write_text(json.dumps(asyncapi(args.prefix), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {len(CATALOGUE)} event schemas and asyncapi.json to {out}")


if __name__ == "__main__":
    main()
