"""History brought in: invoices issued on the day they really were (so due by then, and numbered in their own
year), payments and deliveries on their documents' days; the events carry those days as their time."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from mercator.billing.days import today
from mercator.billing.tables import InvoiceCounter
from mercator.common.auth import Caller
from mercator.common.testing.kit import published

from .test_bad_input import state

pytestmark = pytest.mark.postgres
TODAY = today("Europe/Moscow")
LAST_YEAR = TODAY.year - 1


@pytest.fixture
async def importer_api(api_as, manager):
    """The same manager, holding the importer role too: they bring their own deals' history in."""
    who = Caller(manager.user_id, manager.name, frozenset({"manager", "importer"}))
    async with api_as(who) as c:
        yield c


async def draft(api, deal_event, due_in_days: int = 14, signed_on: date | None = None):
    deal_id, company = await deal_event()
    contract = (
        await api.post(
            "/api/v1/contracts",
            json={
                "number": f"Д-{deal_id.hex[:8]}",
                "deal_id": str(deal_id),
                "signed_on": str(signed_on or TODAY),
                "amount": "120000.00",
                "due_in_days": due_in_days,
            },
        )
    ).json()
    invoice = (
        await api.post(
            "/api/v1/invoices",
            json={
                "deal_id": str(deal_id),
                "contract_id": contract["id"],
                "lines": [{"description": "Станок", "quantity": "1", "unit_price": "120000.00", "vat_rate": "none"}],
            },
        )
    ).json()
    return invoice, company, deal_id


async def event_time(app, event_type: str, subject: str) -> tuple[datetime, dict]:
    (event,) = [e for e in await published(app, event_type) if e.subject == subject]
    return datetime.fromisoformat(event.headers["ce_time"].replace("Z", "+00:00")), event.data


async def counters(app) -> dict:
    async with app.state.runtime.sessionmaker() as s:
        return dict((await s.execute(select(InvoiceCounter.year, InvoiceCounter.last))).all())


async def test_an_invoice_brought_in_from_last_year_takes_its_day_its_due_date_and_a_number_of_its_year(
    importer_api, app, deal_event
):
    invoice, _, _ = await draft(importer_api, deal_event, due_in_days=14, signed_on=date(LAST_YEAR, 3, 1))
    r = await importer_api.post(f"/api/v1/invoices/{invoice['id']}/issue", json={"issue_date": f"{LAST_YEAR}-03-02"})
    assert r.status_code == 200, r.text
    issued = r.json()
    assert issued["issue_date"] == f"{LAST_YEAR}-03-02" and issued["due_date"] == f"{LAST_YEAR}-03-16"
    assert issued["number"] == f"{LAST_YEAR}-000001"
    # Analytics reads the payload's days; the deals service moves the deal at the event's time: both say March.
    when, payload = await event_time(app, "InvoiceIssued", issued["id"])
    assert when == datetime(LAST_YEAR, 3, 2, tzinfo=UTC)
    assert payload["issue_date"] == f"{LAST_YEAR}-03-02" and payload["due_date"] == f"{LAST_YEAR}-03-16"
    # Today's invoices go on numbering this year from its own start.
    today_invoice, _, _ = await draft(importer_api, deal_event)
    assert (await importer_api.post(f"/api/v1/invoices/{today_invoice['id']}/issue")).json()[
        "number"
    ] == f"{TODAY.year}-000001"


async def test_a_year_s_numbers_follow_its_dates_so_an_earlier_invoice_after_a_later_one_is_refused(
    importer_api, app, deal_event
):
    later, _, _ = await draft(importer_api, deal_event)
    assert (
        await importer_api.post(f"/api/v1/invoices/{later['id']}/issue", json={"issue_date": f"{LAST_YEAR}-06-10"})
    ).status_code == 200
    earlier, _, _ = await draft(importer_api, deal_event)
    before, numbers = await state(app), await counters(app)
    r = await importer_api.post(f"/api/v1/invoices/{earlier['id']}/issue", json={"issue_date": f"{LAST_YEAR}-05-01"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["rule"] == "issue_date_out_of_order" and r.json()["errors"][0]["field"] == "issue_date"
    assert await state(app) == before and await counters(app) == numbers  # the number went back: no gap
    same_day = await importer_api.post(
        f"/api/v1/invoices/{earlier['id']}/issue", json={"issue_date": f"{LAST_YEAR}-06-10"}
    )
    assert same_day.json()["number"] == f"{LAST_YEAR}-000002"


@pytest.mark.parametrize(
    "who, issue_date, status, rule",
    [
        ("manager", str(TODAY - timedelta(days=3)), 403, "history_not_allowed"),
        ("importer", str(TODAY + timedelta(days=1)), 422, "date_in_future"),
        ("importer", "yesterday", 422, None),
    ],
)
async def test_an_issue_date_is_refused_to_a_manager_and_in_the_future(
    api, importer_api, app, deal_event, who, issue_date, status, rule
):
    invoice, _, _ = await draft(api, deal_event)
    before, numbers = await state(app), await counters(app)
    r = await (api if who == "manager" else importer_api).post(
        f"/api/v1/invoices/{invoice['id']}/issue", json={"issue_date": issue_date}
    )
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "issue_date" in [e["field"] for e in r.json()["errors"]]
    assert rule is None or r.json()["rule"] == rule
    assert await state(app) == before and await counters(app) == numbers


async def test_a_payment_dated_before_its_invoice_was_issued_is_refused(importer_api, api, app, deal_event):
    invoice, company, _ = await draft(importer_api, deal_event)
    invoice = (
        await importer_api.post(
            f"/api/v1/invoices/{invoice['id']}/issue", json={"issue_date": str(TODAY - timedelta(days=20))}
        )
    ).json()
    before = await state(app)
    body = {
        "company_id": str(company),
        "amount": "120000.00",
        "received_on": str(TODAY - timedelta(days=25)),
        "bank_reference": "п/п 7",
        "allocations": [{"invoice_id": invoice["id"], "amount": "120000.00"}],
    }
    r = await api.post("/api/v1/payments", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["rule"] == "paid_before_issue" and r.json()["errors"][0]["field"] == "received_on"
    assert await state(app) == before
    # Without naming the invoice, money that came before it is the client's credit, not its payment.
    r = await api.post("/api/v1/payments", json={**body, "allocations": None})
    assert r.status_code == 201 and r.json()["credit"] == "120000.00"
    assert (await api.get(f"/api/v1/invoices/{invoice['id']}")).json()["status"] == "issued"


async def test_a_payment_and_a_delivery_on_earlier_days_are_events_of_those_days(importer_api, app, deal_event):
    """For one who records history (tests/security has a manager's, which move things at the time keyed in)."""
    api = importer_api
    invoice, company, deal_id = await draft(importer_api, deal_event)
    paid_on, shipped_on = TODAY - timedelta(days=12), TODAY - timedelta(days=5)
    invoice = (
        await importer_api.post(
            f"/api/v1/invoices/{invoice['id']}/issue", json={"issue_date": str(TODAY - timedelta(days=20))}
        )
    ).json()
    payment = (
        await api.post(
            "/api/v1/payments",
            json={
                "company_id": str(company),
                "amount": "120000.00",
                "received_on": str(paid_on),
                "bank_reference": "п/п 8",
                "allocations": [{"invoice_id": invoice["id"], "amount": "120000.00"}],
            },
        )
    ).json()
    when, _ = await event_time(app, "PaymentReceived", str(company))
    assert when == datetime(paid_on.year, paid_on.month, paid_on.day, tzinfo=UTC)
    when, payload = await event_time(app, "InvoicePaid", invoice["id"])
    assert when == datetime(paid_on.year, paid_on.month, paid_on.day, tzinfo=UTC)
    assert payment["received_on"] == str(paid_on) and payload["paid_on"] == str(paid_on)
    r = await api.post(
        "/api/v1/deliveries",
        json={
            "deal_id": str(deal_id),
            "waybill_number": "ТН-1",
            "shipped_on": str(shipped_on),
            "items": [{"product_id": str(deal_id), "quantity": "1"}],
        },
    )
    assert r.status_code == 201, r.text
    when, _ = await event_time(app, "DeliveryShipped", r.json()["id"])
    assert when == datetime(shipped_on.year, shipped_on.month, shipped_on.day, tzinfo=UTC)


async def test_a_waybill_dated_tomorrow_is_refused(api, app, deal_event):
    deal_id, _ = await deal_event()
    before = await state(app)
    r = await api.post(
        "/api/v1/deliveries",
        json={
            "deal_id": str(deal_id),
            "waybill_number": "ТН-2",
            "shipped_on": str(TODAY + timedelta(days=1)),
            "items": [{"product_id": str(deal_id), "quantity": "1"}],
        },
    )
    assert r.status_code == 422, r.text
    assert r.json()["rule"] == "shipped_in_future" and r.json()["errors"][0]["field"] == "shipped_on"
    assert await state(app) == before
