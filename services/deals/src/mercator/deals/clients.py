"""Does a client card exist? The replica answers; for a card created a moment ago, contacts does."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.http.errors import AppError
from mercator.deals.tables import Client, Person


class UnknownClient(AppError):
    status, title = 422, "Invalid request"


class ContactsUnavailable(AppError):
    status, title = 503, "Service unavailable"


class ClientCheck:
    def __init__(self, http: httpx.AsyncClient, authorization: str | None):
        self.http = http
        self.authorization = authorization

    async def ensure_exists(self, session: AsyncSession, company_id: uuid.UUID) -> None:
        row = await session.get(Client, company_id)
        if row is not None and row.merged_into_id is not None:
            raise UnknownClient(f"client card {company_id} was merged into {row.merged_into_id}; open the deal there",
                                field="company_id")
        if row is not None and row.name is not None:
            return
        # Not replicated yet (the CompanyCreated event may be a moment behind): ask its owner.
        try:
            answer = await self.http.get(f"/api/v1/companies/{company_id}",
                                         headers={"Authorization": self.authorization or ""}, timeout=5)
        except httpx.HTTPError as exc:
            raise ContactsUnavailable("the client card cannot be checked right now; retry shortly",
                                      headers={"Retry-After": "5"}) from exc
        if answer.status_code == 404:
            raise UnknownClient(f"there is no client card {company_id}", field="company_id")
        if answer.status_code != 200:
            raise ContactsUnavailable(f"contacts answered {answer.status_code} about the client card",
                                      headers={"Retry-After": "5"})
        card = answer.json()
        # Version 0: the card's own events (sequence >= 1) will overwrite this.
        session.add(Client(company_id=company_id, name=card["name"], owner_id=uuid.UUID(card["owner_id"]),
                           status=card["status"], version=0))
        await session.flush()

    async def ensure_person_of(self, session: AsyncSession, company_id: uuid.UUID, person_id: uuid.UUID,
                               field: str) -> None:
        row = await session.get(Person, person_id)
        if row is not None:
            if row.company_id != company_id:
                raise UnknownClient(f"{person_id} is a contact person of another client", field=field)
            return
        try:
            answer = await self.http.get(f"/api/v1/companies/{company_id}/persons/{person_id}",
                                         headers={"Authorization": self.authorization or ""}, timeout=5)
        except httpx.HTTPError as exc:
            raise ContactsUnavailable("the contact person cannot be checked right now; retry shortly",
                                      headers={"Retry-After": "5"}) from exc
        if answer.status_code == 404:
            raise UnknownClient(f"{person_id} is not a contact person of this client", field=field)
        if answer.status_code != 200:
            raise ContactsUnavailable(f"contacts answered {answer.status_code} about the contact person",
                                      headers={"Retry-After": "5"})
        session.add(Person(person_id=person_id, company_id=company_id, name=answer.json()["name"], version=0))
        await session.flush()
