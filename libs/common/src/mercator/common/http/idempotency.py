"""`Idempotency-Key` on POST: a retry gets the first answer and changes nothing more.

The key is stored by the unit of work in the same transaction as the change it caused
(`uow.IdempotencyClaim`), so a change and its key are never committed apart. The answer
is stored right after; a retry that arrives before that (or after a crash in between)
is told the request was already processed (409) instead of applying it twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mercator.common.auth import InvalidToken, bearer, read_token
from mercator.common.bus import tables
from mercator.common.http.middleware import replay_body, send_problem
from mercator.common.settings import ServiceSettings
from mercator.common.uow import IdempotencyClaim, current_claim

_KEPT_HEADERS = {b"content-type", b"location", b"etag"}
idem = tables.idempotency


class IdempotencyMiddleware:
    def __init__(self, app, *, settings: ServiceSettings, sessionmaker: Callable[[], async_sessionmaker[AsyncSession]]):
        self.app = app
        self.settings = settings
        self.sessionmaker = sessionmaker  # looked up per request: tests swap it

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        key = headers.get(b"idempotency-key", b"").decode("latin-1").strip()
        token = bearer(headers.get(b"authorization", b"").decode("latin-1"))
        if not key or token is None:
            return await self.app(scope, receive, send)
        if len(key) > 200:
            return await send_problem(send, 422, "Invalid request", "Idempotency-Key is longer than 200 characters")
        try:
            caller = str(read_token(self.settings, token).user_id)
        except InvalidToken:
            return await self.app(scope, receive, send)  # the route answers 401

        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        fingerprint = hashlib.sha256(
            scope["method"].encode()
            + b" "
            + scope["path"].encode()
            + b"?"
            + scope.get("query_string", b"")
            + b"\n"
            + body
        ).hexdigest()

        if await self._answer_stored(caller, key, fingerprint, send):
            return

        captured: dict = {"status": 500, "headers": [], "body": b""}

        async def capture(message):
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")

        claim_token = current_claim.set(IdempotencyClaim(caller, key, fingerprint))
        try:
            await self.app(scope, replay_body(body, receive), capture)
        except Exception:
            # A concurrent twin committed first (the key's row collided): its answer is the answer.
            if await self._answer_stored(caller, key, fingerprint, send):
                return
            raise
        finally:
            current_claim.reset(claim_token)
        if 200 <= captured["status"] < 300:
            kept = [[k.decode(), v.decode()] for k, v in captured["headers"] if k.lower() in _KEPT_HEADERS]
            async with self.sessionmaker()() as s:
                await s.execute(
                    update(idem)
                    .where(idem.c.caller == caller, idem.c.key == key, idem.c.status_code.is_(None))
                    .values(
                        status_code=captured["status"], response_headers=kept, response_body=captured["body"].decode()
                    )
                )
                await s.commit()
        await send({"type": "http.response.start", "status": captured["status"], "headers": captured["headers"]})
        await send({"type": "http.response.body", "body": captured["body"]})

    async def _answer_stored(self, caller: str, key: str, fingerprint: str, send) -> bool:
        async with self.sessionmaker()() as s:
            row = (await s.execute(select(idem).where(idem.c.caller == caller, idem.c.key == key))).first()
        if row is None:
            return False
        if row.fingerprint != fingerprint:
            await send_problem(
                send, 422, "Idempotency key reused", "this Idempotency-Key was used for a different request"
            )
            return True
        if row.status_code is None:
            await send_problem(
                send,
                409,
                "Request already processed",
                "a request with this Idempotency-Key was applied; its answer is not stored yet",
            )
            return True
        body = (row.response_body or "").encode()
        hdrs = [(k.encode(), v.encode()) for k, v in (row.response_headers or [])]
        hdrs = [h for h in hdrs if h[0] != b"content-length"]
        hdrs += [(b"content-length", str(len(body)).encode()), (b"idempotent-replayed", b"true")]
        await send({"type": "http.response.start", "status": row.status_code, "headers": hdrs})
        await send({"type": "http.response.body", "body": body})
        return True
