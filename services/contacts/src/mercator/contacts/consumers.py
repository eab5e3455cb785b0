"""Event handlers of the contacts service: deal and billing facts become system entries of the
client's history (and a won deal makes the card a client). Handlers never commit: the consumer
commits their writes together with its inbox row."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from mercator.common.bus.consumer import Delivery, Handler
from mercator.common.events import catalogue as ev
from mercator.common.uow import UnitOfWork
from mercator.contacts import domain, history
from mercator.contacts.domain import day_start, money, system_entry

# What a fact reads like in the history, and when it happened (None: the envelope's time).
Describe = Callable[[Any], tuple[str, datetime | None] | None]


def _tail(text: str | None, sep: str = ": ") -> str:
    return f"{sep}{text}" if text else ""


def _on(describe: Describe, record=history.record_system_entry) -> Handler:
    async def handle(uow: UnitOfWork, d: Delivery) -> None:
        described = describe(d.payload)
        if described is None:
            return
        summary, at = described
        p: Any = d.payload  # every fact handled here names its client card
        await record(
            uow,
            p.company_id,
            system_entry(d.envelope.id, d.envelope.type, summary, at or d.envelope.time, d.envelope.actor, _deal_of(p)),
        )

    return handle


def _deal_of(p: ev.EventPayload):
    if isinstance(p, ev.PaymentReceived):  # a payment names its deal only through what it pays
        deals = {a.deal_id for a in p.allocations if a.deal_id}
        return deals.pop() if len(deals) == 1 else None
    return getattr(p, "deal_id", None)


def _stage_changed(p: ev.DealStageChanged):
    # Opening, winning, losing and reopening also come as their own events, which say more:
    # recording both would show one fact twice.
    if p.kind in ("open", "won", "lost", "reopen"):
        return None
    auto = " (автоматически)" if p.kind == "automatic" else ""
    return f"Сделка перешла на этап «{p.to_stage}»{auto}{_tail(p.comment)}", p.at


DEALS: dict[str, Handler] = {
    "DealOpened": _on(
        lambda p: (
            f"Открыта сделка «{p.title}»" + (f" на {money(p.amount, p.currency)}" if p.amount is not None else ""),
            p.opened_at,
        )
    ),
    "DealStageChanged": _on(_stage_changed),
    "DealWon": _on(
        lambda p: ("Сделка выиграна" + (f": {money(p.amount, p.currency)}" if p.amount is not None else ""), p.won_at),
        record=history.record_deal_won,
    ),
    "DealLost": _on(lambda p: (f"Сделка проиграна на этапе «{p.lost_at_stage}»{_tail(p.reason)}", p.lost_at)),
    "DealReopened": _on(lambda p: (f"Сделка возобновлена на этапе «{p.to_stage}»{_tail(p.comment)}", p.at)),
    "ProposalSent": _on(
        lambda p: (f"Отправлено коммерческое предложение ({p.channel}){_tail(', '.join(p.documents))}", p.sent_at)
    ),
}

BILLING: dict[str, Handler] = {
    "ContractSigned": _on(
        lambda p: (f"Подписан договор {p.number} на {money(p.amount, p.currency)}", day_start(p.signed_on))
    ),
    "InvoiceIssued": _on(
        lambda p: (
            f"Выставлен счёт {p.number} на {money(p.total, p.currency)}, срок оплаты {p.due_date.isoformat()}",
            day_start(p.issue_date),
        )
    ),
    # No business time in the payload: the moment billing cancelled it is the envelope's.
    "InvoiceCancelled": _on(lambda p: (f"Счёт {p.number} аннулирован{_tail(p.reason)}", None)),
    "InvoiceCredited": _on(
        lambda p: (f"По счёту {p.number} выписана кредит-нота на {money(p.amount, p.currency)}{_tail(p.reason)}", None)
    ),
    "PaymentReceived": _on(
        lambda p: (f"Получен платёж {money(p.amount, p.currency)} (п/п {p.bank_reference})", day_start(p.paid_on))
    ),
    "InvoicePaid": _on(
        lambda p: (f"Счёт {p.number} оплачен полностью ({money(p.total, p.currency)})", day_start(p.paid_on))
    ),
    # The envelope's time is when billing found it overdue, which is the fact recorded.
    "InvoiceOverdue": _on(
        lambda p: (
            (
                f"Просрочена оплата счёта {p.number}: долг {money(p.outstanding, p.currency)}, "
                f"срок оплаты был {p.due_date.isoformat()}"
            ),
            None,
        )
    ),
    "DeliveryShipped": _on(
        lambda p: (f"Отгружено, накладная {p.waybill}{_tail(p.carrier, ', перевозчик ')}", day_start(p.shipped_on))
    ),
    "DeliveryDelivered": _on(lambda p: (f"Доставлено клиенту, накладная {p.waybill}", day_start(p.delivered_on))),
}


def _message(p: ev.MessageOutcome) -> str:
    what = "Факс" if p.channel == "fax" else "Письмо"
    docs = _tail(", ".join(p.documents), "; документы: ")
    return f"{what} «{p.subject or ''}» на {p.recipient}{docs}"


def _on_message(sent: bool) -> Handler:
    """An e-mail or fax the notifications service sent is an outgoing entry of that kind in the history;
    one it finally could not send is a system note saying why."""

    async def handle(uow: UnitOfWork, d: Delivery) -> None:
        p: Any = d.payload  # a MessageSent or a MessageFailed
        if p.company_id is None:
            return  # a manager's reminder or digest: nothing of a client's
        if sent:
            entry = system_entry(
                d.envelope.id,
                d.envelope.type,
                _message(p),
                p.sent_at,
                str(p.author_id or "") or d.envelope.actor,
                p.deal_id,
            )
            kind = domain.ActivityKind.FAX if p.channel == "fax" else domain.ActivityKind.EMAIL
            await history.record_system_entry(
                uow, p.company_id, entry, kind=kind, direction=domain.Direction.OUTBOUND, person_id=p.person_id
            )
        else:
            entry = system_entry(
                d.envelope.id,
                d.envelope.type,
                f"Не отправлено: {_message(p)}: {p.error}",
                p.failed_at,
                d.envelope.actor,
                p.deal_id,
            )
            await history.record_system_entry(uow, p.company_id, entry)

    return handle


NOTIFICATIONS: dict[str, Handler] = {"MessageSent": _on_message(True), "MessageFailed": _on_message(False)}

# One consumer group per publisher, so a slow billing topic does not hold up deal facts.
CONSUMERS = {"deals": DEALS, "billing": BILLING, "notifications": NOTIFICATIONS}
