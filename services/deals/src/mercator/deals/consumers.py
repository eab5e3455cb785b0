"""Event handlers of the deals service: its replicas of client cards, contact persons and users."""

from __future__ import annotations

import uuid
from typing import cast

from mercator.common.bus.consumer import Delivery, Handler
from mercator.common.events import catalogue as ev
from mercator.common.events.catalogue import EventPayload
from mercator.common.uow import UnitOfWork
from mercator.deals import moves, replicas


async def on_card(uow: UnitOfWork, d: Delivery) -> None:
    p = cast(ev.CompanyCreated | ev.CompanyUpdated, d.payload)
    await replicas.apply_client_card(uow.session, p.company_id, d.envelope.sequence, p.name, p.owner_id, p.status)


async def on_merged(uow: UnitOfWork, d: Delivery) -> None:
    p = cast(ev.CompanyMerged, d.payload)
    await replicas.apply_client_merged(uow.session, p.company_id, p.absorbed_id)


async def on_person(uow: UnitOfWork, d: Delivery) -> None:
    p = cast(ev.PersonAdded | ev.PersonUpdated, d.payload)
    await replicas.apply_person(uow.session, p.person_id, p.company_id, p.name, d.envelope.sequence)


async def on_user(uow: UnitOfWork, d: Delivery) -> None:
    p = cast(ev.UserCreated | ev.UserUpdated, d.payload)
    await replicas.apply_user(uow.session, p.user_id, p.name, p.department_id, p.active, d.envelope.sequence)


def _advance(stage: str) -> Handler:
    """Billing's facts move a deal forward by themselves, recorded as automatic and pointing at the cause."""

    async def handle(uow: UnitOfWork, d: Delivery) -> None:
        p = d.payload
        deal_ids = [a.deal_id for a in p.allocations] if isinstance(p, ev.PaymentReceived) else [_deal_of(p)]
        for deal_id in dict.fromkeys(i for i in deal_ids if i is not None):
            await moves.advance_automatically(uow, deal_id, stage, d.envelope.time, d.envelope.id)

    return handle


def _deal_of(p: EventPayload) -> uuid.UUID | None:
    return cast(ev.ContractSigned | ev.InvoiceIssued | ev.DeliveryShipped, p).deal_id


BILLING: dict[str, Handler] = {
    "ContractSigned": _advance("contract"),
    "InvoiceIssued": _advance("contract"),
    "PaymentReceived": _advance("payment"),
    "DeliveryShipped": _advance("delivery"),
}

CONTACTS: dict[str, Handler] = {
    "CompanyCreated": on_card,
    "CompanyUpdated": on_card,
    "CompanyMerged": on_merged,
    "PersonAdded": on_person,
    "PersonUpdated": on_person,
}
GATEWAY: dict[str, Handler] = {"UserCreated": on_user, "UserUpdated": on_user}
