import uuid

import httpx
import pytest

from mercator.billing.app import MIGRATIONS, build_app
from mercator.billing.settings import BillingSettings
from mercator.billing.testing import announce_sale
from mercator.common.testing import kit
from mercator.common.testing.api import rolled_back_app

billing_db = kit.database("billing", MIGRATIONS)


@pytest.fixture
def settings(billing_db) -> BillingSettings:
    return BillingSettings(**kit.quiet(billing_db.url))


@pytest.fixture
def no_deals_service():
    """Stands for the deals and contacts services over real HTTP (httpx's mock transport): they know
    nothing that has not reached billing's replicas."""
    return httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(404, json={})), base_url="http://deals-fake"
    )


@pytest.fixture
async def app(settings, billing_db, no_deals_service):
    async with rolled_back_app(
        settings,
        billing_db.engine,
        lambda s, rt: build_app(s, rt, deals_http=no_deals_service, contacts_http=no_deals_service),
    ) as app:
        yield app


@pytest.fixture
def deal_event(app, manager):
    """A deal as the deals service announced it (DealOpened through the real handler)."""

    async def opened(company_id: uuid.UUID | None = None) -> tuple[uuid.UUID, uuid.UUID]:
        return await announce_sale(app, manager, company_id=company_id)

    return opened
