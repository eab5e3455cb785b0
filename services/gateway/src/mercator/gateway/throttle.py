"""Guessing passwords costs the guesser: failed sign-ins are counted per account and per address, and past
a limit the next try is refused with 429 and Retry-After until the window has slid on.

Only failures count, so a person who types their password right is never slowed down, and a success clears
the account's count. The limits are tiers (a few in a quarter of an hour, more in a day), so a patient guesser
waits longer and longer. Counted in the gateway's memory: with several replicas each keeps its own count, which
multiplies a guesser's budget by the replicas, not by their patience."""

from __future__ import annotations

import time

from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from mercator.common.errors import TooManyRequests
from mercator.gateway.settings import GatewaySettings


def client_address(request: Request) -> str | None:
    """The address failures are counted by: the peer's (a header naming another would be the guesser's to set)."""
    return request.client.host if request.client else None


class SignInGuard:
    def __init__(self, settings: GatewaySettings):
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_account = parse_many(settings.sign_in_failures_per_account)
        self._per_address = parse_many(settings.sign_in_failures_per_address)

    def _keys(self, address: str | None, account: str | None) -> list[tuple[RateLimitItem, str]]:
        keys = [(limit, f"address:{address}") for limit in self._per_address] if address else []
        if account:
            keys += [(limit, f"account:{account.strip().lower()}") for limit in self._per_account]
        return keys

    async def check(self, address: str | None, account: str | None = None) -> None:
        """Refuses (429) while this address or account has used up a tier of failures."""
        wait = 0
        for limit, key in self._keys(address, account):
            if not await self._limiter.test(limit, key):
                stats = await self._limiter.get_window_stats(limit, key)
                wait = max(wait, int(stats.reset_time - time.time()) + 1)
        if wait:
            raise TooManyRequests(
                "too many failed sign-ins; try again later",
                headers={"Retry-After": str(wait)},
                rule="sign_in_throttled",
            )

    async def failed(self, address: str | None, account: str | None = None) -> None:
        for limit, key in self._keys(address, account):
            await self._limiter.hit(limit, key)

    async def succeeded(self, account: str) -> None:
        for limit, key in self._keys(None, account):
            await self._limiter.clear(limit, key)
