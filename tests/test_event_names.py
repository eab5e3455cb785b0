"""Every event type a part of Mercator waits for is one that some service publishes: a misspelt name
subscribes to a topic nobody writes, and the screen or the read model it should refresh stays stale
without a word (the live stream once listed DealCreated and OfferMade, which no service emits)."""

import pytest

from mercator.common.bus.consumer import Consumer
from mercator.common.events.catalogue import CATALOGUE
from mercator.common.metrics import Metrics
from mercator.common.settings import ServiceSettings


def consumed() -> dict[str, set[str]]:
    from mercator.analytics.app import CONSUMERS as analytics
    from mercator.billing import consumers as billing
    from mercator.contacts import consumers as contacts
    from mercator.deals import consumers as deals
    from mercator.gateway.web import LIVE_TYPES
    from mercator.notifications import consumers as notifications
    from mercator.notifications.settings import NotificationsSettings

    def names(groups: dict[str, dict]) -> set[str]:
        return {name for handlers in groups.values() for name in handlers}

    return {
        "analytics": names(analytics),
        "billing": names({"deals": billing.DEALS, "contacts": billing.CONTACTS}),
        "contacts": names(contacts.CONSUMERS),
        "deals": names({"contacts": deals.CONTACTS, "gateway": deals.GATEWAY, "billing": deals.BILLING}),
        "notifications": names(notifications.handlers(NotificationsSettings())),
        "gateway live stream": set(LIVE_TYPES),
    }


@pytest.mark.parametrize("who", sorted(consumed()))
def test_every_event_type_waited_for_is_in_the_catalogue(who):
    assert consumed()[who] - set(CATALOGUE) == set()


def test_the_live_stream_refreshes_screens_on_a_new_deal_and_a_price_offer():
    from mercator.gateway.web import LIVE_TYPES

    assert {"DealOpened", "PriceOffered", "OfferAccepted", "DealStageChanged"} <= set(LIVE_TYPES)


def test_a_consumer_refuses_an_event_type_nobody_publishes():
    settings = ServiceSettings(service_name="probe")
    with pytest.raises(ValueError, match="OfferMade"):
        Consumer("probe.deals", {"OfferMade": lambda *_: None}, settings, lambda: None, Metrics("probe"))
