"""Errors a domain module raises: pure Python, so domains stay free of frameworks.

The HTTP layer answers every one with a 422 problem body naming the `rule` and the `field`.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of domain errors; `rule` is stable so clients can act on it."""

    def __init__(self, rule: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.field = field


class InvalidValue(DomainError):
    """Input a schema cannot catch: a bad phone, a wrong tax id checksum, a naive time."""


class RuleViolation(DomainError):
    """A broken business rule, e.g. completing a cancelled meeting."""
