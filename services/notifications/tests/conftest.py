import uuid

import pytest

from mercator.common.testing import kit
from mercator.common.testing.api import caller, rolled_back_app
from mercator.notifications import consumers
from mercator.notifications.app import MIGRATIONS, build_app
from mercator.notifications.settings import NotificationsSettings
from mercator.notifications.testing import Inbox, World


@pytest.fixture
def smtp():
    inbox = Inbox().up()
    yield inbox
    inbox.down()


notifications_db = kit.database("notifications", MIGRATIONS)


@pytest.fixture
def settings(notifications_db, smtp) -> NotificationsSettings:
    # One message at a time: every session of the rolled-back app shares one connection.
    return NotificationsSettings(
        **kit.quiet(notifications_db.url),
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
async def app(settings, notifications_db):
    async with rolled_back_app(settings, notifications_db.engine, build_app) as app:
        yield app


@pytest.fixture
def manager():
    # In a department of their own: what a manager sees of messages is theirs and their department's.
    return caller("Анна Петрова", department_id=uuid.uuid4())


@pytest.fixture
def deliver(app, settings):
    """`await deliver(payload, event_id=, sequence=)`: an event through its real handler, committed as the
    consumer would; returns the envelope."""
    handlers = {t: h for group in consumers.handlers(settings).values() for t, h in group.items()}
    return lambda payload, **how: kit.feed(app, handlers, payload, **how)


@pytest.fixture
async def world(deliver, manager) -> World:
    w = World(manager)
    for e in w.events():
        await deliver(e)
    return w
