"""Projections of the gateway events: the users and departments the reports name and slice by."""

from __future__ import annotations

from typing import cast

from mercator.analytics import domain
from mercator.analytics.projections.rows import placeholder
from mercator.analytics.tables import Department, User
from mercator.common.bus.consumer import Delivery
from mercator.common.events import catalogue as ev
from mercator.common.uow import UnitOfWork


async def user(uow: UnitOfWork, delivery: Delivery) -> None:
    card = cast(ev.UserCreated, delivery.payload)
    row = await placeholder(uow.session, User, card.user_id, user_id=card.user_id, version=0)
    if domain.current(delivery.envelope.sequence, row.version):
        row.name, row.department_id, row.active = card.name, card.department_id, card.active
        row.version = delivery.envelope.sequence


async def department(uow: UnitOfWork, delivery: Delivery) -> None:
    card = cast(ev.DepartmentChanged, delivery.payload)
    row = await placeholder(uow.session, Department, card.department_id, department_id=card.department_id, version=0)
    if domain.current(delivery.envelope.sequence, row.version):
        row.name, row.parent_id, row.version = card.name, card.parent_id, delivery.envelope.sequence
