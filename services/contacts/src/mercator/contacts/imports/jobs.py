"""An import job: opened, its file sent in parts, started (the file read and checked), rerun after a dry run,
resumed after a failure; and what it did with each row."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import LargeBinary, cast, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.clock import now
from mercator.common.errors import BadReference, NotFound
from mercator.common.pagination import keyset_page
from mercator.common.uow import UnitOfWork
from mercator.common.visibility import Kind, sight
from mercator.contacts.imports import reading, sheets
from mercator.contacts.tables import ImportFile, ImportJob, ImportMapping, ImportRow


def may_import(caller: Caller, kind: str) -> None:
    sight(caller, {"history": Kind.HISTORY, "deals": Kind.DEAL}.get(kind, Kind.CARD), write=True)  # else 403


def _caller_json(caller: Caller) -> dict[str, Any]:
    return {
        "user_id": str(caller.user_id),
        "name": caller.name,
        "roles": sorted(caller.roles),
        "department_id": str(caller.department_id) if caller.department_id else None,
        "departments": sorted(str(d) for d in caller.departments),
    }


def caller_of(data: dict[str, Any]) -> Caller:
    return Caller(
        uuid.UUID(data["user_id"]),
        data["name"],
        frozenset(data["roles"]),
        uuid.UUID(data["department_id"]) if data["department_id"] else None,
        frozenset(uuid.UUID(d) for d in data["departments"]),
    )


# --- mappings -----------------------------------------------------------------------------------------------


async def open_job(
    uow: UnitOfWork,
    *,
    kind: str,
    dry_run: bool,
    on_duplicate: str,
    mapping_id: uuid.UUID | None,
    columns: dict[str, str] | None,
    file_name: str | None,
    caller: Caller,
) -> ImportJob:
    """A job waiting for its file (sent in parts, so no request exceeds the body limit)."""
    may_import(caller, kind)
    if mapping_id is not None:
        mapping = await uow.session.get(ImportMapping, mapping_id)
        if mapping is None or mapping.kind != kind:
            raise BadReference(f"there is no {kind} mapping {mapping_id}", field="mapping_id")
        columns = mapping.columns
    if not columns:
        raise BadReference("name a saved mapping (mapping_id) or give the columns", field="columns")
    sheets.check_mapping(kind, columns)
    job = ImportJob(
        id=uuid.uuid4(),
        kind=kind,
        dry_run=dry_run,
        on_duplicate=on_duplicate,
        columns=columns,
        file_name=file_name,
        uploaded_bytes=0,
        status="uploading",
        done_rows=0,
        counts={},
        caller=_caller_json(caller),
        created_at=now(),
    )
    uow.session.add(job)
    await uow.session.flush()
    uow.session.add(ImportFile(job_id=job.id, data=b""))
    await uow.session.flush()
    return job


async def _own_job(session: AsyncSession, job_id: uuid.UUID, caller: Caller, *, lock: bool = False) -> ImportJob:
    job = await session.get(ImportJob, job_id, with_for_update=lock)
    if job is None or (job.caller["user_id"] != str(caller.user_id) and not caller.has_role("admin")):
        raise NotFound(f"no import {job_id}")
    return job


async def add_part(uow: UnitOfWork, job_id: uuid.UUID, part: bytes, caller: Caller, *, max_bytes: int) -> ImportJob:
    """The next part of the file; one that would make it larger than `max_bytes` is refused, the parts
    before it kept."""
    job = await _own_job(uow.session, job_id, caller, lock=True)
    if job.status != "uploading":
        raise BadReference(f"the import is {job.status}: its file is complete", field="file")
    if job.uploaded_bytes + len(part) > max_bytes:
        raise sheets.FileTooLarge(
            f"the file would be {job.uploaded_bytes + len(part):,} bytes with this part; "
            f"an import takes up to {max_bytes:,}"
        )
    # Appended by the database: the file so far is neither read back nor sent again for each part.
    await uow.session.execute(
        update(ImportFile)
        .where(ImportFile.job_id == job_id)
        .values(data=cast(ImportFile.data.op("||")(part), LargeBinary))
    )
    job.uploaded_bytes += len(part)
    await uow.session.flush()
    return job


async def start_job(uow: UnitOfWork, job_id: uuid.UUID, caller: Caller, reader: reading.FileReader) -> ImportJob:
    """The file is complete: read it whole now (a wrong or too large file is refused here, not later), then
    queue it. No transaction is open while it is read: on SQLite that would hold the one connection."""
    job = await _own_job(uow.session, job_id, caller)
    if job.status != "uploading":
        raise BadReference(f"the import is {job.status} already", field="file")
    columns = job.columns
    data = await uow.session.scalar(select(ImportFile.data).where(ImportFile.job_id == job_id))
    await uow.session.rollback()
    read = await reader.read(data or b"", columns, rows=False)
    job = await _own_job(uow.session, job_id, caller, lock=True)
    if job.status != "uploading":  # started meanwhile by another request
        raise BadReference(f"the import is {job.status} already", field="file")
    job.total_rows = read.total_rows
    job.status = "queued"
    await uow.session.flush()
    return job


async def rerun(uow: UnitOfWork, job_id: uuid.UUID, on_duplicate: str | None, caller: Caller) -> ImportJob:
    """The real run of a dry run's file, mapping and (unless changed) duplicate policy."""
    dry = await _own_job(uow.session, job_id, caller)
    if not dry.dry_run or dry.status != "done":
        raise BadReference("only a finished dry run is run for real", field="job_id")
    job = ImportJob(
        id=uuid.uuid4(),
        kind=dry.kind,
        dry_run=False,
        on_duplicate=on_duplicate or dry.on_duplicate,
        columns=dry.columns,
        file_name=dry.file_name,
        uploaded_bytes=dry.uploaded_bytes,
        status="queued",
        total_rows=dry.total_rows,
        done_rows=0,
        counts={},
        caller=_caller_json(caller),
        created_at=now(),
    )
    uow.session.add(job)
    await uow.session.flush()
    data = await uow.session.scalar(select(ImportFile.data).where(ImportFile.job_id == dry.id))
    uow.session.add(ImportFile(job_id=job.id, data=data))
    await uow.session.flush()
    return job


async def resume(uow: UnitOfWork, job_id: uuid.UUID, caller: Caller) -> ImportJob:
    """A failed or interrupted job, queued again: it goes on from its first row without an outcome."""
    job = await _own_job(uow.session, job_id, caller, lock=True)
    if job.status not in ("failed", "running"):
        raise BadReference(f"the import is {job.status}: nothing to resume", field="job_id")
    job.status, job.error = "queued", None
    await uow.session.flush()
    return job


async def get_job(session: AsyncSession, job_id: uuid.UUID, caller: Caller) -> ImportJob:
    return await _own_job(session, job_id, caller)


async def job_rows(
    session: AsyncSession, job_id: uuid.UUID, caller: Caller, *, outcome: str | None, limit: int, cursor: str | None
) -> tuple[list[ImportRow], str | None]:
    await _own_job(session, job_id, caller)
    stmt = select(ImportRow).where(ImportRow.job_id == job_id)
    if outcome:
        stmt = stmt.where(ImportRow.outcome == outcome)
    return await keyset_page(session, stmt, (ImportRow.row,), limit, cursor)


# --- the run ------------------------------------------------------------------------------------------------
