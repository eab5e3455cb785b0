"""Event handlers of the billing service: its replicas of the deals and client cards it bills."""

from __future__ import annotations

from typing import Any

from mercator.billing import replicas
from mercator.common.bus.consumer import Delivery, Handler
from mercator.common.uow import UnitOfWork


async def on_deal(uow: UnitOfWork, d: Delivery) -> None:
    p: Any = d.payload  # the catalogue's model of the event's type (DealOpened, DealUpdated)
    await replicas.apply_deal(uow.session, p, d.envelope.sequence)


async def on_won(uow: UnitOfWork, d: Delivery) -> None:
    p: Any = d.payload
    await replicas.apply_deal_closed(uow.session, p, "won", d.envelope.sequence)


async def on_lost(uow: UnitOfWork, d: Delivery) -> None:
    p: Any = d.payload
    await replicas.apply_deal_closed(uow.session, p, "lost", d.envelope.sequence)


async def on_card(uow: UnitOfWork, d: Delivery) -> None:
    p: Any = d.payload
    await replicas.apply_client(
        uow.session, p.company_id, p.name, p.owner_id, p.department_id, d.envelope.sequence, p.tax_id
    )


async def on_reassigned(uow: UnitOfWork, d: Delivery) -> None:
    """A card handed to another manager: its billing without a deal goes with it."""
    p: Any = d.payload
    await replicas.apply_client(uow.session, p.company_id, None, p.to_owner_id, p.department_id, d.envelope.sequence)


async def on_merged(uow: UnitOfWork, d: Delivery) -> None:
    p: Any = d.payload
    await replicas.apply_client_merged(uow.session, p.company_id, p.absorbed_id)


CONTACTS: dict[str, Handler] = {
    "CompanyCreated": on_card,
    "CompanyUpdated": on_card,
    "CompanyReassigned": on_reassigned,
    "CompanyMerged": on_merged,
}
DEALS: dict[str, Handler] = {"DealOpened": on_deal, "DealUpdated": on_deal, "DealWon": on_won, "DealLost": on_lost}
