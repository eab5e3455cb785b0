"""Aggregates the reports read instead of the facts: counters and sums per cell (month x manager x department x
stage, ...), kept by the projection handlers in the same transaction as the facts they sum.

A row of a read model (a deal, a client card) contributes to a few cells, and what it contributes is a pure
function of the row (`deal_cells`, `card_cells`). A batch knows each row it touched as loaded and as saved, so it
adds the new contribution and takes the old one away. The rows themselves are order-tolerant and idempotent
(`domain.current`), so the aggregates are too: a repeated event leaves the row, and so the cells, as they were;
events in any order end in the same rows, and so in the same cells. When a row changes what others copy from it,
`following` moves their contributions; the module `refill` computes the cells of rows stored some other way (the
benchmark's bulk load, a restore) with the same functions.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import bulk, domain
from mercator.analytics.tables import (
    Activities,
    Activity,
    Base,
    ClientCards,
    ClientSegments,
    ClientSilence,
    ClosedDeals,
    DealDurations,
    DealDurationTotals,
    DealSegments,
    Funnel,
    OpenDeals,
    Receivables,
    StageTimes,
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


def entry_month(session: AsyncSession):
    if bulk.on_postgres(session):
        return func.date_trunc("month", func.timezone("UTC", Activity.happened_at))
    return func.strftime("%Y-%m-01", Activity.happened_at)


def as_month(value) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value.date() if hasattr(value, "date") else value


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
