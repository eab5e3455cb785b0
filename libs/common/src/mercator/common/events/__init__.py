"""Integration events: the envelope and the catalogue of payloads."""

from mercator.common.events.catalogue import (
    CATALOGUE,
    EventPayload,
    payload_model,
    types_owned_by,
)
from mercator.common.events.envelope import Envelope

__all__ = ["CATALOGUE", "Envelope", "EventPayload", "payload_model", "types_owned_by"]
