"""Routes of the pipelines and their stages."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from mercator.common.http.deps import CurrentUser, SessionDep, UowDep
from mercator.deals import domain, pipelines, schemas
from mercator.deals.tables import Pipeline

router = APIRouter()


def _pipeline(row: Pipeline, model: domain.Pipeline) -> schemas.PipelinePublic:
    return schemas.PipelinePublic(
        id=row.id,
        name=row.name,
        is_default=row.is_default,
        stages=[
            schemas.StagePublic(
                code=s.code,
                name=s.name,
                position=s.position,
                probability=s.probability,
                stalled_after_days=s.stalled_after_days,
                kind=s.kind,
                require_to_enter=sorted(s.require_to_enter),
                require_to_leave=sorted(s.require_to_leave),
            )
            for s in model.stages
        ],
    )


@router.get("/pipelines", response_model=list[schemas.PipelinePublic], tags=["pipelines"])
async def list_pipelines(session: SessionDep, _: CurrentUser):
    return [_pipeline(r, m) for r, m in await pipelines.list_pipelines(session)]


@router.post("/pipelines", status_code=201, response_model=schemas.PipelinePublic, tags=["pipelines"])
async def create_pipeline(body: schemas.PipelineCreate, uow: UowDep, caller: CurrentUser):
    """Another pipeline (say, per product line): stages with order, probability, stall threshold, requirements."""
    row, model = await pipelines.create_pipeline(uow, body, caller)
    return _pipeline(row, model)


@router.patch("/pipelines/{pipeline_id}/stages/{code}", response_model=schemas.PipelinePublic, tags=["pipelines"])
async def update_stage(pipeline_id: uuid.UUID, code: str, body: schemas.StageUpdate, uow: UowDep, caller: CurrentUser):
    """Rename a stage, reorder it, change its win probability, stall threshold or required fields."""
    row, model = await pipelines.update_stage(uow, pipeline_id, code, body, caller)
    return _pipeline(row, model)
