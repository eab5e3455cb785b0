"""What the import routes take and give."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from mercator.common.http.fields import Input

ImportKind = Literal["companies", "persons", "history", "deals"]
DuplicatePolicy = Literal["skip", "merge", "create"]
Columns = Annotated[dict[Annotated[str, Field(min_length=1, max_length=200)], str], Field(min_length=1, max_length=100)]


class ImportMappingCreate(Input):
    kind: ImportKind
    name: Annotated[str, Field(min_length=1, max_length=200)]
    columns: Columns = Field(description="{column header in the file: field}")


class ImportMappingPublic(BaseModel):
    id: uuid.UUID
    kind: str
    name: str
    columns: dict[str, str]
    created_at: datetime


class ImportCreate(Input):
    """A job waiting for its file: send it (in parts of up to 1 MB) to `/imports/{id}/file`, then `start`."""

    kind: ImportKind
    dry_run: bool = Field(False, description="report what would happen, write nothing")
    on_duplicate: DuplicatePolicy = Field(
        "skip", description="what to do with a row that is likely a card already there (or an earlier row)"
    )
    mapping_id: uuid.UUID | None = Field(None, description="a saved mapping")
    columns: Columns | None = Field(None, description="{column header: field}, when no saved mapping is named")
    file_name: str | None = Field(None, max_length=300)


class ImportRerun(Input):
    on_duplicate: DuplicatePolicy | None = None


class ImportJobPublic(BaseModel):
    id: uuid.UUID
    kind: str
    dry_run: bool
    on_duplicate: str
    columns: dict[str, str]
    file_name: str | None
    status: Literal["uploading", "queued", "running", "done", "failed"]
    total_rows: int | None
    done_rows: int
    counts: dict[str, int] = Field(description="rows by outcome: created, merged, skipped, rejected")
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    uploaded_bytes: int


class ImportRowPublic(BaseModel):
    row: int = Field(description="as the spreadsheet numbers it (the header is row 1)")
    outcome: Literal["created", "merged", "skipped", "rejected"]
    record_id: uuid.UUID | None
    duplicate_of: list[dict]
    errors: list[dict] = Field(description="[{field, column, message}] for a rejected row")
