"""The import job itself, run in the background: a batch of rows per transaction. A job is an edge, like a
request: it commits each of its own steps (through `_step`), and the use cases it calls never commit."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import select, update

from mercator.common.bus.lock import relay_lock
from mercator.common.clock import now
from mercator.common.uow import UnitOfWork
from mercator.contacts.imports import reading, sheets
from mercator.contacts.imports.cells import DealsUnavailable
from mercator.contacts.imports.jobs import caller_of
from mercator.contacts.imports.rows import RunState
from mercator.contacts.tables import ImportFile, ImportJob, ImportRow

log = logging.getLogger(__name__)
BATCH = 200


@asynccontextmanager
async def _step(runtime: Any) -> AsyncIterator[UnitOfWork]:
    """One step of the job in a transaction of its own, committed when the step is through."""
    async with runtime.uow() as uow:
        yield uow
        await uow.commit()


async def _set_status(runtime: Any, job_id: uuid.UUID, **values: Any) -> None:
    async with _step(runtime) as uow:
        await uow.session.execute(update(ImportJob).where(ImportJob.id == job_id).values(**values))


async def run_job(
    runtime: Any,
    job_id: uuid.UUID,
    batch: int = BATCH,
    deals: httpx.AsyncClient | None = None,
    reader: reading.FileReader | None = None,
) -> None:
    """Every row without an outcome, a batch per transaction. Safe to call again at any point: rows written
    before are not looked at again."""
    async with _step(runtime) as uow:
        s = uow.session
        job = await s.get(ImportJob, job_id)
        if job is None or job.status not in ("queued", "running"):
            return
        outcomes = select(ImportRow.row, ImportRow.outcome).where(ImportRow.job_id == job_id)
        done = dict((await s.execute(outcomes)).all())
        data = await s.scalar(select(ImportFile.data).where(ImportFile.job_id == job_id))
        state = RunState(
            job_id, job.kind, job.on_duplicate, job.dry_run, caller_of(job.caller), deals, runtime.settings
        )
        columns = job.columns
        await s.execute(
            update(ImportJob).where(ImportJob.id == job_id).values(status="running", started_at=job.started_at or now())
        )
    try:
        # Read again under today's limits: a file queued before they were lowered fails here, with the reason.
        rows = (await (reader or reading.of(runtime)).read(data or b"", columns, rows=True)).rows or []
        async with runtime.sessionmaker() as s:
            await state.load(s)
        for row in rows:  # what earlier runs took, later rows are compared with
            if done.get(row.number) in ("created", "merged") or (state.dry_run and row.number in done):
                state.remember(row)
        pending = [r for r in rows if r.number not in done]
        for start in range(0, len(pending), batch):
            await _take_batch(runtime, job_id, state, pending[start : start + batch])
        await _set_status(runtime, job_id, status="done", finished_at=now())
    except asyncio.CancelledError:
        raise  # interrupted: the job stays `running` and is resumed
    except Exception as exc:
        log.exception("import %s failed", job_id)
        await _set_status(runtime, job_id, status="failed", error=str(exc)[:2000])


async def _take_batch(runtime: Any, job_id: uuid.UUID, state: RunState, chunk: list[sheets.Row]) -> None:
    seen = dict(state.seen)
    try:
        await _write_batch(runtime, job_id, state, chunk)
    except (asyncio.CancelledError, DealsUnavailable):
        raise
    except Exception as exc:
        # A write the checks did not foresee (a constraint, a lost connection): the batch is rolled
        # back whole, then its rows go one per transaction, so one bad row cannot stop the import.
        log.warning("import %s: batch from row %s failed (%r); going row by row", job_id, chunk[0].number, exc)
        state.seen = seen
        for row in chunk:
            try:
                await _write_batch(runtime, job_id, state, [row])
            except (asyncio.CancelledError, DealsUnavailable):
                raise
            except Exception as row_exc:
                error = {"field": None, "column": None, "message": f"not written: {row_exc}"[:500]}
                rejected = ImportRow(job_id=job_id, row=row.number, outcome="rejected", duplicate_of=[], errors=[error])
                async with _step(runtime) as uow:
                    await _count(uow, job_id, [rejected])


async def _write_batch(runtime: Any, job_id: uuid.UUID, state: RunState, rows: list[sheets.Row]) -> None:
    async with _step(runtime) as uow:
        outcomes = await state.take_batch(uow, rows)
        await _count(uow, job_id, outcomes)


async def _count(uow: UnitOfWork, job_id: uuid.UUID, outcomes: list[ImportRow]) -> None:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
    uow.session.add_all(outcomes)
    job = await uow.session.get(ImportJob, job_id, with_for_update=True)
    assert job is not None  # a job is never deleted
    job.done_rows += len(outcomes)
    job.counts = {k: job.counts.get(k, 0) + counts.get(k, 0) for k in {*job.counts, *counts}}


async def runner(
    runtime: Any, deals: Callable[[], httpx.AsyncClient | None] = lambda: None, poll_seconds: float = 1.0
) -> None:
    """Takes queued jobs one at a time; at start, resumes those a stop interrupted (`running`).

    With several contacts processes on one database only the one holding the importer lock runs
    jobs: two runners on one job would write its rows twice over each other."""
    lock = relay_lock(runtime.engine, runtime.settings.database_url, runtime.settings.service_name, "importer")
    try:
        await _run_jobs(runtime, lock, deals, poll_seconds)
    finally:
        await lock.release()


async def _run_jobs(
    runtime: Any, lock: Any, deals: Callable[[], httpx.AsyncClient | None], poll_seconds: float
) -> None:
    while True:
        try:
            if not await lock.acquire():
                await asyncio.sleep(poll_seconds * 5)
                continue
            async with runtime.sessionmaker() as s:
                job_id = await s.scalar(
                    select(ImportJob.id)
                    .where(ImportJob.status.in_(["running", "queued"]))
                    .order_by(ImportJob.created_at)
                    .limit(1)
                )
            if job_id is not None and not runtime.quiesced:
                await run_job(runtime, job_id, deals=deals())
                continue
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("import runner: %r", exc)
        await asyncio.sleep(poll_seconds)
