"""Pipelines and their stages: configuration as data, edited by heads, read by everyone."""

from __future__ import annotations

import uuid
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.clock import now
from mercator.common.errors import BadReference
from mercator.common.uow import UnitOfWork
from mercator.deals import domain, repository, schemas
from mercator.deals.policy import may_edit_settings, name_key
from mercator.deals.tables import Pipeline, Stage


async def list_pipelines(session: AsyncSession) -> list[tuple[Pipeline, domain.Pipeline]]:
    rows = (await session.execute(select(Pipeline).order_by(Pipeline.is_default.desc(), Pipeline.name))).scalars()
    return [(r, await repository.pipeline(session, r.id)) for r in rows]


async def create_pipeline(
    uow: UnitOfWork, data: schemas.PipelineCreate, caller: Caller
) -> tuple[Pipeline, domain.Pipeline]:
    may_edit_settings(caller)
    stages = tuple(
        domain.Stage(
            s.code,
            s.name,
            s.position,
            s.probability,
            s.stalled_after_days,
            s.kind,
            frozenset(s.require_to_enter),
            frozenset(s.require_to_leave),
        )
        for s in data.stages
    )
    model = domain.Pipeline(uuid.uuid4(), data.name, stages)
    domain.validate_pipeline(model)
    if await uow.session.scalar(select(Pipeline.id).where(Pipeline.name_key == name_key(data.name))):
        raise BadReference(f"a pipeline named {data.name!r} exists already", field="name")
    row = Pipeline(
        id=model.id,
        name=data.name,
        name_key=name_key(data.name),
        is_default=False,
        active=True,
        version=1,
        created_at=now(),
    )
    uow.session.add(row)
    await uow.session.flush()  # the pipeline's row before its stages'
    uow.session.add_all(repository.stage_row(model.id, s) for s in model.stages)
    return row, model


async def update_stage(
    uow: UnitOfWork, pipeline_id: uuid.UUID, code: str, data: schemas.StageUpdate, caller: Caller
) -> tuple[Pipeline, domain.Pipeline]:
    may_edit_settings(caller)
    s = uow.session
    model = await repository.pipeline(s, pipeline_id)
    changes = {f: getattr(data, f) for f in data.model_fields_set}
    for required in ("name", "position", "probability", "require_to_enter", "require_to_leave"):
        if required in changes and changes[required] is None:
            raise BadReference(f"a stage must have a {required}", field=required)
    for f in ("require_to_enter", "require_to_leave"):
        if f in changes:
            changes[f] = frozenset(changes[f])
    edited = replace(model.stage(code), **changes)
    model = replace(model, stages=tuple(edited if st.code == code else st for st in model.stages))
    domain.validate_pipeline(model)
    row = (await s.execute(select(Stage).where(Stage.pipeline_id == pipeline_id, Stage.code == code))).scalar_one()
    repository.stage_row(pipeline_id, edited, row)
    pipeline_row = await s.get(Pipeline, pipeline_id)
    assert pipeline_row is not None  # read with its stages above
    pipeline_row.version += 1
    return pipeline_row, model
