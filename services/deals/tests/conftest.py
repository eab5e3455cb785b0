import uuid

import httpx
import pytest

from mercator.common.clock import now
from mercator.common.events import catalogue as ev
from mercator.common.runtime import Runtime
from mercator.common.testing import kit
from mercator.common.testing.api import rolled_back_app
from mercator.deals import consumers
from mercator.deals.app import MIGRATIONS, build_app
from mercator.deals.settings import DealsSettings

deals_db = kit.database("deals", MIGRATIONS)


@pytest.fixture
def settings(deals_db) -> DealsSettings:
    return DealsSettings(**kit.quiet(deals_db.url))


@pytest.fixture
def contacts_says():
    """What the contacts service answers about client cards not yet in the replica (a real HTTP
    exchange through httpx's mock transport: this fake stands for the contacts service)."""
    cards: dict[str, dict] = {}  # company id -> card; a card's "persons" maps person id -> person

    def answer(request: httpx.Request) -> httpx.Response:
        parts = request.url.path.split("/")  # /api/v1/companies/{id}[/persons/{pid}]
        card = cards.get(parts[4])
        if card is not None and len(parts) == 5:
            return httpx.Response(200, json=card)
        if card is not None and len(parts) == 7 and parts[6] in card.get("persons", {}):
            return httpx.Response(200, json=card["persons"][parts[6]])
        return httpx.Response(404, json={"title": "Not found"})

    return cards, httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://contacts-fake")


@pytest.fixture
async def app(settings, deals_db, contacts_says):
    def build(s, runtime: Runtime):
        return build_app(s, runtime, contacts_http=contacts_says[1])

    async with rolled_back_app(settings, deals_db.engine, build) as app:
        yield app


@pytest.fixture
def card_event(app):
    """Feeds the replica as contacts' CompanyCreated would, through the real handler."""

    async def feed(
        name: str = "ООО «Ромашка»", company_id: uuid.UUID | None = None, sequence: int = 1, status: str = "prospect"
    ) -> uuid.UUID:
        company_id = company_id or uuid.uuid4()
        payload = ev.CompanyCreated(
            company_id=company_id, name=name, status=status, owner_id=uuid.uuid4(), created_at=now()
        )
        await kit.feed(app, consumers.CONTACTS, payload, subject=company_id, sequence=sequence)
        return company_id

    return feed


@pytest.fixture
def person_event(app):
    """Feeds the persons replica as contacts' PersonAdded would."""

    async def feed(company_id: uuid.UUID, name: str = "Иван Сидоров") -> uuid.UUID:
        person_id = uuid.uuid4()
        payload = ev.PersonAdded(person_id=person_id, company_id=company_id, name=name)
        await kit.feed(app, consumers.CONTACTS, payload, subject=person_id)
        return person_id

    return feed
