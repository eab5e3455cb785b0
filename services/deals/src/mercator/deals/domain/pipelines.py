"""Pipelines and their stages: the data a company edits, and the rules it must keep."""

# mypy.ini's strict section names `mercator.*.domain`, the package, not its modules: they say the same here.
from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from mercator.common.errors import InvalidValue, RuleViolation


class StageKind(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class Requirement(StrEnum):
    INTEREST_RATED = "interest_rated"
    OFFER_ACCEPTED = "offer_accepted"
    AMOUNT_SET = "amount_set"
    LINES_SET = "lines_set"
    CLOSE_DATE_SET = "close_date_set"


@dataclass(frozen=True)
class Stage:
    code: str
    name: str
    position: int
    probability: Decimal
    stalled_after_days: int | None
    kind: StageKind = StageKind.OPEN
    require_to_enter: frozenset[Requirement] = frozenset()
    require_to_leave: frozenset[Requirement] = frozenset()


@dataclass(frozen=True)
class Pipeline:
    id: uuid.UUID
    name: str
    stages: tuple[Stage, ...]

    def stage(self, code: str) -> Stage:
        for stage in self.stages:
            if stage.code == code:
                return stage
        raise InvalidValue("unknown_stage", f"no stage {code!r} in pipeline {self.name!r}", "stage")

    def _single(self, kind: StageKind) -> Stage:
        found = [s for s in self.stages if s.kind == kind]
        if len(found) != 1:
            raise InvalidValue(f"{kind}_stage_count", f"a pipeline needs exactly one {kind} stage", "stages")
        return found[0]

    @property
    def won_stage(self) -> Stage:
        return self._single(StageKind.WON)

    @property
    def lost_stage(self) -> Stage:
        return self._single(StageKind.LOST)

    @property
    def open_stages(self) -> tuple[Stage, ...]:
        return tuple(sorted((s for s in self.stages if s.kind == StageKind.OPEN), key=lambda s: s.position))

    @property
    def first_stage(self) -> Stage:
        if not self.open_stages:
            raise InvalidValue("no_open_stage", "a pipeline needs an open stage", "stages")
        return self.open_stages[0]


_STAGE_CODE = re.compile(r"[a-z][a-z0-9_]{0,62}")


def validate_pipeline(pipeline: Pipeline) -> None:
    if not pipeline.name or not pipeline.name.strip():
        raise InvalidValue("name_required", "a pipeline needs a name", "name")
    codes: set[str] = set()
    positions: set[int] = set()
    for i, stage in enumerate(pipeline.stages):
        at = f"stages[{i}]"
        if not isinstance(stage.code, str) or not _STAGE_CODE.fullmatch(stage.code):
            raise InvalidValue("bad_stage_code", "a stage code is lower-case latin, digits and '_'", f"{at}.code")
        if stage.code in codes:
            raise InvalidValue("duplicate_stage_code", f"stage {stage.code!r} twice", f"{at}.code")
        if not stage.name or not stage.name.strip():
            raise InvalidValue("name_required", "a stage needs a name", f"{at}.name")
        if isinstance(stage.position, bool) or not isinstance(stage.position, int):
            raise InvalidValue("bad_position", "a position is a whole number", f"{at}.position")
        if stage.position in positions:
            raise InvalidValue("duplicate_position", f"position {stage.position} twice", f"{at}.position")
        # Floats are refused here too: 0.1 is not one tenth, and it multiplies money.
        p = stage.probability
        if not isinstance(p, Decimal) or not p.is_finite() or not 0 <= p <= 1:
            raise InvalidValue("bad_probability", "a probability is a Decimal from 0 to 1", f"{at}.probability")
        days = stage.stalled_after_days
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
            raise InvalidValue(
                "bad_stalled_after_days", "stalled after 1 day or more, or never", f"{at}.stalled_after_days"
            )
        if stage.kind not in StageKind.__members__.values():
            raise InvalidValue("bad_stage_kind", f"unknown stage kind {stage.kind!r}", f"{at}.kind")
        for side in ("require_to_enter", "require_to_leave"):
            unknown = set(getattr(stage, side)) - set(Requirement.__members__.values())
            if unknown:
                raise InvalidValue("unknown_requirement", f"unknown requirement {sorted(unknown)[0]!r}", f"{at}.{side}")
        codes.add(stage.code)
        positions.add(stage.position)
    for required in (StageKind.WON, StageKind.LOST):
        pipeline._single(required)
    pipeline.first_stage  # noqa: B018 - raises when no stage is open


def _stage(
    code: str,
    name: str,
    position: int,
    probability: str,
    stalled: int | None,
    kind: StageKind = StageKind.OPEN,
    enter: Iterable[Requirement] = (),
    leave: Iterable[Requirement] = (),
) -> Stage:
    return Stage(code, name, position, Decimal(probability), stalled, kind, frozenset(enter), frozenset(leave))


# Sales Expert's pipeline, from interest to delivery; companies copy and edit it as rows.
DEFAULT_PIPELINE_STAGES: tuple[Stage, ...] = (
    _stage("interest", "Interest", 1, "0.10", 14),
    _stage("needs", "Needs identified", 2, "0.20", 14),
    _stage("demo", "Demo", 3, "0.30", 14, leave=[Requirement.INTEREST_RATED]),
    _stage("tech_proposal", "Technical proposal", 4, "0.40", 21),
    _stage("commercial_proposal", "Commercial proposal", 5, "0.50", 21),
    _stage("contract", "Contract", 6, "0.70", 30, enter=[Requirement.OFFER_ACCEPTED]),
    _stage("payment", "Payment", 7, "0.85", 30),
    _stage("delivery", "Delivery", 8, "0.95", 30),
    _stage("won", "Won", 9, "1.00", None, StageKind.WON),
    _stage("lost", "Lost", 10, "0", None, StageKind.LOST),
)


def require_open_stage(stage: Stage) -> None:
    if stage.kind != StageKind.OPEN:
        raise RuleViolation("use_win_or_lose", f"{stage.name!r} is reached only by winning or losing", "stage")
