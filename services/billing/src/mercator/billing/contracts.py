"""Signing a contract: its amount and payment terms, for a deal the caller sees."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from mercator.billing import domain, events, repository, schemas
from mercator.billing.sight import Peer, billing_sight, deal_of
from mercator.billing.tables import Contract
from mercator.common.auth import Caller
from mercator.common.errors import BadReference
from mercator.common.uow import UnitOfWork


async def sign_contract(uow: UnitOfWork, data: schemas.ContractCreate, caller: Caller, deals: Peer) -> Contract:
    s = uow.session
    deal = await deal_of(s, data.deal_id, deals, billing_sight(caller, write=True))
    if await s.scalar(select(Contract.id).where(Contract.number == data.number)):
        raise BadReference(f"contract {data.number} exists already", field="number")
    contract = domain.Contract.sign(
        uuid.uuid4(),
        data.number,
        data.deal_id,
        deal.company_id,
        data.signed_on,
        data.amount,
        data.currency,
        due_in_days=data.due_in_days,
        instalments=[domain.Instalment(i.due_date, i.amount) for i in data.instalments],
    )
    row = repository.contract_row(contract, caller.user_id)
    s.add(row)
    events.contract_signed(uow, contract, caller)
    return row
