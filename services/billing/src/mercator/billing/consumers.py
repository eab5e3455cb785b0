"""Event handlers of the billing service: its replica of the deals it bills."""

from __future__ import annotations

from mercator.billing import service
from mercator.common.bus.consumer import Delivery
from mercator.common.uow import UnitOfWork


async def on_deal(uow: UnitOfWork, d: Delivery) -> None:
    await service.apply_deal(uow.session, d.payload, d.envelope.sequence)


async def on_won(uow: UnitOfWork, d: Delivery) -> None:
    await service.apply_deal_closed(uow, d.payload.deal_id, d.payload.company_id, "won", d.envelope.sequence)


async def on_lost(uow: UnitOfWork, d: Delivery) -> None:
    await service.apply_deal_closed(uow, d.payload.deal_id, d.payload.company_id, "lost", d.envelope.sequence)


DEALS = {"DealOpened": on_deal, "DealUpdated": on_deal, "DealWon": on_won, "DealLost": on_lost}
