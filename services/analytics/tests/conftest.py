import random
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mercator.analytics import consumers
from mercator.analytics.app import CONSUMERS, MIGRATIONS, build_app
from mercator.analytics.settings import AnalyticsSettings
from mercator.common.bus.consumer import Delivery
from mercator.common.events import catalogue as ev
from mercator.common.events.catalogue import EventPayload
from mercator.common.testing import kit
from mercator.common.testing.api import caller, rolled_back_app

NOW = datetime.now(UTC)

# The tests' shared history (analytics_history) is a module beside them, not a fixture.
sys.path.insert(0, str(Path(__file__).parent))

from analytics_history import delivery, hand_over  # noqa: E402

analytics_db = kit.database("analytics", MIGRATIONS)


@pytest.fixture
def settings(analytics_db) -> AnalyticsSettings:
    return AnalyticsSettings(**kit.quiet(analytics_db.url))


@pytest.fixture
async def app(settings, analytics_db):
    async with rolled_back_app(settings, analytics_db.engine, build_app) as app:
        yield app


# Every handler of every topic, by event type: what `feed` hands an event to.
HANDLERS = {t: h for group in CONSUMERS.values() for t, h in group.items()}


@pytest.fixture
def feed(app):
    async def feed(events) -> None:
        """Each event the way the consumer hands it over, in its own transaction (no inbox: repeats reach the
        handlers, which must shrug them off on their own)."""
        for payload, subject, sequence in events:
            async with app.state.runtime.uow() as uow:
                await hand_over(HANDLERS[payload.type_name()], uow, [delivery(payload, subject, sequence)])
                await uow.session.flush()
                await uow.commit()

    return feed


@pytest.fixture
def feed_in_batches(app):
    async def feed_in_batches(events, rnd: random.Random, largest: int) -> None:
        """The events cut into batches of 1 to `largest` in a row, each batch in one transaction with the events
        of each type handed over together, as the consumer hands over a partition's batch of one topic. No
        inbox: repeats reach the handlers, also within one batch."""
        at = 0
        while at < len(events):
            size = rnd.randint(1, largest)
            runs: dict[str, list[Delivery]] = {}
            for payload, subject, sequence in events[at : at + size]:
                runs.setdefault(payload.type_name(), []).append(delivery(payload, subject, sequence))
            at += size
            async with app.state.runtime.uow() as uow:
                for type_name, deliveries in runs.items():
                    await hand_over(HANDLERS[type_name], uow, deliveries)
                await uow.session.flush()
                await uow.commit()

    return feed_in_batches


@pytest.fixture
def executive():
    # The report tests read the whole base; narrower slices are in test_visibility.
    return caller("Ольга Смирнова", roles=("executive",))


@pytest.fixture
async def api(api_as, executive):
    async with api_as(executive) as c:
        yield c


@pytest.fixture
def deliver(app):
    """Hand one event to its projection handler the way the consumer does, in its own transaction."""

    async def deliver(payload: EventPayload, *, subject: uuid.UUID, sequence: int = 1) -> None:
        async with app.state.runtime.uow() as uow:
            await hand_over(consumers.CONTACTS[payload.type_name()], uow, [delivery(payload, subject, sequence)])
            await uow.session.flush()
            await uow.commit()  # what the consumer does after writing the inbox row

    return deliver


class Contacts:
    """Publishes contacts events as the contacts service would, straight into the projections."""

    def __init__(self, deliver):
        self.deliver = deliver
        self.default_owner = uuid.uuid4()

    async def card(self, company_id: uuid.UUID, sequence: int = 1, **fields) -> ev.CompanyCard:
        model = ev.CompanyCreated if sequence == 1 else ev.CompanyUpdated
        card = model(
            **{
                "company_id": company_id,
                "name": "ООО «Ромашка»",
                "status": "client",
                "owner_id": self.default_owner,
                "created_at": NOW - timedelta(days=400),
                **fields,
            }
        )
        await self.deliver(card, subject=company_id, sequence=sequence)
        return card

    async def reassign(self, company_id: uuid.UUID, sequence: int, to_owner_id: uuid.UUID, **fields) -> None:
        await self.deliver(
            ev.CompanyReassigned(
                company_id=company_id, from_owner_id=self.default_owner, to_owner_id=to_owner_id, **fields
            ),
            subject=company_id,
            sequence=sequence,
        )

    async def merge(self, survivor_id: uuid.UUID, absorbed_id: uuid.UUID, sequence: int) -> None:
        await self.deliver(
            ev.CompanyMerged(company_id=survivor_id, absorbed_id=absorbed_id), subject=survivor_id, sequence=sequence
        )

    async def activity(self, company_id: uuid.UUID, happened_at: datetime, **fields) -> ev.ActivityLogged:
        entry = ev.ActivityLogged(
            **{
                "activity_id": uuid.uuid4(),
                "company_id": company_id,
                "kind": "call",
                "direction": "outbound",
                "summary": "обсудили поставку",
                "happened_at": happened_at,
                "author_id": self.default_owner,
                **fields,
            }
        )
        await self.deliver(entry, subject=entry.activity_id)
        return entry


@pytest.fixture
def contacts(deliver) -> Contacts:
    return Contacts(deliver)


@pytest.fixture
def read(app):
    """One projected row as it is stored now (None if there is none)."""

    async def read(table, key):
        async with app.state.runtime.sessionmaker() as s:
            return await s.get(table, key)

    return read
