"""What a deal recorded (`domain.Deal.events`) as the catalogue's payloads: the one place that writes them."""

from __future__ import annotations

import uuid
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


def _payload(deal: domain.Deal, fact: domain.Fact) -> tuple[EventPayload, Any]:
    """The payload and the time the fact happened (None: now)."""
    match fact:
        case domain.Opened(t):
            return ev.DealOpened(**_card(deal), lines=lines(deal)), t.at
        case domain.Edited(changed):
            return ev.DealUpdated(**_card(deal), changed=list(changed), lines=lines(deal)), None
        case domain.StageChanged(t):
            return _stage_changed(deal, t), t.at
        case domain.Won(t):
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
            ), t.at
        case domain.Lost(t):
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
            ), t.at
        case domain.Reopened(t):
            return ev.DealReopened(
                deal_id=deal.id,
                company_id=deal.company_id,
                to_stage=t.to_stage,
                to_probability=probability(deal.pipeline, t.to_stage),
                at=t.at,
                comment=t.comment,
            ), t.at
        case domain.InterestRated(rating, comment, at, _):
            return ev.DealInterestRated(
                deal_id=deal.id, company_id=deal.company_id, rating=rating, comment=comment, at=at
            ), at
        case domain.OfferMade(o):
            return ev.PriceOffered(
                offer_id=o.id,
                deal_id=deal.id,
                company_id=deal.company_id,
                side=o.side.value,
                amount=o.amount,
                discount_percent=o.discount_percent,
                currency=deal.currency,
                valid_until=o.valid_until,
                comment=o.comment,
                at=o.made_at,
            ), o.made_at
        case domain.OfferAccepted(o, at):
            at = at or now()
            return ev.OfferAccepted(
                offer_id=o.id,
                deal_id=deal.id,
                company_id=deal.company_id,
                amount=deal.amount,
                currency=deal.currency,
                at=at,
                lines=lines(deal),
            ), at
        case domain.ProposalSent(p):
            return ev.ProposalSent(
                proposal_id=p.id,
                deal_id=deal.id,
                company_id=deal.company_id,
                documents=list(p.documents),
                recipient_person_ids=list(p.recipient_person_ids),
                channel=p.channel,
                message=p.message,
                sent_at=p.sent_at,
                author_id=p.author_id,
            ), None
    raise TypeError(f"no event for {fact!r}")
