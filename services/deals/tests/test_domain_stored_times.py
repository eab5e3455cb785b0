"""Times read back from SQLite (the embedded run) carry no zone; the board and a move still work with them."""

import uuid
from datetime import UTC, datetime, timedelta

from mercator.deals import domain


def test_a_stage_entered_at_a_zoneless_stored_time_still_counts_as_stalled():
    demo = next(s for s in domain.DEFAULT_PIPELINE_STAGES if s.code == "demo")
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    stored = (now - timedelta(days=15)).replace(tzinfo=None)
    assert domain.is_stalled(demo, stored, now)
    assert not domain.is_stalled(demo, (now - timedelta(days=13)).replace(tzinfo=None), now)


def test_board_with_zoneless_stored_times():
    pipeline = domain.Pipeline(uuid.uuid4(), "Sales", domain.DEFAULT_PIPELINE_STAGES)
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    deal = domain.BoardDeal(uuid.uuid4(), "interest", None, "RUB", (now - timedelta(days=20)).replace(tzinfo=None))
    column = next(c for c in domain.board(pipeline, [deal], now) if c.stage.code == "interest")
    assert column.stalled_ids == (deal.deal_id,)
