"""Routes of bank statements: a file imported, its incoming payments matched or left for a person."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from starlette.datastructures import UploadFile

from mercator.billing import bank_statements, schemas, statements
from mercator.billing.api.deps import TimeZone
from mercator.billing.sight import statement_sight
from mercator.billing.tables import StatementLine
from mercator.common.http.deps import CurrentUser, RuntimeDep, SessionDep, UowDep
from mercator.common.pagination import Page
from mercator.common.versions import etag, expected_version

router = APIRouter()


def _line(row: StatementLine) -> schemas.StatementLinePublic:
    return schemas.StatementLinePublic.model_validate(row, from_attributes=True)


# The file as a form's `file` field (a browser's file input, a generated client). The bytes as the whole body,
# whatever their Content-Type, are taken too (the format is read from the file itself) but not documented: a
# second content type makes openapi-python-client 0.29 write a module that does not import.
STATEMENT_BODY: dict[str, object] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "title": "BankStatementUpload",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "camt.053 XML, or 1CClientBankExchange text",
                    }
                },
            }
        }
    },
}


async def _statement_file(request: Request) -> bytes:
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=10) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise statements.BadStatement("send the statement as the form's `file` field")
            return await upload.read()
    return await request.body()


@router.post(
    "/bank-statements",
    response_model=schemas.StatementImported,
    tags=["bank statements"],
    openapi_extra={"requestBody": STATEMENT_BODY},
)
async def import_statement(
    request: Request, runtime: RuntimeDep, time_zone: TimeZone, caller: CurrentUser
) -> schemas.StatementImported:
    """A bank statement, as the form's `file` field (or as the whole body): ISO 20022 camt.053 XML, or
    1CClientBankExchange text (Windows-1251 or UTF-8). Each incoming payment is kept once, however often the
    statement is imported; one that names an open invoice by its number, comes from its client's tax id and
    pays its amount is recorded as a payment; the rest is listed (`GET /bank-statements/lines?status=unmatched`)
    for a person to match."""
    statement_sight(caller)
    fmt, lines = statements.read_statement(await _statement_file(request))
    new = matched = 0
    unmatched = []
    for read in lines:  # one transaction per payment: an interrupted import resumes where it stopped
        async with runtime.uow() as uow:
            row, is_new = await bank_statements.take_statement_line(uow, fmt, read, time_zone, caller)
            if is_new:
                await uow.commit()
        new += is_new
        if is_new and row.status == "matched":
            matched += 1
        elif is_new:
            unmatched.append(_line(row))
    return schemas.StatementImported(format=fmt, lines=len(lines), new=new, matched=matched, unmatched=unmatched)


@router.get("/bank-statements/lines", response_model=Page[schemas.StatementLinePublic], tags=["bank statements"])
async def statement_lines(
    session: SessionDep,
    caller: CurrentUser,
    status: Literal["unmatched", "matched", "dismissed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Page[schemas.StatementLinePublic]:
    """Incoming payments from imported statements, by booking date; `status=unmatched` is the work list."""
    rows, next_cursor = await bank_statements.statement_lines(
        session, caller, status=status, limit=limit, cursor=cursor
    )
    return Page(items=[_line(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/bank-statements/lines/{line_id}/match", response_model=schemas.StatementLinePublic, tags=["bank statements"]
)
async def match_statement_line(
    line_id: uuid.UUID,
    body: schemas.StatementMatch,
    uow: UowDep,
    time_zone: TimeZone,
    caller: CurrentUser,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> schemas.StatementLinePublic:
    """Say which invoice an unmatched payment pays: it is recorded as a payment of that invoice's client."""
    row = await bank_statements.match_statement_line(
        uow, line_id, body.invoice_id, expected_version(if_match, required=False), time_zone, caller
    )
    response.headers["ETag"] = etag(row.version)
    return _line(row)


@router.post(
    "/bank-statements/lines/{line_id}/dismiss", response_model=schemas.StatementLinePublic, tags=["bank statements"]
)
async def dismiss_statement_line(
    line_id: uuid.UUID,
    body: schemas.StatementDismiss,
    uow: UowDep,
    caller: CurrentUser,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> schemas.StatementLinePublic:
    """Not a client's payment: off the work list, the reason kept."""
    row = await bank_statements.dismiss_statement_line(
        uow, line_id, body.reason, expected_version(if_match, required=False), caller
    )
    response.headers["ETag"] = etag(row.version)
    return _line(row)
