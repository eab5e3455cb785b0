"""A document's past date does not back-date the deal it moves.

Managers may not back-date a deal's stage moves themselves, yet a contract with `signed_on` last quarter, a
payment received "weeks ago" or a waybill dated earlier moved the deal at that past day (the event's time).
Now one rule holds: the documents keep their dates, and their facts move things at the document's day only
when an admin or importer keys them in; a manager's move at the time it is keyed in."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from mercator.common.auth import Caller
from mercator.common.bus import tables
from mercator.common.testing.api import auth, billing_today, caller, client

ANNA = caller("Анна Петрова")


@pytest.fixture
async def billing(service_app, feed):
    from mercator.billing.testing import announce_sale

    settings, runtime, app = await service_app("billing")
    deal, company = await announce_sale(
        runtime, ANNA, stage="commercial_proposal", title="Поставка", opened_at=datetime.now(UTC) - timedelta(days=90)
    )

    async def event_time(event_type: str) -> datetime:
        async with runtime.sessionmaker() as s:
            headers = (
                (
                    await s.execute(
                        select(tables.outbox.c.headers)
                        .where(tables.outbox.c.type == event_type)
                        .order_by(tables.outbox.c.id.desc())
                    )
                )
                .scalars()
                .first()
            )
        return datetime.fromisoformat(dict(headers)["ce_time"].replace("Z", "+00:00"))

    return app, settings, company, deal, event_time


async def keyed_in(api, company, deal, day: date) -> None:
    contract = await api.post(
        "/api/v1/contracts",
        json={
            "number": f"Д-{uuid.uuid4().hex[:6]}",
            "deal_id": str(deal),
            "signed_on": str(day),
            "amount": "1000.00",
            "due_in_days": 14,
        },
    )
    assert contract.status_code == 201, contract.text
    assert contract.json()["signed_on"] == str(day), "the document keeps its date"
    shipped = await api.post(
        "/api/v1/deliveries",
        json={
            "deal_id": str(deal),
            "waybill_number": f"ТН-{day}",
            "shipped_on": str(day),
            "items": [{"product_id": str(deal), "quantity": "1"}],
        },
    )
    assert shipped.status_code == 201, shipped.text


async def test_a_managers_old_contract_and_waybill_move_the_deal_now(billing):
    app, settings, company, deal, event_time = billing
    before = datetime.now(UTC)
    async with client(app, auth(settings, ANNA)) as anna:
        await keyed_in(anna, company, deal, billing_today() - timedelta(days=60))
    for event_type in ("ContractSigned", "DeliveryShipped"):
        assert await event_time(event_type) >= before, event_type


async def test_an_importers_old_contract_and_waybill_move_the_deal_at_their_day(billing):
    app, settings, company, deal, event_time = billing
    importer = Caller(ANNA.user_id, ANNA.name, frozenset({"manager", "importer"}))
    day = billing_today() - timedelta(days=60)
    async with client(app, auth(settings, importer)) as api:
        await keyed_in(api, company, deal, day)
    for event_type in ("ContractSigned", "DeliveryShipped"):
        assert await event_time(event_type) == datetime(day.year, day.month, day.day, tzinfo=UTC), event_type
