"""Event handlers of the notifications service: read models of what it fills templates from, and the
triggers that make messages. Handlers never commit: the consumer commits with its inbox row, so a
redelivered event is dropped, and a message's (cause, recipient) key makes a replay past the inbox a no-op."""

from __future__ import annotations

from typing import TypeVar

from mercator.common.bus.consumer import Delivery, Handler
from mercator.common.events import catalogue as ev
from mercator.common.uow import UnitOfWork
from mercator.notifications import alerts, mailings, proposals, read_models, reminders
from mercator.notifications.settings import NotificationsSettings

P = TypeVar("P", bound=ev.EventPayload)


def payload(d: Delivery, kind: type[P]) -> P:
    """The delivery's payload as the model its type is read with (the catalogue's class for the type `handlers`
    maps to this handler)."""
    if not isinstance(d.payload, kind):
        raise TypeError(f"{d.envelope.type} is read as {type(d.payload).__name__}, not {kind.__name__}")
    return d.payload


async def on_card(uow: UnitOfWork, d: Delivery) -> None:
    p = payload(d, ev.CompanyCard)
    await read_models.apply_company(uow.session, p, d.envelope.sequence)


async def on_reassigned(uow: UnitOfWork, d: Delivery) -> None:
    p = payload(d, ev.CompanyReassigned)
    await read_models.apply_reassigned(uow.session, p)


async def on_merged(uow: UnitOfWork, d: Delivery) -> None:
    p = payload(d, ev.CompanyMerged)
    await read_models.apply_merged(uow.session, p)


async def on_person(uow: UnitOfWork, d: Delivery) -> None:
    p = payload(d, ev.PersonAdded)
    await read_models.apply_person(uow.session, p, d.envelope.sequence)


async def on_meeting_scheduled(uow: UnitOfWork, d: Delivery, settings: NotificationsSettings) -> None:
    p = payload(d, ev.MeetingScheduled)
    await reminders.on_meeting_scheduled(uow, p, d.envelope.id, settings)


async def on_meeting_rescheduled(uow: UnitOfWork, d: Delivery, settings: NotificationsSettings) -> None:
    p = payload(d, ev.MeetingRescheduled)
    await reminders.on_meeting_rescheduled(uow, p, d.envelope.id, settings)


async def on_meeting_cancelled(uow: UnitOfWork, d: Delivery) -> None:
    p = payload(d, ev.MeetingCancelled)
    await reminders.on_meeting_closed(uow, p.meeting_id, "cancelled")


async def on_meeting_completed(uow: UnitOfWork, d: Delivery) -> None:
    p = payload(d, ev.MeetingCompleted)
    await reminders.on_meeting_closed(uow, p.meeting_id, "done")


async def on_mailing(uow: UnitOfWork, d: Delivery, settings: NotificationsSettings) -> None:
    p = payload(d, ev.MailingRequested)
    await mailings.on_mailing_requested(uow, p, d.envelope.id, settings)


async def on_marketing_event(uow: UnitOfWork, d: Delivery) -> None:
    p = payload(d, ev.MarketingEventCard)
    await read_models.apply_marketing_event(uow.session, p, d.envelope.sequence)


async def on_deal(uow: UnitOfWork, d: Delivery) -> None:
    p = payload(d, ev.DealCard)
    await read_models.apply_deal(uow.session, p, d.envelope.sequence, d.envelope.time)


async def on_stage(uow: UnitOfWork, d: Delivery) -> None:
    p = payload(d, ev.DealStageChanged)
    # A step into won or lost closes the deal already (DealWon, on a topic of its own, may come later).
    status = p.kind if p.kind in ("won", "lost") else None
    await read_models.apply_deal_moved(uow.session, p.deal_id, stage=p.to_stage, status=status, at=p.at)


async def on_won(uow: UnitOfWork, d: Delivery) -> None:
    p = payload(d, ev.DealWon)
    await read_models.apply_deal_moved(uow.session, p.deal_id, status="won", at=p.won_at)


async def on_lost(uow: UnitOfWork, d: Delivery) -> None:
    p = payload(d, ev.DealLost)
    await read_models.apply_deal_moved(uow.session, p.deal_id, status="lost", at=p.lost_at)


async def on_reopened(uow: UnitOfWork, d: Delivery) -> None:
    p = payload(d, ev.DealReopened)
    await read_models.apply_deal_moved(uow.session, p.deal_id, stage=p.to_stage, status="open", at=p.at)


async def on_product(uow: UnitOfWork, d: Delivery) -> None:
    p = payload(d, ev.ProductCard)
    await read_models.apply_product(uow.session, p, d.envelope.sequence)


async def on_proposal(uow: UnitOfWork, d: Delivery, settings: NotificationsSettings) -> None:
    p = payload(d, ev.ProposalSent)
    await proposals.on_proposal_sent(uow, p, d.envelope.id, settings)


async def on_invoice_issued(uow: UnitOfWork, d: Delivery) -> None:
    p = payload(d, ev.InvoiceIssued)
    await read_models.apply_invoice_issued(uow.session, p)


async def on_invoice_paid(uow: UnitOfWork, d: Delivery) -> None:
    p = payload(d, ev.InvoicePaid)
    await read_models.apply_invoice_status(uow.session, p.invoice_id, "paid", 0)


async def on_invoice_cancelled(uow: UnitOfWork, d: Delivery) -> None:
    p = payload(d, ev.InvoiceCancelled)
    await read_models.apply_invoice_status(uow.session, p.invoice_id, "cancelled", 0)


async def on_overdue(uow: UnitOfWork, d: Delivery, settings: NotificationsSettings) -> None:
    p = payload(d, ev.InvoiceOverdue)
    await alerts.on_invoice_overdue(uow, p, d.envelope.id, settings)


async def on_user(uow: UnitOfWork, d: Delivery) -> None:
    p = payload(d, ev.UserCard)
    await read_models.apply_user(uow.session, p, d.envelope.sequence)


async def on_department(uow: UnitOfWork, d: Delivery) -> None:
    p = payload(d, ev.DepartmentChanged)
    await read_models.apply_department(uow.session, p)


async def on_inactivity(uow: UnitOfWork, d: Delivery, settings: NotificationsSettings) -> None:
    p = payload(d, ev.InactivityDetected)
    await alerts.on_inactivity(uow, p, d.envelope.id, settings)


def handlers(settings: NotificationsSettings) -> dict[str, dict[str, Handler]]:
    """The consumers of the service, by publisher; triggers get the settings they need."""

    def bound(handler):
        async def handle(uow: UnitOfWork, d: Delivery) -> None:
            await handler(uow, d, settings)

        return handle

    contacts = {
        "CompanyCreated": on_card,
        "CompanyUpdated": on_card,
        "CompanyReassigned": on_reassigned,
        "CompanyMerged": on_merged,
        "PersonAdded": on_person,
        "PersonUpdated": on_person,
        "MeetingScheduled": bound(on_meeting_scheduled),
        "MeetingRescheduled": bound(on_meeting_rescheduled),
        "MeetingCancelled": on_meeting_cancelled,
        "MeetingCompleted": on_meeting_completed,
        "MailingRequested": bound(on_mailing),
        "MarketingEventCreated": on_marketing_event,
        "MarketingEventUpdated": on_marketing_event,
    }
    deals = {
        "DealOpened": on_deal,
        "DealUpdated": on_deal,
        "DealStageChanged": on_stage,
        "DealWon": on_won,
        "DealLost": on_lost,
        "DealReopened": on_reopened,
        "ProductCreated": on_product,
        "ProductUpdated": on_product,
        "ProposalSent": bound(on_proposal),
    }
    billing = {
        "InvoiceIssued": on_invoice_issued,
        "InvoicePaid": on_invoice_paid,
        "InvoiceCancelled": on_invoice_cancelled,
        "InvoiceOverdue": bound(on_overdue),
    }
    gateway = {"UserCreated": on_user, "UserUpdated": on_user, "DepartmentChanged": on_department}
    analytics = {"InactivityDetected": bound(on_inactivity)}
    # One consumer group per publisher, so a slow topic of one does not hold up the others.
    return {"contacts": contacts, "deals": deals, "billing": billing, "gateway": gateway, "analytics": analytics}
