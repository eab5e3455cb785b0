"""The CloudEvents 1.0 envelope, carried as Kafka headers in binary content mode."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mercator.common.ids import new_id

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"

# CloudEvents Kafka protocol binding: every attribute is a `ce_`-prefixed header.
_ATTRS = ("id", "type", "source", "specversion", "time", "subject", "sequence", "correlationid", "causationid", "actor")


def _timestamp(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Envelope:
    """One integration event: its attributes and its JSON payload.

    The payload is `data` (a dict), or `raw` (its JSON bytes) when that is what we have: an
    envelope read from Kafka keeps the bytes for the payload model to parse in one step, and
    one emitted by a use case is serialised once, by the payload model."""

    type: str
    source: str
    subject: str
    sequence: int
    data: dict[str, Any] | None = None
    id: uuid.UUID = field(default_factory=new_id)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    correlation_id: str | None = None
    causation_id: str | None = None
    actor: str | None = None
    raw: bytes | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.data is None and self.raw is None:
            raise ValueError("an envelope needs its payload: data or raw")

    def payload(self) -> dict[str, Any]:
        return self.data if self.data is not None else json.loads(self.raw) if self.raw else {}

    def attributes(self) -> list[tuple[str, str]]:
        """The headers as text (what the outbox stores); `headers()` is the same, encoded for Kafka."""
        # Written out rather than built from a dict of names: this runs for every event a service emits.
        hs = [
            ("ce_id", str(self.id)),
            ("ce_type", self.type),
            ("ce_source", self.source),
            ("ce_specversion", SPECVERSION),
            ("ce_time", _timestamp(self.time)),
            ("ce_subject", self.subject),
            ("ce_sequence", str(self.sequence)),
        ]
        if self.correlation_id is not None:
            hs.append(("ce_correlationid", self.correlation_id))
        if self.causation_id is not None:
            hs.append(("ce_causationid", self.causation_id))
        if self.actor is not None:
            hs.append(("ce_actor", self.actor))
        hs.append(("content-type", CONTENT_TYPE))
        return hs

    def headers(self) -> list[tuple[str, bytes]]:
        return [(k, v.encode()) for k, v in self.attributes()]

    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.data, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_kafka(cls, headers: list[tuple[str, bytes]] | tuple, value: bytes) -> Envelope:
        h = {k: v.decode() for k, v in (headers or ()) if k.startswith("ce_")}
        missing = [a for a in ("id", "type", "source", "subject") if f"ce_{a}" not in h]
        if missing:
            raise ValueError(f"not a CloudEvent: missing {', '.join('ce_' + m for m in missing)}")
        time = h.get("ce_time")
        return cls(
            id=uuid.UUID(h["ce_id"]),
            type=h["ce_type"],
            source=h["ce_source"],
            subject=h["ce_subject"],
            sequence=int(h.get("ce_sequence", "0")),
            time=datetime.fromisoformat(time.replace("Z", "+00:00")) if time else datetime.now(UTC),
            correlation_id=h.get("ce_correlationid"),
            causation_id=h.get("ce_causationid"),
            actor=h.get("ce_actor"),
            raw=value or b"{}",
        )


def attribute_names() -> tuple[str, ...]:
    return _ATTRS
