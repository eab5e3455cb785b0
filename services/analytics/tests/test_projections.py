"""Projection handlers fed contacts events out of order and twice, against a real PostgreSQL."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from mercator.analytics.app import build_app
from mercator.analytics.tables import Activity, Base, Client, Meeting
from mercator.common.bus.tables import metadata as bus_metadata
from mercator.common.events import catalogue as ev
from mercator.common.events.catalogue import types_owned_by

pytestmark = pytest.mark.postgres

NOW = datetime.now(UTC).replace(microsecond=0)
MOSCOW = uuid.uuid4()


async def test_the_service_follows_every_event_of_contacts_deals_billing_and_the_gateway(settings):
    app = build_app(settings)
    groups = {c.name: sorted(c.topics) for c in app.state.runtime.consumers}
    assert groups == {
        f"analytics.{owner}": sorted(types_owned_by(owner)) for owner in ("contacts", "deals", "billing", "gateway")
    }
    await app.state.runtime.engine.dispose()


async def test_an_update_that_overtakes_the_creation_is_not_undone_by_it(contacts, read):
    company = uuid.uuid4()
    await contacts.card(company, 2, name="Ромашка Плюс", region_id=MOSCOW, region_name="Москва")
    await contacts.card(company, 1, name="Ромашка")
    client = await read(Client, company)
    assert (client.name, client.region_name, client.version) == ("Ромашка Плюс", "Москва", 2)


async def test_reassignments_and_snapshots_in_any_order_end_with_the_newest_of_each(contacts, read):
    # Contacts: created for Anna (1), renamed (2), given to Boris (3), then to Vera (4).
    company, anna, boris, vera = (uuid.uuid4() for _ in range(4))
    sales = uuid.uuid4()
    await contacts.reassign(company, 4, vera, department_id=sales)
    await contacts.card(company, 1, name="Ромашка", owner_id=anna)
    await contacts.reassign(company, 3, boris)
    await contacts.card(company, 2, name="Ромашка Плюс", owner_id=anna)
    client = await read(Client, company)
    assert (client.name, client.owner_id, client.department_id) == ("Ромашка Плюс", vera, sales)
    assert (client.version, client.owner_version) == (2, 4)


async def test_a_reassignment_older_than_the_card_held_is_ignored(contacts, read):
    # Given to Boris (2), then Vera (3); the card at 4 already names Vera, then the stale one comes.
    company, boris, vera = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await contacts.card(company, 4, name="Ромашка", owner_id=vera)
    await contacts.reassign(company, 2, boris)
    assert (await read(Client, company)).owner_id == vera


async def test_history_before_the_card_makes_a_placeholder_that_the_card_fills(contacts, read):
    company = uuid.uuid4()
    await contacts.activity(company, NOW - timedelta(days=3))
    placeholder = await read(Client, company)
    assert (placeholder.version, placeholder.name, placeholder.activity_count) == (0, None, 1)
    await contacts.card(company, 1, name="Лютик")
    client = await read(Client, company)
    assert (client.name, client.version, client.activity_count) == ("Лютик", 1, 1)
    assert client.last_activity_at == NOW - timedelta(days=3)


async def test_a_replayed_entry_is_counted_once_and_the_latest_time_wins(contacts, deliver, read):
    company = uuid.uuid4()
    await contacts.card(company)
    late = await contacts.activity(company, NOW - timedelta(days=1))
    await contacts.activity(company, NOW - timedelta(days=9))  # logged afterwards, dated earlier
    await deliver(late, subject=late.activity_id)
    client = await read(Client, company)
    assert (client.activity_count, client.last_activity_at) == (2, NOW - timedelta(days=1))


async def test_a_merge_moves_history_and_meetings_to_the_survivor(contacts, deliver, read):
    survivor, absorbed = uuid.uuid4(), uuid.uuid4()
    await contacts.card(survivor, name="Ромашка")
    await contacts.card(absorbed, name="ООО Ромашка")
    await contacts.activity(survivor, NOW - timedelta(days=20))
    await contacts.activity(absorbed, NOW - timedelta(days=2))
    meeting = uuid.uuid4()
    await deliver(
        ev.MeetingScheduled(
            meeting_id=meeting,
            company_id=absorbed,
            kind="meeting",
            starts_at=NOW,
            duration_minutes=60,
            owner_id=contacts.default_owner,
        ),
        subject=meeting,
    )
    await contacts.merge(survivor, absorbed, 2)
    await contacts.merge(survivor, absorbed, 2)  # replayed
    kept, gone = await read(Client, survivor), await read(Client, absorbed)
    assert (kept.activity_count, kept.last_activity_at) == (2, NOW - timedelta(days=2))
    assert (gone.merged_into_id, gone.activity_count, gone.last_activity_at) == (survivor, 0, None)
    assert (await read(Meeting, meeting)).company_id == survivor
    # Contacts sends the survivor's new card with the merge's sequence: it must still apply.
    await contacts.card(survivor, 2, name="Ромашка (объединена)")
    assert (await read(Client, survivor)).name == "Ромашка (объединена)"
    # An entry of the absorbed card that was still on its way lands on the survivor.
    straggler = await contacts.activity(absorbed, NOW - timedelta(days=1))
    assert (await read(Activity, straggler.activity_id)).company_id == survivor
    assert (await read(Client, survivor)).activity_count == 3


async def test_a_merge_ahead_of_the_cards_still_hides_the_absorbed_one(contacts, read, app):
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    # second was merged into first, then first into third; the events arrive newest first.
    await contacts.merge(third, first, 2)
    await contacts.merge(first, second, 2)
    await contacts.card(second, name="Дубль")
    await contacts.activity(second, NOW - timedelta(days=5))
    assert (await read(Client, second)).merged_into_id == third
    assert (await read(Client, third)).activity_count == 1
    async with app.state.runtime.sessionmaker() as s:
        assert (await s.scalar(select(Activity.company_id).where(Activity.company_id != third))) is None


async def test_meeting_events_backwards_give_the_same_meeting(deliver, read):
    meeting, company, owner = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    moved_to = NOW + timedelta(days=2)
    await deliver(
        ev.MeetingCompleted(meeting_id=meeting, company_id=company, activity_id=uuid.uuid4(), done_at=moved_to),
        subject=meeting,
        sequence=3,
    )
    await deliver(
        ev.MeetingRescheduled(meeting_id=meeting, company_id=company, starts_at=moved_to, duration_minutes=30),
        subject=meeting,
        sequence=2,
    )
    await deliver(
        ev.MeetingScheduled(
            meeting_id=meeting, company_id=company, kind="call", starts_at=NOW, duration_minutes=30, owner_id=owner
        ),
        subject=meeting,
        sequence=1,
    )
    stored = await read(Meeting, meeting)
    assert (stored.status, stored.starts_at, stored.kind, stored.owner_id) == ("done", moved_to, "call", owner)
    assert (stored.version, stored.schedule_version) == (3, 2)


async def test_a_cancelled_meeting_stays_cancelled_when_its_scheduling_is_replayed(deliver, read):
    meeting, company = uuid.uuid4(), uuid.uuid4()
    scheduled = ev.MeetingScheduled(
        meeting_id=meeting,
        company_id=company,
        kind="meeting",
        starts_at=NOW,
        duration_minutes=60,
        owner_id=uuid.uuid4(),
    )
    await deliver(scheduled, subject=meeting)
    await deliver(
        ev.MeetingCancelled(meeting_id=meeting, company_id=company, reason="клиент болен"), subject=meeting, sequence=2
    )
    await deliver(scheduled, subject=meeting)
    assert (await read(Meeting, meeting)).status == "cancelled"


async def test_the_migrations_build_exactly_the_tables_the_code_uses(analytics_db):
    def drift(conn):
        return compare_metadata(MigrationContext.configure(conn), [Base.metadata, bus_metadata])

    async with analytics_db.engine.connect() as conn:
        assert await conn.run_sync(drift) == []
