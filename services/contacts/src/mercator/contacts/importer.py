"""Importing a client list: client cards, contact persons, history entries and open deals from CSV or XLSX,
as a job.

Why the job lives in contacts and not in the gateway: three of the four kinds of row are contacts' own records
(cards, persons, history), and so are the rules that say two cards are likely one client, and the fourth
(open deals) hangs off the cards the import finds here. Here a batch of rows is one transaction through
contacts' own use cases (`service.add_companies`, the history writer), with each row's events in the outbox and
each row's outcome (`import_rows`) committed in that same transaction. That outcome row is the idempotency key
of job + row: a row that has one is never written again, so an import interrupted anywhere (a crash, a
restart, a cancelled task) resumes from its first row without an outcome and creates nothing twice. As a
client of the public API, the gateway would pay one HTTP call, one token check and one idempotency record per
row, and still need a store of its own for the job. Open deals are the deals service's: each goes through
its public API with an Idempotency-Key made of the job and the row, so a row sent again (its outcome lost with
a commit that failed, or the job resumed) gets back the deal opened the first time; while deals cannot be
reached the job stops as failed, rejecting nothing, and is resumed.

A job keeps the file and who started it, so it outlives the request and the process: the runner in each
contacts process picks up queued jobs and resumes running ones at start. A dry run goes through the same
rows and rules and writes only the outcomes: every row it would reject and why, and every likely duplicate
(of a card already there, or of an earlier row of the same file), with what the chosen policy (skip, merge
or create) would do with it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import httpx
from pydantic import ValidationError
from sqlalchemy import LargeBinary, cast, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller, mint_token
from mercator.common.bus.lock import relay_lock
from mercator.common.errors import DomainError, NotFound
from mercator.common.pagination import keyset_page
from mercator.common.uow import UnitOfWork
from mercator.common.visibility import Kind, NoAccess, sight
from mercator.contacts import domain, imports, reading, schemas, service
from mercator.contacts.tables import (
    Company,
    CompanyContact,
    DictionaryEntry,
    ImportFile,
    ImportJob,
    ImportMapping,
    ImportRow,
)

log = logging.getLogger(__name__)
BATCH = 200
POLICIES = ("skip", "merge", "create")


def _now() -> datetime:
    return datetime.now(UTC)


def _caller_json(caller: Caller) -> dict:
    return {
        "user_id": str(caller.user_id),
        "name": caller.name,
        "roles": sorted(caller.roles),
        "department_id": str(caller.department_id) if caller.department_id else None,
        "departments": sorted(str(d) for d in caller.departments),
    }


def _caller(data: dict) -> Caller:
    return Caller(
        uuid.UUID(data["user_id"]),
        data["name"],
        frozenset(data["roles"]),
        uuid.UUID(data["department_id"]) if data["department_id"] else None,
        frozenset(uuid.UUID(d) for d in data["departments"]),
    )


def _importer(caller: Caller, kind: str) -> None:
    sight(caller, {"history": Kind.HISTORY, "deals": Kind.DEAL}.get(kind, Kind.CARD), write=True)  # else 403


# --- mappings -----------------------------------------------------------------------------------------------


async def save_mapping(uow: UnitOfWork, kind: str, name: str, columns: dict[str, str], caller: Caller) -> ImportMapping:
    _importer(caller, kind)
    imports.check_mapping(kind, columns)
    if await uow.session.scalar(select(ImportMapping.id).where(ImportMapping.kind == kind, ImportMapping.name == name)):
        raise service.UnknownReference(f"a {kind} mapping named {name!r} exists already", field="name")
    row = ImportMapping(
        id=uuid.uuid4(), kind=kind, name=name, columns=columns, author_id=caller.user_id, created_at=_now()
    )
    uow.session.add(row)
    await uow.commit()
    return row


async def list_mappings(session: AsyncSession, kind: str | None) -> list[ImportMapping]:
    stmt = select(ImportMapping).order_by(ImportMapping.kind, ImportMapping.name)
    if kind:
        stmt = stmt.where(ImportMapping.kind == kind)
    return list((await session.execute(stmt)).scalars())


# --- jobs ---------------------------------------------------------------------------------------------------


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
    _importer(caller, kind)
    if mapping_id is not None:
        mapping = await uow.session.get(ImportMapping, mapping_id)
        if mapping is None or mapping.kind != kind:
            raise service.UnknownReference(f"there is no {kind} mapping {mapping_id}", field="mapping_id")
        columns = mapping.columns
    if not columns:
        raise service.UnknownReference("name a saved mapping (mapping_id) or give the columns", field="columns")
    imports.check_mapping(kind, columns)
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
        created_at=_now(),
    )
    uow.session.add(job)
    await uow.session.flush()
    uow.session.add(ImportFile(job_id=job.id, data=b""))
    await uow.commit()
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
        raise service.UnknownReference(f"the import is {job.status}: its file is complete", field="file")
    if job.uploaded_bytes + len(part) > max_bytes:
        raise imports.FileTooLarge(
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
    await uow.commit()
    return job


async def start_job(uow: UnitOfWork, job_id: uuid.UUID, caller: Caller, reader: reading.FileReader) -> ImportJob:
    """The file is complete: read it whole now (a wrong or too large file is refused here, not later), then
    queue it. No transaction is open while it is read: on SQLite that would hold the one connection."""
    job = await _own_job(uow.session, job_id, caller)
    if job.status != "uploading":
        raise service.UnknownReference(f"the import is {job.status} already", field="file")
    columns = job.columns
    data = await uow.session.scalar(select(ImportFile.data).where(ImportFile.job_id == job_id))
    await uow.session.rollback()
    read = await reader.read(data, columns, rows=False)
    job = await _own_job(uow.session, job_id, caller, lock=True)
    if job.status != "uploading":  # started meanwhile by another request
        raise service.UnknownReference(f"the import is {job.status} already", field="file")
    job.total_rows = read.total_rows
    job.status = "queued"
    await uow.commit()
    return job


async def rerun(uow: UnitOfWork, job_id: uuid.UUID, on_duplicate: str | None, caller: Caller) -> ImportJob:
    """The real run of a dry run's file, mapping and (unless changed) duplicate policy."""
    dry = await _own_job(uow.session, job_id, caller)
    if not dry.dry_run or dry.status != "done":
        raise service.UnknownReference("only a finished dry run is run for real", field="job_id")
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
        created_at=_now(),
    )
    uow.session.add(job)
    await uow.session.flush()
    uow.session.add(ImportFile(job_id=job.id, data=(await uow.session.get(ImportFile, dry.id)).data))
    await uow.commit()
    return job


async def resume(uow: UnitOfWork, job_id: uuid.UUID, caller: Caller) -> ImportJob:
    """A failed or interrupted job, queued again: it goes on from its first row without an outcome."""
    job = await _own_job(uow.session, job_id, caller, lock=True)
    if job.status not in ("failed", "running"):
        raise service.UnknownReference(f"the import is {job.status}: nothing to resume", field="job_id")
    job.status, job.error = "queued", None
    await uow.commit()
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


async def run_job(
    runtime,
    job_id: uuid.UUID,
    batch: int = BATCH,
    deals: httpx.AsyncClient | None = None,
    reader: reading.FileReader | None = None,
) -> None:
    """Every row without an outcome, a batch per transaction. Safe to call again at any point: rows written
    before are not looked at again."""
    async with runtime.sessionmaker() as s:
        job = await s.get(ImportJob, job_id)
        if job is None or job.status not in ("queued", "running"):
            return
        done = {
            r: o
            for r, o in (
                await s.execute(select(ImportRow.row, ImportRow.outcome).where(ImportRow.job_id == job_id))
            ).all()
        }
        await s.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(status="running", started_at=job.started_at or _now())
        )
        await s.commit()
        kind, columns, dry_run, policy = job.kind, job.columns, job.dry_run, job.on_duplicate
        data = await s.scalar(select(ImportFile.data).where(ImportFile.job_id == job_id))
        caller = _caller(job.caller)
    try:
        # Read again under today's limits: a file queued before they were lowered fails here, with the reason.
        rows = (await (reader or reading.of(runtime)).read(data, columns, rows=True)).rows
        state = _State(job_id, kind, policy, dry_run, caller, deals, runtime.settings)
        async with runtime.sessionmaker() as s:
            await state.load(s)
        for row in rows:  # what earlier runs took, later rows are compared with
            if done.get(row.number) in ("created", "merged") or (dry_run and row.number in done):
                state.remember(row)
        pending = [r for r in rows if r.number not in done]
        for start in range(0, len(pending), batch):
            chunk = pending[start : start + batch]
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
                        await _write_outcomes(
                            runtime,
                            job_id,
                            [
                                ImportRow(
                                    job_id=job_id,
                                    row=row.number,
                                    outcome="rejected",
                                    duplicate_of=[],
                                    errors=[
                                        {"field": None, "column": None, "message": f"not written: {row_exc}"[:500]}
                                    ],
                                )
                            ],
                        )
        async with runtime.uow() as uow:
            await uow.session.execute(
                update(ImportJob).where(ImportJob.id == job_id).values(status="done", finished_at=_now())
            )
            await uow.commit()
    except asyncio.CancelledError:
        raise  # interrupted: the job stays `running` and is resumed
    except Exception as exc:
        log.exception("import %s failed", job_id)
        async with runtime.uow() as uow:
            await uow.session.execute(
                update(ImportJob).where(ImportJob.id == job_id).values(status="failed", error=str(exc)[:2000])
            )
            await uow.commit()


async def _write_batch(runtime, job_id: uuid.UUID, state: _State, rows: list[imports.Row]) -> None:
    async with runtime.uow() as uow:
        outcomes = await state.take_batch(uow, rows)
        await _count(uow, job_id, outcomes)
        await uow.commit()


async def _write_outcomes(runtime, job_id: uuid.UUID, outcomes: list[ImportRow]) -> None:
    async with runtime.uow() as uow:
        await _count(uow, job_id, outcomes)
        await uow.commit()


async def _count(uow: UnitOfWork, job_id: uuid.UUID, outcomes: list[ImportRow]) -> None:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
    uow.session.add_all(outcomes)
    job = await uow.session.get(ImportJob, job_id, with_for_update=True)
    job.done_rows += len(outcomes)
    job.counts = {k: job.counts.get(k, 0) + counts.get(k, 0) for k in {*job.counts, *counts}}


class _State:
    """What one run knows while it goes: the dictionaries by name, and the rows of this file taken so far
    (a dry run writes no cards, so the file's own duplicates are found here)."""

    def __init__(
        self,
        job_id: uuid.UUID,
        kind: str,
        policy: str,
        dry_run: bool,
        caller: Caller,
        deals: httpx.AsyncClient | None = None,
        settings=None,
    ):
        self.job_id, self.deals, self.settings = job_id, deals, settings
        self.kind, self.policy, self.dry_run, self.caller = kind, policy, dry_run, caller
        self.dictionaries: dict[str, dict[str, uuid.UUID]] = {}
        self.seen: dict[tuple[str, str], int] = {}
        self.created: dict[int, uuid.UUID] = {}  # row: the card it made

    async def load(self, session: AsyncSession) -> None:
        for kind, key, entry_id in (
            await session.execute(select(DictionaryEntry.kind, DictionaryEntry.name_key, DictionaryEntry.id))
        ).all():
            self.dictionaries.setdefault(kind, {})[key] = entry_id

    def remember(self, row: imports.Row) -> None:
        if self.kind == "companies":
            for key in imports.duplicate_keys(
                _normalised(row.values), domain.matching_name(row.values.get("name", ""))
            ):
                self.seen.setdefault(key, row.number)

    async def take(self, uow: UnitOfWork, row: imports.Row) -> ImportRow:
        """A contact person or a history entry: one row at a time, each in a savepoint."""
        outcome = ImportRow(job_id=self.job_id, row=row.number, outcome="rejected", duplicate_of=[], errors=[])
        mark = len(uow.events)
        try:
            async with uow.session.begin_nested():
                if self.kind == "persons":
                    await self._person(uow, row, outcome)
                elif self.kind == "deals":
                    await self._deal(uow, row, outcome)
                else:
                    await self._history(uow, row, outcome)
        except _Rejected as exc:
            del uow.events[mark:]
            outcome.outcome, outcome.record_id, outcome.errors = "rejected", None, exc.errors
        except (DomainError, NoAccess) as exc:
            del uow.events[mark:]
            outcome.outcome, outcome.record_id = "rejected", None
            outcome.errors = [
                {
                    "field": getattr(exc, "field", None),
                    "column": row.source.get(getattr(exc, "field", None) or ""),
                    "message": getattr(exc, "message", None) or str(exc),
                }
            ]
        return outcome

    # --- client cards ---

    def _reference(self, row: imports.Row, field: str, kind: str, errors: list) -> uuid.UUID | None:
        name = row.values.get(field)
        if not name:
            return None
        found = self.dictionaries.get(kind, {}).get(domain.search_key(name))
        if found is None:
            errors.append({"field": field, "column": row.source[field], "message": f"there is no {kind} {name!r}"})
        return found

    def _card(self, row: imports.Row) -> schemas.CompanyCreate:
        errors: list[dict] = []
        v = row.values
        payload = {
            k: v[k]
            for k in ("name", "legal_name", "tax_id", "status", "phones", "emails", "address", "website", "notes")
            if k in v
        }
        if "status" in payload:
            payload["status"] = _status(payload["status"])
        for field, kind in (("region", "region"), ("industry", "industry"), ("source", "source")):
            found = self._reference(row, field, kind, errors)
            if found is not None:
                payload[f"{field}_id"] = found
        if v.get("person_name"):
            payload["persons"] = [
                {
                    "name": v["person_name"],
                    "position": v.get("person_position"),
                    "phones": v.get("person_phones", []),
                    "emails": v.get("person_emails", []),
                }
            ]
        try:
            card = schemas.CompanyCreate.model_validate(payload)
        except ValidationError as exc:
            errors += _errors(exc, row, {"persons": "person"})
            card = None
        if errors:
            raise _Rejected(errors)
        return card

    async def take_batch(self, uow: UnitOfWork, rows: list[imports.Row]) -> list[ImportRow]:
        if self.kind != "companies":
            return [await self.take(uow, row) for row in rows]
        outcomes, cards = [], []
        for row in rows:
            outcome = ImportRow(job_id=self.job_id, row=row.number, outcome="rejected", duplicate_of=[], errors=[])
            outcomes.append(outcome)
            try:
                cards.append((row, outcome, self._card(row)))
            except _Rejected as exc:
                outcome.errors = exc.errors
        there = await _duplicates(uow.session, [card for _, _, card in cards])
        creating, merging = [], []
        for row, outcome, card in cards:
            keys = imports.duplicate_keys(
                {"tax_id": card.tax_id, "phones": card.phones, "emails": card.emails}, domain.matching_name(card.name)
            )
            in_file = sorted({self.seen[k] for k in keys if k in self.seen})
            found = there(card)
            outcome.duplicate_of = [
                {"company_id": str(d.company_id), "name": d.name, "reasons": list(d.reasons)} for d in found
            ] + [{"row": n} for n in in_file]
            for key in keys:
                self.seen.setdefault(key, row.number)
            if outcome.duplicate_of and self.policy == "skip":
                outcome.outcome = "skipped"
            elif outcome.duplicate_of and self.policy == "merge":
                outcome.outcome = "merged"
                target = found[0].company_id if found else self.created.get(in_file[0])
                merging.append((outcome, target, card))
            else:
                outcome.outcome = "created"
                creating.append((row, outcome, card))
        if self.dry_run:
            return outcomes
        made = await service.add_companies(uow, [card for _, _, card in creating], self.caller)
        for (row, outcome, _), (company, _) in zip(creating, made):
            outcome.record_id = self.created[row.number] = company.id
        for outcome, target, card in merging:  # after the creations: a row may merge into one made just now
            if target is not None:
                outcome.record_id = await _merge_into(uow, target, card, self.caller)
        return outcomes

    # --- contact persons and history: rows name their client card ---

    async def _card_of(self, s: AsyncSession, row: imports.Row) -> Company:
        v = row.values
        if v.get("company_tax_id"):
            field, stmt = "company_tax_id", select(Company).where(Company.tax_id == v["company_tax_id"].strip())
        elif v.get("company_name"):
            field, stmt = (
                "company_name",
                select(Company).where(Company.match_name == domain.matching_name(v["company_name"])[:300]),
            )
        else:
            raise _Rejected([{"field": "company_tax_id", "column": None, "message": "the row names no client card"}])
        found = (await s.execute(stmt.where(Company.merged_into_id.is_(None)).limit(2))).scalars().all()
        if len(found) != 1:
            message = "no client card has it" if not found else "more than one client card has it"
            raise _Rejected([{"field": field, "column": row.source[field], "message": message}])
        view = sight(
            self.caller, Kind.HISTORY if self.kind == "history" else Kind.CARD, write=self.kind != "deals"
        )  # a deal is opened on a card one may see
        if not service._sees(view, found[0]):
            raise _Rejected([{"field": field, "column": row.source[field], "message": "no client card has it"}])
        return found[0]

    async def _person(self, uow: UnitOfWork, row: imports.Row, outcome: ImportRow) -> None:
        s = uow.session
        company = await self._card_of(s, row)
        try:
            person = schemas.PersonCreate.model_validate(
                {k: row.values[k] for k in ("name", "position", "phones", "emails", "notes") if k in row.values}
            )
        except ValidationError as exc:
            raise _Rejected(_errors(exc, row)) from None
        same = [
            p
            for p in await service.list_persons(s, company.id, self.caller)
            if domain.search_key(p.name) == domain.search_key(person.name)
        ]
        if same:
            outcome.duplicate_of = [
                {"person_id": str(p.id), "name": p.name, "company_id": str(company.id)} for p in same
            ]
            if self.policy != "create":
                outcome.outcome = "skipped"  # a person has too little to merge by; the card keeps the first
                return
        outcome.outcome = "created"
        if not self.dry_run:
            made = service._new_person(company.id, person, _now())
            s.add(made)
            await s.flush()
            await service._reindex(s, company)
            uow.emit(service.ev.PersonAdded(**service._person_event(made)), subject=made.id, sequence=1)
            outcome.record_id = made.id

    async def _deal(self, uow: UnitOfWork, row: imports.Row, outcome: ImportRow) -> None:
        """An open deal, through the deals service's API. The Idempotency-Key is the job and the row: when
        this row is sent again (its outcome was lost with a failed commit, or the job is resumed), deals
        answers with the deal it opened the first time instead of opening another."""
        company = await self._card_of(uow.session, row)
        v = row.values
        body: dict = {"title": v["title"], "company_id": str(company.id), "currency": v.get("currency", "RUB").upper()}
        errors = []
        if v.get("amount"):
            try:
                body["amount"] = str(Decimal(v["amount"].replace(" ", "").replace("\u00a0", "").replace(",", ".")))
            except InvalidOperation:
                errors.append({"field": "amount", "column": row.source["amount"], "message": "not an amount"})
        if v.get("expected_close_date"):
            day = _day(v["expected_close_date"])
            if day is None:
                errors.append(
                    {
                        "field": "expected_close_date",
                        "column": row.source["expected_close_date"],
                        "message": "not a date (ДД.ММ.ГГГГ or ГГГГ-ММ-ДД)",
                    }
                )
            else:
                body["expected_close_date"] = day
        if errors:
            raise _Rejected(errors)
        outcome.outcome = "created"
        if self.dry_run:
            return
        token = mint_token(self.settings, self.caller)
        try:
            answer = await self.deals.post(
                "/api/v1/deals",
                json=body,
                timeout=30,
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"import:{self.job_id}:{row.number}"},
            )
        except httpx.HTTPError as exc:
            raise DealsUnavailable(f"deals cannot be reached ({exc!r}); resume the import when it is back") from exc
        if answer.status_code in (200, 201):
            outcome.record_id = uuid.UUID(answer.json()["id"])
        elif answer.status_code in (400, 404, 409, 422):
            found = answer.json().get("errors") or [{"field": None, "message": answer.json().get("detail")}]
            raise _Rejected(
                [
                    {
                        "field": e.get("field"),
                        "column": row.source.get(e.get("field") or ""),
                        "message": e.get("message"),
                    }
                    for e in found
                ]
            )
        else:
            raise DealsUnavailable(f"deals answered {answer.status_code}; resume the import when it is back")

    async def _history(self, uow: UnitOfWork, row: imports.Row, outcome: ImportRow) -> None:
        company = await self._card_of(uow.session, row)
        v = dict(row.values)
        if "kind" in v:
            v["kind"] = _activity_kind(v["kind"])
        if "direction" in v:
            v["direction"] = {"входящий": "inbound", "исходящий": "outbound"}.get(
                v["direction"].lower(), v["direction"].lower()
            )
        if "happened_at" in v:
            v["happened_at"] = _moment(v["happened_at"])
        try:
            entry = schemas.ActivityCreate.model_validate(
                {k: v[k] for k in ("kind", "direction", "subject", "summary", "happened_at") if k in v}
            )
        except ValidationError as exc:
            raise _Rejected(_errors(exc, row)) from None
        outcome.outcome = "created"
        if not self.dry_run:
            activity = service._write_activity(
                uow,
                company,
                kind=entry.kind.value,
                direction=entry.direction.value,
                subject=entry.subject,
                summary=entry.summary,
                happened_at=(entry.happened_at or _now()).astimezone(UTC),
                author_id=self.caller.user_id,
            )
            outcome.record_id = activity.id


class DealsUnavailable(Exception):
    """Stops the job (failed, resumable): rows are not rejected for what the deals service could not say."""


def _day(text: str) -> str | None:
    for pattern in ("%d.%m.%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip()[:10], pattern).date().isoformat()
        except ValueError:
            pass
    return None


class _Rejected(Exception):
    def __init__(self, errors: list[dict]):
        super().__init__("rejected")
        self.errors = errors


def _errors(exc: ValidationError, row: imports.Row, prefixes: dict[str, str] | None = None) -> list[dict]:
    out = []
    for e in exc.errors():
        loc = [str(p) for p in e["loc"]]
        field = loc[0] if loc else ""
        if field == "persons" and len(loc) >= 3:
            field = f"person_{loc[2]}"
        elif field.endswith("_id") and field[:-3] in row.source:
            field = field[:-3]
        out.append({"field": field, "column": row.source.get(field), "message": e["msg"].removeprefix("Value error, ")})
    return out


_STATUSES = {"потенциальный": "prospect", "клиент": "client", "бывший клиент": "former_client"}


def _status(text: str) -> str:
    return _STATUSES.get(text.strip().lower(), text.strip().lower())


_ACTIVITY_KINDS = {
    "звонок": "call",
    "встреча": "meeting",
    "письмо": "letter",
    "e-mail": "email",
    "email": "email",
    "факс": "fax",
    "заметка": "note",
}


def _activity_kind(text: str) -> str:
    return _ACTIVITY_KINDS.get(text.strip().lower(), text.strip().lower())


def _moment(text: str):
    """A spreadsheet's time: ISO 8601, or `ДД.ММ.ГГГГ [ЧЧ:ММ]` (Moscow time when no offset is written)."""
    from zoneinfo import ZoneInfo

    for pattern in ("%d.%m.%Y %H:%M", "%d.%m.%Y"):
        try:
            return datetime.strptime(text.strip(), pattern).replace(tzinfo=ZoneInfo("Europe/Moscow")).isoformat()
        except ValueError:
            pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return text  # the schema names it
    return (moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("Europe/Moscow"))).isoformat()


def _normalised(values: dict) -> dict:
    """A row's tax id, phones and e-mails as the card would hold them (to compare rows of one file)."""
    out: dict = {"phones": [], "emails": []}
    try:
        out["tax_id"] = domain.normalise_tax_id(values.get("tax_id"))
    except DomainError:
        pass
    for field, normalise in (("phones", domain.normalise_phone), ("emails", domain.normalise_email)):
        for value in values.get(field, []):
            try:
                out[field].append(normalise(value))
            except DomainError:
                pass
    return out


async def _duplicates(s: AsyncSession, cards: list[schemas.CompanyCreate]):
    """Cards already there that are likely one of these: the same tax id, phone or e-mail, or the same name
    once legal forms and quotes are set aside; scored by the domain's own rule. One query for a batch, and an
    exact name rather than the editor's fuzzy search: a file of a hundred thousand rows cannot scan the table
    once per row. Returns the look-up for one card."""
    tax_ids = {c.tax_id for c in cards if c.tax_id}
    names = {domain.matching_name(c.name)[:300] for c in cards}
    contacts = {("phone", p) for c in cards for p in c.phones} | {("email", e) for c in cards for e in c.emails}
    conditions = [Company.match_name.in_(names)] if names else []
    if tax_ids:
        conditions.append(Company.tax_id.in_(tax_ids))
    if contacts:
        conditions.append(
            Company.id.in_(
                select(CompanyContact.company_id).where(
                    tuple_(CompanyContact.kind, CompanyContact.value).in_(sorted(contacts))
                )
            )
        )
    rows = (
        (await s.execute(select(Company).where(or_(*conditions), Company.merged_into_id.is_(None)))).scalars().all()
        if conditions
        else []
    )
    by_key: dict[tuple[str, str], list[Company]] = {}
    for c in rows:
        for key in [
            ("tax_id", c.tax_id),
            ("name", c.match_name),
            *(("phone", p) for p in c.phones),
            *(("email", e) for e in c.emails),
        ]:
            by_key.setdefault(key, []).append(c)

    def of(card: schemas.CompanyCreate) -> list[domain.LikelyDuplicate]:
        keys = [
            ("tax_id", card.tax_id),
            ("name", domain.matching_name(card.name)[:300]),
            *(("phone", p) for p in card.phones),
            *(("email", e) for e in card.emails),
        ]
        near = {c.id: c for k in keys for c in by_key.get(k, [])}
        existing = [
            domain.CardFingerprint(c.id, c.name, c.tax_id, tuple(c.phones), tuple(c.emails)) for c in near.values()
        ]
        found = domain.find_likely_duplicates(
            domain.CardFingerprint(None, card.name, card.tax_id, tuple(card.phones), tuple(card.emails)), existing
        )
        return found or [domain.LikelyDuplicate(c.id, c.name, ("same_name",), 1.0) for c in list(near.values())[:1]]

    return of


async def _merge_into(uow: UnitOfWork, company_id: uuid.UUID, card: schemas.CompanyCreate, caller: Caller) -> uuid.UUID:
    """The row fills what the card lacks and adds its phones and e-mails; what the card says stays."""
    s = uow.session
    company = await service.get_company(s, company_id, caller, write=True)
    changed = []
    for field in ("legal_name", "tax_id", "region_id", "industry_id", "source_id", "address", "website", "notes"):
        value = getattr(card, field)
        if value is not None and getattr(company, field) in (None, ""):
            setattr(company, field, value)
            changed.append(field)
    for field in ("phones", "emails"):
        merged = list(dict.fromkeys([*getattr(company, field), *getattr(card, field)]))
        if merged != list(getattr(company, field)):
            setattr(company, field, merged)
            changed.append(field)
    for p in card.persons:
        person = service._new_person(company.id, p, _now())
        s.add(person)
        uow.emit(service.ev.PersonAdded(**service._person_event(person)), subject=person.id, sequence=1)
        changed.append("persons")
    if changed:
        await s.flush()
        await service._reindex(s, company)
        if set(changed) - {"persons"}:
            await service._card_changed(uow, company, sorted(set(changed) - {"persons"}))
    return company.id


async def runner(runtime, deals=lambda: None, poll_seconds: float = 1.0) -> None:
    """Takes queued jobs one at a time; at start, resumes those a stop interrupted (`running`).

    With several contacts processes on one database only the one holding the importer lock runs
    jobs: two runners on one job would write its rows twice over each other."""
    lock = relay_lock(runtime.engine, runtime.settings.database_url, runtime.settings.service_name, "importer")
    try:
        await _run_jobs(runtime, lock, deals, poll_seconds)
    finally:
        await lock.release()


async def _run_jobs(runtime, lock, deals, poll_seconds: float) -> None:
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
