"""What the current request or consumed event is: carried into the events it causes."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Cause:
    correlation_id: str | None = None
    causation_id: str | None = None
    actor: str | None = None


current_cause: ContextVar[Cause] = ContextVar("current_cause", default=Cause())  # noqa: B039 - Cause is frozen

# The X-Request-ID of the HTTP request being answered (None while handling an event).
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
