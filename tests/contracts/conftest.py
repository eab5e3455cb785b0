"""What a partner integrating against Mercator gets: the published documents, and the API they describe."""

import httpx
import pytest

from mercator.common.runtime import Runtime
from mercator.common.testing.api import Switch

# Building an app opens no connection: nothing is ever reached at these addresses.
NOWHERE = dict(relay_enabled=False, consumers_enabled=False, kafka_bootstrap="127.0.0.1:9",
               database_url="postgresql+asyncpg://nobody@127.0.0.1:9/none")


@pytest.fixture(scope="session")
async def public_document() -> dict:
    """`GET /api/v1/openapi.json` as the gateway merges it from every service's document (all in-process; a
    service's and the gateway's `/openapi.json` need no database)."""
    from mercator.analytics.app import build_app as build_analytics
    from mercator.analytics.settings import AnalyticsSettings
    from mercator.billing.app import build_app as build_billing
    from mercator.billing.settings import BillingSettings
    from mercator.contacts.app import build_app as build_contacts
    from mercator.contacts.settings import ContactsSettings
    from mercator.deals.app import build_app as build_deals
    from mercator.deals.settings import DealsSettings
    from mercator.gateway.app import build_app as build_gateway
    from mercator.gateway.settings import GatewaySettings
    from mercator.notifications.app import build_app as build_notifications
    from mercator.notifications.settings import NotificationsSettings

    services = {}
    for name, build, settings in (("contacts", build_contacts, ContactsSettings),
                                  ("deals", build_deals, DealsSettings),
                                  ("billing", build_billing, BillingSettings),
                                  ("notifications", build_notifications, NotificationsSettings),
                                  ("analytics", build_analytics, AnalyticsSettings)):
        s = settings(**NOWHERE)
        services[name] = Switch(build(s, Runtime(s)))
    s = GatewaySettings(**NOWHERE, admin_email=None, admin_password=None)
    gateway = build_gateway(s, Runtime(s), transports=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway") as http:
        r = await http.get("/api/v1/openapi.json")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["x-missing-services"] == [], "every service's part is in it"
    return doc
