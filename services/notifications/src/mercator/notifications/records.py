"""The records a request names (deal, contact person, invoice, client card), each within the caller's sight."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.errors import NotFound
from mercator.common.visibility import Kind, sight
from mercator.notifications.tables import (
    CompanyView,
    DealView,
    InvoiceView,
    PersonView,
)


@dataclass(frozen=True)
class NamedRecords:
    """What a document or a message is about, each record checked."""

    company_id: uuid.UUID | None
    deal: DealView | None
    person: PersonView | None
    invoice: InvoiceView | None


async def named_records(
    session: AsyncSession,
    caller: Caller,
    *,
    company_id: uuid.UUID | None,
    deal_id: uuid.UUID | None,
    person_id: uuid.UUID | None,
    invoice_id: uuid.UUID | None,
    write: bool = False,
) -> NamedRecords:
    """Every record a request names, within the caller's sight and all of one client card. Checked one by one, a
    manager could name another manager's contact person or invoice beside their own card and have its PDF
    rendered, or mailed to any address. Whatever is not the caller's, or not of that card, is 404, naming it."""
    seen = sight(caller, Kind.CARD, write=write)
    deal = await session.get(DealView, deal_id) if deal_id else None
    if deal_id and (deal is None or not seen.sees(deal.owner_id, deal.department_id)):
        raise NotFound(f"no deal {deal_id}", field="deal_id")
    person = await session.get(PersonView, person_id) if person_id else None
    if person_id and person is None:
        raise NotFound(f"no contact person {person_id}", field="person_id")
    invoice = await session.get(InvoiceView, invoice_id) if invoice_id else None
    if invoice_id and invoice is None:
        raise NotFound(f"no invoice {invoice_id}", field="invoice_id")
    claims = [
        (company_id, "company_id"),
        (deal.company_id if deal else None, "deal_id"),
        (person.company_id if person else None, "person_id"),
        (invoice.company_id if invoice else None, "invoice_id"),
    ]
    claims = [(card, name) for card, name in claims if card is not None]
    card = claims[0][0] if claims else None
    for other, name in claims:
        if other != card:
            raise NotFound(f"the {name.removesuffix('_id')} named is not of client card {card}", field=name)
    if invoice is not None and deal is not None and invoice.deal_id not in (None, deal.deal_id):
        raise NotFound(f"invoice {invoice.number} is not of deal {deal.deal_id}", field="invoice_id")
    if card is not None:
        company = await session.get(CompanyView, card)
        if company is None or not seen.sees(company.owner_id, company.department_id):
            raise NotFound(f"no client card {card}", field=claims[0][1])
    return NamedRecords(card, deal, person, invoice)
