import pytest

from mercator.common.db import make_engine
from mercator.common.testing.api import rolled_back_app
from mercator.contacts.app import MIGRATIONS, build_app
from mercator.contacts.settings import ContactsSettings


@pytest.fixture(scope="session")
async def contacts_db(postgres) -> str:
    url = await postgres.migrated("contacts", MIGRATIONS)
    return url


@pytest.fixture(scope="session")
async def contacts_engine(contacts_db):
    engine = make_engine(contacts_db)
    yield engine
    await engine.dispose()


@pytest.fixture
def settings(contacts_db) -> ContactsSettings:
    return ContactsSettings(
        database_url=contacts_db, relay_enabled=False, consumers_enabled=False, kafka_bootstrap="127.0.0.1:9"
    )


@pytest.fixture
async def app(settings, contacts_engine):
    async with rolled_back_app(settings, contacts_engine, build_app) as app:
        yield app
