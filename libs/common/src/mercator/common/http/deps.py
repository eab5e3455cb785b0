"""FastAPI dependencies every service uses: `UowDep`, `SessionDep`, `CurrentUser`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller, InvalidToken, bearer, read_token
from mercator.common.context import current_cause
from mercator.common.errors import Forbidden, Unauthorized, Unavailable
from mercator.common.runtime import Runtime
from mercator.common.uow import UnitOfWork


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_uow(runtime: RuntimeDep) -> AsyncIterator[UnitOfWork]:
    if runtime.quiesced:
        raise Unavailable("the service is shutting down; retry shortly", headers={"Retry-After": "5"})
    async with runtime.uow() as uow:
        yield uow
        # The route returned: its changes, its events and its idempotency key are committed together here.
        # A route that raised never reaches this line, and the unit rolls back.
        await uow.commit()


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.sessionmaker() as session:
        yield session


async def current_user(request: Request, runtime: RuntimeDep) -> Caller:
    token = bearer(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized("a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    try:
        caller = read_token(runtime.settings, token)
    except InvalidToken as exc:
        raise Unauthorized(f"the token is not valid: {exc}", headers={"WWW-Authenticate": "Bearer"}) from exc
    # The caller is the actor of every event this request causes.
    current_cause.set(replace(current_cause.get(), actor=str(caller.user_id)))
    return caller


# scope="function": the session is closed (its connection back in the pool, a refused change rolled back) as
# soon as the route returns or raises, not after the response is sent. SQLite has one connection: held any
# longer, the gateway's audit row for a refused sign-in waited 60 s for it, and every other request with it.
UowDep = Annotated[UnitOfWork, Depends(get_uow, scope="function")]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
CurrentUser = Annotated[Caller, Depends(current_user)]


async def ops_caller(caller: CurrentUser) -> Caller:
    if not caller.has_role("ops", "admin"):
        raise Forbidden("the ops role is required")
    return caller
