"""A small sales department's history as the other services publish it: the events, with their sequences."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete

from mercator.analytics import tables
from mercator.common.bus.consumer import Delivery, Handler
from mercator.common.events import catalogue as ev
from mercator.common.events.catalogue import EventPayload
from mercator.common.events.envelope import Envelope
from mercator.common.testing.api import auth, caller, client

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(days=100)
TODAY = NOW.date()

SALES, EAST = uuid.uuid4(), uuid.uuid4()  # EAST is below SALES
ANNA = caller("Анна", department_id=EAST)
BORIS = caller("Борис", department_id=SALES)
EAST_HEAD = caller("Ольга", roles=("head",), department_id=EAST, departments={EAST})
CEO = caller("Генеральный", roles=("executive",))
MOSCOW, URAL = uuid.uuid4(), uuid.uuid4()
METAL = uuid.uuid4()
EXHIBITION, WEB = uuid.uuid4(), uuid.uuid4()
MACHINES, SERVICE = uuid.uuid4(), uuid.uuid4()
LATHE, REPAIR, UNSOLD = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
C1, C2, C3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
D1, D2, D3, D4, D5 = (uuid.uuid4() for _ in range(5))
SHOW = uuid.uuid4()
STAGES = ["interest", "needs", "demo", "tech_proposal", "commercial_proposal", "contract"]


@dataclass
class History:
    events: list[tuple[EventPayload, uuid.UUID, int]] = field(default_factory=list)

    def add(self, payload: EventPayload, subject: uuid.UUID, sequence: int = 1) -> None:
        self.events.append((payload, subject, sequence))


def delivery(payload: EventPayload, subject: uuid.UUID, sequence: int = 1) -> Delivery:
    """An event the way the consumer hands it over."""
    envelope = Envelope(
        type=payload.type_name(),
        source=f"/mercator/{payload.owner}",
        subject=str(subject),
        sequence=sequence,
        data=payload.model_dump(mode="json"),
    )
    return Delivery(envelope, type(payload).model_validate(envelope.payload()))


async def hand_over(handler: Handler, uow, deliveries: list[Delivery]) -> None:
    """What the consumer does with a run of deliveries of one type: a set-based handler takes the run at once,
    any other handler one delivery at a time."""
    if getattr(handler, "takes_batch", False):
        await handler(uow, deliveries)
        return
    for d in deliveries:
        await handler(uow, d)


def line(product: uuid.UUID, total: str) -> ev.DealLinePayload:
    return ev.DealLinePayload(product_id=product, quantity=Decimal(1), unit_price=Decimal(total), total=Decimal(total))


def product(h: History, kind, product_id, code: str, name: str, group_id, group_name: str, sequence: int = 1) -> None:
    """A product of the catalogue as deals announces it (`kind`: ProductCreated or ProductUpdated)."""
    payload = kind(
        product_id=product_id,
        code=code,
        name=name,
        group_id=group_id,
        group_name=group_name,
        unit="шт",
        list_price=Decimal(1),
        currency="RUB",
    )
    h.add(payload, product_id, sequence)


def deal_history(
    h: History,
    deal: uuid.UUID,
    company: uuid.UUID,
    owner,
    *,
    opened: datetime,
    path: list[str],
    days: list[int],
    amount: str,
    lines=(),
    end: str | None = None,
    reason: str | None = None,
    expected: date | None = None,
) -> None:
    """Opened at `path[0]`, then a step to each next stage `days[i]` days after opening, then won or lost."""
    card = dict(
        deal_id=deal,
        title="Поставка",
        company_id=company,
        owner_id=owner.user_id,
        department_id=owner.department_id,
        pipeline_id=uuid.UUID(int=1),
        currency="RUB",
        amount=Decimal(amount),
        expected_close_date=expected,
        opened_at=opened,
    )
    h.add(ev.DealOpened(**card, stage=path[0], status="open", lines=list(lines)), deal, 1)
    seq, at, stage = 1, opened, path[0]
    for nxt, d in zip(path[1:], days, strict=False):
        seq += 1
        step = opened + timedelta(days=d)
        h.add(
            ev.DealStageChanged(
                deal_id=deal,
                company_id=company,
                owner_id=owner.user_id,
                pipeline_id=uuid.UUID(int=1),
                from_stage=stage,
                to_stage=nxt,
                at=step,
                seconds_in_previous=int((step - at).total_seconds()),
            ),
            deal,
            seq,
        )
        at, stage = step, nxt
    if end is None:
        return
    seq += 1
    closed = opened + timedelta(days=days[len(path) - 1])
    h.add(
        ev.DealStageChanged(
            deal_id=deal,
            company_id=company,
            owner_id=owner.user_id,
            pipeline_id=uuid.UUID(int=1),
            from_stage=stage,
            to_stage=end,
            at=closed,
            kind=end,
            seconds_in_previous=int((closed - at).total_seconds()),
        ),
        deal,
        seq,
    )
    if end == "won":
        h.add(
            ev.DealWon(
                deal_id=deal,
                company_id=company,
                owner_id=owner.user_id,
                department_id=owner.department_id,
                amount=Decimal(amount),
                currency="RUB",
                won_at=closed,
                from_stage=stage,
                lines=list(lines),
            ),
            deal,
            seq,
        )
    else:
        h.add(
            ev.DealLost(
                deal_id=deal,
                company_id=company,
                owner_id=owner.user_id,
                department_id=owner.department_id,
                reason=reason,
                lost_at_stage=stage,
                lost_at=closed,
                amount=Decimal(amount),
                currency="RUB",
            ),
            deal,
            seq,
        )


def invoice(h: History, invoice_id, deal, company, total: str, due: date) -> None:
    h.add(
        ev.InvoiceIssued(
            invoice_id=invoice_id,
            number=f"2026-{str(invoice_id)[:4]}",
            deal_id=deal,
            company_id=company,
            issue_date=due - timedelta(days=10),
            due_date=due,
            net=Decimal(total),
            vat=Decimal(0),
            total=Decimal(total),
            currency="RUB",
        ),
        invoice_id,
    )


def payment(h: History, invoice_id, company, amount: str, on: date) -> None:
    pid = uuid.uuid4()
    h.add(
        ev.PaymentReceived(
            payment_id=pid,
            company_id=company,
            amount=Decimal(amount),
            currency="RUB",
            paid_on=on,
            bank_reference=str(pid)[:8],
            method="bank",
            allocations=[ev.AllocationPayload(invoice_id=invoice_id, amount=Decimal(amount))],
        ),
        pid,
    )


def company(h: History, company_id, name, owner, region, region_name, source, source_name, sequence=1, **more):
    model = ev.CompanyCreated if sequence == 1 else ev.CompanyUpdated
    h.add(
        model(
            company_id=company_id,
            name=name,
            status="prospect",
            owner_id=owner.user_id,
            department_id=owner.department_id,
            region_id=region,
            region_name=region_name,
            industry_id=METAL,
            industry_name="Металлообработка",
            source_id=source,
            source_name=source_name,
            created_at=NOW - timedelta(days=200),
            **more,
        ),
        company_id,
        sequence,
    )


def sales_department() -> History:
    """Anna (EAST) and Boris (SALES); three clients, five deals: two won, one lost, two open; three invoices,
    one late and part-paid; one exhibition."""
    h = History()
    h.add(ev.DepartmentChanged(department_id=SALES, name="Продажи"), SALES)
    h.add(ev.DepartmentChanged(department_id=EAST, name="Восток", parent_id=SALES), EAST)
    for who in (ANNA, BORIS):
        h.add(
            ev.UserCreated(user_id=who.user_id, name=who.name, roles=["manager"], department_id=who.department_id),
            who.user_id,
        )
    # A product renamed later: the newer name must stay whatever order the two come in.
    product(h, ev.ProductCreated, LATHE, "L1", "Станок", MACHINES, "Станки", 1)
    product(h, ev.ProductUpdated, LATHE, "L1", "Токарный станок", MACHINES, "Станки", 2)
    product(h, ev.ProductCreated, REPAIR, "R1", "Ремонт", SERVICE, "Сервис")
    product(h, ev.ProductCreated, UNSOLD, "U1", "Пресс", MACHINES, "Станки")
    company(h, C1, "Альфа", ANNA, MOSCOW, "Москва", EXHIBITION, "Выставка")
    company(h, C2, "Бета", ANNA, URAL, "Урал", WEB, "Сайт")
    company(h, C3, "Гамма", BORIS, MOSCOW, "Москва", WEB, "Сайт")
    company(h, C3, "Гамма-Про", BORIS, MOSCOW, "Москва", WEB, "Сайт", sequence=2)

    deal_history(
        h,
        D1,
        C1,
        ANNA,
        opened=T0,
        path=STAGES,
        days=[3, 6, 9, 12, 20, 30],
        amount="100000",
        lines=[line(LATHE, "100000")],
        end="won",
    )
    deal_history(
        h,
        D2,
        C2,
        ANNA,
        opened=T0 + timedelta(days=5),
        path=["interest", "needs"],
        days=[4, 10],
        amount="70000",
        end="lost",
        reason="Дорого",
    )
    deal_history(
        h,
        D3,
        C3,
        BORIS,
        opened=T0 + timedelta(days=10),
        path=["interest", "demo"],
        days=[5, 10],
        amount="50000",
        lines=[line(LATHE, "20000"), line(REPAIR, "30000")],
        end="won",
    )
    next_month = (TODAY.replace(day=1) + timedelta(days=40)).replace(day=1)
    deal_history(
        h,
        D4,
        C3,
        BORIS,
        opened=T0 + timedelta(days=12),
        path=["interest", "commercial_proposal"],
        days=[7],
        amount="80000",
        expected=next_month,
    )
    deal_history(h, D5, C1, ANNA, opened=T0 + timedelta(days=40), path=["interest"], days=[], amount="10000")

    late, paid, current = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    invoice(h, late, D1, C1, "100000", TODAY - timedelta(days=45))
    payment(h, late, C1, "40000", TODAY - timedelta(days=40))
    invoice(h, paid, D3, C3, "50000", TODAY - timedelta(days=20))
    payment(h, paid, C3, "50000", TODAY - timedelta(days=25))
    invoice(h, current, D3, C3, "10000", TODAY + timedelta(days=10))

    for _ in range(4):
        a = uuid.uuid4()
        h.add(
            ev.ActivityLogged(
                activity_id=a,
                company_id=C1,
                kind="call",
                direction="outbound",
                summary="звонок",
                happened_at=NOW - timedelta(days=2),
                author_id=ANNA.user_id,
            ),
            a,
        )
    a = uuid.uuid4()
    h.add(
        ev.ActivityLogged(
            activity_id=a,
            company_id=C3,
            kind="meeting",
            direction="outbound",
            summary="встреча",
            happened_at=NOW - timedelta(days=30),
            author_id=BORIS.user_id,
        ),
        a,
    )

    h.add(
        ev.MarketingEventCreated(
            marketing_event_id=SHOW,
            name="Металлообработка",
            kind="exhibition",
            starts_on=(T0 - timedelta(days=3)).date(),
            cost=Decimal("20000"),
            currency="RUB",
            organiser_id=uuid.uuid4(),
            created_at=T0 - timedelta(days=30),
        ),
        SHOW,
        1,
    )
    h.add(
        ev.MarketingEventUpdated(
            marketing_event_id=SHOW,
            name="Металлообработка-2026",
            kind="exhibition",
            starts_on=(T0 - timedelta(days=3)).date(),
            cost=Decimal("30000"),
            currency="RUB",
            organiser_id=uuid.uuid4(),
            created_at=T0 - timedelta(days=30),
            changed=["cost"],
        ),
        SHOW,
        2,
    )
    h.add(ev.ParticipantAdded(marketing_event_id=SHOW, company_id=C1, status="invited", added_at=T0), SHOW, 3)
    h.add(ev.ParticipantAdded(marketing_event_id=SHOW, company_id=C3, status="invited", added_at=T0), SHOW, 4)
    h.add(
        ev.ParticipantStatusChanged(
            marketing_event_id=SHOW, company_id=C1, from_status="invited", to_status="attended", at=T0
        ),
        SHOW,
        5,
    )
    return h


# Every report in the shapes the tests compare.
REPORTS = [
    ("workload", {}),
    ("inactivity", {}),
    ("receivables", {"by": "manager"}),
    ("receivables", {"by": "client"}),
    ("receivables", {"by": "invoice"}),
    ("deal-duration", {}),
    ("deal-duration", {"by": "product"}),
    ("losses", {}),
    ("results", {"by": "manager"}),
    ("results", {"by": "product", "period": "quarter"}),
    ("results", {"by": "product_group"}),
    ("sources", {}),
    ("marketing-events", {}),
    ("segments", {"by": "region"}),
    ("segments", {"by": "industry"}),
    ("sales-volume", {"by": ["manager", "period"]}),
    ("sales-volume", {"by": ["product_group", "region"]}),
    ("funnel", {}),
    ("forecast", {}),
]


async def get(app, settings, who, name, **params):
    async with client(app, auth(settings, who)) as api:
        r = await api.get(f"/api/v1/reports/{name}", params=params)
    assert r.status_code == 200, (name, r.text)
    return r.json()


async def drop_read_models(app) -> None:
    async with app.state.runtime.sessionmaker() as s:
        for name in tables.READ_MODELS:
            await s.execute(delete(tables.Base.metadata.tables[name]))
        await s.commit()
