"""Event handlers of the notifications service: read models of what it fills templates from, and the
triggers that make messages. Handlers never commit: the consumer commits with its inbox row, so a
redelivered event is dropped, and a message's (cause, recipient) key makes a replay past the inbox a no-op."""

from __future__ import annotations

from mercator.common.bus.consumer import Delivery, Handler
from mercator.common.uow import UnitOfWork
from mercator.notifications import alerts, mailings, proposals, read_models, reminders
from mercator.notifications.settings import NotificationsSettings


async def on_card(uow: UnitOfWork, d: Delivery) -> None:
    await read_models.apply_company(uow.session, d.payload, d.envelope.sequence)


async def on_reassigned(uow: UnitOfWork, d: Delivery) -> None:
    await read_models.apply_reassigned(uow.session, d.payload)


async def on_merged(uow: UnitOfWork, d: Delivery) -> None:
    await read_models.apply_merged(uow.session, d.payload)


async def on_person(uow: UnitOfWork, d: Delivery) -> None:
    await read_models.apply_person(uow.session, d.payload, d.envelope.sequence)


async def on_meeting_scheduled(uow: UnitOfWork, d: Delivery, settings: NotificationsSettings) -> None:
    await reminders.on_meeting_scheduled(uow, d.payload, d.envelope.id, settings)


async def on_meeting_rescheduled(uow: UnitOfWork, d: Delivery, settings: NotificationsSettings) -> None:
    await reminders.on_meeting_rescheduled(uow, d.payload, d.envelope.id, settings)


async def on_meeting_cancelled(uow: UnitOfWork, d: Delivery) -> None:
    await reminders.on_meeting_closed(uow, d.payload.meeting_id, "cancelled")


async def on_meeting_completed(uow: UnitOfWork, d: Delivery) -> None:
    await reminders.on_meeting_closed(uow, d.payload.meeting_id, "done")


async def on_mailing(uow: UnitOfWork, d: Delivery, settings: NotificationsSettings) -> None:
    await mailings.on_mailing_requested(uow, d.payload, d.envelope.id, settings)


async def on_marketing_event(uow: UnitOfWork, d: Delivery) -> None:
    await read_models.apply_marketing_event(uow.session, d.payload, d.envelope.sequence)


async def on_deal(uow: UnitOfWork, d: Delivery) -> None:
    await read_models.apply_deal(uow.session, d.payload, d.envelope.sequence, d.envelope.time)


async def on_stage(uow: UnitOfWork, d: Delivery) -> None:
    await read_models.apply_deal_moved(uow.session, d.payload.deal_id, stage=d.payload.to_stage, at=d.payload.at)


async def on_won(uow: UnitOfWork, d: Delivery) -> None:
    await read_models.apply_deal_moved(uow.session, d.payload.deal_id, status="won", at=d.payload.won_at)


async def on_lost(uow: UnitOfWork, d: Delivery) -> None:
    await read_models.apply_deal_moved(uow.session, d.payload.deal_id, status="lost", at=d.payload.lost_at)


async def on_reopened(uow: UnitOfWork, d: Delivery) -> None:
    await read_models.apply_deal_moved(
        uow.session, d.payload.deal_id, stage=d.payload.to_stage, status="open", at=d.payload.at
    )


async def on_product(uow: UnitOfWork, d: Delivery) -> None:
    await read_models.apply_product(uow.session, d.payload, d.envelope.sequence)


async def on_proposal(uow: UnitOfWork, d: Delivery, settings: NotificationsSettings) -> None:
    await proposals.on_proposal_sent(uow, d.payload, d.envelope.id, settings)


async def on_invoice_issued(uow: UnitOfWork, d: Delivery) -> None:
    await read_models.apply_invoice_issued(uow.session, d.payload)


async def on_invoice_paid(uow: UnitOfWork, d: Delivery) -> None:
    await read_models.apply_invoice_status(uow.session, d.payload.invoice_id, "paid", 0)


async def on_invoice_cancelled(uow: UnitOfWork, d: Delivery) -> None:
    await read_models.apply_invoice_status(uow.session, d.payload.invoice_id, "cancelled", 0)


async def on_overdue(uow: UnitOfWork, d: Delivery, settings: NotificationsSettings) -> None:
    await alerts.on_invoice_overdue(uow, d.payload, d.envelope.id, settings)


async def on_user(uow: UnitOfWork, d: Delivery) -> None:
    await read_models.apply_user(uow.session, d.payload, d.envelope.sequence)


async def on_department(uow: UnitOfWork, d: Delivery) -> None:
    await read_models.apply_department(uow.session, d.payload)


async def on_inactivity(uow: UnitOfWork, d: Delivery, settings: NotificationsSettings) -> None:
    await alerts.on_inactivity(uow, d.payload, d.envelope.id, settings)


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
