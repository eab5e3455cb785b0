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

import hashlib
from collections.abc import Iterable, Mapping
from decimal import Decimal

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import bulk, domain
from mercator.analytics.tables import (AGGREGATES, Base, ClientCards, ClosedDeals, Client, Deal, Funnel, OpenDeals,
                                       Transition)

_MEASURES = {OpenDeals: ("deals", "amount", "weighted"), ClosedDeals: ("deals", "amount"), Funnel: ("deals",),
             ClientCards: ("clients",)}
_KEYS = {model: tuple(c.name for c in model.__table__.columns if c.name != "cell" and c.name not in measures)
         for model, measures in _MEASURES.items()}
_OPEN, _WON, _LOST = (s.value for s in (domain.DealStatus.OPEN, domain.DealStatus.WON, domain.DealStatus.LOST))
ZERO = Decimal(0)


def deal_cells(d: Mapping) -> list[tuple[type, tuple, tuple]]:
    """What one deal row adds to the aggregates: (aggregate, key in `_KEYS` order, measures). A deal not yet
    tied to a client card (only a late event of it arrived) is in no report."""
    if d.get("company_id") is None:
        return []
    owner, dept, amount = d.get("owner_id"), d.get("department_id"), d.get("amount") or ZERO
    cells = []
    status = d.get("status")
    if status == _OPEN:
        cells.append((OpenDeals, (owner, dept, d.get("stage"), d.get("currency"),
                                  domain.first_of_month(d.get("expected_close_date"))),
                      (1, amount, amount * domain.weight(d.get("stage"), d.get("probability")))))
    elif status in (_WON, _LOST):
        lost = status == _LOST
        cells.append((ClosedDeals, (domain.first_of_month(d.get("closed_at")), owner, dept, status, d.get("currency"),
                                    d.get("lost_reason") if lost else None, d.get("lost_at_stage") if lost else None),
                      (1, amount)))
    if d.get("reached") is not None:
        furthest = max(d["reached"], domain.FUNNEL_POSITIONS["won"] if status == _WON else -1)
        cells.append((Funnel, (domain.first_of_month(d.get("opened_at")), owner, dept, furthest), (1,)))
    return cells


def card_cells(c: Mapping) -> list[tuple[type, tuple, tuple]]:
    """What one client card adds: a placeholder (version 0) or a card merged into another is not in the base."""
    if not c.get("version") or c.get("merged_into_id") is not None:
        return []
    return [(ClientCards, (c.get("owner_id"), c.get("department_id"), c.get("status")), (1,))]


def _cell(key: tuple) -> str:
    return hashlib.md5(repr(tuple(None if v is None else str(v) for v in key)).encode()).hexdigest()


class Tally:
    """Changes to the aggregates gathered over a batch, written in one statement per aggregate."""

    def __init__(self):
        self.cells: dict[type, dict[tuple, list]] = {model: {} for model in _MEASURES}

    def add(self, cells: Iterable[tuple[type, tuple, tuple]], sign: int = 1) -> None:
        for model, key, measures in cells:
            held = self.cells[model].setdefault(key, [0] * len(measures))
            for i, m in enumerate(measures):
                held[i] += sign * m

    def change(self, before: Iterable, after: Iterable) -> None:
        self.add(before, -1)
        self.add(after, 1)

    async def write(self, session: AsyncSession) -> None:
        ins = bulk.insert(session)
        for model, cells in self.cells.items():
            measures, keys = _MEASURES[model], _KEYS[model]
            rows = sorted(({"cell": _cell(key), **dict(zip(keys, key)), **dict(zip(measures, values))}
                           for key, values in cells.items() if any(values)), key=lambda r: r["cell"])
            if not rows:
                continue
            table = model.__table__
            stmt = ins(table)
            # Cells are written in one order, so two batches adding to the same cells never wait in a cycle.
            for part in bulk.chunks(rows):
                await session.execute(stmt.on_conflict_do_update(
                    index_elements=[table.c.cell], set_={m: table.c[m] + stmt.excluded[m] for m in measures}), part)


def reached_position():
    """SQL for a transition's funnel position: the same map as `domain.FUNNEL_POSITIONS`."""
    return case(domain.FUNNEL_POSITIONS, value=Transition.to_stage, else_=-1)


async def recount_reached(session: AsyncSession, deal_ids: list | None) -> dict:
    """Sets each deal's `reached` from its stored transitions (all deals when `deal_ids` is None); returns
    the new values of the deals named."""
    d = Deal.__table__
    if deal_ids is None:  # one join of two sorted sets, not a look-up per deal
        per_deal = (select(Transition.deal_id, func.max(reached_position()).label("p"))
                    .group_by(Transition.deal_id).subquery())
        await session.execute(update(d).where(d.c.deal_id == per_deal.c.deal_id).values(reached=per_deal.c.p))
        return {}
    furthest = select(func.max(reached_position())).where(Transition.deal_id == d.c.deal_id).scalar_subquery()
    out = {}
    for part in bulk.chunks(sorted(deal_ids)):
        result = await session.execute(update(d).where(d.c.deal_id.in_(part)).values(reached=furthest)
                                       .returning(d.c.deal_id, d.c.reached))
        out.update(dict(result.all()))
    return out


async def refill(session: AsyncSession) -> None:
    """Empties the aggregates and computes them again from the stored rows, with the rules the projections
    use: for read models filled without the handlers (a bulk load), or to check them."""
    for name in AGGREGATES:
        await session.execute(delete(Base.metadata.tables[name]))
    await recount_reached(session, None)
    tally = Tally()
    deal_columns = [Deal.__table__.c[name] for name in (
        "company_id", "owner_id", "department_id", "amount", "status", "stage", "currency", "expected_close_date",
        "probability", "closed_at", "lost_reason", "lost_at_stage", "reached", "opened_at")]
    for source, cells in ((select(*deal_columns), deal_cells),
                          (select(*(Client.__table__.c[n] for n in ("version", "merged_into_id", "owner_id",
                                                                     "department_id", "status"))), card_cells)):
        result = await session.stream(source.execution_options(yield_per=20_000))
        async for part in result.mappings().partitions():
            for row in part:
                tally.add(cells(row))
    await tally.write(session)
