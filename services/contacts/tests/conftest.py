import pytest

from mercator.common.testing import kit
from mercator.common.testing.api import rolled_back_app
from mercator.contacts.app import MIGRATIONS, build_app
from mercator.contacts.settings import ContactsSettings

contacts_db = kit.database("contacts", MIGRATIONS)


@pytest.fixture
def settings(contacts_db) -> ContactsSettings:
    return ContactsSettings(**kit.quiet(contacts_db.url))


@pytest.fixture
async def app(settings, contacts_db):
    async with rolled_back_app(settings, contacts_db.engine, build_app) as app:
        yield app
