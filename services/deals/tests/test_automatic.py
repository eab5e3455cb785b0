"""Billing's facts advance a deal by themselves: forward only, recorded as automatic with their cause."""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from mercator.common.events import Envelope
from mercator.common.events import catalogue as ev
from mercator.common.testing.kit import deliver, published
from mercator.deals import consumers

pytestmark = pytest.mark.postgres


async def billing_fact(app, payload, at: datetime | None = None) -> uuid.UUID:
    """Billing's fact through the real handler; `at`: the business time the fact carries, if not now."""
    envelope = Envelope(
        type=payload.type_name(),
        source="/mercator/billing",
        subject="x",
        sequence=1,
        data=payload.model_dump(mode="json"),
        time=at or datetime.now(UTC),
    )
    await deliver(app.state.runtime, consumers.BILLING, envelope, payload)
    return envelope.id


def invoice(deal_id, company_id):
    return ev.InvoiceIssued(
        invoice_id=uuid.uuid4(),
        number="2026-000001",
        deal_id=deal_id,
        company_id=company_id,
        issue_date=date(2026, 11, 27),
        due_date=date(2026, 12, 7),
        net=Decimal("100.00"),
        vat=Decimal("20.00"),
        total=Decimal("120.00"),
        currency="RUB",
    )


async def test_invoice_payment_and_shipment_move_the_deal_forward_by_themselves(api, app, card_event):
    company = await card_event()
    deal = (await api.post("/api/v1/deals", json={"title": "Сделка", "company_id": str(company)})).json()
    deal_id = uuid.UUID(deal["id"])
    cause = await billing_fact(app, invoice(deal_id, company))
    assert (await api.get(f"/api/v1/deals/{deal_id}")).json()["stage"] == "contract"
    await billing_fact(
        app,
        ev.PaymentReceived(
            payment_id=uuid.uuid4(),
            company_id=company,
            amount=Decimal("50.00"),
            currency="RUB",
            paid_on=date(2026, 11, 28),
            bank_reference="п/п 1",
            method="bank_transfer",
            allocations=[ev.AllocationPayload(invoice_id=uuid.uuid4(), deal_id=deal_id, amount=Decimal("50.00"))],
        ),
    )
    assert (await api.get(f"/api/v1/deals/{deal_id}")).json()["stage"] == "payment"
    # A late invoice (say, a second one) does not pull the deal back.
    await billing_fact(app, invoice(deal_id, company))
    await billing_fact(
        app,
        ev.DeliveryShipped(
            delivery_id=uuid.uuid4(),
            deal_id=deal_id,
            company_id=company,
            waybill="ТН-77",
            shipped_on=date(2026, 11, 29),
        ),
    )
    assert (await api.get(f"/api/v1/deals/{deal_id}")).json()["stage"] == "delivery"
    timeline = [i for i in (await api.get(f"/api/v1/deals/{deal_id}/timeline")).json() if i["type"] == "transition"]
    assert [(t["to_stage"], t["kind"]) for t in timeline] == [
        ("interest", "open"),
        ("contract", "automatic"),
        ("payment", "automatic"),
        ("delivery", "automatic"),
    ]
    assert timeline[1]["cause"] == str(cause) and timeline[1]["author_id"] is None
    changed = [e.data for e in await published(app, "DealStageChanged")]
    assert [c["kind"] for c in changed] == ["automatic"] * 3 and changed[0]["cause_event_id"] == str(cause)


async def test_a_closed_deal_is_not_moved_by_billing(api, app, card_event):
    company = await card_event()
    deal = (await api.post("/api/v1/deals", json={"title": "Сделка", "company_id": str(company)})).json()
    await api.post(f"/api/v1/deals/{deal['id']}/win", json={})
    await billing_fact(app, invoice(uuid.UUID(deal["id"]), company))
    assert (await api.get(f"/api/v1/deals/{deal['id']}")).json()["stage"] == "won"


async def test_a_fact_about_an_unknown_deal_changes_nothing(app):
    await billing_fact(app, invoice(uuid.uuid4(), uuid.uuid4()))  # not this service's deal: no error, no event
    assert await published(app) == []


async def test_a_fact_read_after_a_later_one_takes_its_place_in_the_path(api, app, card_event):
    """Topics are read in no set order: the shipment may be read before the contract and the payment."""
    from datetime import timedelta

    from mercator.deals.tables import Deal

    company = await card_event()
    deal = (await api.post("/api/v1/deals", json={"title": "Сделка", "company_id": str(company)})).json()
    deal_id = uuid.UUID(deal["id"])
    t0 = datetime.now(UTC)
    facts = {
        "contract": (invoice(deal_id, company), t0 + timedelta(minutes=1)),
        "payment": (
            ev.PaymentReceived(
                payment_id=uuid.uuid4(),
                company_id=company,
                amount=Decimal("120.00"),
                currency="RUB",
                paid_on=date(2026, 11, 28),
                bank_reference="1",
                method="bank_transfer",
                allocations=[ev.AllocationPayload(invoice_id=uuid.uuid4(), deal_id=deal_id, amount=Decimal("120.00"))],
            ),
            t0 + timedelta(minutes=2),
        ),
        "delivery": (
            ev.DeliveryShipped(
                delivery_id=uuid.uuid4(),
                deal_id=deal_id,
                company_id=company,
                waybill="ТН-1",
                shipped_on=date(2026, 11, 29),
            ),
            t0 + timedelta(minutes=3),
        ),
    }
    for stage in ("delivery", "contract", "payment"):  # read out of order
        await billing_fact(app, *facts[stage])
    timeline = [i for i in (await api.get(f"/api/v1/deals/{deal_id}/timeline")).json() if i["type"] == "transition"]
    assert [(t["from_stage"], t["to_stage"]) for t in timeline] == [
        (None, "interest"),
        ("interest", "contract"),
        ("contract", "payment"),
        ("payment", "delivery"),
    ]
    assert [t["seconds_in_previous"] for t in timeline[2:]] == [60, 60]
    assert (await api.get(f"/api/v1/deals/{deal_id}")).json()["stage"] == "delivery"
    async with app.state.runtime.sessionmaker() as s:
        assert (await s.get(Deal, deal_id)).stage_code == "delivery"


async def test_a_late_payment_read_after_the_win_still_shows_in_the_path(api, app, card_event):
    company = await card_event()
    deal = (await api.post("/api/v1/deals", json={"title": "Сделка", "company_id": str(company)})).json()
    deal_id = uuid.UUID(deal["id"])
    opened = datetime.fromisoformat(deal["opened_at"])
    t0 = datetime.now(UTC)  # shipped now; paid between the opening and the shipment
    shipped = ev.DeliveryShipped(
        delivery_id=uuid.uuid4(), deal_id=deal_id, company_id=company, waybill="ТН-2", shipped_on=date(2026, 11, 29)
    )
    paid = ev.PaymentReceived(
        payment_id=uuid.uuid4(),
        company_id=company,
        amount=Decimal("1.00"),
        currency="RUB",
        paid_on=date(2026, 11, 28),
        bank_reference="2",
        method="bank_transfer",
        allocations=[ev.AllocationPayload(invoice_id=uuid.uuid4(), deal_id=deal_id, amount=Decimal("1.00"))],
    )
    await billing_fact(app, shipped, t0)
    await api.post(f"/api/v1/deals/{deal_id}/win", json={})
    await billing_fact(app, paid, opened + (t0 - opened) / 2)
    path = [
        t["to_stage"] for t in (await api.get(f"/api/v1/deals/{deal_id}/timeline")).json() if t["type"] == "transition"
    ]
    assert path == ["interest", "payment", "delivery", "won"]
    assert (await api.get(f"/api/v1/deals/{deal_id}")).json()["status"] == "won"
