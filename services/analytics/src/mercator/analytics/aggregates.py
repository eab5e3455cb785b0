"""Aggregates the reports read instead of the facts: counters and sums per cell (month x manager x department x
stage, ...), kept by the projection handlers in the same transaction as the facts they sum.

A row of a read model (a deal, a client card) contributes to a few cells, and what it contributes is a pure
function of the row (`deal_cells`, `card_cells`). A batch knows each row it touched as loaded and as saved, so it
adds the new contribution and takes the old one away. The rows themselves are order-tolerant and idempotent
(`domain.current`), so the aggregates are too: a repeated event leaves the row, and so the cells, as they were;
events in any order end in the same rows, and so in the same cells. `refill` computes the cells of rows stored
some other way (the benchmark's bulk load, a restore) with the same functions.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import case, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import bulk, domain
from mercator.analytics.tables import (
    AGGREGATES,
    Activities,
    Activity,
    Base,
    Client,
    ClientCards,
    ClientSegments,
    ClientSilence,
    ClosedDeals,
    Deal,
    DealDurations,
    DealDurationTotals,
    DealSegments,
    Funnel,
    Invoice,
    OpenDeals,
    Receivables,
    StageTimes,
    Transition,
)

# One contribution to an aggregate: (aggregate, key in `_KEYS` order, measures).
Cell = tuple[type[Base], tuple[Any, ...], tuple[Any, ...]]

_MEASURES: dict[type[Base], tuple[str, ...]] = {
    ClientSilence: ("clients",),
    Activities: ("entries",),
    Receivables: ("invoices", "outstanding"),
    OpenDeals: ("deals", "amount", "weighted"),
    ClosedDeals: ("deals", "amount"),
    Funnel: ("deals",),
    ClientCards: ("clients",),
    DealSegments: ("deals", "won", "won_amount"),
    ClientSegments: ("clients",),
    DealDurations: ("deals", "microseconds"),
    DealDurationTotals: ("deals", "microseconds"),
    StageTimes: ("exits", "seconds"),
}
# What a deal copies from its client card, and from where.
CARD_KEYS = {"client_region_id": "region_id", "client_industry_id": "industry_id", "client_source_id": "source_id"}
_KEYS = {
    model: tuple(c.name for c in model.__table__.columns if c.name != "cell" and c.name not in measures)
    for model, measures in _MEASURES.items()
}
_OPEN, _WON, _LOST = (s.value for s in (domain.DealStatus.OPEN, domain.DealStatus.WON, domain.DealStatus.LOST))
ZERO = Decimal(0)


def deal_cells(d: Mapping) -> list[Cell]:
    """What one deal row adds to the aggregates: (aggregate, key in `_KEYS` order, measures). A deal not yet
    tied to a client card (only a late event of it arrived) is in no report."""
    if d.get("company_id") is None:
        return []
    owner, dept, amount = d.get("owner_id"), d.get("department_id"), d.get("amount") or ZERO
    cells: list[Cell] = []
    status = d.get("status")
    if status == _OPEN:
        cells.append(
            (
                OpenDeals,
                (owner, dept, d.get("stage"), d.get("currency"), domain.first_of_month(d.get("expected_close_date"))),
                (1, amount, amount * domain.weight(d.get("stage"), d.get("probability"))),
            )
        )
    elif status in (_WON, _LOST):
        lost = status == _LOST
        cells.append(
            (
                ClosedDeals,
                (
                    domain.first_of_month(d.get("closed_at")),
                    owner,
                    dept,
                    status,
                    d.get("currency"),
                    d.get("lost_reason") if lost else None,
                    d.get("lost_at_stage") if lost else None,
                ),
                (1, amount),
            )
        )
    opened_at: datetime | None = d.get("opened_at")
    closed_at: datetime | None = d.get("closed_at")
    span = (
        domain.as_utc(closed_at) - domain.as_utc(opened_at)
        if status in (_WON, _LOST) and opened_at is not None and closed_at is not None
        else None
    )
    if span is not None:
        cells += [
            (
                DealDurations,
                (domain.first_of_month(d.get("closed_at")), owner, dept, status, span.days),
                (1, microseconds(span)),
            ),
            (DealDurationTotals, (owner, dept, status, span.days), (1, microseconds(span))),
        ]
    if d.get("reached") is not None:
        furthest = max(d["reached"], domain.FUNNEL_POSITIONS["won"] if status == _WON else -1)
        cells.append((Funnel, (domain.first_of_month(d.get("opened_at")), owner, dept, furthest), (1,)))
    opened, won = domain.first_of_month(d.get("opened_at")), status == _WON
    # A deal's own source (a campaign named on the deal) wins over its client's.
    source = d.get("source_id") if d.get("source_id") is not None else d.get("client_source_id")
    for kind, key in (
        ("region", d.get("client_region_id")),
        ("industry", d.get("client_industry_id")),
        ("source", source),
    ):
        cells.append(
            (
                DealSegments,
                (kind, key, opened, owner, dept, d.get("currency")),
                (1, 1 if won else 0, amount if won else ZERO),
            )
        )
    return cells


def microseconds(span: timedelta) -> int:
    """A span exactly, as a whole number (a float would make sums depend on the order they were added in)."""
    return (span.days * 86400 + span.seconds) * 1_000_000 + span.microseconds


def stage_key(d: Mapping) -> tuple:
    """What of a deal decides where its steps count in the stage times: when it changes, they move."""
    return d.get("company_id") is not None, d.get("owner_id"), d.get("department_id")


def stage_cells(d: Mapping, steps: Iterable[Mapping]) -> list[Cell]:
    """What a deal's steps add to the time in each stage: a step out of a stage that says how long the deal
    stood in it counts under the deal's manager and department, in the month of the step."""
    if d.get("company_id") is None:
        return []
    return [
        (
            StageTimes,
            (domain.first_of_month(s["at"]), d.get("owner_id"), d.get("department_id"), s["from_stage"]),
            (1, s["seconds_in_previous"]),
        )
        for s in steps
        if s.get("from_stage") is not None and s.get("seconds_in_previous") is not None
    ]


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


def card_cells(c: Mapping) -> list[Cell]:
    """What one client card adds: a placeholder (version 0) or a card merged into another is not in the base."""
    if not c.get("version"):
        return []
    in_base = c.get("merged_into_id") is None
    owner, dept, status = c.get("owner_id"), c.get("department_id"), c.get("status")
    cells: list[Cell] = []
    if in_base:
        last = domain.as_utc(c.get("last_activity_at"))
        created = domain.as_utc(c.get("created_at")) if last is None else None
        cells += [
            (ClientCards, (owner, dept, status), (1,)),
            (
                ClientSilence,
                (owner, dept, status, last.date() if last else None, created.date() if created else None),
                (1,),
            ),
        ]
    created = domain.first_of_month(c.get("created_at"))
    for kind in ("region", "industry", "source"):
        cells.append(
            (
                ClientSegments,
                (kind, c.get(f"{kind}_id"), c.get(f"{kind}_name"), created, owner, dept, status, in_base),
                (1,),
            )
        )
    return cells


CARD_COLUMNS = (
    "version",
    "merged_into_id",
    "owner_id",
    "department_id",
    "status",
    "created_at",
    "region_id",
    "region_name",
    "industry_id",
    "industry_name",
    "source_id",
    "source_name",
    "last_activity_at",
)


def entry_cells(card: Mapping, groups: Iterable[tuple]) -> list[Cell]:
    """What a card's history entries add, `groups` being (month, author, how many entries not the system's):
    they count while the card is in the base, under its manager, department and status."""
    if not card.get("version") or card.get("merged_into_id") is not None:
        return []
    return [
        (Activities, (month, author, card.get("owner_id"), card.get("department_id"), card.get("status")), (n,))
        for month, author, n in groups
    ]


def entry_key(card: Mapping) -> tuple:
    """What of a card decides where its entries count: when it changes, they move."""
    return (
        bool(card.get("version")),
        card.get("merged_into_id") is None,
        card.get("owner_id"),
        card.get("department_id"),
        card.get("status"),
    )


def _entry_month(session: AsyncSession):
    if bulk.on_postgres(session):
        return func.date_trunc("month", func.timezone("UTC", Activity.happened_at))
    return func.strftime("%Y-%m-01", Activity.happened_at)


def _as_month(value) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value.date() if hasattr(value, "date") else value


async def entry_groups(session: AsyncSession, company_ids: Iterable) -> dict:
    """Per card, its history entries not the system's as (month, author, how many)."""
    out: dict = {}
    month = _entry_month(session)
    for part in bulk.chunks(sorted(set(company_ids))):
        result = await session.execute(
            select(Activity.company_id, month, Activity.author_id, func.count())
            .where(bulk.among(session, Activity.company_id, part), Activity.kind != "system")
            .group_by(Activity.company_id, month, Activity.author_id)
        )
        for company_id, m, author, n in result.all():
            out.setdefault(company_id, []).append((_as_month(m), author, n))
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


def invoice_cells(i: Mapping) -> list[Cell]:
    """What one invoice adds to the receivables while something of it is unpaid. The debt is the deal's
    manager's (and department's), else the client card's."""
    if i.get("total") is None or i.get("cancelled"):
        return []
    outstanding = i["total"] - (i.get("credited") or ZERO) - (i.get("paid") or ZERO)
    if outstanding <= 0:
        return []
    manager = i.get("deal_owner_id") if i.get("deal_owner_id") is not None else i.get("client_owner_id")
    dept = i.get("deal_department_id") if i.get("deal_department_id") is not None else i.get("client_department_id")
    return [(Receivables, (manager, dept, i.get("currency"), i.get("due_date")), (1, outstanding))]


# What an invoice copies from its deal and from its client card.
DEAL_OWNER = {"deal_owner_id": "owner_id", "deal_department_id": "department_id"}
CARD_OWNER = {"client_owner_id": "owner_id", "client_department_id": "department_id"}
INVOICE_COLUMNS = ("total", "cancelled", "credited", "paid", "currency", "due_date", *DEAL_OWNER, *CARD_OWNER)


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


@functools.lru_cache(maxsize=1 << 16)  # a projection adds to the same cells over and over
def _cell(key: tuple) -> str:
    return hashlib.md5(repr(tuple(None if v is None else str(v) for v in key)).encode()).hexdigest()


class Tally:
    """Changes to the aggregates gathered over a batch, written in one statement per aggregate."""

    def __init__(self):
        self.cells: dict[type[Base], dict[tuple, list]] = {model: {} for model in _MEASURES}

    def add(self, cells: Iterable[Cell], sign: int = 1) -> None:
        for model, key, measures in cells:
            held = self.cells[model].setdefault(key, [0] * len(measures))
            for i, m in enumerate(measures):
                held[i] += sign * m

    def change(self, before: Iterable, after: Iterable) -> None:
        """A row's contribution moves from `before` to `after`; the cells both hold (most of a row's, as a
        rule) are left alone."""
        after = list(after)
        gone = []
        for cell in before:
            if cell in after:
                after.remove(cell)
            else:
                gone.append(cell)
        self.add(gone, -1)
        self.add(after, 1)

    async def write(self, session: AsyncSession) -> None:
        for model, cells in self.cells.items():
            measures, keys = _MEASURES[model], _KEYS[model]
            rows = sorted(
                (
                    {
                        "cell": _cell(key),
                        **dict(zip(keys, key, strict=True)),
                        **dict(zip(measures, values, strict=True)),
                    }
                    for key, values in cells.items()
                    if any(values)
                ),
                key=lambda r: r["cell"],
            )
            if not rows:
                continue
            table = model.__table__
            # Cells are written in one order, so two batches adding to the same cells never wait in a cycle.
            for part in bulk.chunks(rows):
                stmt, params = bulk.rows_of(session, table, part)
                await session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[table.c.cell], set_={m: table.c[m] + stmt.excluded[m] for m in measures}
                    ),
                    params,
                )


def reached_position():
    """SQL for a transition's funnel position: the same map as `domain.FUNNEL_POSITIONS`."""
    return case(domain.FUNNEL_POSITIONS, value=Transition.to_stage, else_=-1)


async def refill(session: AsyncSession) -> None:
    """Empties the aggregates and computes them again from the stored rows, with the rules the projections
    use: for read models filled without the handlers (a bulk load), or to check them."""
    for name in AGGREGATES:
        await session.execute(delete(Base.metadata.tables[name]))
    d, c, i = Deal.__table__, Client.__table__, Invoice.__table__
    if bulk.on_postgres(session):
        await session.execute(text("SET LOCAL work_mem = '256MB'"))  # the joins below hash, not spill
    # What rows copy from others, each table rewritten once: a deal's furthest step and its card's segments,
    # an invoice's deal's and card's owners (the joins are outer: a row whose source is missing copies nothing).
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
    tally = Tally()
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
                tally.add([(StageTimes, (_as_month(m), owner, dept, stage), (n, int(total)))])
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
    cards = {
        row["company_id"]: row
        for row in (await session.execute(select(c.c.company_id, *(c.c[n] for n in CARD_COLUMNS)))).mappings()
    }
    month = _entry_month(session)
    result = await session.stream(
        select(Activity.company_id, month, Activity.author_id, func.count())
        .where(Activity.kind != "system")
        .group_by(Activity.company_id, month, Activity.author_id)
        .execution_options(yield_per=50_000)
    )
    async for batch in result.partitions():
        for company_id, m, author, n in batch:
            if company_id in cards:
                tally.add(entry_cells(cards[company_id], [(_as_month(m), author, n)]))
    await tally.write(session)
