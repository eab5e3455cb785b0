"""The replicas deals keeps from other services' events: order-tolerant and idempotent."""

import uuid
from datetime import UTC, datetime

import pytest

from mercator.common.events import catalogue as ev
from mercator.common.testing.kit import feed
from mercator.deals import consumers
from mercator.deals.tables import Client, Person, User

pytestmark = pytest.mark.postgres


async def deliver(app, handlers, payload, sequence):
    await feed(app, handlers, payload, sequence=sequence)


def card(cls, company_id, name, **extra):
    return cls(
        company_id=company_id,
        name=name,
        status="prospect",
        owner_id=uuid.uuid4(),
        created_at=datetime.now(UTC),
        **extra,
    )


async def test_a_later_card_version_arriving_first_is_not_overwritten_by_an_older_one(app):
    company = uuid.uuid4()
    await deliver(app, consumers.CONTACTS, card(ev.CompanyUpdated, company, "Новое имя"), 3)
    await deliver(app, consumers.CONTACTS, card(ev.CompanyCreated, company, "Старое имя"), 1)
    await deliver(app, consumers.CONTACTS, card(ev.CompanyUpdated, company, "Новое имя"), 3)  # redelivered
    async with app.state.runtime.sessionmaker() as s:
        row = await s.get(Client, company)
        assert (row.name, row.version) == ("Новое имя", 3)


async def test_a_merge_moves_the_absorbed_cards_people_to_the_survivor(app):
    survivor, absorbed = uuid.uuid4(), uuid.uuid4()
    person = uuid.uuid4()
    await deliver(app, consumers.CONTACTS, ev.PersonAdded(person_id=person, company_id=absorbed, name="Пётр"), 1)
    await deliver(app, consumers.CONTACTS, ev.CompanyMerged(company_id=survivor, absorbed_id=absorbed), 2)
    async with app.state.runtime.sessionmaker() as s:
        assert (await s.get(Person, person)).company_id == survivor
        assert (await s.get(Client, absorbed)).merged_into_id == survivor


async def test_users_are_replicated_from_the_gateway_events(app):
    user, dept = uuid.uuid4(), uuid.uuid4()
    await deliver(app, consumers.GATEWAY, ev.UserCreated(user_id=user, name="Анна", department_id=dept), 1)
    await deliver(app, consumers.GATEWAY, ev.UserUpdated(user_id=user, name="Анна П.", active=False), 2)
    await deliver(app, consumers.GATEWAY, ev.UserCreated(user_id=user, name="Анна", department_id=dept), 1)
    async with app.state.runtime.sessionmaker() as s:
        row = await s.get(User, user)
        assert (row.name, row.active, row.version) == ("Анна П.", False, 2)
