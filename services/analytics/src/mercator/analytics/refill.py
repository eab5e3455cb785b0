"""`refill`: the aggregates computed again from the stored rows, with the rules the projections use."""

from __future__ import annotations

from sqlalchemy import case, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import bulk, domain
from mercator.analytics.aggregates import (
    CARD_COLUMNS,
    CARD_KEYS,
    CARD_OWNER,
    DEAL_OWNER,
    INVOICE_COLUMNS,
    Tally,
    as_month,
    card_cells,
    deal_cells,
    entry_cells,
    entry_month,
    invoice_cells,
    stage_cells,
)
from mercator.analytics.tables import AGGREGATES, Activity, Base, Client, Deal, Invoice, StageTimes, Transition


async def refill(session: AsyncSession) -> None:
    """Empties the aggregates and computes them again from the stored rows, with the rules the projections
    use: for read models filled without the handlers (a bulk load), or to check them."""
    for name in AGGREGATES:
        await session.execute(delete(Base.metadata.tables[name]))
    if bulk.on_postgres(session):
        await session.execute(text("SET LOCAL work_mem = '256MB'"))  # the joins below hash, not spill
    await _copies(session)
    tally = Tally()
    await _rows(session, tally)
    await _stage_times(session, tally)
    await _entries(session, tally)
    await tally.write(session)


def reached_position():
    """SQL for a transition's funnel position: the same map as `domain.FUNNEL_POSITIONS`."""
    return case(domain.FUNNEL_POSITIONS, value=Transition.to_stage, else_=-1)


async def _copies(session: AsyncSession) -> None:
    """What rows copy from others, each table rewritten once: a deal's furthest step and its card's segments, an
    invoice's deal's and card's owners (the joins are outer: a row whose source is missing copies nothing)."""
    d, c, i = Deal.__table__, Client.__table__, Invoice.__table__
    steps = select(Transition.deal_id, func.max(reached_position()).label("p")).group_by(Transition.deal_id).subquery()
    me = d.alias("me")
    copied = (
        select(me.c.deal_id, steps.c.p, *(c.c[column].label(field) for field, column in CARD_KEYS.items()))
        .select_from(
            me.outerjoin(steps, steps.c.deal_id == me.c.deal_id).outerjoin(c, c.c.company_id == me.c.company_id)
        )
        .subquery()
    )
    await session.execute(
        update(d)
        .where(d.c.deal_id == copied.c.deal_id)
        .values(reached=copied.c.p, **{field: copied.c[field] for field in CARD_KEYS})
    )
    mine = i.alias("mine")
    owners_of = (
        select(
            mine.c.invoice_id,
            *(d.c[column].label(field) for field, column in DEAL_OWNER.items()),
            *(c.c[column].label(field) for field, column in CARD_OWNER.items()),
        )
        .select_from(mine.outerjoin(d, d.c.deal_id == mine.c.deal_id).outerjoin(c, c.c.company_id == mine.c.company_id))
        .subquery()
    )
    await session.execute(
        update(i)
        .where(i.c.invoice_id == owners_of.c.invoice_id)
        .values({field: owners_of.c[field] for field in (*DEAL_OWNER, *CARD_OWNER)})
    )


async def _rows(session: AsyncSession, tally: Tally) -> None:
    """What each deal, client card and invoice adds."""
    d, c, i = Deal.__table__, Client.__table__, Invoice.__table__
    deal_columns = [
        d.c[name]
        for name in (
            "company_id",
            "owner_id",
            "department_id",
            "amount",
            "status",
            "stage",
            "currency",
            "expected_close_date",
            "probability",
            "closed_at",
            "lost_reason",
            "lost_at_stage",
            "reached",
            "opened_at",
            "source_id",
            *CARD_KEYS,
        )
    ]
    for source, cells in (
        (select(*deal_columns), deal_cells),
        (select(*(c.c[n] for n in CARD_COLUMNS)), card_cells),
        (select(*(i.c[n] for n in INVOICE_COLUMNS)), invoice_cells),
    ):
        result = await session.stream(source.execution_options(yield_per=20_000))
        async for part in result.mappings().partitions():
            for row in part:
                tally.add(cells(row))


async def _stage_times(session: AsyncSession, tally: Tally) -> None:
    """The time deals stood in each stage, from their steps."""
    d = Deal.__table__
    if bulk.on_postgres(session):
        # Summed in SQL per deal's key, month and stage: the rows are millions, the cells thousands.
        month = func.date_trunc("month", func.timezone("UTC", Transition.at))
        result = await session.stream(
            select(
                month,
                d.c.owner_id,
                d.c.department_id,
                Transition.from_stage,
                func.count(),
                func.sum(Transition.seconds_in_previous),
            )
            .join(d, d.c.deal_id == Transition.deal_id)
            .where(
                d.c.company_id.is_not(None),
                Transition.from_stage.is_not(None),
                Transition.seconds_in_previous.is_not(None),
            )
            .group_by(month, d.c.owner_id, d.c.department_id, Transition.from_stage)
        )
        async for batch in result.partitions():
            for m, owner, dept, stage, n, total in batch:
                tally.add([(StageTimes, (as_month(m), owner, dept, stage), (n, int(total)))])
    else:
        deal_keys = {
            row["deal_id"]: row
            for row in (
                await session.execute(select(d.c.deal_id, d.c.company_id, d.c.owner_id, d.c.department_id))
            ).mappings()
        }
        for step in (
            await session.execute(
                select(Transition.deal_id, Transition.at, Transition.from_stage, Transition.seconds_in_previous).where(
                    Transition.from_stage.is_not(None), Transition.seconds_in_previous.is_not(None)
                )
            )
        ).mappings():
            if step["deal_id"] in deal_keys:
                tally.add(stage_cells(deal_keys[step["deal_id"]], [step]))


async def _entries(session: AsyncSession, tally: Tally) -> None:
    """The history entries per card, month and author."""
    c = Client.__table__
    cards = {
        row["company_id"]: row
        for row in (await session.execute(select(c.c.company_id, *(c.c[n] for n in CARD_COLUMNS)))).mappings()
    }
    month = entry_month(session)
    result = await session.stream(
        select(Activity.company_id, month, Activity.author_id, func.count())
        .where(Activity.kind != "system")
        .group_by(Activity.company_id, month, Activity.author_id)
        .execution_options(yield_per=50_000)
    )
    async for batch in result.partitions():
        for company_id, m, author, n in batch:
            if company_id in cards:
                tally.add(entry_cells(cards[company_id], [(as_month(m), author, n)]))
