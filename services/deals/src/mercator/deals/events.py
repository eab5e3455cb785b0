"""What a deal recorded (`domain.Deal.events`) as the catalogue's payloads: the one place that writes them."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from mercator.common.clock import now
from mercator.common.events import catalogue as ev
from mercator.common.events.catalogue import EventPayload
from mercator.common.uow import UnitOfWork
from mercator.deals import domain


def publish(uow: UnitOfWork, deal: domain.Deal) -> None:
    """Every fact the deal recorded goes out with its version as the sequence; the facts are then spent."""
    for fact in deal.events:
        payload, time = _payload(deal, fact)
        uow.emit(payload, subject=deal.id, sequence=deal.version, time=time)
    deal.events.clear()


def probability(pipeline: domain.Pipeline, code: str) -> Decimal | None:
    return next((s.probability for s in pipeline.stages if s.code == code), None)


def lines(deal: domain.Deal) -> list[ev.DealLinePayload]:
    return [
        ev.DealLinePayload(
            product_id=line.product_id,
            quantity=line.quantity,
            unit_price=line.unit_price,
            discount_percent=line.discount_percent,
            total=line.total(deal.currency),
        )
        for line in deal.lines
    ]


def _card(deal: domain.Deal) -> dict[str, Any]:
    return dict(
        deal_id=deal.id,
        title=deal.title,
        company_id=deal.company_id,
        owner_id=deal.owner_id,
        department_id=deal.department_id,
        pipeline_id=deal.pipeline.id,
        stage=deal.stage_code,
        status=deal.status.value,
        amount=deal.amount,
        currency=deal.currency,
        expected_close_date=deal.expected_close_date,
        source_id=deal.source_id,
        marketing_event_id=deal.marketing_event_id,
        opened_at=deal.opened_at,
        stage_probability=probability(deal.pipeline, deal.stage_code),
    )


def _stage_changed(deal: domain.Deal, t: domain.Transition) -> ev.DealStageChanged:
    return ev.DealStageChanged(
        deal_id=deal.id,
        company_id=deal.company_id,
        owner_id=deal.owner_id,
        pipeline_id=deal.pipeline.id,
        from_stage=t.from_stage,
        to_stage=t.to_stage,
        to_probability=probability(deal.pipeline, t.to_stage),
        at=t.at,
        seconds_in_previous=t.seconds_in_previous,
        kind=str(t.kind),
        comment=t.comment,
        cause_event_id=uuid.UUID(t.cause) if t.cause else None,
        author_id=t.author_id,
    )


def _payload(deal: domain.Deal, fact: domain.Fact) -> tuple[EventPayload, datetime | None]:
    """The payload and the time the fact happened (None: now)."""
    match fact:
        case domain.Opened(t):
            return ev.DealOpened(**_card(deal), lines=lines(deal)), t.at
        case domain.Edited(changed):
            return ev.DealUpdated(**_card(deal), changed=list(changed), lines=lines(deal)), None
        case domain.StageChanged(t):
            return _stage_changed(deal, t), t.at
        case domain.Won(t):
            return _won(deal, t), t.at
        case domain.Lost(t):
            return _lost(deal, t), t.at
        case domain.Reopened(t):
            reopened = ev.DealReopened(
                deal_id=deal.id,
                company_id=deal.company_id,
                to_stage=t.to_stage,
                to_probability=probability(deal.pipeline, t.to_stage),
                at=t.at,
                comment=t.comment,
            )
            return reopened, t.at
        case domain.InterestRated(rating, comment, at, _):
            rated = ev.DealInterestRated(
                deal_id=deal.id, company_id=deal.company_id, rating=rating, comment=comment, at=at
            )
            return rated, at
        case domain.OfferMade(offer):
            return _offered(deal, offer), offer.made_at
        case domain.OfferAccepted(offer, at):
            at = at or now()
            accepted = ev.OfferAccepted(
                offer_id=offer.id,
                deal_id=deal.id,
                company_id=deal.company_id,
                amount=deal.amount,
                currency=deal.currency,
                at=at,
                lines=lines(deal),
            )
            return accepted, at
        case domain.ProposalSent(proposal):
            return _proposal(deal, proposal), None
    raise TypeError(f"no event for {fact!r}")


def _won(deal: domain.Deal, t: domain.Transition) -> ev.DealWon:
    return ev.DealWon(
        deal_id=deal.id,
        company_id=deal.company_id,
        owner_id=deal.owner_id,
        department_id=deal.department_id,
        amount=deal.amount,
        currency=deal.currency,
        won_at=t.at,
        from_stage=t.from_stage,
        lines=lines(deal),
    )


def _lost(deal: domain.Deal, t: domain.Transition) -> ev.DealLost:
    return ev.DealLost(
        deal_id=deal.id,
        company_id=deal.company_id,
        owner_id=deal.owner_id,
        department_id=deal.department_id,
        reason_id=deal.lost_reason_id,
        reason=deal.lost_reason,
        lost_at_stage=deal.lost_at_stage,
        lost_at=t.at,
        amount=deal.amount,
        currency=deal.currency,
    )


def _offered(deal: domain.Deal, offer: domain.Offer) -> ev.PriceOffered:
    return ev.PriceOffered(
        offer_id=offer.id,
        deal_id=deal.id,
        company_id=deal.company_id,
        side=offer.side.value,
        amount=offer.amount,
        discount_percent=offer.discount_percent,
        currency=deal.currency,
        valid_until=offer.valid_until,
        comment=offer.comment,
        at=offer.made_at,
    )


def _proposal(deal: domain.Deal, proposal: domain.Proposal) -> ev.ProposalSent:
    return ev.ProposalSent(
        proposal_id=proposal.id,
        deal_id=deal.id,
        company_id=deal.company_id,
        documents=list(proposal.documents),
        recipient_person_ids=list(proposal.recipient_person_ids),
        channel=proposal.channel,
        message=proposal.message,
        sent_at=proposal.sent_at,
        author_id=proposal.author_id,
    )
