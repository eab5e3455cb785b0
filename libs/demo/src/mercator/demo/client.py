"""The gateway as the demo calls it: signed in, retried while the services start, counted."""

from __future__ import annotations

import asyncio
import random
import secrets
from typing import Any

import httpx


class Api:
    """The public API as one signed-in user; rate limits and restarts are waited out, not reported."""

    def __init__(self, base: str, token: str, counter: dict):
        self.http = httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        self.counter = counter

    async def call(self, method: str, path: str, etag: bool = False, **kw) -> Any:
        """The answer's JSON; with `etag`, the response itself (its ETag for an update).

        A POST carries an Idempotency-Key, so one that timed out on a busy machine is sent again safely: the
        service answers a retry with the first answer (or 409 while the first is still being recorded)."""
        if method == "POST":
            kw["headers"] = {**kw.get("headers", {}), "Idempotency-Key": secrets.token_urlsafe(16)}
        retried = False
        for _attempt in range(30):
            try:
                r = await self.http.request(method, f"/api/v1{path}", **kw)
            except httpx.TransportError:
                self.counter["waited"] = self.counter.get("waited", 0) + 1
                retried = True
                await asyncio.sleep(1 + random.random())
                continue
            if r.status_code in (429, 502, 503, 504) or (
                retried and r.status_code == 409 and "already processed" in r.text
            ):
                self.counter["waited"] = self.counter.get("waited", 0) + 1
                await asyncio.sleep(float(r.headers.get("retry-after", 1)) + random.random())
                continue
            self.counter["requests"] = self.counter.get("requests", 0) + 1
            if r.status_code >= 400:
                raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
            if etag:
                return r
            return r.json() if r.content else {}
        raise RuntimeError(f"{method} {path}: still refused after 30 tries")

    async def post(self, path: str, body: dict | None = None) -> dict:
        return await self.call("POST", path, json=body or {})

    async def get(self, path: str, **params) -> Any:
        return await self.call("GET", path, params=params)

    async def close(self) -> None:
        await self.http.aclose()


async def sign_in(base: str, email: str, password: str) -> str:
    # A dozen Argon2 checks at once on a busy machine take their time; a sign-in that timed out is asked again.
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        for _attempt in range(10):
            try:
                r = await http.post("/api/v1/auth/token", data={"username": email, "password": password})
            except httpx.TransportError:
                await asyncio.sleep(1 + random.random())
                continue
            if r.status_code in (429, 502, 503, 504):
                await asyncio.sleep(float(r.headers.get("retry-after", 1)) + random.random())
                continue
            if r.status_code != 200:
                raise RuntimeError(f"cannot sign in as {email}: {r.status_code} {r.text[:200]}")
            return r.json()["access_token"]
        raise RuntimeError(f"cannot sign in as {email}: still refused after 10 tries")
