"""Bad input gets a 4xx problem body naming the field, and changes nothing."""

import uuid

import pytest
from sqlalchemy import func, select

from mercator.common.testing.kit import published
from mercator.deals.tables import Deal, Offer, Transition

pytestmark = pytest.mark.postgres


async def state(app) -> tuple:
    async with app.state.runtime.sessionmaker() as s:
        deals = (
            await s.execute(select(Deal.id, Deal.stage_code, Deal.status, Deal.amount, Deal.version).order_by(Deal.id))
        ).all()
        return (
            tuple(deals),
            await s.scalar(select(func.count()).select_from(Transition)),
            await s.scalar(select(func.count()).select_from(Offer)),
            len(await published(app)),
        )


@pytest.fixture
async def deal(api, card_event):
    company = await card_event()
    r = await api.post("/api/v1/deals", json={"title": "Сделка", "company_id": str(company), "amount": "1000.00"})
    return r.json()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"company_id": "{company}"}, "title"),
        ({"title": "X"}, "company_id"),
        ({"title": "X", "company_id": "{company}", "amount": "-5.00"}, "amount"),
        ({"title": "X", "company_id": "{company}", "amount": 1000.5}, "amount"),
        ({"title": "X", "company_id": "{company}", "amount": "10.005"}, "amount"),
        ({"title": "X", "company_id": "{company}", "currency": "RUR"}, "currency"),
        ({"title": "X", "company_id": "{company}", "currency": "rubles"}, "currency"),
        ({"title": "X", "company_id": "{company}", "stage": "heaven"}, "stage"),
        ({"title": "X", "company_id": "{company}", "stage": "contract"}, "offer_accepted"),
        ({"title": "X", "company_id": "{company}", "pipeline_id": str(uuid.uuid4())}, "pipeline_id"),
        (
            {
                "title": "X",
                "company_id": "{company}",
                "lines": [{"product_id": str(uuid.uuid4()), "quantity": "1", "unit_price": "1.00"}],
            },
            "lines[0].product_id",
        ),
        ({"title": "X", "company_id": "{company}", "expected_close_date": "tomorrow"}, "expected_close_date"),
    ],
)
async def test_a_bad_deal_is_refused_with_the_field_named(api, app, card_event, body, field):
    company = str(await card_event())
    body = {k: (company if v == "{company}" else v) for k, v in body.items()}
    before = await state(app)
    r = await api.post("/api/v1/deals", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in r.json()["errors"]]
    assert await state(app) == before


async def test_an_unknown_stage_is_refused(api, app, deal):
    before = await state(app)
    r = await api.post(f"/api/v1/deals/{deal['id']}/moves", json={"stage": "heaven"})
    assert r.status_code == 422 and r.json()["rule"] == "unknown_stage"
    assert await state(app) == before


async def test_closing_without_a_reason_or_with_an_unknown_one_is_refused(api, app, deal):
    before = await state(app)
    missing = await api.post(f"/api/v1/deals/{deal['id']}/lose", json={})
    unknown = await api.post(f"/api/v1/deals/{deal['id']}/lose", json={"reason_id": str(uuid.uuid4())})
    assert missing.status_code == unknown.status_code == 422
    assert missing.json()["errors"][0]["field"] == unknown.json()["errors"][0]["field"] == "reason_id"
    assert await state(app) == before


async def test_an_offer_on_a_closed_deal_is_refused(api, app, deal):
    await api.post(f"/api/v1/deals/{deal['id']}/win", json={})
    before = await state(app)
    r = await api.post(f"/api/v1/deals/{deal['id']}/offers", json={"side": "ours", "amount": "900.00"})
    assert r.status_code == 422 and r.json()["rule"] == "deal_closed"
    rating = await api.post(f"/api/v1/deals/{deal['id']}/interest", json={"rating": 5})
    assert rating.status_code == 422
    assert await state(app) == before


async def test_a_proposal_on_a_closed_deal_is_refused_by_the_deal(api, app, deal):
    await api.post(f"/api/v1/deals/{deal['id']}/win", json={})
    before = await state(app)
    body = {"documents": ["Предложение.pdf"], "recipient_person_ids": [str(uuid.uuid4())]}
    r = await api.post(f"/api/v1/deals/{deal['id']}/proposals", json=body)
    assert r.status_code == 422 and r.json()["rule"] == "deal_closed"
    assert await state(app) == before


@pytest.mark.parametrize(
    "body, field",
    [
        ({"side": "ours", "amount": "-1.00"}, "amount"),
        ({"side": "ours", "amount": "0"}, "amount"),
        ({"side": "ours", "amount": 99.9}, "amount"),
        ({"side": "ours", "amount": "100.00", "discount_percent": "120"}, "discount_percent"),
        ({"side": "ours", "amount": "100.00", "valid_until": "2020-01-01"}, "valid_until"),
        ({"side": "nobody", "amount": "100.00"}, "side"),
    ],
)
async def test_a_bad_offer_is_refused(api, app, deal, body, field):
    before = await state(app)
    r = await api.post(f"/api/v1/deals/{deal['id']}/offers", json=body)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]
    assert await state(app) == before


async def test_ratings_out_of_range_and_unknown_deals(api, app, deal):
    before = await state(app)
    assert (await api.post(f"/api/v1/deals/{deal['id']}/interest", json={"rating": 6})).status_code == 422
    ghost = uuid.uuid4()
    assert (await api.post(f"/api/v1/deals/{ghost}/moves", json={"stage": "needs"})).status_code == 404
    assert (await api.get(f"/api/v1/deals/{ghost}/timeline")).status_code == 404
    assert (await api.post(f"/api/v1/deals/{deal['id']}/offers/{ghost}/accept")).json()["rule"] == "unknown_offer"
    r = await api.post(f"/api/v1/deals/{deal['id']}/reopen", json={})
    assert r.status_code == 422 and r.json()["rule"] == "deal_not_closed"
    assert await state(app) == before
