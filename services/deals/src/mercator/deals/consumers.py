"""Event handlers of the deals service: its replica of the client cards."""

from __future__ import annotations

from mercator.common.bus.consumer import Delivery
from mercator.common.uow import UnitOfWork
from mercator.deals import service


async def on_card(uow: UnitOfWork, d: Delivery) -> None:
    p = d.payload
    await service.apply_client_card(uow.session, p.company_id, d.envelope.sequence, p.name, p.owner_id, p.status)


async def on_merged(uow: UnitOfWork, d: Delivery) -> None:
    await service.apply_client_merged(uow.session, d.payload.company_id, d.payload.absorbed_id)


CONTACTS = {"CompanyCreated": on_card, "CompanyUpdated": on_card, "CompanyMerged": on_merged}
