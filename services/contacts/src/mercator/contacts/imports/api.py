"""HTTP routes of client-list imports (see `mercator.contacts.imports` for why the job lives here):
translate, call one use case, translate back. Mounted before the dictionaries' catch-all `/{kind}`."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from mercator.common.http.deps import CurrentUser, SessionDep, UowDep
from mercator.common.pagination import Page
from mercator.contacts.imports import jobs, mappings, reading, schemas
from mercator.contacts.tables import ImportJob

router = APIRouter(prefix="/api/v1", tags=["imports"])
Limit = Annotated[int, Query(ge=1, le=200)]


def _job(job: ImportJob) -> schemas.ImportJobPublic:
    return schemas.ImportJobPublic(
        id=job.id,
        kind=job.kind,
        dry_run=job.dry_run,
        on_duplicate=job.on_duplicate,
        columns=job.columns,
        file_name=job.file_name,
        status=job.status,
        total_rows=job.total_rows,
        done_rows=job.done_rows,
        counts=job.counts,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        uploaded_bytes=job.uploaded_bytes,
    )


@router.post("/import-mappings", status_code=201, response_model=schemas.ImportMappingPublic)
async def save_mapping(body: schemas.ImportMappingCreate, uow: UowDep, caller: CurrentUser):
    """A column mapping saved under a name, for the next file of the same shape."""
    row = await mappings.save_mapping(uow, body.kind, body.name, body.columns, caller)
    return schemas.ImportMappingPublic.model_validate(row, from_attributes=True)


@router.get("/import-mappings", response_model=list[schemas.ImportMappingPublic])
async def list_mappings(session: SessionDep, _: CurrentUser, kind: schemas.ImportKind | None = None):
    return [
        schemas.ImportMappingPublic.model_validate(m, from_attributes=True)
        for m in await mappings.list_mappings(session, kind)
    ]


@router.post("/imports", status_code=201, response_model=schemas.ImportJobPublic)
async def open_import(body: schemas.ImportCreate, uow: UowDep, caller: CurrentUser, response: Response):
    """An import of client cards, contact persons or history entries from a CSV or XLSX file: this opens the
    job; send the file to `/imports/{id}/file` (in parts of up to 1 MB, in order), then `/imports/{id}/start`,
    and poll `/imports/{id}` for progress and `/imports/{id}/rows` for what each row became."""
    job = await jobs.open_job(
        uow,
        kind=body.kind,
        dry_run=body.dry_run,
        on_duplicate=body.on_duplicate,
        mapping_id=body.mapping_id,
        columns=body.columns,
        file_name=body.file_name,
        caller=caller,
    )
    response.headers["Location"] = f"/api/v1/imports/{job.id}"
    return _job(job)


@router.post(
    "/imports/{job_id}/file",
    response_model=schemas.ImportJobPublic,
    # The bytes are taken whatever the Content-Type (text/csv too); documented as the one binary type
    # client generators send a body of bytes as.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def add_part(job_id: uuid.UUID, request: Request, uow: UowDep, caller: CurrentUser):
    """The next part of the file (CSV or XLSX), as the body's bytes; sent as text/csv it is taken as well."""
    return _job(
        await jobs.add_part(
            uow,
            job_id,
            await request.body(),
            caller,
            max_bytes=request.app.state.runtime.settings.import_max_file_bytes,
        )
    )


@router.post("/imports/{job_id}/start", response_model=schemas.ImportJobPublic)
async def start(job_id: uuid.UUID, request: Request, uow: UowDep, caller: CurrentUser):
    """The file is complete: it is read, its header checked against the mapping, and the job queued. A file
    larger than an import takes (bytes, rows, what an XLSX unpacks to, the CPU time or memory to read it) is
    refused with 422 naming the limit."""
    return _job(await jobs.start_job(uow, job_id, caller, reading.of(request.app.state.runtime)))


@router.post("/imports/{job_id}/run", status_code=201, response_model=schemas.ImportJobPublic)
async def run_for_real(job_id: uuid.UUID, body: schemas.ImportRerun, uow: UowDep, caller: CurrentUser):
    """After a dry run: the same file and mapping, for real (a new job)."""
    return _job(await jobs.rerun(uow, job_id, body.on_duplicate, caller))


@router.post("/imports/{job_id}/resume", response_model=schemas.ImportJobPublic)
async def resume(job_id: uuid.UUID, uow: UowDep, caller: CurrentUser):
    """A failed or interrupted job goes on from its first row without an outcome; nothing is written twice."""
    return _job(await jobs.resume(uow, job_id, caller))


@router.get("/imports/{job_id}", response_model=schemas.ImportJobPublic)
async def get_import(job_id: uuid.UUID, session: SessionDep, caller: CurrentUser):
    return _job(await jobs.get_job(session, job_id, caller))


@router.get("/imports/{job_id}/rows", response_model=Page[schemas.ImportRowPublic])
async def rows(
    job_id: uuid.UUID,
    session: SessionDep,
    caller: CurrentUser,
    outcome: Literal["created", "merged", "skipped", "rejected"] | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
):
    """What each row became (or would become, in a dry run), by row number; `outcome=rejected` is the list
    of rows to fix, each with the field, the column and why."""
    found, next_cursor = await jobs.job_rows(session, job_id, caller, outcome=outcome, limit=limit, cursor=cursor)
    return Page(
        items=[schemas.ImportRowPublic.model_validate(r, from_attributes=True) for r in found], next_cursor=next_cursor
    )
