"""Which API-key scopes each public operation needs, in one place: the gateway refuses a key without them before
anything runs or is forwarded, and the merged OpenAPI document says them on every operation.

Deny by default: an operation that declares no scope takes no key at all (the live stream, administration,
anything new until it is declared here). The services' operations need the scope their path names
(`identity.scope_of_path`); the gateway's own are declared in OWN. People signed in are not limited by scopes:
their roles decide, in each service."""

from __future__ import annotations

from fastapi import Request

from mercator.common.errors import Forbidden
from mercator.gateway.identity import Principal, scope_of_path

# Any key may ask who it is.
ANY_KEY: tuple[str, ...] = ()
# The gateway's own operations a key may call, by method and path template, with every scope they need.
OWN: dict[tuple[str, str], tuple[str, ...]] = {
    ("GET", "/api/v1/me"): ANY_KEY,
    ("GET", "/api/v1/people"): ("read:people",),
    # The card shows the persons, history, meetings, deals and invoices of a client: each needs its own scope.
    ("GET", "/api/v1/client-cards/{company_id}"): (
        "read:companies",
        "read:persons",
        "read:history",
        "read:meetings",
        "read:deals",
        "read:invoices",
    ),
    ("GET", "/api/v1/client-cards/{company_id}/export"): (
        "read:companies",
        "read:persons",
        "read:history",
        "read:meetings",
        "read:deals",
        "read:invoices",
        "read:contracts",
        "read:payments",
        "read:deliveries",
    ),
}
FORWARDED = ("/api/v1/{resource}", "/api/v1/{resource}/{rest:path}")  # the proxy's catch-all routes


def needed(method: str, template: str, *, own: bool, path: str | None = None) -> tuple[str, ...] | None:
    """The scopes a key needs for an operation (every one of them), or None: no key may call it. `own`: one of the
    gateway's routes (declared in OWN, or none); otherwise a service's, by the path it names."""
    method = "GET" if method.upper() == "HEAD" else method.upper()
    if own:
        return OWN.get((method, template))
    scope = scope_of_path(method, path or template)
    return (scope,) if scope else None


def check(request: Request, principal: Principal) -> None:
    """Refuses (403) a key that lacks a scope the operation needs, or any key where none is declared."""
    if principal.scopes is None:
        return
    route = request.scope.get("route")
    template = getattr(route, "path", None) or request.url.path
    forwarded = template in FORWARDED
    wanted = needed(request.method, template, own=not forwarded, path=request.url.path if forwarded else None)
    if wanted is None:
        raise Forbidden(
            f"no API key may call {request.method} {template}: it is for people signed in", rule="no_key_scope"
        )
    missing = [s for s in wanted if s not in principal.scopes]
    if missing:
        raise Forbidden(f"this API key lacks the scope {', '.join(missing)}", rule="scope_missing")


def declare(op: dict, method: str, template: str, *, own: bool, bearer: str, key: str) -> None:
    """Writes on an operation of the merged document who may call it: a person's bearer token, and an API key with
    the scopes listed (OpenAPI 3.1 lets a non-OAuth2 scheme list role names). A public one (sign-in) is left."""
    if not op.get("security"):
        return
    wanted = needed(method, template, own=own)
    op["security"] = [{bearer: []}] + ([{key: list(wanted)}] if wanted is not None else [])
    op["x-api-key-scopes"] = list(wanted) if wanted is not None else None
