"""History brought in: a deal opened, moved and closed at the times they really happened, by those whose role
records history; refused in the future, before the deal's previous move, and to everyone else."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from mercator.common.testing.api import auth, caller, client
from mercator.common.testing.kit import published
from mercator.deals.tables import Transition

from .test_bad_input import state

pytestmark = pytest.mark.postgres

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def importer_api(app, settings):
    async with client(app, auth(settings, caller("Импорт из 1С", roles=("manager", "importer")))) as c:
        yield c


async def events(app, subject: str) -> list[tuple[str, str, dict]]:
    """(type, CloudEvents time, payload) of a deal's events, in the order they were recorded."""
    return [(e.type, e.headers["ce_time"], e.data) for e in await published(app) if e.subject == subject]


def at(moment: datetime) -> str:
    return moment.isoformat()


async def test_an_importer_brings_a_deal_in_at_the_times_it_happened(importer_api, app, card_event):
    company = await card_event()
    opened, needs, demo, rated, lost = (NOW - timedelta(days=d) for d in (120, 110, 95, 90, 80))
    r = await importer_api.post(
        "/api/v1/deals",
        json={"title": "Станок", "company_id": str(company), "amount": "1850000.00", "opened_at": at(opened)},
    )
    assert r.status_code == 201, r.text
    deal = r.json()
    url = f"/api/v1/deals/{deal['id']}"
    assert datetime.fromisoformat(deal["opened_at"]) == opened
    assert (await importer_api.post(f"{url}/moves", json={"stage": "needs", "at": at(needs)})).status_code == 200
    assert (await importer_api.post(f"{url}/moves", json={"stage": "demo", "at": at(demo)})).status_code == 200
    assert (await importer_api.post(f"{url}/interest", json={"rating": 2, "at": at(rated)})).status_code == 200
    reasons = (await importer_api.get("/api/v1/lost-reasons")).json()
    r = await importer_api.post(f"{url}/lose", json={"reason_id": reasons[0]["id"], "at": at(lost)})
    assert r.status_code == 200, r.text
    assert datetime.fromisoformat(r.json()["closed_at"]) == lost

    # The kept path has the real durations: ten days at interest, fifteen at needs, fifteen at the demo.
    async with app.state.runtime.sessionmaker() as s:
        path = (
            await s.execute(
                select(Transition.to_stage, Transition.seconds_in_previous)
                .where(Transition.deal_id == deal["id"])
                .order_by(Transition.at)
            )
        ).all()
    assert [(stage, (secs or 0) // 86400) for stage, secs in path] == [
        ("interest", 0),
        ("needs", 10),
        ("demo", 15),
        ("lost", 15),
    ]
    # Every event says when it happened, in its payload and as its CloudEvents time, so analytics and the
    # client's history place it in its month.
    recorded = await events(app, deal["id"])
    times = {(t, p.get("to_stage")): datetime.fromisoformat(ce.replace("Z", "+00:00")) for t, ce, p in recorded}
    assert times[("DealOpened", None)] == opened
    assert times[("DealStageChanged", "needs")] == needs and times[("DealStageChanged", "demo")] == demo
    assert times[("DealInterestRated", None)] == rated and times[("DealLost", None)] == lost
    lost_event = next(p for t, _, p in recorded if t == "DealLost")
    assert datetime.fromisoformat(lost_event["lost_at"]) == lost


async def test_an_importer_wins_a_deal_in_the_past_with_its_offer_accepted_then(importer_api, app, card_event):
    company = await card_event()
    opened = NOW - timedelta(days=60)
    deal = (
        await importer_api.post(
            "/api/v1/deals", json={"title": "Сервис", "company_id": str(company), "opened_at": at(opened)}
        )
    ).json()
    url = f"/api/v1/deals/{deal['id']}"
    offer = (
        await importer_api.post(
            f"{url}/offers", json={"side": "ours", "amount": "500000.00", "at": at(opened + timedelta(days=5))}
        )
    ).json()
    assert datetime.fromisoformat(offer["made_at"]) == opened + timedelta(days=5)
    r = await importer_api.post(f"{url}/offers/{offer['id']}/accept", json={"at": at(opened + timedelta(days=3))})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "at"  # accepted before it was made
    assert (
        await importer_api.post(f"{url}/offers/{offer['id']}/accept", json={"at": at(opened + timedelta(days=8))})
    ).status_code == 200
    assert (
        await importer_api.post(f"{url}/moves", json={"stage": "contract", "at": at(opened + timedelta(days=9))})
    ).status_code == 200
    r = await importer_api.post(f"{url}/win", json={"at": at(opened + timedelta(days=40))})
    assert r.status_code == 200 and r.json()["status"] == "won"
    assert datetime.fromisoformat(r.json()["closed_at"]) == opened + timedelta(days=40)


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/deals", {"opened_at": "{past}"}, "opened_at"),
        ("/moves", {"stage": "needs", "at": "{past}"}, "at"),
        ("/interest", {"rating": 3, "at": "{past}"}, "at"),
        ("/offers", {"side": "ours", "amount": "10.00", "at": "{past}"}, "at"),
        ("/lose", {"reason_id": "{reason}", "at": "{past}"}, "at"),
        ("/win", {"at": "{past}"}, "at"),
    ],
)
async def test_a_manager_cannot_date_what_they_record(api, app, card_event, path, body, field):
    """A manager's move happens when they make it: back-dating would let the board's durations be tuned."""
    company = await card_event()
    deal = (await api.post("/api/v1/deals", json={"title": "Сделка", "company_id": str(company)})).json()
    reason = (await api.get("/api/v1/lost-reasons")).json()[0]["id"]
    past = at(NOW - timedelta(days=1))
    body = {k: {"{past}": past, "{reason}": reason}.get(v, v) for k, v in body.items()}
    before = await state(app)
    if path == "/deals":
        r = await api.post("/api/v1/deals", json={"title": "Ещё", "company_id": str(company), **body})
    else:
        r = await api.post(f"/api/v1/deals/{deal['id']}{path}", json=body)
    assert r.status_code == 403, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"] == [{"field": field, "message": r.json()["detail"]}]
    assert r.json()["rule"] == "history_not_allowed"
    assert await state(app) == before


@pytest.mark.parametrize(
    "when, rule",
    [
        (lambda opened: NOW + timedelta(hours=1), "time_in_future"),
        (lambda opened: opened - timedelta(days=1), "before_previous_move"),
        (lambda opened: opened.replace(tzinfo=None), "naive_time"),
    ],
)
async def test_a_move_in_the_future_or_before_the_previous_one_is_refused(importer_api, app, card_event, when, rule):
    company = await card_event()
    opened = NOW - timedelta(days=30)
    deal = (
        await importer_api.post(
            "/api/v1/deals", json={"title": "Сделка", "company_id": str(company), "opened_at": at(opened)}
        )
    ).json()
    before = await state(app)
    r = await importer_api.post(
        f"/api/v1/deals/{deal['id']}/moves", json={"stage": "needs", "at": when(opened).isoformat()}
    )
    assert r.status_code == 422, r.text
    assert r.json()["rule"] == rule and r.json()["errors"][0]["field"] == "at"
    assert await state(app) == before


async def test_a_deal_opened_in_the_future_is_refused(importer_api, app, card_event):
    company = await card_event()
    before = await state(app)
    r = await importer_api.post(
        "/api/v1/deals", json={"title": "Сделка", "company_id": str(company), "opened_at": at(NOW + timedelta(days=2))}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "opened_at"
    assert await state(app) == before
