"""Guessing passwords is throttled, and password checks cannot exhaust the gateway's memory.

Twenty-five wrong passwords in a row were each answered 401, never 429, and every Argon2 check (64 MiB) ran on
an unbounded thread pool: six at once added ~320 MB. Now failures are counted per account and per address;
past a tier the next try waits (429, Retry-After) whatever the password; a success clears the account's count;
and at most `password_checks_at_once` checks run at a time."""

import asyncio
import threading
import time

import httpx

from mercator.gateway import passwords

PASSWORD = "Correct-horse-42"  # the test kit's (conftest.py)


def from_address(app, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url="http://gateway.test"
    )


async def sign_in(api: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await api.post("/api/v1/auth/token", data={"username": email, "password": password})


async def test_an_account_is_locked_for_a_while_after_five_wrong_passwords(gateway_app, cheap_hashing):
    async with from_address(gateway_app, "127.0.0.2") as guesser, from_address(gateway_app, "127.0.0.3") as anna:
        assert [(await sign_in(guesser, "anna@example.com", f"guess {i}")).status_code for i in range(5)] == [401] * 5
        locked = await sign_in(guesser, "anna@example.com", PASSWORD)
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) > 60
        assert locked.json()["rule"] == "sign_in_throttled"
        # The lock is the account's: Anna herself waits too (a guesser must not get through by switching
        # addresses), but another account is untouched.
        assert (await sign_in(anna, "anna@example.com", PASSWORD)).status_code == 429
        assert (await sign_in(anna, "ADMIN@example.com", PASSWORD)).status_code == 200


async def test_a_right_password_clears_the_count(gateway_app, cheap_hashing):
    async with from_address(gateway_app, "127.0.0.4") as anna:
        for _ in range(2):
            assert [(await sign_in(anna, "anna@example.com", "typo")).status_code for _ in range(4)] == [401] * 4
            assert (await sign_in(anna, "anna@example.com", PASSWORD)).status_code == 200


async def test_one_address_guessing_many_accounts_is_throttled(gateway_app, cheap_hashing):
    async with from_address(gateway_app, "127.0.0.5") as guesser, from_address(gateway_app, "127.0.0.6") as other:
        answers = [(await sign_in(guesser, f"user{i}@example.com", "guess")).status_code for i in range(30)]
        assert answers == [401] * 30
        assert (await sign_in(guesser, "anna@example.com", PASSWORD)).status_code == 429
        r = await guesser.post("/api/v1/auth/refresh", json={"refresh_token": "made-up"})
        assert r.status_code == 429, "made-up refresh tokens are guesses from the same address"
        assert (await sign_in(other, "anna@example.com", PASSWORD)).status_code == 200


async def test_password_checks_run_two_at_a_time_however_many_sign_in_at_once(gateway_app, monkeypatch):
    running, most = 0, 0
    lock = threading.Lock()

    class Counting:
        def verify(self, hashed, password):
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.05)  # what an argon2 check costs, roughly
            with lock:
                running -= 1
            return True

        def check_needs_rehash(self, hashed):
            return False

    monkeypatch.setattr(passwords, "HASHER", Counting())
    clients = [from_address(gateway_app, f"127.0.1.{i}") for i in range(8)]
    try:
        answers = await asyncio.gather(*(sign_in(c, "anna@example.com", PASSWORD) for c in clients))
    finally:
        for c in clients:
            await c.aclose()
    assert [a.status_code for a in answers] == [200] * 8
    assert most == 2, most
