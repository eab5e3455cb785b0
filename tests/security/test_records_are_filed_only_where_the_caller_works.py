"""A manager files cards and deals only under their own department, and schedules meetings only for themselves.

Owning a record was enough to tag it with any department, so a manager's card or deal could be put in another
department's reports and before its head; and `schedule_meeting` took any `owner_id`, sending its reminders to
someone else. Now the department must be one the caller works in (for a head, one they head), and only heads,
executives and admins schedule for another person."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from mercator.common.events import catalogue as ev
from mercator.common.testing.api import auth, caller, client

OURS, THEIRS = uuid.uuid4(), uuid.uuid4()
ANNA = caller("Анна Петрова", department_id=OURS)
HEAD = caller("Ольга Смирнова", roles=("head",), department_id=OURS, departments=(OURS,))


@pytest.fixture
async def contacts(service_app):
    settings, _, app = await service_app("contacts")
    async with client(app, auth(settings, ANNA)) as anna, client(app, auth(settings, HEAD)) as head:
        yield anna, head


async def test_a_card_is_filed_only_under_the_managers_own_department(contacts):
    anna, _head = contacts
    r = await anna.post("/api/v1/companies", json={"name": "Чужой отдел", "department_id": str(THEIRS)})
    assert r.status_code == 403
    assert (await anna.get("/api/v1/companies")).json()["items"] == []
    mine = await anna.post("/api/v1/companies", json={"name": "Свой отдел"})
    assert mine.status_code == 201 and mine.json()["department_id"] == str(OURS)
    r = await anna.post(
        f"/api/v1/companies/{mine.json()['id']}/reassign",
        json={"owner_id": str(ANNA.user_id), "department_id": str(THEIRS)},
    )
    assert r.status_code == 403
    assert (await anna.get(f"/api/v1/companies/{mine.json()['id']}")).json()["department_id"] == str(OURS)


async def test_a_manager_schedules_meetings_only_for_herself(contacts):
    anna, head = contacts
    card = (await anna.post("/api/v1/companies", json={"name": "Встреча"})).json()
    meeting = {
        "kind": "meeting",
        "subject": "Демонстрация",
        "duration_minutes": 60,
        "starts_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
    }
    r = await anna.post(f"/api/v1/companies/{card['id']}/meetings", json={**meeting, "owner_id": str(uuid.uuid4())})
    assert r.status_code == 403
    r = await anna.post(f"/api/v1/companies/{card['id']}/meetings", json=meeting)
    assert r.status_code == 201 and r.json()["owner_id"] == str(ANNA.user_id)
    r = await head.post(f"/api/v1/companies/{card['id']}/meetings", json={**meeting, "owner_id": str(ANNA.user_id)})
    assert r.status_code == 201, "a head plans meetings for the managers of her department"


async def test_a_deal_is_filed_only_under_the_managers_own_department(service_app, feed):
    from mercator.deals import consumers

    settings, runtime, app = await service_app("deals")
    company = uuid.uuid4()
    await feed(
        runtime,
        consumers.CONTACTS,
        ev.CompanyCreated(
            company_id=company,
            name="ООО «Ромашка»",
            status="prospect",
            owner_id=ANNA.user_id,
            department_id=OURS,
            created_at=datetime.now(UTC),
        ),
    )
    async with client(app, auth(settings, ANNA)) as anna:
        deal = {"title": "Поставка", "company_id": str(company), "amount": "1000.00"}
        r = await anna.post("/api/v1/deals", json={**deal, "department_id": str(THEIRS)})
        assert r.status_code == 403
        r = await anna.post("/api/v1/deals", json=deal)
        assert r.status_code == 201 and r.json()["department_id"] == str(OURS)
