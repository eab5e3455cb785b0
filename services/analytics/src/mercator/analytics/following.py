"""How the aggregates follow what one read model copies from another: a deal's segment keys from its client card,
an invoice's manager from its deal or card, the stage times and history entries that move with their deal or card.
Each takes the rows it copies from share-locked, in the order every handler takes them: cards, deals, invoices."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import bulk
from mercator.analytics.aggregates import (
    CARD_KEYS,
    Tally,
    as_month,
    deal_cells,
    entry_cells,
    entry_month,
    invoice_cells,
    stage_cells,
    stage_key,
)
from mercator.analytics.tables import Activity, Client, Deal, Invoice, Transition


async def follow_stages(session: AsyncSession, deals, new_steps: Iterable[Mapping], tally: Tally) -> None:
    """The stage times of a batch of deal rows (`bulk.Rows`): the steps new in it count under each deal as saved;
    a deal whose manager, department or card changed moves its earlier steps (read back) with it."""
    fresh: dict = {}
    for step in new_steps:
        fresh.setdefault(step["deal_id"], []).append(step)
    for deal_id, steps in fresh.items():
        tally.add(stage_cells(vars(deals[deal_id]), steps))
    moved = sorted(k for k, row in deals.items() if stage_key(deals.loaded[k]) != stage_key(vars(row)))
    if not moved:
        return
    new = {(s["deal_id"], s["sequence"]) for steps in fresh.values() for s in steps}
    t = Transition.__table__
    earlier: dict = {}
    for part in bulk.chunks(moved):
        for step in (
            await session.execute(
                select(t.c.deal_id, t.c.sequence, t.c.at, t.c.from_stage, t.c.seconds_in_previous).where(
                    bulk.among(session, t.c.deal_id, part),
                    t.c.from_stage.is_not(None),
                    t.c.seconds_in_previous.is_not(None),
                )
            )
        ).mappings():
            if (step["deal_id"], step["sequence"]) not in new:
                earlier.setdefault(step["deal_id"], []).append(step)
    for deal_id in moved:
        steps = earlier.get(deal_id, ())
        tally.change(stage_cells(deals.loaded[deal_id], steps), stage_cells(vars(deals[deal_id]), steps))


async def entry_groups(session: AsyncSession, company_ids: Iterable) -> dict:
    """Per card, its history entries not the system's as (month, author, how many)."""
    out: dict = {}
    month = entry_month(session)
    for part in bulk.chunks(sorted(set(company_ids))):
        result = await session.execute(
            select(Activity.company_id, month, Activity.author_id, func.count())
            .where(bulk.among(session, Activity.company_id, part), Activity.kind != "system")
            .group_by(Activity.company_id, month, Activity.author_id)
        )
        for company_id, m, author, n in result.all():
            out.setdefault(company_id, []).append((as_month(m), author, n))
    return out


async def move_entries(session: AsyncSession, moves: dict, tally: Tally) -> None:
    """`moves`: card -> (what it was, what it is now) as mappings; its entries move between the two."""
    if not moves:
        return
    groups = await entry_groups(session, moves)
    for company_id, (before, after) in moves.items():
        tally.change(entry_cells(before, groups.get(company_id, ())), entry_cells(after, groups.get(company_id, ())))


def blank_card(company_id) -> dict:
    return {"company_id": company_id, "version": 0, "owner_version": 0, "activity_count": 0}


async def client_keys(session: AsyncSession, company_ids: Iterable) -> dict:
    """What deals copy from each client card (`CARD_KEYS`), the cards share-locked so that a card's change
    waits for the batch that copies it, or the batch for the change; a card not projected yet is written
    as its placeholder first, so there is a row to lock. Cards are locked before deals, in key order, by
    every handler."""
    c = Client.__table__
    rows = await bulk.lock_rows(
        session, c, [c.c.company_id, *(c.c[n] for n in CARD_KEYS.values())], company_ids, blank_card, share=True
    )
    return {k: {field: row[column] for field, column in CARD_KEYS.items()} for k, row in rows.items()}


async def follow_cards(session: AsyncSession, cards: dict, tally: Tally) -> None:
    """Copies the new segment keys of changed client cards (`cards`: company -> CARD_KEYS values) into their
    deals, moving what the deals add to the aggregates."""
    d = Deal.__table__
    deal_ids: list[Any] = []
    for part in bulk.chunks(sorted(cards)):
        mine = bulk.among(session, d.c.company_id, part)
        deal_ids += (await session.execute(select(d.c.deal_id).where(mine))).scalars().all()
    if not deal_ids:
        return
    deals = await bulk.lock(session, Deal, deal_ids, lambda k: {"deal_id": k})
    for deal_id, row in deals.items():
        for field, value in cards[row.company_id].items():
            setattr(row, field, value)
        tally.change(deal_cells(deals.loaded[deal_id]), deal_cells(vars(row)))
    await bulk.save(session, deals)


async def owners(session: AsyncSession, model, keys: Iterable, blank) -> dict:
    """The manager and department of each deal or client card named, share-locked (a placeholder written
    first where there is none yet), so that a change of owner waits for the batch copying it, or the batch for
    the change. Locked in the order every handler takes: cards, then deals, then invoices."""
    table = model.__table__
    [key] = table.primary_key.columns
    rows = await bulk.lock_rows(
        session,
        table,
        [key, table.c.owner_id, table.c.department_id],
        (k for k in keys if k is not None),
        blank,
        share=True,
    )
    return {k: {"owner_id": row["owner_id"], "department_id": row["department_id"]} for k, row in rows.items()}


async def follow_owners(session: AsyncSession, by, copies: dict, changed: dict, tally: Tally) -> None:
    """Copies new owners (`changed`: deal or card -> {owner_id, department_id}) into the invoices whose `by`
    column names them, moving what those invoices add to the receivables."""
    if not changed:
        return
    i = Invoice.__table__
    invoice_ids: list[Any] = []
    for part in bulk.chunks(sorted(changed)):
        theirs = bulk.among(session, i.c[by], part)
        invoice_ids += (await session.execute(select(i.c.invoice_id).where(theirs))).scalars().all()
    if not invoice_ids:
        return
    invoices = await bulk.lock(session, Invoice, invoice_ids, lambda k: {"invoice_id": k})
    for invoice_id, row in invoices.items():
        for field, column in copies.items():
            setattr(row, field, changed[getattr(row, by)][column])
        tally.change(invoice_cells(invoices.loaded[invoice_id]), invoice_cells(vars(row)))
    await bulk.save(session, invoices)
