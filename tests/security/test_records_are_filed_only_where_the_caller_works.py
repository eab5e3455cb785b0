"""A manager files cards and deals only under their own department, and schedules meetings only for themselves.

Owning a record was enough to tag it with any department, so a manager's card or deal could be put in another
department's reports and before its head; and `schedule_meeting` took any `owner_id`, sending its reminders to
someone else. Now the department must be one the caller works in (for a head, one they head), and only heads,
executives and admins schedule for another person."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mercator.common.bus.consumer import Delivery
from mercator.common.events import Envelope
from mercator.common.events import catalogue as ev
from mercator.common.migrate import upgrade
from mercator.common.runtime import Runtime
from mercator.common.testing.api import auth, caller, client

ROOT = Path(__file__).resolve().parents[2]
OURS, THEIRS = uuid.uuid4(), uuid.uuid4()
ANNA = caller("Анна Петрова", department_id=OURS)
HEAD = caller("Ольга Смирнова", roles=("head",), department_id=OURS, departments=(OURS,))


async def app_of(service: str, tmp_path: Path):
    from importlib import import_module
    app_module = import_module(f"mercator.{service}.app")
    settings_class = getattr(import_module(f"mercator.{service}.settings"), f"{service.capitalize()}Settings")
    url = f"sqlite+aiosqlite:///{tmp_path / f'{service}.db'}"
    await asyncio.to_thread(upgrade, url, ROOT / f"services/{service}/migrations")
    settings = settings_class(database_url=url, relay_enabled=False, consumers_enabled=False,
                              kafka_bootstrap="127.0.0.1:9")
    runtime = Runtime(settings)
    return settings, runtime, app_module.build_app(settings, runtime)


@pytest.fixture
async def contacts(tmp_path):
    settings, runtime, app = await app_of("contacts", tmp_path)
    async with client(app, auth(settings, ANNA)) as anna, client(app, auth(settings, HEAD)) as head:
        yield anna, head
    await runtime.engine.dispose()


async def test_a_card_is_filed_only_under_the_managers_own_department(contacts):
    anna, head = contacts
    r = await anna.post("/api/v1/companies", json={"name": "Чужой отдел", "department_id": str(THEIRS)})
    assert r.status_code == 403
    assert (await anna.get("/api/v1/companies")).json()["items"] == []
    mine = await anna.post("/api/v1/companies", json={"name": "Свой отдел"})
    assert mine.status_code == 201 and mine.json()["department_id"] == str(OURS)
    r = await anna.post(f"/api/v1/companies/{mine.json()['id']}/reassign",
                        json={"owner_id": str(ANNA.user_id), "department_id": str(THEIRS)})
    assert r.status_code == 403
    assert (await anna.get(f"/api/v1/companies/{mine.json()['id']}")).json()["department_id"] == str(OURS)


async def test_a_manager_schedules_meetings_only_for_herself(contacts):
    anna, head = contacts
    card = (await anna.post("/api/v1/companies", json={"name": "Встреча"})).json()
    meeting = {"kind": "meeting", "subject": "Демонстрация", "duration_minutes": 60,
               "starts_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}
    r = await anna.post(f"/api/v1/companies/{card['id']}/meetings", json={**meeting, "owner_id": str(uuid.uuid4())})
    assert r.status_code == 403
    r = await anna.post(f"/api/v1/companies/{card['id']}/meetings", json=meeting)
    assert r.status_code == 201 and r.json()["owner_id"] == str(ANNA.user_id)
    r = await head.post(f"/api/v1/companies/{card['id']}/meetings", json={**meeting, "owner_id": str(ANNA.user_id)})
    assert r.status_code == 201, "a head plans meetings for the managers of her department"


async def test_a_deal_is_filed_only_under_the_managers_own_department(tmp_path):
    from mercator.deals import consumers
    settings, runtime, app = await app_of("deals", tmp_path)
    company = uuid.uuid4()
    card = ev.CompanyCreated(company_id=company, name="ООО «Ромашка»", status="prospect", owner_id=ANNA.user_id,
                             department_id=OURS, created_at=datetime.now(UTC))
    async with runtime.uow() as uow:
        envelope = Envelope(type="CompanyCreated", source="/mercator/contacts", subject=str(company), sequence=1,
                            data=card.model_dump(mode="json"))
        await consumers.CONTACTS["CompanyCreated"](uow, Delivery(envelope, card))
        await uow.commit()
    try:
        async with client(app, auth(settings, ANNA)) as anna:
            deal = {"title": "Поставка", "company_id": str(company), "amount": "1000.00"}
            r = await anna.post("/api/v1/deals", json={**deal, "department_id": str(THEIRS)})
            assert r.status_code == 403
            r = await anna.post("/api/v1/deals", json=deal)
            assert r.status_code == 201 and r.json()["department_id"] == str(OURS)
    finally:
        await runtime.engine.dispose()
