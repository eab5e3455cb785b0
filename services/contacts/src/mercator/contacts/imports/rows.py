"""What each row of an import becomes: a client card (created, merged into the one it duplicates, or
skipped), a contact person, a history entry or an open deal (through the deals service), or a rejection
naming the field and the column."""

from __future__ import annotations

import uuid
from datetime import UTC
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy import or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller, mint_token
from mercator.common.clock import now
from mercator.common.errors import DomainError
from mercator.common.uow import UnitOfWork
from mercator.common.visibility import Kind, NoAccess, sight
from mercator.contacts import cards, domain, history, merging, persons, repository, schemas
from mercator.contacts.imports import sheets
from mercator.contacts.imports.cells import (
    DealsUnavailable,
    Rejected,
    activity_kind,
    errors_of,
    normalised,
    read_day,
    read_moment,
    status_of,
)
from mercator.contacts.tables import Company, CompanyContact, DictionaryEntry, ImportRow


class RunState:
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

    def remember(self, row: sheets.Row) -> None:
        if self.kind == "companies":
            for key in sheets.duplicate_keys(normalised(row.values), domain.matching_name(row.values.get("name", ""))):
                self.seen.setdefault(key, row.number)

    async def take(self, uow: UnitOfWork, row: sheets.Row) -> ImportRow:
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
        except Rejected as exc:
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

    def _reference(self, row: sheets.Row, field: str, kind: str, errors: list) -> uuid.UUID | None:
        name = row.values.get(field)
        if not name:
            return None
        found = self.dictionaries.get(kind, {}).get(domain.search_key(name))
        if found is None:
            errors.append({"field": field, "column": row.source[field], "message": f"there is no {kind} {name!r}"})
        return found

    def _card(self, row: sheets.Row) -> schemas.CompanyCreate:
        errors: list[dict] = []
        v = row.values
        payload: dict[str, Any] = {
            k: v[k]
            for k in ("name", "legal_name", "tax_id", "status", "phones", "emails", "address", "website", "notes")
            if k in v
        }
        if "status" in payload:
            payload["status"] = status_of(payload["status"])
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
        card: schemas.CompanyCreate | None = None
        try:
            card = schemas.CompanyCreate.model_validate(payload)
        except ValidationError as exc:
            errors += errors_of(exc, row)
        if errors or card is None:
            raise Rejected(errors)
        return card

    async def take_batch(self, uow: UnitOfWork, rows: list[sheets.Row]) -> list[ImportRow]:
        if self.kind != "companies":
            return [await self.take(uow, row) for row in rows]
        outcomes, taken = [], []
        for row in rows:
            outcome = ImportRow(job_id=self.job_id, row=row.number, outcome="rejected", duplicate_of=[], errors=[])
            outcomes.append(outcome)
            try:
                taken.append((row, outcome, self._card(row)))
            except Rejected as exc:
                outcome.errors = exc.errors
        there = await duplicates_of(uow.session, [card for _, _, card in taken])
        creating, folding = [], []
        for row, outcome, card in taken:
            keys = sheets.duplicate_keys(
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
                folding.append((outcome, target, card))
            else:
                outcome.outcome = "created"
                creating.append((row, outcome, card))
        if self.dry_run:
            return outcomes
        made = await cards.add_companies(uow, [card for _, _, card in creating], self.caller)
        for (row, outcome, _), (company, _) in zip(creating, made, strict=True):
            outcome.record_id = self.created[row.number] = company.id
        for outcome, target, card in folding:  # after the creations: a row may merge into one made just now
            if target is not None:
                outcome.record_id = await merging.fill_in(uow, target, card, self.caller)
        return outcomes

    # --- contact persons and history: rows name their client card ---

    async def _card_of(self, s: AsyncSession, row: sheets.Row) -> Company:
        v = row.values
        if v.get("company_tax_id"):
            field, stmt = "company_tax_id", select(Company).where(Company.tax_id == v["company_tax_id"].strip())
        elif v.get("company_name"):
            field, stmt = (
                "company_name",
                select(Company).where(Company.match_name == domain.matching_name(v["company_name"])[:300]),
            )
        else:
            raise Rejected([{"field": "company_tax_id", "column": None, "message": "the row names no client card"}])
        found = (await s.execute(stmt.where(Company.merged_into_id.is_(None)).limit(2))).scalars().all()
        if len(found) != 1:
            message = "no client card has it" if not found else "more than one client card has it"
            raise Rejected([{"field": field, "column": row.source[field], "message": message}])
        view = sight(
            self.caller, Kind.HISTORY if self.kind == "history" else Kind.CARD, write=self.kind != "deals"
        )  # a deal is opened on a card one may see
        if not repository.sees(view, found[0]):
            raise Rejected([{"field": field, "column": row.source[field], "message": "no client card has it"}])
        return found[0]

    async def _person(self, uow: UnitOfWork, row: sheets.Row, outcome: ImportRow) -> None:
        s = uow.session
        company = await self._card_of(s, row)
        try:
            person = schemas.PersonCreate.model_validate(
                {k: row.values[k] for k in ("name", "position", "phones", "emails", "notes") if k in row.values}
            )
        except ValidationError as exc:
            raise Rejected(errors_of(exc, row)) from None
        same = [
            p
            for p in await persons.list_persons(s, company.id, self.caller)
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
            (made,) = persons.add_to(uow, company.id, [person])
            await repository.reindex(s, company)
            outcome.record_id = made.id

    async def _deal(self, uow: UnitOfWork, row: sheets.Row, outcome: ImportRow) -> None:
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
            day = read_day(v["expected_close_date"])
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
            raise Rejected(errors)
        outcome.outcome = "created"
        if self.dry_run:
            return
        assert self.deals is not None, "a deals import runs with a client of the deals service"
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
            raise Rejected(
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

    async def _history(self, uow: UnitOfWork, row: sheets.Row, outcome: ImportRow) -> None:
        company = await self._card_of(uow.session, row)
        v = dict(row.values)
        if "kind" in v:
            v["kind"] = activity_kind(v["kind"])
        if "direction" in v:
            v["direction"] = {"входящий": "inbound", "исходящий": "outbound"}.get(
                v["direction"].lower(), v["direction"].lower()
            )
        if "happened_at" in v:
            v["happened_at"] = read_moment(v["happened_at"])
        try:
            entry = schemas.ActivityCreate.model_validate(
                {k: v[k] for k in ("kind", "direction", "subject", "summary", "happened_at") if k in v}
            )
        except ValidationError as exc:
            raise Rejected(errors_of(exc, row)) from None
        outcome.outcome = "created"
        if not self.dry_run:
            repo = repository.Cards(uow.session)
            card = repo.of(company)
            activity = history.write_entry(
                uow,
                card,
                kind=entry.kind.value,
                direction=entry.direction.value,
                subject=entry.subject,
                summary=entry.summary,
                happened_at=(entry.happened_at or now()).astimezone(UTC),
                author_id=self.caller.user_id,
            )
            await repo.save(card)
            outcome.record_id = activity.id


async def duplicates_of(s: AsyncSession, cards: list[schemas.CompanyCreate]):
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
    by_key: dict[tuple[str, str | None], list[Company]] = {}
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
