"""Which projection handles each event, per publishing service. Every event of the catalogue is followed, even
one no report reads yet, so that a later report can be rebuilt from the topics."""

from __future__ import annotations

from mercator.analytics.projections import billing, contacts, deals, gateway
from mercator.common.bus.consumer import Delivery, Handler
from mercator.common.uow import UnitOfWork


async def not_projected(uow: UnitOfWork, delivery: Delivery) -> None:
    """In no report yet (contact persons, proposals, deliveries, ...)."""


CONTACTS: dict[str, Handler] = {
    "CompanyCreated": contacts.company_snapshot,
    "CompanyUpdated": contacts.company_snapshot,
    "CompanyReassigned": contacts.company_reassigned,
    "CompanyMerged": contacts.company_merged,
    "PersonAdded": not_projected,
    "PersonUpdated": not_projected,
    "ActivityLogged": contacts.activity_logged,
    "MeetingScheduled": contacts.meeting_scheduled,
    "MeetingRescheduled": contacts.meeting_rescheduled,
    "MeetingCompleted": contacts.meeting_completed,
    "MeetingCancelled": contacts.meeting_cancelled,
    "MarketingEventCreated": contacts.marketing_event,
    "MarketingEventUpdated": contacts.marketing_event,
    "ParticipantAdded": contacts.participant_added,
    "ParticipantStatusChanged": contacts.participant_status_changed,
    "MailingRequested": not_projected,
}

DEALS: dict[str, Handler] = {
    "DealOpened": deals.deal_card,
    "DealUpdated": deals.deal_card,
    "DealStageChanged": deals.stage_changed,
    "DealWon": deals.deal_won,
    "DealLost": deals.deal_lost,
    "DealReopened": deals.deal_reopened,
    "DealInterestRated": not_projected,
    "ProposalSent": not_projected,
    "PriceOffered": not_projected,
    "OfferAccepted": deals.offer_accepted,
    "ProductCreated": deals.product,
    "ProductUpdated": deals.product,
}

BILLING: dict[str, Handler] = {
    "InvoiceIssued": billing.invoice_issued,
    "InvoiceCancelled": billing.invoice_cancelled,
    "InvoiceCredited": billing.invoice_credited,
    "PaymentReceived": billing.payment_received,
    # Paid and overdue follow from the allocations and the due date; kept for a later report.
    "InvoicePaid": not_projected,
    "InvoiceOverdue": not_projected,
    "ContractSigned": not_projected,
    "DeliveryShipped": not_projected,
    "DeliveryDelivered": not_projected,
}

GATEWAY: dict[str, Handler] = {
    "UserCreated": gateway.user,
    "UserUpdated": gateway.user,
    "DepartmentChanged": gateway.department,
}
