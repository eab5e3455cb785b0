"""Notifications' copy of a deal follows the deal's own time line, not the order its events arrive in."""

import uuid
from datetime import timedelta

from mercator.common.clock import now
from mercator.common.events import catalogue as ev
from mercator.notifications.tables import DealView


async def test_a_step_from_before_the_win_read_after_it_leaves_the_deal_won(app, deliver, world):
    """Billing's delivery fact can reach deals after the deal was won, dated before the win: deals splices it into
    the deal's past and publishes the step. The copy must keep the deal won (else it would count as stalled)."""
    deal, won_at = uuid.uuid4(), now() - timedelta(days=2)
    common = dict(deal_id=deal, company_id=world.company_id, owner_id=world.manager.user_id)
    await deliver(
        ev.DealOpened(
            **common,
            title="Поставка",
            pipeline_id=uuid.uuid4(),
            stage="payment",
            status="open",
            currency="RUB",
            opened_at=won_at - timedelta(days=30),
        ),
        subject=deal,
    )
    step = dict(**common, pipeline_id=uuid.uuid4(), seconds_in_previous=0)
    await deliver(
        ev.DealStageChanged(**step, from_stage="payment", to_stage="won", at=won_at, kind="won"), subject=deal
    )
    await deliver(ev.DealWon(**common, amount=0, currency="RUB", won_at=won_at, from_stage="payment"), subject=deal)
    late = won_at - timedelta(days=5)
    await deliver(
        ev.DealStageChanged(**step, from_stage="payment", to_stage="delivery", at=late, kind="automatic"), subject=deal
    )
    async with app.state.runtime.sessionmaker() as s:
        row = await s.get(DealView, deal)
    assert (row.stage, row.status) == ("won", "won")
