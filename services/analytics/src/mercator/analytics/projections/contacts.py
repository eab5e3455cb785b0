"""Projections of the contacts events: client cards, history entries, meetings and marketing events.

Every handler is order-tolerant and idempotent (see `domain`): the inbox drops a redelivered
event, but an event replayed after the inbox forgot it must change nothing either. A card's count
of entries grows only by the entries a batch stored for the first time (a replay stores none), and
is recomputed from the stored entries when a merge moves them.
"""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import aggregates, bulk, domain, following
from mercator.analytics.projections.rows import placeholder
from mercator.analytics.tables import Activity, Client, MarketingEvent, Meeting, Participant
from mercator.common.bus.consumer import Delivery
from mercator.common.events import catalogue as ev
from mercator.common.uow import UnitOfWork

# A merge chain longer than this is a corrupt stream, not a real history of duplicates.
_MAX_MERGE_HOPS = 50


async def _client(session: AsyncSession, company_id: uuid.UUID) -> Client:
    """The projected card, locked, or a new placeholder. The lock serialises recounts of one
    client across analytics instances that consume different partitions."""
    client = await session.get(Client, company_id, with_for_update=True)
    if client is None:
        client = Client(company_id=company_id, version=0, owner_version=0, activity_count=0)
        session.add(client)
    return client


async def _survivor(session: AsyncSession, company_id: uuid.UUID) -> uuid.UUID:
    """The card that now holds `company_id`'s history, following merges."""
    for _ in range(_MAX_MERGE_HOPS):
        merged_into = await session.scalar(select(Client.merged_into_id).where(Client.company_id == company_id))
        if merged_into is None:
            return company_id
        company_id = merged_into
    return company_id


async def _recount(session: AsyncSession, client: Client) -> None:
    await session.flush()
    count, last = (
        await session.execute(
            select(func.count(), func.max(Activity.happened_at)).where(Activity.company_id == client.company_id)
        )
    ).one()
    client.activity_count, client.last_activity_at = count, last


@bulk.set_based
async def company_snapshot(session: AsyncSession, deliveries: list[Delivery]) -> None:
    clients = await bulk.lock(
        session, Client, (cast(ev.CompanyCard, d.payload).company_id for d in deliveries), following.blank_card
    )
    for delivery in deliveries:
        card = cast(ev.CompanyCard, delivery.payload)
        client = clients[card.company_id]
        versions, take_card, take_owner = domain.CardVersions(client.version, client.owner_version).snapshot(
            delivery.envelope.sequence
        )
        if take_card:
            for field in (
                "name",
                "status",
                "region_id",
                "region_name",
                "industry_id",
                "industry_name",
                "source_id",
                "source_name",
            ):
                setattr(client, field, getattr(card, field))
            client.created_at = card.created_at.astimezone(UTC)
        if take_owner:
            client.owner_id, client.department_id = card.owner_id, card.department_id
        client.version, client.owner_version = versions.card, versions.owner
    await bulk.save(session, clients)
    tally = aggregates.Tally()
    moved, reassigned, entries = {}, {}, {}
    for company_id, client in clients.items():
        old = clients.loaded[company_id]
        tally.change(aggregates.card_cells(old), aggregates.card_cells(vars(client)))
        if old["activity_count"] and aggregates.entry_key(old) != aggregates.entry_key(vars(client)):
            entries[company_id] = (old, vars(client))
        keys = {field: getattr(client, column) for field, column in aggregates.CARD_KEYS.items()}
        if keys != {field: old[column] for field, column in aggregates.CARD_KEYS.items()}:
            moved[company_id] = keys
        if (client.owner_id, client.department_id) != (old["owner_id"], old["department_id"]):
            reassigned[company_id] = {"owner_id": client.owner_id, "department_id": client.department_id}
    await following.follow_cards(session, moved, tally)
    await following.follow_owners(session, "company_id", aggregates.CARD_OWNER, reassigned, tally)
    await following.move_entries(session, entries, tally)
    await tally.write(session)


def _card(client: Client) -> dict:
    return {c: getattr(client, c) for c in aggregates.CARD_COLUMNS}


def _card_cells(client: Client) -> list:
    return aggregates.card_cells(_card(client))


async def company_reassigned(uow: UnitOfWork, delivery: Delivery) -> None:
    event = cast(ev.CompanyReassigned, delivery.payload)
    client = await _client(uow.session, event.company_id)
    was = _card(client)
    before = _card_cells(client)
    versions, take = domain.CardVersions(client.version, client.owner_version).reassignment(delivery.envelope.sequence)
    if take:
        client.owner_id, client.department_id = event.to_owner_id, event.department_id
    client.owner_version = versions.owner
    tally = aggregates.Tally()
    tally.change(before, _card_cells(client))
    await uow.session.flush()
    if take:
        await following.follow_owners(
            uow.session,
            "company_id",
            aggregates.CARD_OWNER,
            {client.company_id: {"owner_id": client.owner_id, "department_id": client.department_id}},
            tally,
        )
        await following.move_entries(uow.session, {client.company_id: (was, _card(client))}, tally)
    await tally.write(uow.session)


async def company_merged(uow: UnitOfWork, delivery: Delivery) -> None:
    # No version is recorded: contacts sends the survivor's new card as a CompanyUpdated with
    # the same sequence, and that snapshot must still apply.
    event = cast(ev.CompanyMerged, delivery.payload)
    s = uow.session
    survivor_id = await _survivor(s, event.company_id)
    if survivor_id == event.absorbed_id:
        return  # would make a cycle: a corrupt stream, and nothing sensible to do
    survivor = await _client(s, survivor_id)
    absorbed = await _client(s, event.absorbed_id)
    await s.flush()
    before = {c.company_id: (_card(c), _card_cells(c)) for c in (survivor, absorbed)}
    absorbed.merged_into_id = survivor_id
    tally = aggregates.Tally()
    # The absorbed card's entries now count under the survivor.
    await following.move_entries(s, {absorbed.company_id: (before[absorbed.company_id][0], _card(survivor))}, tally)
    # Cards merged into the absorbed one before now lead straight to the survivor.
    await s.execute(update(Client).where(Client.merged_into_id == event.absorbed_id).values(merged_into_id=survivor_id))
    for table in (Activity, Meeting):
        await s.execute(update(table).where(table.company_id == event.absorbed_id).values(company_id=survivor_id))
    await _recount(s, survivor)
    await _recount(s, absorbed)
    for c in (survivor, absorbed):
        tally.change(before[c.company_id][1], _card_cells(c))
    await s.flush()
    await tally.write(s)


async def _survivors(session: AsyncSession, company_ids: set[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """`_survivor` of each card, one query per hop for them all."""
    survivor = {c: c for c in company_ids}
    following = set(company_ids)
    for _ in range(_MAX_MERGE_HOPS):
        if not following:
            break
        merged: dict[uuid.UUID, Any] = dict(
            (
                await session.execute(
                    select(Client.company_id, Client.merged_into_id).where(
                        bulk.among(session, Client.company_id, {survivor[c] for c in following}),
                        Client.merged_into_id.is_not(None),
                    )
                )
            ).all()
        )
        following = {c for c in following if survivor[c] in merged}
        for c in following:
            survivor[c] = merged[survivor[c]]
    return survivor


@bulk.set_based
async def activity_logged(session: AsyncSession, deliveries: list[Delivery]) -> None:
    survivor = await _survivors(session, {cast(ev.ActivityLogged, d.payload).company_id for d in deliveries})
    # Locked before the entries are counted, so the count sees every entry of a batch that held the lock before.
    clients = await bulk.lock(session, Client, survivor.values(), following.blank_card)
    entries: dict[uuid.UUID, dict] = {}
    for delivery in deliveries:
        event = cast(ev.ActivityLogged, delivery.payload)
        # An entry never changes: a replay adds nothing.
        entries.setdefault(
            event.activity_id,
            dict(
                activity_id=event.activity_id,
                company_id=survivor[event.company_id],
                kind=event.kind,
                direction=event.direction,
                author_id=event.author_id,
                happened_at=event.happened_at.astimezone(UTC),
                deal_id=event.deal_id,
            ),
        )
    added = await bulk.add_new(session, Activity, entries, returning=True)
    tally = aggregates.Tally()
    for activity_id in added:
        entry = entries[activity_id]
        client = clients[entry["company_id"]]
        # The card is locked and an entry counts once, when it is first stored (a copy adds no row), so the
        # count and the last entry follow from what this batch added; a merge moves entries and counts afresh.
        client.activity_count += 1
        last = domain.as_utc(client.last_activity_at)
        client.last_activity_at = entry["happened_at"] if last is None else max(last, entry["happened_at"])
        if entry["kind"] != "system":
            tally.add(
                aggregates.entry_cells(
                    clients.loaded[entry["company_id"]],
                    [(domain.first_of_month(entry["happened_at"]), entry["author_id"], 1)],
                )
            )
    for company_id, client in clients.items():
        tally.change(aggregates.card_cells(clients.loaded[company_id]), aggregates.card_cells(vars(client)))
    await bulk.save(session, clients)
    await tally.write(session)


async def _meeting(session: AsyncSession, meeting_id: uuid.UUID, company_id: uuid.UUID) -> Meeting:
    # Every meeting event names its card; after a merge they all resolve to the survivor.
    company_id = await _survivor(session, company_id)
    meeting = await session.get(Meeting, meeting_id, with_for_update=True)
    if meeting is None:
        meeting = Meeting(meeting_id=meeting_id, version=0, schedule_version=0)
        session.add(meeting)
    meeting.company_id = company_id
    return meeting


def _view(m: Meeting) -> domain.MeetingView:
    return domain.MeetingView(
        domain.MeetingStatus(m.status) if m.status else None, m.starts_at, m.version, m.schedule_version
    )


def _store(m: Meeting, view: domain.MeetingView) -> None:
    m.status = view.status.value if view.status else None
    m.starts_at = view.starts_at.astimezone(UTC) if view.starts_at else None
    m.version, m.schedule_version = view.version, view.schedule_version


async def meeting_scheduled(uow: UnitOfWork, delivery: Delivery) -> None:
    event = cast(ev.MeetingScheduled, delivery.payload)
    meeting = await _meeting(uow.session, event.meeting_id, event.company_id)
    meeting.kind, meeting.owner_id = event.kind, event.owner_id  # only this event carries them
    _store(meeting, _view(meeting).scheduled(event.starts_at, delivery.envelope.sequence))


async def meeting_rescheduled(uow: UnitOfWork, delivery: Delivery) -> None:
    event = cast(ev.MeetingRescheduled, delivery.payload)
    meeting = await _meeting(uow.session, event.meeting_id, event.company_id)
    _store(meeting, _view(meeting).rescheduled(event.starts_at, delivery.envelope.sequence))


async def meeting_completed(uow: UnitOfWork, delivery: Delivery) -> None:
    event = cast(ev.MeetingCompleted, delivery.payload)
    meeting = await _meeting(uow.session, event.meeting_id, event.company_id)
    _store(meeting, _view(meeting).settled(domain.MeetingStatus.DONE, delivery.envelope.sequence))


async def meeting_cancelled(uow: UnitOfWork, delivery: Delivery) -> None:
    event = cast(ev.MeetingCancelled, delivery.payload)
    meeting = await _meeting(uow.session, event.meeting_id, event.company_id)
    _store(meeting, _view(meeting).settled(domain.MeetingStatus.CANCELLED, delivery.envelope.sequence))


async def marketing_event(uow: UnitOfWork, delivery: Delivery) -> None:
    card = cast(ev.MarketingEventCreated, delivery.payload)
    row = await placeholder(
        uow.session, MarketingEvent, card.marketing_event_id, marketing_event_id=card.marketing_event_id, version=0
    )
    if domain.current(delivery.envelope.sequence, row.version):
        for field in ("name", "kind", "starts_on", "ends_on", "cost", "currency", "organiser_id", "department_id"):
            setattr(row, field, getattr(card, field))
        row.version = delivery.envelope.sequence


async def _participant(uow: UnitOfWork, event_id: uuid.UUID, company_id: uuid.UUID, status: str, sequence: int) -> None:
    row = await placeholder(
        uow.session,
        Participant,
        (event_id, company_id),
        marketing_event_id=event_id,
        company_id=company_id,
        status=status,
        status_version=0,
    )
    if domain.current(sequence, row.status_version):
        row.status, row.status_version = status, sequence


async def participant_added(uow: UnitOfWork, delivery: Delivery) -> None:
    e = cast(ev.ParticipantAdded, delivery.payload)
    await _participant(uow, e.marketing_event_id, e.company_id, e.status, delivery.envelope.sequence)


async def participant_status_changed(uow: UnitOfWork, delivery: Delivery) -> None:
    e = cast(ev.ParticipantStatusChanged, delivery.payload)
    await _participant(uow, e.marketing_event_id, e.company_id, e.to_status, delivery.envelope.sequence)
