"""Event handlers of the deals service: its replicas of client cards, contact persons and users."""

from __future__ import annotations

from mercator.common.bus.consumer import Delivery, Handler
from mercator.common.uow import UnitOfWork
from mercator.deals import moves, replicas


async def on_card(uow: UnitOfWork, d: Delivery) -> None:
    p = d.payload
    await replicas.apply_client_card(uow.session, p.company_id, d.envelope.sequence, p.name, p.owner_id, p.status)


async def on_merged(uow: UnitOfWork, d: Delivery) -> None:
    await replicas.apply_client_merged(uow.session, d.payload.company_id, d.payload.absorbed_id)


async def on_person(uow: UnitOfWork, d: Delivery) -> None:
    p = d.payload
    await replicas.apply_person(uow.session, p.person_id, p.company_id, p.name, d.envelope.sequence)


async def on_user(uow: UnitOfWork, d: Delivery) -> None:
    p = d.payload
    await replicas.apply_user(uow.session, p.user_id, p.name, p.department_id, p.active, d.envelope.sequence)


def _advance(stage: str) -> Handler:
    """Billing's facts move a deal forward by themselves, recorded as automatic and pointing at the cause."""

    async def handle(uow: UnitOfWork, d: Delivery) -> None:
        deal_ids = (
            [a.deal_id for a in d.payload.allocations] if hasattr(d.payload, "allocations") else [d.payload.deal_id]
        )
        for deal_id in dict.fromkeys(i for i in deal_ids if i is not None):
            await moves.advance_automatically(uow, deal_id, stage, d.envelope.time, d.envelope.id)

    return handle


BILLING = {
    "ContractSigned": _advance("contract"),
    "InvoiceIssued": _advance("contract"),
    "PaymentReceived": _advance("payment"),
    "DeliveryShipped": _advance("delivery"),
}

CONTACTS = {
    "CompanyCreated": on_card,
    "CompanyUpdated": on_card,
    "CompanyMerged": on_merged,
    "PersonAdded": on_person,
    "PersonUpdated": on_person,
}
GATEWAY = {"UserCreated": on_user, "UserUpdated": on_user}
