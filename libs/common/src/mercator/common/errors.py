"""The one vocabulary of refusals: what the domain, the use cases and the edges raise when they say no.

Pure Python, so domains stay free of frameworks. Every refusal carries a human `message`, and where it
applies the `field` of the request it concerns and the stable `rule` a client can act on. What HTTP status
each one is answered with is decided at the edge (`mercator.common.http.errors`), nowhere else.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal."""

    def __init__(
        self, message: str, *, field: str | None = None, rule: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.rule = rule
        # Advice for the caller that outlives the refusal (Retry-After, WWW-Authenticate).
        self.headers = headers


class InvalidValue(DomainError):
    """Input a schema cannot catch: a bad phone, a wrong tax id checksum. The rule is named first: it is required."""

    def __init__(self, rule: str, message: str, field: str | None = None) -> None:
        super().__init__(message, field=field, rule=rule)


class RuleViolation(DomainError):
    """A broken business rule, e.g. completing a cancelled meeting. The rule is named first: it is required."""

    def __init__(self, rule: str, message: str, field: str | None = None) -> None:
        super().__init__(message, field=field, rule=rule)


class BadReference(DomainError):
    """The request names something that is not there or does not fit: a missing product, a taken name."""


class NotFound(DomainError):
    """The record is not there, or not in the caller's sight: both answer alike, so ids are not probed."""


class Conflict(DomainError):
    """The record's state does not allow this now (an import already running, a key already used)."""


class PreconditionFailed(DomainError):
    """The record changed since the caller read it (If-Match names an older version)."""


class PreconditionRequired(DomainError):
    """A change must name the version it was made against (If-Match)."""


class Unauthorized(DomainError):
    """No caller, or one whose credentials do not hold."""


class Forbidden(DomainError):
    """The caller is known, and may not do this."""


class TooManyRequests(DomainError):
    """The caller asked too often; `headers` says when to come back."""


class Unavailable(DomainError):
    """Something this answer needs is not answering now; `headers` says when to retry."""
