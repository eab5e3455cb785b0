"""Rules of the deals service: pipelines and stages, deals, offers, the board, history.

Pure domain layer: no storage, no web framework. A use case loads one Deal (the `repository`), calls one of
its methods and saves it; the deal decides, and records what happened in `events` (the facts in `parts`), from
which the repository writes the kept history and `mercator.deals.events` the catalogue's payloads.
"""

from mercator.common.errors import DomainError, InvalidValue, RuleViolation
from mercator.deals.domain.deal import Deal
from mercator.deals.domain.parts import (
    CARD_FIELDS,
    DealLine,
    DealStatus,
    Edited,
    Fact,
    InterestRated,
    Lost,
    Offer,
    OfferAccepted,
    OfferMade,
    OfferSide,
    OfferStatus,
    Opened,
    Proposal,
    ProposalSent,
    Reopened,
    StageChanged,
    Transition,
    TransitionKind,
    Won,
    reprice,
)
from mercator.deals.domain.pipelines import (
    DEFAULT_PIPELINE_STAGES,
    Pipeline,
    Requirement,
    Stage,
    StageKind,
    validate_pipeline,
)
from mercator.deals.domain.views import (
    BoardColumn,
    BoardDeal,
    StageAt,
    board,
    is_stalled,
    splice_late_fact,
    stages_as_of,
)

__all__ = [
    "CARD_FIELDS",
    "DEFAULT_PIPELINE_STAGES",
    "BoardColumn",
    "BoardDeal",
    "Deal",
    "DealLine",
    "DealStatus",
    "DomainError",
    "Edited",
    "Fact",
    "InterestRated",
    "InvalidValue",
    "Lost",
    "Offer",
    "OfferAccepted",
    "OfferMade",
    "OfferSide",
    "OfferStatus",
    "Opened",
    "Pipeline",
    "Proposal",
    "ProposalSent",
    "Reopened",
    "Requirement",
    "RuleViolation",
    "Stage",
    "StageAt",
    "StageChanged",
    "StageKind",
    "Transition",
    "TransitionKind",
    "Won",
    "board",
    "is_stalled",
    "reprice",
    "splice_late_fact",
    "stages_as_of",
    "validate_pipeline",
]
