"""What every report shares: the scope, the caller's sight as SQL conditions, labels and money."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import domain
from mercator.analytics.domain import DealStatus
from mercator.analytics.tables import Client, ClientCards, Deal, DealLine, Department, Product, User
from mercator.common.auth import Caller
from mercator.common.visibility import Kind, sight

# Placeholders (version 0) are cards whose snapshot has not arrived: not in the base yet.
IN_BASE = (Client.merged_into_id.is_(None), Client.version > 0)


def seen_clients(caller: Caller) -> list:
    """The clients a caller's reports count, as SQL conditions on Client: `Sight.sees` on the card's
    owner and department (a manager their own, a head their department subtree and their own)."""
    view = sight(caller, Kind.REPORT)
    conditions = []
    if not view.everything:
        conditions.append(or_(Client.owner_id == view.owner_id, Client.department_id.in_(view.departments)))
    if view.clients_only:
        conditions.append(Client.status == "client")
    return conditions


ZERO = Decimal(0)


@dataclass(frozen=True)
class Scope:
    """The filters every report takes. `start` inclusive, `end` exclusive; None: open-ended."""

    start: datetime | None = None
    end: datetime | None = None
    department_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    currency: str = "RUB"

    def within(self, column) -> list:
        conditions = []
        if self.start is not None:
            conditions.append(column >= self.start)
        if self.end is not None:
            conditions.append(column < self.end)
        return conditions

    def on_months(self) -> bool:
        """Whether the period starts and ends on the first of a month at midnight UTC (or is open-ended): what
        the aggregates' months can answer exactly."""
        return all(
            t is None or t.astimezone(UTC) == datetime(t.astimezone(UTC).year, t.astimezone(UTC).month, 1, tzinfo=UTC)
            for t in (self.start, self.end)
        )

    def on_month_dates(self) -> bool:
        """The same for a period applied to dates (the expected close date)."""
        return all(t is None or t.astimezone(UTC).day == 1 for t in (self.start, self.end))

    def within_dates(self, column) -> list:
        conditions = []
        if self.start is not None:
            conditions.append(column >= self.start.astimezone(UTC).date())
        if self.end is not None:
            conditions.append(column < self.end.astimezone(UTC).date())
        return conditions


def money(value) -> str:
    return f"{Decimal(value or 0):.2f}"


async def subtree(session: AsyncSession, root: uuid.UUID) -> set[uuid.UUID]:
    children: dict[uuid.UUID | None, list[uuid.UUID]] = defaultdict(list)
    for dept, parent in (await session.execute(select(Department.department_id, Department.parent_id))).all():
        children[parent].append(dept)
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


async def owned(session: AsyncSession, caller: Caller, scope: Scope, owner, dept) -> list:
    """Visibility and the department/manager filters as SQL conditions on an owner and a department column."""
    view = sight(caller, Kind.REPORT)
    conditions = []
    if not view.everything:
        conditions.append(or_(owner == view.owner_id, dept.in_(view.departments)))
    if scope.department_id is not None:
        conditions.append(dept.in_(await subtree(session, scope.department_id)))
    if scope.owner_id is not None:
        conditions.append(owner == scope.owner_id)
    return conditions


async def deals_seen(session, caller, scope) -> list:
    return [Deal.company_id.is_not(None), *await owned(session, caller, scope, Deal.owner_id, Deal.department_id)]


async def clients_seen(session, caller, scope) -> list:
    conditions = [*IN_BASE, *seen_clients(caller)]
    if scope.department_id is not None:
        conditions.append(Client.department_id.in_(await subtree(session, scope.department_id)))
    if scope.owner_id is not None:
        conditions.append(Client.owner_id == scope.owner_id)
    return conditions


async def cards_seen(session, caller, scope) -> list:
    """`clients_seen` as conditions on the client card aggregate."""
    view = sight(caller, Kind.REPORT)
    conditions = []
    if not view.everything:
        conditions.append(or_(ClientCards.owner_id == view.owner_id, ClientCards.department_id.in_(view.departments)))
    if view.clients_only:
        conditions.append(ClientCards.status == "client")
    if scope.department_id is not None:
        conditions.append(ClientCards.department_id.in_(await subtree(session, scope.department_id)))
    if scope.owner_id is not None:
        conditions.append(ClientCards.owner_id == scope.owner_id)
    return conditions


async def user_names(session: AsyncSession, ids) -> dict[uuid.UUID | None, str | None]:
    ids = [i for i in ids if i is not None]
    if not ids:
        return {}
    return dict((await session.execute(select(User.user_id, User.name).where(User.user_id.in_(ids)))).all())


def key_of(value) -> str | None:
    return None if value is None else str(value)


def won_in(scope: Scope) -> list:
    return [Deal.status == DealStatus.WON.value, Deal.currency == scope.currency, *scope.within(Deal.closed_at)]


def months(scope: Scope, column) -> list:
    """The period (on whole months, `Scope.on_months`) as conditions on an aggregate's month column."""
    return scope.within_dates(column)


def stage_positions() -> dict[str, int]:
    return {code: i for i, (code, _) in enumerate(domain.DEFAULT_STAGES)}


# A deal without lines has an amount but no product: the slices by product show it under this, so that they add up
# to the same total as every other slice.
NO_PRODUCT = {"product": "no product", "product_group": "no product group"}


def line_or_deal_amount():
    """What a won deal adds to a slice by product, joined (outer) to its lines: each line's part of the amount (the
    lines add up to it), or the whole amount of a deal without lines."""
    return func.coalesce(DealLine.total, Deal.amount)


async def names_of(session: AsyncSession, by: str, keys: set) -> dict:
    """Labels of report keys; for products and groups every one in the catalogue, so what does not sell shows."""
    if by == "manager":
        return await user_names(session, keys)
    if by == "product":
        return dict((await session.execute(select(Product.product_id, Product.name))).all())
    if by == "product_group":
        return dict(
            (
                await session.execute(select(Product.group_id, func.max(Product.group_name)).group_by(Product.group_id))
            ).all()
        )
    return {}


SEGMENTS = {
    "source": (Client.source_id, Client.source_name),
    "region": (Client.region_id, Client.region_name),
    "industry": (Client.industry_id, Client.industry_name),
}


def ordered(rows: list, count_field: str) -> list:
    # Biggest first; ties by label so the same data always gives the same report.
    return sorted(
        rows, key=lambda r: (-getattr(r, count_field), r.name is None, r.name or "", r.key is None, r.key or "")
    )
