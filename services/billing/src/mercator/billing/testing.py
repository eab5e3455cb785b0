"""For tests: a client card and a deal on it, as contacts and deals announce them, through billing's real
handlers (billing learns of both only from their events)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import FastAPI

from mercator.billing import consumers
from mercator.common.auth import Caller
from mercator.common.clock import now
from mercator.common.events import catalogue as ev
from mercator.common.runtime import Runtime
from mercator.common.testing.kit import feed


async def announce_sale(
    app: FastAPI | Runtime,
    owner: Caller,
    *,
    department_id: uuid.UUID | None = None,
    card_owner: Caller | None = None,
    card_department_id: uuid.UUID | None = None,
    tax_id: str | None = None,
    stage: str = "contract",
    title: str = "Внедрение",
    opened_at: datetime | None = None,
    company_id: uuid.UUID | None = None,
    client_name: str = "ООО «Клиент»",
) -> tuple[uuid.UUID, uuid.UUID]:
    """CompanyCreated, then DealOpened for it: (deal id, company id). The card is the deal owner's unless
    `card_owner` names another."""
    deal_id, company_id = uuid.uuid4(), company_id or uuid.uuid4()
    await feed(
        app,
        consumers.CONTACTS,
        ev.CompanyCreated(
            company_id=company_id,
            name=client_name,
            tax_id=tax_id,
            status="prospect",
            owner_id=(card_owner or owner).user_id,
            department_id=card_department_id if card_owner not in (None, owner) else department_id,
            created_at=now(),
        ),
    )
    await feed(
        app,
        consumers.DEALS,
        ev.DealOpened(
            deal_id=deal_id,
            title=title,
            company_id=company_id,
            owner_id=owner.user_id,
            department_id=department_id,
            pipeline_id=uuid.uuid4(),
            stage=stage,
            status="open",
            currency="RUB",
            opened_at=opened_at or now(),
        ),
    )
    return deal_id, company_id
