import uuid

import pytest

from mercator.common.bus.consumer import Delivery
from mercator.common.db import make_engine
from mercator.common.events import Envelope
from mercator.common.events import catalogue as ev
from mercator.common.testing.api import auth, caller, client, rolled_back_app
from mercator.notifications import consumers
from mercator.notifications.app import MIGRATIONS, build_app
from mercator.notifications.settings import NotificationsSettings
from mercator.notifications.testing import Inbox, World


@pytest.fixture
def smtp():
    inbox = Inbox().up()
    yield inbox
    inbox.down()


@pytest.fixture(scope="session")
async def notifications_db(postgres) -> str:
    return await postgres.migrated("notifications", MIGRATIONS)


@pytest.fixture(scope="session")
async def notifications_engine(notifications_db):
    engine = make_engine(notifications_db)
    yield engine
    await engine.dispose()


@pytest.fixture
def settings(notifications_db, smtp) -> NotificationsSettings:
    # One message at a time: every session of the rolled-back app shares one connection.
    return NotificationsSettings(
        database_url=notifications_db,
        relay_enabled=False,
        consumers_enabled=False,
        kafka_bootstrap="127.0.0.1:9",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_timeout_seconds=5,
        send_concurrency=1,
        retry_base_seconds=0.05,
        retry_max_seconds=0.2,
        send_max_attempts=4,
        mailing_rate_per_second=4,
        fax_email_domain="fax.example.net",
    )


@pytest.fixture
async def app(settings, notifications_engine):
    async with rolled_back_app(settings, notifications_engine, lambda s, rt: build_app(s, rt)) as app:
        yield app


@pytest.fixture
def manager():
    return caller("Анна Петрова", department_id=uuid.uuid4())


@pytest.fixture
async def api(app, settings, manager):
    async with client(app, auth(settings, manager)) as c:
        yield c


@pytest.fixture
def deliver(app, settings):
    """Runs an event through its real handler and commits as the consumer would; returns the envelope."""
    handlers = {t: h for group in consumers.handlers(settings).values() for t, h in group.items()}

    async def feed(
        payload: ev.EventPayload, *, event_id: uuid.UUID | None = None, sequence: int = 1, actor: str | None = None
    ) -> Envelope:
        envelope = Envelope(
            type=payload.type_name(),
            source=f"/mercator/{payload.owner}",
            subject="x",
            sequence=sequence,
            data=payload.model_dump(mode="json"),
            id=event_id or uuid.uuid4(),
            actor=actor,
        )
        async with app.state.runtime.uow() as uow:
            await handlers[payload.type_name()](uow, Delivery(envelope, payload))
            await uow.commit()
        return envelope

    return feed


@pytest.fixture
async def world(deliver, manager) -> World:
    w = World(manager)
    for e in w.events():
        await deliver(e)
    return w
