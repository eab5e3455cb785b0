"""Messages from events to a real SMTP server on loopback: the received mail and the text of its PDFs are
read for the filled-in fields; SMTP down then up loses nothing and sends nothing twice."""

import asyncio
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from mercator.common.events import catalogue as ev
from mercator.common.testing.kit import published
from mercator.notifications.tables import Message
from mercator.notifications.testing import attachments, pdf_text, send_due

pytestmark = pytest.mark.postgres


def proposal(world, documents=("proposal", "price_list"), channel="email", persons=None) -> ev.ProposalSent:
    return ev.ProposalSent(
        proposal_id=uuid.uuid4(),
        deal_id=world.deal_id,
        company_id=world.company_id,
        documents=list(documents),
        recipient_person_ids=persons or [world.person_id],
        channel=channel,
        message="Просим рассмотреть до конца недели.",
        sent_at=datetime.now(UTC),
        author_id=world.manager.user_id,
    )


async def messages(app, **where) -> list[Message]:
    async with app.state.runtime.sessionmaker() as s:
        stmt = select(Message).order_by(Message.created_at)
        for k, v in where.items():
            stmt = stmt.where(getattr(Message, k) == v)
        return list((await s.execute(stmt)).scalars())


async def test_a_proposal_goes_to_the_contact_person_with_filled_in_documents(app, world, deliver, smtp):
    event = await deliver(proposal(world))
    assert await send_due(app) == 1
    [mail] = smtp.to(world.person_email)
    assert mail["Subject"] == "Поставка станков: документы от Анна Петрова"
    assert "Иван Сидоров" in mail["To"] and "Просим рассмотреть до конца недели." in mail.get_body().get_content()
    files = attachments(mail)
    assert sorted(files) == ["Коммерческое_предложение_—_ООО_«Ромашка».pdf", "Прайс-лист_—_ООО_«Ромашка».pdf"]
    offer = pdf_text(files["Коммерческое_предложение_—_ООО_«Ромашка».pdf"])
    for text in (
        "ООО «Ромашка-Трейд»",
        "ИНН 7707083893",
        "Иван Сидоров",
        "Директор по закупкам",
        "Поставка станков",
        "Станок токарный",
        "2 шт",
        "1 250 000,00",
        "2 500 000,00",
        "Наладка оборудования",
        "Итого: 2 536 000,00 RUB",
        "Анна Петрова",
        world.manager_email,
    ):
        assert text in offer, text
    valid_until = (datetime.now(ZoneInfo("Europe/Moscow")).date() + timedelta(days=14)).strftime("%d.%m.%Y")
    assert f"Предложение действительно до {valid_until}." in offer
    prices = pdf_text(files["Прайс-лист_—_ООО_«Ромашка».pdf"])
    assert "СТ-100" in prices and "1 250 000,00 RUB" in prices and "4 500,00 RUB" in prices
    [m] = await messages(app)
    assert (m.status, m.attempts, m.cause_event_id, m.recipient) == ("sent", 1, event.id, world.person_email)
    [sent] = [e.data for e in await published(app, "MessageSent")]
    assert sent["company_id"] == str(world.company_id) and sent["person_id"] == str(world.person_id)
    assert sent["documents"] == ["Коммерческое_предложение_—_ООО_«Ромашка».pdf", "Прайс-лист_—_ООО_«Ромашка».pdf"]
    assert sent["cause_type"] == "ProposalSent" and sent["cause_event_id"] == str(event.id)


async def test_a_redelivered_event_sends_nothing_twice(app, world, deliver, smtp):
    event = await deliver(proposal(world))
    await send_due(app)
    await deliver(ev.ProposalSent.model_validate(event.data), event_id=event.id)
    assert await send_due(app) == 0
    assert len(smtp.messages) == 1 and len(await messages(app)) == 1
    assert len(await published(app, "MessageSent")) == 1


async def test_smtp_down_then_up_loses_nothing_and_sends_nothing_twice(app, world, deliver, smtp, api):
    smtp.down()
    await deliver(proposal(world, documents=["proposal"]))
    await deliver(
        ev.InactivityDetected(
            company_id=world.company_id,
            owner_id=world.manager.user_id,
            threshold_days=30,
            days_inactive=31,
            detected_at=datetime.now(UTC),
        )
    )
    assert await send_due(app) == 2
    queued = await messages(app)
    assert [(m.status, m.attempts) for m in queued] == [("queued", 1), ("queued", 1)]
    assert all("Connect" in m.last_error or "refused" in m.last_error.lower() for m in queued)
    assert all(m.next_attempt_at > datetime.now(UTC) - timedelta(seconds=1) for m in queued)
    smtp.up()
    for _ in range(500):  # retries are due within the backoff cap (0.2 s here)
        await send_due(app)
        if all(m.status == "sent" for m in await messages(app)):
            break
        await asyncio.sleep(0.02)
    assert [m.status for m in await messages(app)] == ["sent", "sent"]
    assert len(smtp.to(world.person_email)) == 1 and len(smtp.to(world.manager_email)) == 1
    assert len(smtp.messages) == 2 and len(await published(app, "MessageSent")) == 2
    assert await send_due(app) == 0
    metrics = (await api.get("/metrics")).text  # what ops sees: the retries and the sends
    assert 'message_attempts_total{channel="email",outcome="sent"} 2.0' in metrics
    assert 'message_attempts_total{channel="email",outcome="retry"}' in metrics


async def test_a_message_that_finally_fails_says_why(app, world, deliver, smtp, settings):
    smtp.down()
    await deliver(proposal(world, documents=["proposal"]))
    for _ in range(500):
        await send_due(app)
        [m] = await messages(app)
        if m.status == "failed":
            break
        await asyncio.sleep(0.02)
    assert (m.status, m.attempts) == ("failed", settings.send_max_attempts)
    assert m.last_error.startswith(f"gave up after {settings.send_max_attempts} attempts: ")
    [failed] = [e.data for e in await published(app, "MessageFailed")]
    assert failed["error"] == m.last_error and failed["company_id"] == str(world.company_id)
    assert not await published(app, "MessageSent")


async def test_a_refused_mailbox_fails_at_once(app, world, deliver, smtp):
    smtp.refuse.add(world.person_email)
    await deliver(proposal(world, documents=["proposal"]))
    await send_due(app)
    [m] = await messages(app)
    assert (m.status, m.attempts) == ("failed", 1)
    assert m.last_error.startswith("refused for good: recipient refused") and "550" in m.last_error
    assert not smtp.messages


async def test_a_person_without_an_address_gets_a_failed_message_saying_why(app, world, deliver, smtp):
    nobody = uuid.uuid4()
    await deliver(ev.PersonAdded(person_id=nobody, company_id=world.company_id, name="Пётр Безпочтов"))
    await deliver(proposal(world, persons=[world.person_id, nobody]))
    await send_due(app)
    by_person = {m.person_id: m for m in await messages(app)}
    assert by_person[world.person_id].status == "sent"
    assert (by_person[nobody].status, by_person[nobody].last_error) == (
        "failed",
        "Пётр Безпочтов has no e-mail address",
    )
    [failed] = [e.data for e in await published(app, "MessageFailed")]
    assert failed["person_id"] == str(nobody)


async def test_a_fax_proposal_goes_to_the_fax_gateway_as_pdf(app, world, deliver, smtp):
    await deliver(proposal(world, documents=["proposal"], channel="fax"))
    await send_due(app)
    [mail] = smtp.to("74951234567@fax.example.net")
    [(_name, content)] = attachments(mail).items()
    assert "Станок токарный" in pdf_text(content)
    [m] = await messages(app)
    assert (m.channel, m.recipient, m.status) == ("fax", "+74951234567", "sent")
    [sent] = [e.data for e in await published(app, "MessageSent")]
    assert (sent["channel"], sent["recipient"]) == ("fax", "+74951234567")


async def test_meeting_reminder_is_planned_moved_and_dropped_with_the_meeting(app, world, deliver, smtp):
    meeting_id = uuid.uuid4()
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    await deliver(
        ev.MeetingScheduled(
            meeting_id=meeting_id,
            company_id=world.company_id,
            kind="meeting",
            subject="Демонстрация станка",
            starts_at=starts,
            duration_minutes=60,
            place="Цех клиента",
            owner_id=world.manager.user_id,
            reminder_minutes_before=45,
        )
    )
    [m] = await messages(app)
    assert (m.recipient, m.status, m.next_attempt_at) == (world.manager_email, "queued", starts - timedelta(minutes=45))
    assert "Демонстрация станка" in m.subject and "ООО «Ромашка»" in m.body and "Цех клиента" in m.body
    assert await send_due(app) == 0  # not due yet
    later = starts + timedelta(days=1)
    await deliver(
        ev.MeetingRescheduled(meeting_id=meeting_id, company_id=world.company_id, starts_at=later, duration_minutes=30)
    )
    [m] = await messages(app)
    assert m.next_attempt_at == later - timedelta(minutes=45) and m.status == "queued"
    await deliver(ev.MeetingCancelled(meeting_id=meeting_id, company_id=world.company_id))
    [m] = await messages(app)
    assert m.status == "cancelled"
    async with app.state.runtime.sessionmaker() as s:  # even when its time comes, it is not sent
        await s.execute(update(Message).values(next_attempt_at=datetime.now(UTC) - timedelta(minutes=1)))
        await s.commit()
    assert await send_due(app) == 0 and not smtp.messages


async def test_a_due_reminder_reaches_the_manager(app, world, deliver, smtp, settings):
    starts = datetime.now(UTC) + timedelta(minutes=10)
    await deliver(
        ev.MeetingScheduled(
            meeting_id=uuid.uuid4(),
            company_id=world.company_id,
            kind="call",
            starts_at=starts,
            duration_minutes=15,
            owner_id=world.manager.user_id,
        )
    )
    await send_due(app)  # the default 30 minutes before is already past: it goes now
    [mail] = smtp.to(world.manager_email)
    assert "через 30 мин. у вас звонок с ООО «Ромашка»" in mail.get_body().get_content()


async def test_a_mailing_is_throttled_and_each_message_tracked(app, world, deliver, smtp, settings):
    recipients = [
        ev.MailingRecipient(
            company_id=world.company_id, person_id=uuid.uuid4(), name=f"Гость {i}", email=f"guest{i}@example.org"
        )
        for i in range(4)
    ]
    recipients.append(
        ev.MailingRecipient(
            company_id=world.company_id, person_id=uuid.uuid4(), name="Без адреса", email="not-an-address"
        )
    )
    event_id = uuid.uuid4()
    await deliver(
        ev.MarketingEventCreated(
            marketing_event_id=event_id,
            name="Выставка «Металлообработка-2026»",
            kind="exhibition",
            starts_on=datetime(2026, 5, 25).date(),
            currency="RUB",
            organiser_id=world.manager.user_id,
            created_at=datetime.now(UTC),
        )
    )
    await deliver(
        ev.MailingRequested(
            mailing_id=uuid.uuid4(),
            marketing_event_id=event_id,
            template_name="mailing",
            offer="Скидка 10% участникам выставки",
            recipients=recipients,
            requested_by=world.manager.user_id,
            requested_at=datetime.now(UTC),
        )
    )
    made = [m for m in await messages(app) if m.status == "queued"]
    assert len(made) == 4
    times = sorted(m.next_attempt_at for m in made)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert gaps == [pytest.approx(1 / settings.mailing_rate_per_second, abs=1e-3)] * 3
    [bad] = [m for m in await messages(app) if m.status == "failed"]
    assert "not an e-mail address" in bad.last_error
    for _ in range(200):
        await send_due(app)
        if len(smtp.messages) == 4:
            break
        await asyncio.sleep(0.05)
    assert sorted(m["To"].addresses[0].addr_spec for m in smtp.messages) == [f"guest{i}@example.org" for i in range(4)]
    assert all("Скидка 10% участникам выставки" in m.get_body().get_content() for m in smtp.messages)
    assert {m["Subject"] for m in smtp.messages} == {"Выставка «Металлообработка-2026», 25.05.2026"}
    assert len(await published(app, "MessageSent")) == 4


async def test_an_overdue_invoice_alerts_the_manager_and_their_head(app, world, deliver, smtp):
    invoice_id = uuid.uuid4()
    await deliver(
        ev.InvoiceOverdue(
            invoice_id=invoice_id,
            number="2026-000042",
            deal_id=world.deal_id,
            company_id=world.company_id,
            outstanding="120000.00",
            currency="RUB",
            due_date=datetime.now(UTC).date() - timedelta(days=5),
            days_overdue=5,
        )
    )
    await send_due(app)
    for address in (world.manager_email, world.head_email):
        [mail] = smtp.to(address)
        assert mail["Subject"] == "Просрочена оплата счёта 2026-000042 — ООО «Ромашка»"
        assert "долг 120\u00a0000,00 RUB" in mail.get_body().get_content()
    assert len(smtp.messages) == 2


async def test_the_morning_digest_lists_meetings_overdue_invoices_and_stalled_deals_once_a_day(
    app, world, deliver, smtp, settings
):
    from mercator.notifications import digests

    moscow = ZoneInfo(settings.time_zone)
    today = datetime.now(moscow).date()
    now = datetime(today.year, today.month, today.day, 8, 0, tzinfo=moscow)  # the morning the digest goes out
    await deliver(
        ev.MeetingScheduled(
            meeting_id=uuid.uuid4(),
            company_id=world.company_id,
            kind="meeting",
            subject="Подписание договора",
            starts_at=now + timedelta(hours=3),
            duration_minutes=60,
            owner_id=world.manager.user_id,
        )
    )
    await deliver(
        ev.InvoiceIssued(
            invoice_id=uuid.uuid4(),
            number="2026-000077",
            deal_id=world.deal_id,
            company_id=world.company_id,
            issue_date=now.date() - timedelta(days=30),
            due_date=now.date() - timedelta(days=3),
            net="100000",
            vat="22000",
            total="122000",
            currency="RUB",
        )
    )
    stalled_id = uuid.uuid4()
    await deliver(
        ev.DealOpened(
            deal_id=stalled_id,
            title="Ремонт линии",
            company_id=world.company_id,
            owner_id=world.manager.user_id,
            pipeline_id=uuid.uuid4(),
            stage="demo",
            status="open",
            currency="RUB",
            opened_at=now - timedelta(days=40),
        )
    )
    from mercator.notifications.tables import DealView

    async with app.state.runtime.sessionmaker() as s:  # nothing heard of it for 20 days
        await s.execute(
            update(DealView).where(DealView.deal_id == stalled_id).values(changed_at=now - timedelta(days=20))
        )
        await s.commit()
    async with app.state.runtime.uow() as uow:
        assert await digests.make_digests(uow, settings, now) == 1  # the head has nothing of their own
        await uow.commit()  # as the digest job does around its step
    async with app.state.runtime.uow() as uow:
        assert await digests.make_digests(uow, settings, now) == 0  # once a day
    await send_due(app)
    [mail] = smtp.to(world.manager_email)
    text = mail.get_body().get_content()
    assert "Встречи сегодня (1)" in text and "ООО «Ромашка»: Подписание договора" in text
    assert "Просроченные счета (1)" in text and "2026-000077 ООО «Ромашка»: 122\u00a0000,00 RUB" in text
    assert "Сделки без движения (1)" in text and "Ремонт линии (ООО «Ромашка»), этап «demo», 20 дн." in text
    assert "Поставка станков" not in text  # heard of just now: not stalled


async def test_a_proposal_read_before_its_contact_person_waits_for_them(app, world, deliver, smtp):
    """Persons come on contacts' topic, proposals on deals': the proposal may be read first."""
    late = uuid.uuid4()
    await deliver(proposal(world, documents=["proposal"], persons=[late]))
    await send_due(app)
    [m] = await messages(app)
    assert (m.status, m.recipient) == ("queued", f"person:{late}")
    assert m.last_error == f"contact person {late} is not known to notifications yet" and not smtp.messages
    await deliver(
        ev.PersonAdded(
            person_id=late, company_id=world.company_id, name="Пётр Опоздавший", emails=["petr@romashka.example"]
        )
    )
    for _ in range(100):
        await send_due(app)
        if smtp.messages:
            break
        await asyncio.sleep(0.02)
    [mail] = smtp.to("petr@romashka.example")
    [(name, content)] = attachments(mail).items()
    assert "Пётр Опоздавший" in pdf_text(content) and "Станок токарный" in pdf_text(content)
    [m] = await messages(app)
    assert (m.status, m.recipient, m.documents) == ("sent", "petr@romashka.example", [name])
    [sent] = [e.data for e in await published(app, "MessageSent")]
    assert sent["recipient"] == "petr@romashka.example" and sent["documents"] == [name]


async def test_a_contact_person_never_heard_of_fails_the_message_saying_so(app, world, deliver, smtp, settings):
    ghost = uuid.uuid4()
    await deliver(proposal(world, documents=["proposal"], persons=[ghost]))
    for _ in range(500):
        await send_due(app)
        [m] = await messages(app)
        if m.status == "failed":
            break
        await asyncio.sleep(0.02)
    assert m.last_error == (
        f"gave up after {settings.send_max_attempts} attempts: contact person {ghost} is not known to notifications yet"
    )
    [failed] = [e.data for e in await published(app, "MessageFailed")]
    assert failed["person_id"] == str(ghost) and not smtp.messages
