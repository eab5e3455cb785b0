"""Import benchmark: a client list through Mercator's import beside one bulk INSERT of the same rows.

    .venv/bin/python bench/import.py [--rows 100000] [--batch 200]

In one run, against PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres), each side on a fresh database
with contacts' migrations applied:

1. import: a CSV client list made here (Cyrillic names, valid INNs, phones, e-mails, a region, a contact
   person; one row in a hundred has a broken INN) goes through the import job as the API runs it: the file
   is stored, its header checked, and every row parsed, validated, checked for likely duplicates against the
   cards already there and the earlier rows, written as a client card with its contact person, search index
   and contacts, with its CompanyCreated and PersonAdded events in the outbox and its outcome row, a batch
   per transaction;
2. bulk INSERT: the same valid rows as client cards with one `INSERT ... SELECT FROM unnest(...)`: no
   validation, no duplicates, no persons, no index, no events: the floor the database sets.

Prints rows per second of each and their ratio. Only 127.0.0.1 is used; the databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import random
import secrets
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from mercator.common.migrate import upgrade
from mercator.common.runtime import Runtime
from mercator.common.testing.api import caller
from mercator.contacts import domain
from mercator.contacts.app import MIGRATIONS, build_app
from mercator.contacts.domain import keys
from mercator.contacts.imports import jobs, reading, run
from mercator.contacts.settings import ContactsSettings

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
SYLLABLES = "ра мо ки ве ст ло ну де па ри ко жа фе ты бу ше гр ол ин зо ха цу че мя".split()
COLUMNS = {
    "Название": "name",
    "ИНН": "tax_id",
    "Телефон": "phones",
    "Эл. почта": "emails",
    "Контакт": "person_name",
    "Должность": "person_position",
}


def client_list(rows: int) -> list[list[str]]:
    rnd = random.Random(2026)
    out = [list(COLUMNS)]
    for i in range(rows):

        def word() -> str:
            return "".join(rnd.choice(SYLLABLES) for _ in range(4)).capitalize()

        digits = f"{700000000 + i:09d}"
        inn = digits + keys._inn_check_digit(digits, keys._INN10_WEIGHTS)
        if i % 100 == 50:
            inn = inn[:-1] + str((int(inn[-1]) + 1) % 10)
        out.append(
            [
                f"ООО «{word()} {word()}»",
                inn,
                f"+7 9{i // 10_000_000 % 100:02d} {i % 10_000_000:07d}",
                f"office{i}@client{i}.ru",
                f"Иван {word()}",
                "директор",
            ]
        )
    return out


async def fresh_database(name: str) -> str:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    await asyncio.to_thread(upgrade, url, MIGRATIONS)
    return url


async def drop(*names: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def through_the_import(url: str, data: bytes, batch: int) -> tuple[float, dict]:
    settings = ContactsSettings(
        database_url=url,
        relay_enabled=False,
        consumers_enabled=False,
        kafka_bootstrap="127.0.0.1:9",
        token_secret=secrets.token_hex(32),
    )
    runtime = Runtime(settings)
    build_app(settings, runtime)
    who = caller("Bench", roles=("admin",))
    try:
        started = time.perf_counter()
        async with runtime.uow() as uow:
            job = await jobs.open_job(
                uow,
                kind="companies",
                dry_run=False,
                on_duplicate="skip",
                mapping_id=None,
                columns=COLUMNS,
                file_name="bench.csv",
                caller=who,
            )
            await uow.commit()
        for start in range(0, len(data), 900_000):  # in parts, as the API takes it
            async with runtime.uow() as uow:
                await jobs.add_part(
                    uow, job.id, data[start : start + 900_000], who, max_bytes=settings.import_max_file_bytes
                )
                await uow.commit()
        async with runtime.uow() as uow:
            await jobs.start_job(uow, job.id, who, reading.of(runtime))
            await uow.commit()
        await run.run_job(runtime, job.id, batch=batch)
        seconds = time.perf_counter() - started
        async with runtime.sessionmaker() as s:
            done = await jobs.get_job(s, job.id, who)
        return seconds, done.counts
    finally:
        await runtime.engine.dispose()


async def one_bulk_insert(url: str, rows: list[list[str]]) -> tuple[float, int]:
    valid = []
    for name, inn, phone, email, *_ in rows[1:]:
        with contextlib.suppress(domain.DomainError):
            valid.append(
                (name, domain.normalise_tax_id(inn), domain.normalise_phone(phone), domain.normalise_email(email))
            )
    now, owner = datetime.now(UTC), uuid.uuid4()
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        started = time.perf_counter()
        await conn.execute(
            """INSERT INTO companies (id, name, tax_id, status, owner_id, phones, emails, created_at, updated_at,
                                      version, search_text, sort_key, match_name)
               SELECT id, name, tax_id, 'prospect', $5, json_build_array(phone), json_build_array(email), $6, $6,
                      1, '', lower(name), lower(name)
               FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $7::text[])
                    AS r(id, name, tax_id, phone, email)""",
            [uuid.uuid4() for _ in valid],
            [v[0] for v in valid],
            [v[1] for v in valid],
            [v[2] for v in valid],
            owner,
            now,
            [v[3] for v in valid],
        )
        return time.perf_counter() - started, len(valid)
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=run.BATCH)
    args = parser.parse_args()
    rows = client_list(args.rows)
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    data = buffer.getvalue().encode()
    names = (f"bench_import_{uuid.uuid4().hex[:8]}", f"bench_insert_{uuid.uuid4().hex[:8]}")
    try:
        urls = [await fresh_database(n) for n in names]
        print(f"{args.rows:,} rows ({len(data) / 1e6:.1f} MB of CSV), PostgreSQL at 127.0.0.1:5432", flush=True)
        import_seconds, counts = await through_the_import(urls[0], data, args.batch)
        insert_seconds, inserted = await one_bulk_insert(urls[1], rows)
    finally:
        await drop(*names)
    import_rate, insert_rate = args.rows / import_seconds, inserted / insert_seconds
    print(f"{'':24}{'rows':>10}{'seconds':>10}{'rows/s':>12}")
    print(f"{'import (mercator)':24}{args.rows:>10,}{import_seconds:>10.1f}{import_rate:>12,.0f}   {counts}")
    print(f"{'one bulk INSERT':24}{inserted:>10,}{insert_seconds:>10.2f}{insert_rate:>12,.0f}")
    print(
        f"the import runs at {import_rate / insert_rate:.1%} of the bulk INSERT's rate "
        f"({insert_rate / import_rate:.0f}x slower) for validation, duplicates, persons, index, events and "
        "outcomes"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    asyncio.run(main())
