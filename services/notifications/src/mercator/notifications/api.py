"""HTTP routes of the notifications service: translate, call one use case, translate back."""

from __future__ import annotations

import uuid
from typing import Annotated, cast
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from mercator.common.http.deps import CurrentUser, RuntimeDep, SessionDep, UowDep
from mercator.common.pagination import Page
from mercator.common.versions import etag, expected_version
from mercator.notifications import history, manual, schemas, templates
from mercator.notifications.domain import Status, TemplateKind
from mercator.notifications.settings import NotificationsSettings

router = APIRouter(prefix="/api/v1")
Limit = Annotated[int, Query(ge=1, le=200)]


def _settings(runtime: RuntimeDep) -> NotificationsSettings:
    return cast(NotificationsSettings, runtime.settings)  # build_app gives its runtime these settings


SettingsDep = Annotated[NotificationsSettings, Depends(_settings)]


def _template(row, response: Response | None = None) -> schemas.TemplatePublic:
    if response is not None:
        response.headers["ETag"] = etag(row.version)
    return schemas.TemplatePublic.model_validate(row, from_attributes=True)


@router.post("/templates", status_code=201, response_model=schemas.TemplatePublic, tags=["templates"])
async def create_template(
    body: schemas.TemplateCreate, uow: UowDep, settings: SettingsDep, caller: CurrentUser, response: Response
):
    """A template is checked when saved: one that does not parse, or fails on sample data, is refused
    naming the field and the line; one over a render limit (time, memory, output) naming the field and
    the limit."""
    row = await templates.create_template(uow, body, caller, settings)
    response.headers["Location"] = f"/api/v1/templates/{row.id}"
    return _template(row, response)


@router.get("/templates", response_model=Page[schemas.TemplatePublic], tags=["templates"])
async def list_templates(
    session: SessionDep, _: CurrentUser, kind: TemplateKind | None = None, limit: Limit = 50, cursor: str | None = None
):
    rows, next_cursor = await templates.list_templates(session, kind, limit, cursor)
    return Page(items=[_template(r) for r in rows], next_cursor=next_cursor)


@router.get("/templates/{template_id}", response_model=schemas.TemplatePublic, tags=["templates"])
async def get_template(template_id: uuid.UUID, session: SessionDep, _: CurrentUser, response: Response):
    return _template(await templates.get_template(session, template_id), response)


@router.patch("/templates/{template_id}", response_model=schemas.TemplatePublic, tags=["templates"])
async def update_template(
    template_id: uuid.UUID,
    body: schemas.TemplateUpdate,
    uow: UowDep,
    settings: SettingsDep,
    caller: CurrentUser,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
):
    """Each edit is a new version; the old ones stay readable under /versions."""
    row = await templates.update_template(uow, template_id, body, expected_version(if_match), caller, settings)
    return _template(row, response)


@router.get("/templates/{template_id}/versions", response_model=list[schemas.TemplateVersionPublic], tags=["templates"])
async def template_versions(template_id: uuid.UUID, session: SessionDep, _: CurrentUser):
    return [
        schemas.TemplateVersionPublic.model_validate(v, from_attributes=True)
        for v in await templates.template_versions(session, template_id)
    ]


@router.get(
    "/templates/{template_id}/versions/{version}", response_model=schemas.TemplateVersionPublic, tags=["templates"]
)
async def template_version(
    template_id: uuid.UUID,
    # A version is a 32-bit integer column: a larger number names none, and is refused before the database.
    version: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: SessionDep,
    _: CurrentUser,
):
    return schemas.TemplateVersionPublic.model_validate(
        await templates.template_version(session, template_id, version), from_attributes=True
    )


OCTETS = "application/octet-stream"
_BINARY = {"schema": {"type": "string", "format": "binary"}}


def _pdf_responses(description: str) -> dict:
    # application/octet-stream beside application/pdf: client generators (openapi-python-client) read a binary
    # answer only under that name, and the caller who asks for it gets it (_pdf).
    return {200: {"description": description, "content": {"application/pdf": _BINARY, OCTETS: _BINARY}}}


def _pdf(request: Request, filename: str, content: bytes) -> Response:
    accept = request.headers.get("accept", "").lower()
    media_type = OCTETS if OCTETS in accept and "application/pdf" not in accept else "application/pdf"
    return Response(
        content, media_type=media_type, headers={"Content-Disposition": f"inline; filename*=UTF-8''{quote(filename)}"}
    )


@router.post(
    "/documents",
    tags=["documents"],
    response_class=Response,
    responses=_pdf_responses("the document as PDF (application/octet-stream when asked for)"),
)
async def render_document(
    body: schemas.DocumentRequest, request: Request, session: SessionDep, settings: SettingsDep, caller: CurrentUser
):
    """A document filled from the client card and the deal, as PDF: what a message would attach."""
    filename, content = await manual.preview_document(session, body, caller, settings)
    return _pdf(request, filename, content)


@router.post("/messages", status_code=202, response_model=schemas.MessagePublic, tags=["messages"])
async def send_message(
    body: schemas.MessageCreate, uow: UowDep, settings: SettingsDep, caller: CurrentUser, response: Response
):
    """Queued now, sent by the sender in the background; follow its status at Location."""
    m = await manual.send_by_hand(uow, body, caller, settings)
    response.headers["Location"] = f"/api/v1/messages/{m.id}"
    return schemas.MessagePublic.model_validate(m, from_attributes=True)


@router.get("/messages", response_model=Page[schemas.MessagePublic], tags=["messages"])
async def list_messages(
    session: SessionDep,
    caller: CurrentUser,
    status: Status | None = None,
    company_id: uuid.UUID | None = None,
    deal_id: uuid.UUID | None = None,
    kind: str | None = Query(None, max_length=20),
    limit: Limit = 50,
    cursor: str | None = None,
):
    """Newest first; only the caller's messages (a head: their departments')."""
    rows, next_cursor = await history.list_messages(
        session, caller, status=status, company_id=company_id, deal_id=deal_id, kind=kind, limit=limit, cursor=cursor
    )
    return Page(
        items=[schemas.MessagePublic.model_validate(r, from_attributes=True) for r in rows], next_cursor=next_cursor
    )


@router.get("/messages/{message_id}", response_model=schemas.MessagePublic, tags=["messages"])
async def get_message(message_id: uuid.UUID, session: SessionDep, caller: CurrentUser):
    return schemas.MessagePublic.model_validate(
        await history.get_message(session, message_id, caller), from_attributes=True
    )


@router.get(
    "/messages/{message_id}/documents/{position}",
    tags=["messages"],
    response_class=Response,
    responses=_pdf_responses("the document as sent, PDF (application/octet-stream when asked for)"),
)
async def message_document(
    message_id: uuid.UUID,
    position: Annotated[int, Path(ge=0, le=100)],
    request: Request,
    session: SessionDep,
    caller: CurrentUser,
):
    row = await history.attachment(session, message_id, position, caller)
    return _pdf(request, row.filename, row.content)


@router.post("/messages/{message_id}/retry", response_model=schemas.MessagePublic, tags=["messages"])
async def retry_message(message_id: uuid.UUID, uow: UowDep, caller: CurrentUser):
    """A failed message queued again (after the address or the server was put right)."""
    return schemas.MessagePublic.model_validate(
        await manual.retry_message(uow, message_id, caller), from_attributes=True
    )
