"""Does a client card (or a contact person) exist? The replicas answer; for one created a moment
ago, the contacts service does."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.db import insert_if_absent
from mercator.common.errors import BadReference
from mercator.common.http.peers import Peer
from mercator.deals.tables import Client, Person


class ClientCheck:
    def __init__(self, contacts: Peer):
        self.contacts = contacts

    async def ensure_exists(self, session: AsyncSession, company_id: uuid.UUID) -> None:
        row = await session.get(Client, company_id)
        if row is not None and row.merged_into_id is not None:
            raise BadReference(
                f"client card {company_id} was merged into {row.merged_into_id}; open the deal there",
                field="company_id",
            )
        if row is not None and row.name is not None:
            return
        card = await self.contacts.get(f"/api/v1/companies/{company_id}")
        if card is None:
            raise BadReference(f"there is no client card {company_id}", field="company_id")
        # Version 0: the card's own events (sequence >= 1) will overwrite this.
        await insert_if_absent(
            session,
            Client,
            company_id=company_id,
            name=card["name"],
            owner_id=uuid.UUID(card["owner_id"]),
            status=card["status"],
            version=0,
        )

    async def ensure_person_of(
        self, session: AsyncSession, company_id: uuid.UUID, person_id: uuid.UUID, field: str
    ) -> None:
        row = await session.get(Person, person_id)
        if row is not None:
            if row.company_id != company_id:
                raise BadReference(f"{person_id} is a contact person of another client", field=field)
            return
        person = await self.contacts.get(f"/api/v1/companies/{company_id}/persons/{person_id}")
        if person is None:
            raise BadReference(f"{person_id} is not a contact person of this client", field=field)
        await insert_if_absent(
            session, Person, person_id=person_id, company_id=company_id, name=person["name"], version=0
        )
