"""Errors as application/problem+json (RFC 9457), with `errors: [{field, message}]` for bad input."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mercator.common.errors import (
    BadReference,
    Conflict,
    DomainError,
    Forbidden,
    InvalidValue,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    RuleViolation,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    errors: list[dict] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


# The one place a refusal becomes an HTTP status: the most specific class listed wins.
STATUS: dict[type[DomainError], tuple[int, str]] = {
    RuleViolation: (422, "Business rule violated"),
    InvalidValue: (422, "Invalid request"),
    BadReference: (422, "Invalid request"),
    NotFound: (404, "Not found"),
    Conflict: (409, "Conflict"),
    PreconditionFailed: (412, "Precondition failed"),
    PreconditionRequired: (428, "Precondition required"),
    Unauthorized: (401, "Unauthorized"),
    Forbidden: (403, "Forbidden"),
    TooManyRequests: (429, "Too many requests"),
    Unavailable: (503, "Service unavailable"),
    DomainError: (400, "Bad request"),
}


def status_of(exc: DomainError) -> tuple[int, str]:
    return next(STATUS[k] for k in type(exc).__mro__ if k in STATUS)


def field_path(loc: tuple | list) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out or (str(loc[0]) if loc else "")


def error_response(exc: DomainError) -> JSONResponse:
    status, title = status_of(exc)
    errors = [{"field": exc.field, "message": exc.message}] if exc.field else None
    return problem(status, title, exc.message, errors=errors, rule=exc.rule, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError):
        errors = []
        for e in exc.errors():
            loc = e.get("loc", ())
            if e.get("type") == "json_invalid":
                errors.append({"field": "body", "message": "the body is not valid JSON"})
                continue
            message = e.get("msg", "invalid")
            if e.get("type") == "extra_forbidden":
                message = "unknown field"
            errors.append({"field": field_path(loc), "message": message})
        return problem(422, "Invalid request", "The request has invalid or missing fields.", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        return problem(
            exc.status_code,
            _title(exc.status_code),
            str(exc.detail) if exc.detail else None,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(DomainError)
    async def _refused(_: Request, exc: DomainError):
        return error_response(exc)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception):
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem(500, "Internal error", "Something went wrong; nothing you sent was lost or half-applied.")


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
