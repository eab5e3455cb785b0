"""Errors as application/problem+json (RFC 9457), with `errors: [{field, message}]` for bad input."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mercator.common.rules import DomainError, RuleViolation
from mercator.common.visibility import NoAccess

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str | None = None, *, errors: list[dict] | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


class AppError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None, rule: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.rule = rule
        self.headers = headers


class NotFound(AppError):
    status, title = 404, "Not found"


class Conflict(AppError):
    status, title = 409, "Conflict"


class PreconditionFailed(AppError):
    status, title = 412, "Precondition failed"


class PreconditionRequired(AppError):
    status, title = 428, "Precondition required"


class RuleBroken(AppError):
    """A business rule says no (422), named in `rule`."""

    status, title = 422, "Business rule violated"


class Unauthorized(AppError):
    status, title = 401, "Unauthorized"


class Forbidden(AppError):
    status, title = 403, "Forbidden"


def field_path(loc: tuple | list) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out or (str(loc[0]) if loc else "")


def app_error_response(exc: AppError) -> JSONResponse:
    errors = [{"field": exc.field, "message": exc.detail}] if exc.field else None
    return problem(exc.status, exc.title, exc.detail, errors=errors, rule=exc.rule, headers=exc.headers)


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
        return problem(exc.status_code, _title(exc.status_code), str(exc.detail) if exc.detail else None,
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(AppError)
    async def _app(_: Request, exc: AppError):
        return app_error_response(exc)

    @app.exception_handler(NoAccess)
    async def _no_access(_: Request, exc: NoAccess):
        return problem(403, "Forbidden", str(exc))

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError):
        errors = [{"field": exc.field, "message": exc.message}] if exc.field else None
        title = "Business rule violated" if isinstance(exc, RuleViolation) else "Invalid request"
        return problem(422, title, exc.message, errors=errors, rule=exc.rule)

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
