"""HTTP routes of identity: tokens (OAuth2 password grant, refresh, logout) and `/me`; who is calling, for every
route of the gateway. Every write request here (and in admin_api) leaves a row in the audit log."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from starlette.exceptions import HTTPException

from mercator.common.auth import Caller
from mercator.common.context import current_cause
from mercator.common.errors import DomainError, Forbidden, Unauthorized
from mercator.common.http.deps import SessionDep, UowDep
from mercator.common.http.errors import error_response, status_of
from mercator.gateway import schemas, scopes, sessions, users
from mercator.gateway.audit import audit
from mercator.gateway.identity import Principal, Role
from mercator.gateway.throttle import SignInGuard, client_address
from mercator.gateway.tokens import Tokens, authenticate

__all__ = ["AdminDep", "Principal", "PrincipalDep", "authenticate", "router"]


class AuditedRoute(APIRoute):
    """Writes an audit row for every non-read request of these routes, with the status it was answered."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def audited(request: Request) -> Response:
            if request.method in ("GET", "HEAD", "OPTIONS"):
                return await handler(request)
            outcome = {"status": 500}

            async def write() -> None:
                principal: Principal | None = getattr(request.state, "principal", None)
                await audit(
                    request.app.state.runtime.sessionmaker,
                    caller=principal.caller if principal else None,
                    api_key_id=principal.api_key_id if principal else None,
                    method=request.method,
                    path=request.url.path,
                    status=outcome["status"],
                    request_id=current_cause.get().correlation_id,
                )

            # The row is written once the route's unit of work has let go of its connection (its dependency
            # leaves the same stack first), and before the answer goes out. Written any earlier, a refused
            # sign-in waited for the one SQLite connection its own session still held.
            request.scope["fastapi_function_astack"].push_async_callback(write)
            try:
                response = await handler(request)
                outcome["status"] = response.status_code
                return response
            except DomainError as exc:
                outcome["status"] = status_of(exc)[0]
                raise
            except RequestValidationError:
                outcome["status"] = 422
                raise
            except HTTPException as exc:
                outcome["status"] = exc.status_code
                raise

        return audited


router = APIRouter(prefix="/api/v1", route_class=AuditedRoute)
# Declared for the OpenAPI document ("Authorize" in /docs); `authenticate` reads the headers itself.
_bearer_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)


async def current_principal(
    request: Request,
    _t: Annotated[str | None, Depends(_bearer_scheme)],
    _k: Annotated[str | None, Depends(_key_scheme)],
) -> Principal:
    runtime = request.app.state.runtime
    principal = await authenticate(request, runtime.sessionmaker, runtime.settings)
    request.state.principal = principal  # for the audit row
    scopes.check(request, principal)  # a key opens only what its scopes name; deny by default
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def admin_principal(principal: PrincipalDep) -> Principal:
    if not principal.caller.has_role(Role.ADMIN):
        raise Forbidden("the admin role is required")
    return principal


AdminDep = Annotated[Principal, Depends(admin_principal)]


# --- the browser's refresh token -------------------------------------------------------------------
#
# A browser asks for it with `X-Refresh-Token-Transport: cookie`; then the refresh token travels only in an
# HttpOnly cookie and never in a body. Sending it in both would undo the point: any script in the page (the
# cross-site scripting this guards against) could read the body of a sign-in or refresh and carry a 30-day
# credential away, where with the cookie alone it can act only while the page is open. Clients that do not
# ask (partners, the mobile app) get the body they always had and no cookie.
TRANSPORT_HEADER = "X-Refresh-Token-Transport"
# `__Secure-`: a browser keeps it only as a Secure cookie, so plain http (localhost aside) can neither set nor
# overwrite it. Scoped to the auth routes: no other request carries it, nor could a proxied service read it.
REFRESH_COOKIE = "__Secure-mercator-refresh"
REFRESH_COOKIE_PATH = "/api/v1/auth"
# Double-submit CSRF token: readable by the app's scripts (they copy it into X-CSRF-Token), not by another
# site's. `__Host-` (Secure, Path=/, no Domain) keeps a sibling subdomain from planting one of its own.
CSRF_COOKIE = "__Host-mercator-csrf"
CSRF_HEADER = "X-CSRF-Token"


def _wants_cookie(request: Request) -> bool:
    return request.headers.get(TRANSPORT_HEADER, "").strip().lower() == "cookie"


def _set_cookies(request: Request, response: Response, refresh_token: str) -> None:
    max_age = request.app.state.runtime.settings.refresh_token_days * 86400
    response.set_cookie(
        REFRESH_COOKIE,
        refresh_token,
        max_age=max_age,
        path=REFRESH_COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    response.set_cookie(
        CSRF_COOKIE,
        secrets.token_urlsafe(32),
        max_age=max_age,
        path="/",
        secure=True,
        httponly=False,
        samesite="strict",
    )


def _clear_cookies(response: Response) -> None:
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, secure=True, httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", secure=True, httponly=False, samesite="strict")


def _check_csrf(request: Request) -> None:
    """A cookie goes with any request the browser sends, whoever made the page; only the app's own scripts can
    read the CSRF cookie into the header. SameSite=Strict already keeps other sites' requests cookieless:
    this holds when a browser does not honour it, or a same-site page (another subdomain) is hostile."""
    cookie, header = request.cookies.get(CSRF_COOKIE), request.headers.get(CSRF_HEADER)
    if not cookie or not header or not hmac.compare_digest(cookie.encode(), header.encode()):
        raise Forbidden(
            f"a refresh by cookie needs the {CSRF_HEADER} header, equal to the {CSRF_COOKIE} cookie",
            rule="csrf_token_missing",
        )
    # A browser names the page's origin on every POST; another site's ("null" from a sandbox too) is refused
    # even with a right token. Only the host is compared: behind a TLS-terminating proxy the gateway may see
    # http where the browser says https.
    origin = request.headers.get("origin")
    if (
        origin is not None
        and urlsplit(origin).netloc != request.headers.get("host")
        and origin not in request.app.state.runtime.settings.cors_origins
    ):
        raise Forbidden(f"a refresh by cookie from another origin ({origin}) is refused", rule="cross_origin")


def _tokens(request: Request, response: Response, tokens: Tokens, *, cookie: bool) -> schemas.TokenResponse:
    request.state.principal = Principal(Caller(tokens.user_id))
    response.headers["Cache-Control"] = "no-store"  # RFC 6749 §5.1
    response.headers["Pragma"] = "no-cache"
    if cookie:
        _set_cookies(request, response, tokens.refresh_token)
    return schemas.TokenResponse(
        access_token=tokens.access_token,
        expires_in=tokens.expires_in,
        refresh_token=None if cookie else tokens.refresh_token,
    )


def _signed_out(exc: Unauthorized) -> Response:
    """A refused cookie is dropped: the browser would send it again at every page load, and every refusal
    counts against its address in the sign-in throttle."""
    answer = error_response(exc)
    _clear_cookies(answer)
    return answer


# --- tokens ----------------------------------------------------------------------------------------


@router.post("/auth/token", response_model=schemas.TokenResponse, response_model_exclude_none=True, tags=["auth"])
async def sign_in(
    request: Request,
    response: Response,
    uow: UowDep,
    username: Annotated[str, Form(max_length=320, description="the e-mail")],
    password: Annotated[str, Form(max_length=1024)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
):
    """OAuth2 password grant (RFC 6749 §4.3), form-encoded. A wrong e-mail or password is one and the same 401.
    After several failures for one account or from one address, the next tries answer 429 with Retry-After.
    With `X-Refresh-Token-Transport: cookie` (a browser) the refresh token is set as an HttpOnly cookie, with a
    CSRF token cookie beside it, and left out of the body."""
    guard: SignInGuard = request.app.state.sign_in_guard
    address = client_address(request)
    await guard.check(address, username)
    try:
        tokens = await sessions.sign_in(uow, request.app.state.runtime.settings, username, password)
    except Unauthorized:
        await guard.failed(address, username)
        raise
    await guard.succeeded(username)
    return _tokens(request, response, tokens, cookie=_wants_cookie(request))


@router.post("/auth/refresh", response_model=schemas.TokenResponse, response_model_exclude_none=True, tags=["auth"])
async def refresh(request: Request, response: Response, uow: UowDep, body: schemas.RefreshIn | None = None):
    """A new access token and a new refresh token; the one sent is spent. Sending a spent one again
    revokes every token issued after it: somebody copied it. Without `refresh_token` in the body the
    refresh token is the browser's cookie, and `X-CSRF-Token` must repeat the CSRF cookie (else 403); the
    new refresh token is then only a cookie again."""
    guard: SignInGuard = request.app.state.sign_in_guard
    address = client_address(request)
    await guard.check(address)  # made-up tokens are guesses too
    raw = body.refresh_token if body else None
    from_cookie = raw is None
    if raw is None:
        raw = request.cookies.get(REFRESH_COOKIE)
        if not raw:
            raise sessions.bad_refresh()
        _check_csrf(request)
    tokens = await sessions.refresh(uow, request.app.state.runtime.settings, raw)
    if isinstance(tokens, Unauthorized):
        # Answered, not raised: what the refusal wrote (a revoked chain) is committed with the answer.
        await guard.failed(address)
        return _signed_out(tokens) if from_cookie else error_response(tokens)
    return _tokens(request, response, tokens, cookie=from_cookie or _wants_cookie(request))


@router.post("/auth/logout", status_code=204, tags=["auth"])
async def sign_out(request: Request, uow: UowDep, body: schemas.RefreshIn | None = None) -> Response:
    """Revoke the refresh token (from the body, or else the browser's cookie, with `X-CSRF-Token` as for a
    refresh) and drop the cookies. The access token lives on for its few minutes: forget it."""
    raw = body.refresh_token if body else None
    if raw is None and request.cookies.get(REFRESH_COOKIE):
        _check_csrf(request)
        raw = request.cookies[REFRESH_COOKIE]
    if raw is not None:
        await sessions.sign_out(uow, raw)
    answer = Response(status_code=204)
    _clear_cookies(answer)
    return answer


@router.get("/me", response_model=schemas.MePublic, tags=["auth"])
async def me(principal: PrincipalDep, session: SessionDep):
    c = principal.caller
    if principal.api_key_id is not None:
        return schemas.MePublic(
            id=c.user_id,
            name=c.name,
            roles=sorted(c.roles),
            scopes=sorted(principal.scopes or ()),
            api_key_id=principal.api_key_id,
        )
    user = await users.get_user(session, c.user_id)
    return schemas.MePublic(
        id=user.id, name=user.name, email=user.email, roles=user.roles, department_id=user.department_id
    )
