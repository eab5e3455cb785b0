"""Deal and billing facts in the client's history: the handlers fed directly with Delivery objects,
against a real PostgreSQL; every test's writes are rolled back."""

import logging
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from mercator.common.bus.consumer import Delivery
from mercator.common.events import Envelope
from mercator.common.events import catalogue as ev
from mercator.common.testing import kit
from mercator.contacts import consumers
from mercator.contacts.app import build_app
from mercator.contacts.domain import SYSTEM_AUTHOR
from mercator.contacts.tables import Activity

pytestmark = pytest.mark.postgres

HANDLERS = {**consumers.DEALS, **consumers.BILLING}
DEAL = uuid.UUID("11111111-1111-1111-1111-111111111111")
T = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def deal_card(company_id, **kw) -> dict:
    return dict(
        deal_id=DEAL,
        title="Поставка станков",
        company_id=company_id,
        owner_id=uuid.uuid4(),
        pipeline_id=uuid.uuid4(),
        stage="lead",
        status="open",
        currency="RUB",
        opened_at=T,
        **kw,
    )


# event type -> (payload for a card, expected summary, expected happened_at or None for the envelope's time)
FACTS = {
    "DealOpened": (
        lambda c: ev.DealOpened(**deal_card(c, amount=Decimal("1500000"))),
        "Открыта сделка «Поставка станков» на 1 500 000,00 RUB",
        T,
    ),
    "DealStageChanged": (
        lambda c: ev.DealStageChanged(
            deal_id=DEAL,
            company_id=c,
            owner_id=uuid.uuid4(),
            pipeline_id=uuid.uuid4(),
            from_stage="lead",
            to_stage="demo",
            at=T,
        ),
        "Сделка перешла на этап «demo»",
        T,
    ),
    "DealWon": (
        lambda c: ev.DealWon(
            deal_id=DEAL,
            company_id=c,
            owner_id=uuid.uuid4(),
            amount=Decimal("120000"),
            currency="RUB",
            won_at=T,
            from_stage="payment",
        ),
        "Сделка выиграна: 120 000,00 RUB",
        T,
    ),
    "DealLost": (
        lambda c: ev.DealLost(
            deal_id=DEAL,
            company_id=c,
            owner_id=uuid.uuid4(),
            reason="Дорого",
            lost_at_stage="proposal",
            lost_at=T,
            currency="RUB",
        ),
        "Сделка проиграна на этапе «proposal»: Дорого",
        T,
    ),
    "DealReopened": (
        lambda c: ev.DealReopened(deal_id=DEAL, company_id=c, to_stage="demo", at=T),
        "Сделка возобновлена на этапе «demo»",
        T,
    ),
    "ProposalSent": (
        lambda c: ev.ProposalSent(
            proposal_id=uuid.uuid4(),
            deal_id=DEAL,
            company_id=c,
            documents=["КП.pdf", "Прайс.xlsx"],
            recipient_person_ids=[],
            sent_at=T,
            author_id=uuid.uuid4(),
        ),
        "Отправлено коммерческое предложение (email): КП.pdf, Прайс.xlsx",
        T,
    ),
    "ContractSigned": (
        lambda c: ev.ContractSigned(
            contract_id=uuid.uuid4(),
            number="Д-15",
            deal_id=DEAL,
            company_id=c,
            signed_on=date(2026, 11, 21),
            amount=Decimal("120000"),
            currency="RUB",
        ),
        "Подписан договор Д-15 на 120 000,00 RUB",
        at("2026-11-21T00:00Z"),
    ),
    "InvoiceIssued": (
        lambda c: ev.InvoiceIssued(
            invoice_id=uuid.uuid4(),
            number="2026-000123",
            deal_id=DEAL,
            company_id=c,
            issue_date=date(2026, 11, 26),
            due_date=date(2026, 12, 10),
            net=Decimal("100000"),
            vat=Decimal("20000"),
            total=Decimal("120000"),
            currency="RUB",
        ),
        "Выставлен счёт 2026-000123 на 120 000,00 RUB, срок оплаты 2026-12-10",
        at("2026-11-26T00:00Z"),
    ),
    "InvoiceCancelled": (
        lambda c: ev.InvoiceCancelled(
            invoice_id=uuid.uuid4(), number="2026-000123", deal_id=DEAL, company_id=c, reason="ошибка в реквизитах"
        ),
        "Счёт 2026-000123 аннулирован: ошибка в реквизитах",
        None,
    ),
    "InvoiceCredited": (
        lambda c: ev.InvoiceCredited(
            invoice_id=uuid.uuid4(),
            number="2026-000123",
            credit_note_id=uuid.uuid4(),
            deal_id=DEAL,
            company_id=c,
            amount=Decimal("20000"),
            currency="RUB",
            reason="скидка",
        ),
        "По счёту 2026-000123 выписана кредит-нота на 20 000,00 RUB: скидка",
        None,
    ),
    "PaymentReceived": (
        lambda c: ev.PaymentReceived(
            payment_id=uuid.uuid4(),
            company_id=c,
            amount=Decimal("50000"),
            currency="RUB",
            paid_on=date(2026, 12, 1),
            bank_reference="123",
            method="bank",
            allocations=[ev.AllocationPayload(invoice_id=uuid.uuid4(), deal_id=DEAL, amount=Decimal("50000"))],
        ),
        "Получен платёж 50 000,00 RUB (п/п 123)",
        at("2026-12-01T00:00Z"),
    ),
    "InvoicePaid": (
        lambda c: ev.InvoicePaid(
            invoice_id=uuid.uuid4(),
            number="2026-000123",
            deal_id=DEAL,
            company_id=c,
            total=Decimal("120000"),
            currency="RUB",
            paid_on=date(2026, 12, 2),
        ),
        "Счёт 2026-000123 оплачен полностью (120 000,00 RUB)",
        at("2026-12-02T00:00Z"),
    ),
    "InvoiceOverdue": (
        lambda c: ev.InvoiceOverdue(
            invoice_id=uuid.uuid4(),
            number="2026-000123",
            deal_id=DEAL,
            company_id=c,
            outstanding=Decimal("70000.5"),
            currency="RUB",
            due_date=date(2026, 12, 10),
            days_overdue=3,
        ),
        "Просрочена оплата счёта 2026-000123: долг 70 000,50 RUB, срок оплаты был 2026-12-10",
        None,
    ),
    "DeliveryShipped": (
        lambda c: ev.DeliveryShipped(
            delivery_id=uuid.uuid4(), deal_id=DEAL, company_id=c, waybill="ТН-77", shipped_on=date(2026, 12, 3)
        ),
        "Отгружено, накладная ТН-77",
        at("2026-12-03T00:00Z"),
    ),
    "DeliveryDelivered": (
        lambda c: ev.DeliveryDelivered(
            delivery_id=uuid.uuid4(), deal_id=DEAL, company_id=c, waybill="ТН-77", delivered_on=date(2026, 12, 4)
        ),
        "Доставлено клиенту, накладная ТН-77",
        at("2026-12-04T00:00Z"),
    ),
}


def delivery(
    payload: ev.EventPayload,
    *,
    actor: str | None = None,
    time: datetime | None = None,
    event_id: uuid.UUID | None = None,
) -> Delivery:
    envelope = Envelope(
        type=payload.type_name(),
        source=f"/mercator/{payload.owner}",
        subject=str(getattr(payload, "deal_id", None) or payload.company_id),
        sequence=1,
        data=payload.model_dump(mode="json"),
        id=event_id or uuid.uuid4(),
        time=time or datetime(2026, 12, 20, 12, 0, tzinfo=UTC),
        actor=actor,
    )
    return Delivery(envelope, payload)


@pytest.fixture
def feed(app):
    """Runs a delivery through its real handler and commits as the consumer would."""

    async def run(d: Delivery) -> Delivery:
        await kit.deliver(app.state.runtime, HANDLERS, d.envelope, d.payload)
        return d

    return run


async def new_company(api, **fields) -> str:
    r = await api.post("/api/v1/companies", json={"name": "ООО «Ромашка»", **fields})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def system_entries(app, company_id) -> list[Activity]:
    async with app.state.runtime.sessionmaker() as s:
        return list(
            (
                await s.execute(
                    select(Activity).where(Activity.company_id == uuid.UUID(company_id), Activity.kind == "system")
                )
            ).scalars()
        )


@pytest.mark.parametrize("event_type", list(FACTS))
async def test_each_fact_writes_one_system_entry(api, app, feed, manager, event_type, published):
    company = await new_company(api)
    make, summary, when = FACTS[event_type]
    d = await feed(delivery(make(uuid.UUID(company)), actor=str(manager.user_id)))
    [entry] = await system_entries(app, company)
    assert (entry.summary, entry.subject, entry.direction) == (summary, event_type, "internal")
    assert entry.deal_id == DEAL and entry.author_id == manager.user_id
    assert entry.happened_at == (when or d.envelope.time)
    logged = (await published("ActivityLogged"))[-1].data
    assert logged["activity_id"] == str(entry.id) and logged["kind"] == "system"


async def test_a_replayed_event_writes_nothing_more(api, app, feed, published):
    company = await new_company(api)
    d = delivery(FACTS["PaymentReceived"][0](uuid.UUID(company)), actor="billing-nightly-run")
    await feed(d)
    await feed(d)
    [entry] = await system_entries(app, company)
    assert entry.author_id == SYSTEM_AUTHOR  # an actor that is no user id
    assert len(await published("ActivityLogged")) == 1
    # A second payment is another fact, even when it looks the same: one entry per payment.
    await feed(delivery(d.payload))
    assert len(await system_entries(app, company)) == 2


async def test_last_activity_takes_the_latest_business_time_and_never_goes_back(api, app, feed):
    company = await new_company(api)
    c = uuid.UUID(company)

    async def last_activity():
        return at((await api.get(f"/api/v1/companies/{company}")).json()["last_activity_at"])

    await feed(delivery(FACTS["InvoiceIssued"][0](c)))  # issued 2026-11-26
    assert await last_activity() == at("2026-11-26T00:00Z")
    await feed(delivery(FACTS["DealStageChanged"][0](c)))  # an older fact, arriving late from another topic
    assert await last_activity() == at("2026-11-26T00:00Z")
    await feed(delivery(FACTS["PaymentReceived"][0](c)))  # paid 2026-12-01
    assert await last_activity() == at("2026-12-01T00:00Z")
    assert len(await system_entries(app, company)) == 3


async def test_the_first_won_deal_makes_a_prospect_a_client_and_a_second_changes_nothing(api, app, feed, published):
    company = await new_company(api)
    won = FACTS["DealWon"][0](uuid.UUID(company))
    await feed(delivery(won))
    r = await api.get(f"/api/v1/companies/{company}")
    assert r.json()["status"] == "client" and r.headers["etag"] == '"2"'
    [updated] = [e.data for e in await published("CompanyUpdated")]
    assert updated["changed"] == ["status"] and updated["status"] == "client"
    assert updated["last_activity_at"] is not None  # the snapshot carries the entry just written

    await feed(delivery(won.model_copy(update={"deal_id": uuid.uuid4()})))
    r = await api.get(f"/api/v1/companies/{company}")
    assert r.json()["status"] == "client" and r.headers["etag"] == '"2"'
    assert len(await published("CompanyUpdated")) == 1
    assert len(await system_entries(app, company)) == 2  # the second win is still a fact of the history


async def test_a_won_deal_brings_a_former_client_back(api, app, feed):
    company = await new_company(api, status="former")
    await feed(delivery(FACTS["DealWon"][0](uuid.UUID(company))))
    assert (await api.get(f"/api/v1/companies/{company}")).json()["status"] == "client"


async def test_facts_about_a_merged_card_land_on_the_survivor(api, app, feed):
    survivor, absorbed = await new_company(api, name="Ромашка"), await new_company(api, name="ООО Ромашка")
    r = await api.post(f"/api/v1/companies/{survivor}/merge", json={"absorbed_id": absorbed})
    assert r.status_code == 200, r.text
    await feed(delivery(FACTS["DeliveryShipped"][0](uuid.UUID(absorbed))))
    await feed(delivery(FACTS["DealWon"][0](uuid.UUID(absorbed))))
    assert sorted(e.subject for e in await system_entries(app, survivor)) == ["DealWon", "DeliveryShipped"]
    card = (await api.get(f"/api/v1/companies/{survivor}")).json()
    assert card["status"] == "client" and card["last_activity_at"].startswith("2026-12-03")


async def test_a_fact_about_an_unknown_card_is_skipped_quietly(app, feed, caplog, published):
    ghost = uuid.uuid4()
    with caplog.at_level(logging.INFO, logger="mercator.contacts.history"):
        await feed(delivery(FACTS["DealWon"][0](ghost)))
        await feed(delivery(FACTS["InvoiceIssued"][0](ghost)))
    assert await system_entries(app, str(ghost)) == []
    assert await published("ActivityLogged") == [] and await published("CompanyUpdated") == []
    assert sum(str(ghost) in r.getMessage() for r in caplog.records) == 2


async def test_a_stage_change_that_is_a_win_is_recorded_once_by_the_win(api, app, feed):
    company = await new_company(api)
    moved = FACTS["DealStageChanged"][0](uuid.UUID(company)).model_copy(update={"kind": "won", "to_stage": "won"})
    await feed(delivery(moved))
    await feed(delivery(FACTS["DealWon"][0](uuid.UUID(company))))
    assert [e.subject for e in await system_entries(app, company)] == ["DealWon"]


async def test_the_history_shows_system_entries_newest_first_among_manual_ones(api, app, feed):
    company = await new_company(api)
    c = uuid.UUID(company)
    url = f"/api/v1/companies/{company}/history"
    r = await api.post(url, json={"kind": "call", "summary": "звонок", "happened_at": "2026-11-28T10:00:00Z"})
    assert r.status_code == 201
    for event_type in ("InvoiceIssued", "DeliveryShipped", "PaymentReceived"):
        await feed(delivery(FACTS[event_type][0](c)))
    items = (await api.get(url)).json()["items"]
    assert [i["summary"] for i in items] == [
        "Отгружено, накладная ТН-77",
        "Получен платёж 50 000,00 RUB (п/п 123)",
        "звонок",
        FACTS["InvoiceIssued"][1],
    ]
    only = (await api.get(url, params={"kind": "system"})).json()["items"]
    assert [i["kind"] for i in only] == ["system"] * 3


async def test_nobody_types_in_a_system_entry(api):
    company = await new_company(api)
    r = await api.post(f"/api/v1/companies/{company}/history", json={"kind": "system", "summary": "подделка"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"


async def test_deal_and_billing_facts_are_two_consumer_groups(settings):
    app = build_app(settings)
    runtime = app.state.runtime
    try:
        groups = {c.name: set(c.handlers) for c in runtime.consumers}
    finally:
        await runtime.engine.dispose()
    assert groups == {
        "contacts.deals": set(consumers.DEALS),
        "contacts.billing": set(consumers.BILLING),
        "contacts.notifications": set(consumers.NOTIFICATIONS),
    }
    for owner, handlers in (
        ("deals", consumers.DEALS),
        ("billing", consumers.BILLING),
        ("notifications", consumers.NOTIFICATIONS),
    ):
        assert {ev.payload_model(t).owner for t in handlers} == {owner}
    assert len(HANDLERS) == len(FACTS) == 15


# --- messages the notifications service sent or gave up on ------------------------------------------


def message_outcome(company_id, sent: bool, **kw):
    common = dict(
        message_id=uuid.uuid4(),
        channel=kw.pop("channel", "email"),
        recipient=kw.pop("recipient", "ivan@romashka.ru"),
        subject="Поставка станков: документы",
        documents=["Коммерческое_предложение.pdf"],
        company_id=company_id,
        deal_id=DEAL,
        cause_type="ProposalSent",
        attempts=1,
        **kw,
    )
    if sent:
        return ev.MessageSent(**common, sent_at=T)
    return ev.MessageFailed(**common, error="gave up after 6 attempts: SMTP 451", failed_at=T)


async def feed_message(app, d: Delivery) -> None:
    async with app.state.runtime.uow() as uow:
        await consumers.NOTIFICATIONS[d.envelope.type](uow, d)
        await uow.commit()


@pytest.mark.parametrize("channel,recipient", [("email", "ivan@romashka.ru"), ("fax", "+74951234567")])
async def test_a_sent_message_is_an_outgoing_entry_of_its_channel(api, app, manager, channel, recipient):
    company = await new_company(api)
    author = manager.user_id
    d = delivery(message_outcome(uuid.UUID(company), True, channel=channel, recipient=recipient, author_id=author))
    await feed_message(app, d)
    await feed_message(app, d)  # replayed past the inbox: still one entry
    async with app.state.runtime.sessionmaker() as s:
        [entry] = (await s.execute(select(Activity).where(Activity.company_id == uuid.UUID(company)))).scalars().all()
    assert (entry.kind, entry.direction, entry.happened_at, entry.author_id) == (channel, "outbound", T, author)
    assert recipient in entry.summary and "Коммерческое_предложение.pdf" in entry.summary


async def test_a_failed_message_is_a_system_note_saying_why(api, app):
    company = await new_company(api)
    await feed_message(app, delivery(message_outcome(uuid.UUID(company), False)))
    [entry] = await system_entries(app, company)
    assert entry.summary.startswith("Не отправлено: Письмо") and "SMTP 451" in entry.summary
