"""Views over many deals: the board, the pipeline on a past date, a late fact's place in a kept path."""

# mypy.ini's strict section names `mercator.*.domain`, the package, not its modules: they say the same here.
from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from mercator.common.errors import InvalidValue
from mercator.common.money import quantize
from mercator.deals.domain.parts import Transition, TransitionKind, utc
from mercator.deals.domain.pipelines import Pipeline, Stage, StageKind


def splice_late_fact(
    pipeline: Pipeline, transitions: list[Transition], stage_code: str, at: datetime, cause: str
) -> tuple[Transition, int, Transition] | None:
    """A billing fact read after a later one (topics are read in no set order), with a business time
    before the deal's move past its stage: the kept path gets the step it missed, in its place in time.

    Returns the transition to insert, the index (in `transitions`) of the one that follows it, and that
    one as it must now read (it leaves the spliced stage); None when the fact does not fit the path.
    """
    at = utc(at)
    target = next((s for s in pipeline.stages if s.code == stage_code), None)
    if target is None or target.kind != StageKind.OPEN:
        return None
    ordered = sorted(range(len(transitions)), key=lambda i: transitions[i].at)
    before = [transitions[i] for i in ordered if transitions[i].at <= at]
    after = [i for i in ordered if transitions[i].at > at]
    if not before or not after:
        return None
    then = pipeline.stage(before[-1].to_stage)
    following = transitions[after[0]]
    # Only a step that was really skipped: forward from where the deal stood then, and before the
    # deal went further still (not back, not elsewhere: then the kept path disagrees with the fact).
    if (
        then.kind != StageKind.OPEN
        or target.position <= then.position
        or pipeline.stage(following.to_stage).position <= target.position
    ):
        return None
    inserted = Transition(
        then.code,
        target.code,
        at,
        max(0, int((at - before[-1].at).total_seconds())),
        None,
        None,
        TransitionKind.AUTOMATIC,
        cause,
    )
    rewritten = replace(
        following, from_stage=target.code, seconds_in_previous=max(0, int((following.at - at).total_seconds()))
    )
    return inserted, after[0], rewritten


def is_stalled(stage: Stage, entered_stage_at: datetime, now: datetime) -> bool:
    return (
        stage.kind == StageKind.OPEN
        and stage.stalled_after_days is not None
        and now - entered_stage_at >= timedelta(days=stage.stalled_after_days)
    )


@dataclass(frozen=True)
class BoardDeal:
    deal_id: uuid.UUID
    stage_code: str
    amount: Decimal | None
    currency: str
    entered_stage_at: datetime


@dataclass(frozen=True)
class BoardColumn:
    stage: Stage
    count: int
    amounts: dict[str, Decimal]
    weighted: dict[str, Decimal]
    stalled: int
    stalled_ids: tuple[uuid.UUID, ...]


def board(pipeline: Pipeline, deals: Iterable[BoardDeal], now: datetime) -> list[BoardColumn]:
    by_stage: dict[str, list[BoardDeal]] = defaultdict(list)
    for deal in deals:
        by_stage[deal.stage_code].append(deal)
    columns = []
    for stage in sorted(pipeline.stages, key=lambda s: s.position):
        here = by_stage.pop(stage.code, [])
        amounts: dict[str, Decimal] = defaultdict(Decimal)
        weighted: dict[str, Decimal] = defaultdict(Decimal)
        for deal in here:
            if deal.amount is not None:
                amounts[deal.currency] += deal.amount
                # Per deal, then summed: the column then agrees with every deal card.
                weighted[deal.currency] += quantize(deal.amount * stage.probability, deal.currency)
        stalled = tuple(d.deal_id for d in here if is_stalled(stage, d.entered_stage_at, now))
        columns.append(
            BoardColumn(
                stage, len(here), dict(sorted(amounts.items())), dict(sorted(weighted.items())), len(stalled), stalled
            )
        )
    if by_stage:  # a deal in a stage the pipeline lacks is corrupt data, not a view to hide
        code = next(iter(by_stage))
        raise InvalidValue("unknown_stage", f"deals in stage {code!r}, not in this pipeline", "stage")
    return columns


@dataclass(frozen=True)
class StageAt:
    deal_id: uuid.UUID
    stage_code: str
    entered_at: datetime


def stages_as_of(transitions: Iterable[tuple[uuid.UUID, Transition]], when: datetime) -> dict[uuid.UUID, StageAt]:
    found: dict[uuid.UUID, StageAt] = {}
    for deal_id, transition in transitions:
        if transition.at > when:
            continue
        known = found.get(deal_id)
        if known is None or transition.at >= known.entered_at:  # '>=': later in the input wins ties
            found[deal_id] = StageAt(deal_id, transition.to_stage, transition.at)
    return found
