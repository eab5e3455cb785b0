"""Password and key secret hashing: argon2id, off the event loop, a bounded number at once."""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

log = logging.getLogger(__name__)


# argon2id with the library's defaults (RFC 9106, low-memory profile). Looked up at call time: tests
# swap in a cheaper one.
HASHER = PasswordHasher()


# Argon2 takes 64 MiB a check: without a bound, six sign-ins at once added ~320 MB to the gateway, and a
# flood of them could exhaust it. Set from the settings when the app is built.
_password_checks = asyncio.Semaphore(2)


def bound_password_checks(at_once: int) -> None:
    global _password_checks
    _password_checks = asyncio.Semaphore(max(1, at_once))


async def hash_secret(secret: str) -> str:
    # Off the event loop: one argon2 hash is tens of milliseconds of CPU (argon2-cffi drops the GIL).
    async with _password_checks:
        return await asyncio.to_thread(HASHER.hash, secret)


async def verify_secret(hashed: str, secret: str) -> bool:
    try:
        async with _password_checks:
            return await asyncio.to_thread(HASHER.verify, hashed, secret)
    except (VerificationError, InvalidHashError):
        return False


@functools.lru_cache(maxsize=4)
def dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash(secrets.token_urlsafe(16))
