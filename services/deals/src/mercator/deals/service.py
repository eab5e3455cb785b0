"""Use cases of the deals service: each one function, one transaction (its `uow.commit()`)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.errors import BadReference, InvalidValue, NotFound
from mercator.common.events import catalogue as ev
from mercator.common.history import recorded_at
from mercator.common.money import check_currency, parse_amount, quantize
from mercator.common.pagination import keyset_page
from mercator.common.uow import UnitOfWork
from mercator.common.versions import check_version
from mercator.common.visibility import Kind, NoAccess, may_file_under, sight
from mercator.deals import domain, repository, schemas
from mercator.deals.clients import ClientCheck
from mercator.deals.tables import (
    Client,
    Deal,
    LostReason,
    Offer,
    Person,
    Pipeline,
    Product,
    ProductGroup,
    Proposal,
    Rating,
    Stage,
    Transition,
    User,
    plain,
)


def now() -> datetime:
    return datetime.now(UTC)


def _edit_settings(caller: Caller) -> None:
    sight(caller, Kind.SETTINGS, write=True)  # raises NoAccess (403) for all but heads, executives, admins


def _may_hold(
    caller: Caller, owner_id: uuid.UUID, department_id: uuid.UUID | None, filed_under: uuid.UUID | None = None
) -> None:
    """A deal is given only to someone the caller sees: a manager opens deals for themselves, a head for
    people of their department subtree, executives and admins for anyone. The caller keeps sight of it."""
    if not sight(caller, Kind.DEAL, write=True).sees(owner_id, department_id):
        raise NoAccess("a deal can be given only to yourself or, for a head, to your departments")
    if department_id != filed_under and not may_file_under(caller, department_id):
        raise NoAccess("a deal can be filed only under your own department or, for a head, the ones you head")


async def _load(
    session: AsyncSession, deal_id: uuid.UUID, caller: Caller, *, write: bool = True, lock: bool = True
) -> tuple[Deal, domain.Deal]:
    return await repository.load(session, deal_id, sight=sight(caller, Kind.DEAL, write=write), lock=lock)


def _key(text: str) -> str:
    return " ".join(text.casefold().replace("ё", "е").split())


# --- events -------------------------------------------------------------------------------


def _lines_payload(model: domain.Deal) -> list[dict]:
    return [
        dict(
            product_id=l.product_id,
            quantity=l.quantity,
            unit_price=l.unit_price,
            discount_percent=l.discount_percent,
            total=l.total(model.currency),
        )
        for l in model.lines
    ]


def _card(row: Deal, model: domain.Deal) -> dict:
    return dict(
        deal_id=row.id,
        title=row.title,
        company_id=row.company_id,
        owner_id=row.owner_id,
        department_id=row.department_id,
        pipeline_id=row.pipeline_id,
        stage=row.stage_code,
        status=row.status,
        amount=row.amount,
        currency=row.currency,
        expected_close_date=row.expected_close_date,
        source_id=row.source_id,
        marketing_event_id=row.marketing_event_id,
        opened_at=row.opened_at,
        stage_probability=_probability(model.pipeline, row.stage_code),
    )


def _when(caller: Caller, model: domain.Deal, at: datetime | None, field: str = "at") -> datetime:
    """Now, or the earlier time the caller brings in as history: not before the deal's previous move."""
    when = recorded_at(caller, at, now(), field)
    return model.check_recorded_time(when, field) if at is not None else when


def _probability(pipeline: domain.Pipeline, code: str) -> Decimal | None:
    return next((s.probability for s in pipeline.stages if s.code == code), None)


def _stage_changed(uow: UnitOfWork, row: Deal, model: domain.Deal, t: domain.Transition) -> None:
    uow.emit(
        ev.DealStageChanged(
            deal_id=row.id,
            company_id=row.company_id,
            owner_id=row.owner_id,
            pipeline_id=row.pipeline_id,
            from_stage=t.from_stage,
            to_stage=t.to_stage,
            to_probability=_probability(model.pipeline, t.to_stage),
            at=t.at,
            seconds_in_previous=t.seconds_in_previous,
            kind=str(t.kind),
            comment=t.comment,
            cause_event_id=uuid.UUID(t.cause) if t.cause else None,
            author_id=t.author_id,
        ),
        subject=row.id,
        sequence=row.version,
        time=t.at,
    )


def _bump(row: Deal) -> None:
    row.version += 1
    row.updated_at = now()


# --- reference data -------------------------------------------------------------------------


async def _products(session: AsyncSession, lines: list[schemas.DealLineIn]) -> None:
    ids = {l.product_id for l in lines}
    if not ids:
        return
    found = set((await session.execute(select(Product.id).where(Product.id.in_(ids)))).scalars())
    for i, line in enumerate(lines):
        if line.product_id not in found:
            raise BadReference(f"there is no product {line.product_id}", field=f"lines[{i}].product_id")


def _domain_lines(lines: list[schemas.DealLineIn]) -> list[domain.DealLine]:
    return [domain.DealLine(l.product_id, l.quantity, l.unit_price, l.discount_percent) for l in lines]


async def list_pipelines(session: AsyncSession) -> list[tuple[Pipeline, domain.Pipeline]]:
    rows = (await session.execute(select(Pipeline).order_by(Pipeline.is_default.desc(), Pipeline.name))).scalars()
    return [(r, await repository.pipeline(session, r.id)) for r in rows]


async def create_pipeline(
    uow: UnitOfWork, data: schemas.PipelineCreate, caller: Caller
) -> tuple[Pipeline, domain.Pipeline]:
    _edit_settings(caller)
    model = domain.Pipeline(
        uuid.uuid4(),
        data.name,
        tuple(
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
        ),
    )
    domain.validate_pipeline(model)
    if await uow.session.scalar(select(Pipeline.id).where(Pipeline.name_key == _key(data.name))):
        raise BadReference(f"a pipeline named {data.name!r} exists already", field="name")
    row = Pipeline(
        id=model.id,
        name=data.name,
        name_key=_key(data.name),
        is_default=False,
        active=True,
        version=1,
        created_at=now(),
    )
    uow.session.add(row)
    await uow.session.flush()
    uow.session.add_all(
        Stage(
            id=uuid.uuid4(),
            pipeline_id=model.id,
            code=s.code,
            name=s.name,
            position=s.position,
            probability=s.probability,
            stalled_after_days=s.stalled_after_days,
            kind=s.kind.value,
            require_to_enter=sorted(r.value for r in s.require_to_enter),
            require_to_leave=sorted(r.value for r in s.require_to_leave),
        )
        for s in model.stages
    )
    await uow.commit()
    return row, model


async def update_stage(
    uow: UnitOfWork, pipeline_id: uuid.UUID, code: str, data: schemas.StageUpdate, caller: Caller
) -> tuple[Pipeline, domain.Pipeline]:
    _edit_settings(caller)
    s = uow.session
    model = await repository.pipeline(s, pipeline_id)
    stage = model.stage(code)
    changes = {f: getattr(data, f) for f in data.model_fields_set}
    for required in ("name", "position", "probability", "require_to_enter", "require_to_leave"):
        if required in changes and changes[required] is None:
            raise BadReference(f"a stage must have a {required}", field=required)
    for f in ("require_to_enter", "require_to_leave"):
        if f in changes:
            changes[f] = frozenset(changes[f])
    edited = replace(stage, **changes)
    model = replace(model, stages=tuple(edited if st.code == code else st for st in model.stages))
    domain.validate_pipeline(model)
    row = (await s.execute(select(Stage).where(Stage.pipeline_id == pipeline_id, Stage.code == code))).scalar_one()
    row.name, row.position, row.probability = edited.name, edited.position, edited.probability
    row.stalled_after_days = edited.stalled_after_days
    row.require_to_enter = sorted(r.value for r in edited.require_to_enter)
    row.require_to_leave = sorted(r.value for r in edited.require_to_leave)
    pipeline_row = await s.get(Pipeline, pipeline_id)
    pipeline_row.version += 1
    await uow.commit()
    return pipeline_row, model


async def list_lost_reasons(session: AsyncSession, include_inactive: bool) -> list[LostReason]:
    stmt = select(LostReason)
    if not include_inactive:
        stmt = stmt.where(LostReason.active.is_(True))
    return list((await session.execute(stmt.order_by(LostReason.position, LostReason.name_key))).scalars())


async def add_lost_reason(uow: UnitOfWork, data: schemas.LostReasonCreate, caller: Caller) -> LostReason:
    _edit_settings(caller)
    if await uow.session.scalar(select(LostReason.id).where(LostReason.name_key == _key(data.name))):
        raise BadReference(f"a lost reason named {data.name!r} exists already", field="name")
    row = LostReason(id=uuid.uuid4(), name=data.name, name_key=_key(data.name), active=True, position=data.position)
    uow.session.add(row)
    await uow.commit()
    return row


async def update_lost_reason(
    uow: UnitOfWork, reason_id: uuid.UUID, data: schemas.LostReasonUpdate, caller: Caller
) -> LostReason:
    _edit_settings(caller)
    row = await uow.session.get(LostReason, reason_id)
    if row is None:
        raise NotFound(f"no lost reason {reason_id}")
    if data.name is not None:
        if await uow.session.scalar(
            select(LostReason.id).where(LostReason.name_key == _key(data.name), LostReason.id != reason_id)
        ):
            raise BadReference(f"a lost reason named {data.name!r} exists already", field="name")
        row.name, row.name_key = data.name, _key(data.name)
    if data.active is not None:
        row.active = data.active
    if data.position is not None:
        row.position = data.position
    await uow.commit()
    return row


async def list_groups(session: AsyncSession) -> list[ProductGroup]:
    return list((await session.execute(select(ProductGroup).order_by(ProductGroup.name))).scalars())


async def add_group(uow: UnitOfWork, data: schemas.ProductGroupCreate, caller: Caller) -> ProductGroup:
    _edit_settings(caller)
    if data.parent_id is not None and await uow.session.get(ProductGroup, data.parent_id) is None:
        raise BadReference(f"there is no product group {data.parent_id}", field="parent_id")
    row = ProductGroup(id=uuid.uuid4(), name=data.name, parent_id=data.parent_id)
    uow.session.add(row)
    await uow.commit()
    return row


async def _group_name(session: AsyncSession, group_id: uuid.UUID | None) -> str | None:
    if group_id is None:
        return None
    group = await session.get(ProductGroup, group_id)
    return group.name if group else None


def _product_event(row: Product, group_name: str | None) -> dict:
    return dict(
        product_id=row.id,
        code=row.code,
        name=row.name,
        group_id=row.group_id,
        group_name=group_name,
        unit=row.unit,
        list_price=row.list_price,
        currency=row.currency,
        active=row.active,
    )


async def list_products(
    session: AsyncSession, *, group_id: uuid.UUID | None, include_inactive: bool, limit: int, cursor: str | None
) -> tuple[list[Product], str | None]:
    stmt = select(Product)
    if group_id is not None:
        # The hierarchy: a group's products include those of its subgroups.
        groups = {group_id}
        frontier = {group_id}
        while frontier:
            frontier = (
                set(
                    (
                        await session.execute(select(ProductGroup.id).where(ProductGroup.parent_id.in_(frontier)))
                    ).scalars()
                )
                - groups
            )
            groups |= frontier
        stmt = stmt.where(Product.group_id.in_(groups))
    if not include_inactive:
        stmt = stmt.where(Product.active.is_(True))
    return await keyset_page(session, stmt, (Product.code, Product.id), limit, cursor)


async def create_product(uow: UnitOfWork, data: schemas.ProductCreate, caller: Caller) -> Product:
    _edit_settings(caller)
    s = uow.session
    if data.group_id is not None and await s.get(ProductGroup, data.group_id) is None:
        raise BadReference(f"there is no product group {data.group_id}", field="group_id")
    if await s.scalar(select(Product.id).where(Product.code == data.code)):
        raise BadReference(f"a product with code {data.code!r} exists already", field="code")
    currency = check_currency(data.currency)
    at = now()
    row = Product(
        id=uuid.uuid4(),
        code=data.code,
        name=data.name,
        group_id=data.group_id,
        unit=data.unit,
        list_price=parse_amount(data.list_price, currency, "list_price"),
        currency=currency,
        active=True,
        version=1,
        created_at=at,
        updated_at=at,
    )
    s.add(row)
    uow.emit(ev.ProductCreated(**_product_event(row, await _group_name(s, row.group_id))), subject=row.id, sequence=1)
    await uow.commit()
    return row


async def update_product(
    uow: UnitOfWork, product_id: uuid.UUID, data: schemas.ProductUpdate, expected_version: int | None, caller: Caller
) -> Product:
    _edit_settings(caller)
    s = uow.session
    row = await s.get(Product, product_id)
    if row is None:
        raise NotFound(f"no product {product_id}")
    check_version(row, expected_version, "product")
    changes = {f: getattr(data, f) for f in data.model_fields_set}
    if (
        "group_id" in changes
        and changes["group_id"] is not None
        and await s.get(ProductGroup, changes["group_id"]) is None
    ):
        raise BadReference(f"there is no product group {changes['group_id']}", field="group_id")
    currency = check_currency(changes.get("currency") or row.currency)
    if "list_price" in changes or "currency" in changes:
        changes["list_price"] = parse_amount(changes.get("list_price", row.list_price), currency, "list_price")
        changes["currency"] = currency
    for required in ("name", "unit", "list_price", "currency", "active"):
        if required in changes and changes[required] is None:
            raise BadReference(f"a product must have a {required}", field=required)
    changed = sorted(f for f, v in changes.items() if getattr(row, f) != v)
    if not changed:
        return row
    for f in changed:
        setattr(row, f, changes[f])
    row.version += 1
    row.updated_at = now()
    uow.emit(
        ev.ProductUpdated(**_product_event(row, await _group_name(s, row.group_id)), changed=changed),
        subject=row.id,
        sequence=row.version,
    )
    await uow.commit()
    return row


# --- deals ------------------------------------------------------------------------------------


async def open_deal(uow: UnitOfWork, data: schemas.DealCreate, caller: Caller, clients: ClientCheck) -> Deal:
    s = uow.session
    owner_id = data.owner_id or caller.user_id
    department_id = data.department_id if "department_id" in data.model_fields_set else caller.department_id
    _may_hold(caller, owner_id, department_id)
    await clients.ensure_exists(s, data.company_id)
    pipeline_id = data.pipeline_id or await repository.default_pipeline_id(s)
    try:
        pipeline = await repository.pipeline(s, pipeline_id)
    except NotFound as exc:
        raise BadReference(exc.detail, field="pipeline_id") from None
    await _products(s, data.lines)
    at = recorded_at(caller, data.opened_at, now(), "opened_at")
    model, transition = domain.Deal.open(
        uuid.uuid4(),
        pipeline,
        at,
        caller.user_id,
        data.currency,
        data.amount,
        data.expected_close_date,
        data.stage,
        _domain_lines(data.lines),
    )
    row = Deal(
        id=model.id,
        title=data.title,
        company_id=data.company_id,
        owner_id=owner_id,
        department_id=department_id,
        pipeline_id=pipeline.id,
        currency=model.currency,
        source_id=data.source_id,
        marketing_event_id=data.marketing_event_id,
        opened_at=at,
        updated_at=at,
        version=1,
    )
    repository.copy_state(row, model)
    s.add(row)
    await s.flush()
    await repository.save_lines(s, row.id, model.lines)
    repository.add_transition(s, row.id, transition)
    uow.emit(ev.DealOpened(**_card(row, model), lines=_lines_payload(model)), subject=row.id, sequence=1, time=at)
    await uow.commit()
    return row


_DEAL_FIELDS = ("title", "amount", "expected_close_date", "source_id", "marketing_event_id", "lines")


async def update_deal(
    uow: UnitOfWork, deal_id: uuid.UUID, data: schemas.DealUpdate, expected_version: int, caller: Caller
) -> Deal:
    s = uow.session
    row, model = await _load(s, deal_id, caller)
    check_version(row, expected_version, "deal")
    fields = data.model_fields_set & set(_DEAL_FIELDS)
    if "title" in fields and not data.title:
        raise BadReference("a deal must have a title", field="title")
    if "lines" in fields:
        await _products(s, data.lines or [])
        model.set_lines(_domain_lines(data.lines or []), data.amount if "amount" in fields else None)
    elif "amount" in fields:
        model.set_amount(data.amount)
    if fields & {"amount", "lines"}:
        await repository.save_lines(s, row.id, model.lines)
    if "expected_close_date" in fields:
        model.set_expected_close_date(data.expected_close_date)
    for f in ("title", "source_id", "marketing_event_id"):
        if f in fields:
            setattr(row, f, getattr(data, f))
    repository.copy_state(row, model)
    _bump(row)
    uow.emit(
        ev.DealUpdated(**_card(row, model), changed=sorted(fields), lines=_lines_payload(model)),
        subject=row.id,
        sequence=row.version,
    )
    await uow.commit()
    return row


async def reassign_deal(
    uow: UnitOfWork, deal_id: uuid.UUID, data: schemas.DealReassign, expected_version: int | None, caller: Caller
) -> Deal:
    row, model = await _load(uow.session, deal_id, caller)
    check_version(row, expected_version, "deal")
    department_id = data.department_id if "department_id" in data.model_fields_set else row.department_id
    _may_hold(caller, data.owner_id, department_id, row.department_id)
    row.owner_id, row.department_id = data.owner_id, department_id
    _bump(row)
    uow.emit(
        ev.DealUpdated(**_card(row, model), changed=["owner_id"], lines=_lines_payload(model)),
        subject=row.id,
        sequence=row.version,
    )
    await uow.commit()
    return row


async def _apply(uow: UnitOfWork, row: Deal, model: domain.Deal, transition: domain.Transition) -> None:
    repository.copy_state(row, model)
    _bump(row)
    repository.add_transition(uow.session, row.id, transition)
    _stage_changed(uow, row, model, transition)


async def move_deal(
    uow: UnitOfWork, deal_id: uuid.UUID, data: schemas.Move, caller: Caller, expected_version: int | None
) -> Deal:
    row, model = await _load(uow.session, deal_id, caller)
    check_version(row, expected_version, "deal")
    transition = model.move_to(data.stage, _when(caller, model, data.at), caller.user_id, data.comment)
    await _apply(uow, row, model, transition)
    await uow.commit()
    return row


async def advance_automatically(
    uow: UnitOfWork, deal_id: uuid.UUID, stage_code: str, at: datetime, cause_event_id: uuid.UUID
) -> Deal | None:
    """Billing says the deal is further on: move it forward by itself, pointing at the cause. A fact
    read after a later one takes its place in the kept path at its own time."""
    s = uow.session
    try:
        row, model = await repository.load(s, deal_id, sight=None, lock=True)  # no caller: billing's fact
    except NotFound:
        return None
    transition = model.advance_automatically(stage_code, at, str(cause_event_id))
    if transition is not None:
        await _apply(uow, row, model, transition)
        return row
    # Also after the deal was closed: the fact is from before, and the kept path should show it.
    kept = list(
        (
            await s.execute(
                select(Transition).where(Transition.deal_id == deal_id).order_by(Transition.at, Transition.id)
            )
        ).scalars()
    )
    spliced = domain.splice_late_fact(
        model.pipeline, [repository.as_domain(t) for t in kept], stage_code, at, str(cause_event_id)
    )
    if spliced is None:
        return None
    inserted, index, rewritten = spliced
    kept[index].from_stage, kept[index].seconds_in_previous = rewritten.from_stage, rewritten.seconds_in_previous
    repository.add_transition(s, row.id, inserted)
    _bump(row)
    _stage_changed(uow, row, model, inserted)
    return row


async def rate_interest(uow: UnitOfWork, deal_id: uuid.UUID, data: schemas.InterestRating, caller: Caller) -> Deal:
    row, model = await _load(uow.session, deal_id, caller)
    at = _when(caller, model, data.at)
    model.rate_interest(data.rating, data.comment, at)
    repository.copy_state(row, model)
    _bump(row)
    uow.session.add(Rating(deal_id=row.id, rating=data.rating, comment=data.comment, at=at, author_id=caller.user_id))
    uow.emit(
        ev.DealInterestRated(
            deal_id=row.id, company_id=row.company_id, rating=data.rating, comment=data.comment, at=at
        ),
        subject=row.id,
        sequence=row.version,
        time=at,
    )
    await uow.commit()
    return row


async def send_proposal(
    uow: UnitOfWork, deal_id: uuid.UUID, data: schemas.ProposalCreate, caller: Caller, contacts: ClientCheck
) -> Proposal:
    row, model = await _load(uow.session, deal_id, caller)
    if model.status != domain.DealStatus.OPEN:
        raise domain.RuleViolation("deal_closed", f"the deal is {model.status}; reopen it first", "status")
    for i, person_id in enumerate(data.recipient_person_ids):
        await contacts.ensure_person_of(uow.session, row.company_id, person_id, f"recipient_person_ids[{i}]")
    at = now()
    proposal = Proposal(
        id=uuid.uuid4(),
        deal_id=row.id,
        documents=list(data.documents),
        recipient_person_ids=[str(p) for p in data.recipient_person_ids],
        channel=data.channel,
        message=data.message,
        sent_at=at,
        author_id=caller.user_id,
    )
    uow.session.add(proposal)
    _bump(row)
    uow.emit(
        ev.ProposalSent(
            proposal_id=proposal.id,
            deal_id=row.id,
            company_id=row.company_id,
            documents=proposal.documents,
            recipient_person_ids=data.recipient_person_ids,
            channel=data.channel,
            message=data.message,
            sent_at=at,
            author_id=caller.user_id,
        ),
        subject=row.id,
        sequence=row.version,
    )
    await uow.commit()
    return proposal


async def make_offer(uow: UnitOfWork, deal_id: uuid.UUID, data: schemas.OfferCreate, caller: Caller) -> Offer:
    s = uow.session
    row, model = await _load(s, deal_id, caller)
    at = _when(caller, model, data.at)
    offer = model.make_offer(
        uuid.uuid4(),
        data.side,
        data.amount,
        data.discount_percent,
        data.valid_until,
        data.comment,
        at,
        caller.user_id,
        today=at.date(),
    )
    await repository.save_offers(s, row.id, model.offers)
    _bump(row)
    uow.emit(
        ev.PriceOffered(
            offer_id=offer.id,
            deal_id=row.id,
            company_id=row.company_id,
            side=offer.side.value,
            amount=offer.amount,
            discount_percent=offer.discount_percent,
            currency=row.currency,
            valid_until=offer.valid_until,
            comment=offer.comment,
            at=at,
        ),
        subject=row.id,
        sequence=row.version,
        time=at,
    )
    await uow.commit()
    return await s.get(Offer, offer.id)


async def accept_offer(
    uow: UnitOfWork, deal_id: uuid.UUID, offer_id: uuid.UUID, caller: Caller, data: schemas.Accept | None = None
) -> Deal:
    s = uow.session
    row, model = await _load(s, deal_id, caller)
    given = data.at if data is not None else None
    at = _when(caller, model, given)
    made = next((o.made_at for o in model.offers if o.id == offer_id), None)
    if given is not None and made is not None and at < made:
        raise domain.InvalidValue("before_offer", "an offer is accepted after it is made", "at")
    offer = model.accept_offer(offer_id, today=at.date())
    await repository.save_offers(s, row.id, model.offers)
    await repository.save_lines(s, row.id, model.lines)
    repository.copy_state(row, model)
    _bump(row)
    uow.emit(
        ev.OfferAccepted(
            offer_id=offer.id,
            deal_id=row.id,
            company_id=row.company_id,
            amount=model.amount,
            currency=row.currency,
            at=at,
            lines=_lines_payload(model),
        ),
        subject=row.id,
        sequence=row.version,
        time=at,
    )
    await uow.commit()
    return row


async def win_deal(uow: UnitOfWork, deal_id: uuid.UUID, data: schemas.Close, caller: Caller) -> Deal:
    row, model = await _load(uow.session, deal_id, caller)
    transition = model.win(_when(caller, model, data.at), caller.user_id, data.comment)
    await _apply(uow, row, model, transition)
    uow.emit(
        ev.DealWon(
            deal_id=row.id,
            company_id=row.company_id,
            owner_id=row.owner_id,
            department_id=row.department_id,
            amount=row.amount,
            currency=row.currency,
            won_at=transition.at,
            from_stage=transition.from_stage,
            lines=_lines_payload(model),
        ),
        subject=row.id,
        sequence=row.version,
        time=transition.at,
    )
    await uow.commit()
    return row


async def lose_deal(uow: UnitOfWork, deal_id: uuid.UUID, data: schemas.Lose, caller: Caller) -> Deal:
    s = uow.session
    row, model = await _load(s, deal_id, caller)
    if data.reason_id is None:
        raise BadReference("say why the deal was lost: pick a lost reason", field="reason_id", rule="reason_required")
    reason = await s.get(LostReason, data.reason_id)
    if reason is None or not reason.active:
        raise BadReference(f"there is no lost reason {data.reason_id}", field="reason_id")
    transition = model.lose(reason.name, _when(caller, model, data.at), caller.user_id, data.comment)
    row.lost_reason_id = reason.id
    await _apply(uow, row, model, transition)
    uow.emit(
        ev.DealLost(
            deal_id=row.id,
            company_id=row.company_id,
            owner_id=row.owner_id,
            department_id=row.department_id,
            reason_id=reason.id,
            reason=reason.name,
            lost_at_stage=model.lost_at_stage,
            lost_at=transition.at,
            amount=row.amount,
            currency=row.currency,
        ),
        subject=row.id,
        sequence=row.version,
        time=transition.at,
    )
    await uow.commit()
    return row


async def reopen_deal(uow: UnitOfWork, deal_id: uuid.UUID, data: schemas.Reopen, caller: Caller) -> Deal:
    row, model = await _load(uow.session, deal_id, caller)
    transition = model.reopen(_when(caller, model, data.at), caller.user_id, data.comment, data.stage)
    row.lost_reason_id = None
    await _apply(uow, row, model, transition)
    uow.emit(
        ev.DealReopened(
            deal_id=row.id,
            company_id=row.company_id,
            to_stage=transition.to_stage,
            to_probability=_probability(model.pipeline, transition.to_stage),
            at=transition.at,
            comment=data.comment,
        ),
        subject=row.id,
        sequence=row.version,
        time=transition.at,
    )
    await uow.commit()
    return row


# --- views ---------------------------------------------------------------------------------


async def get_deal(session: AsyncSession, deal_id: uuid.UUID, caller: Caller) -> tuple[Deal, domain.Deal]:
    return await _load(session, deal_id, caller, write=False, lock=False)


def _seen(stmt, caller: Caller):
    """Lists and the board hold only the deals the caller sees, filtered in SQL."""
    clause = repository.visible(sight(caller, Kind.DEAL))
    return stmt if clause is None else stmt.where(clause)


async def list_deals(
    session: AsyncSession,
    caller: Caller,
    *,
    owner_id,
    department_id,
    company_id,
    pipeline_id,
    stage,
    status,
    limit: int,
    cursor: str | None,
) -> tuple[list[Deal], str | None]:
    stmt = _seen(select(Deal), caller)
    for column, value in (
        (Deal.owner_id, owner_id),
        (Deal.department_id, department_id),
        (Deal.company_id, company_id),
        (Deal.pipeline_id, pipeline_id),
        (Deal.stage_code, stage),
        (Deal.status, status),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return await keyset_page(session, stmt, (Deal.opened_at, Deal.id), limit, cursor, descending=True)


async def timeline(session: AsyncSession, deal_id: uuid.UUID, caller: Caller) -> list[dict]:
    """Transitions, ratings, offers and proposals of a deal, in the order they happened."""
    deal, _ = await _load(session, deal_id, caller, write=False, lock=False)
    items: list[dict] = []
    for t in (await session.execute(select(Transition).where(Transition.deal_id == deal_id))).scalars():
        items.append(
            {
                "type": "transition",
                "at": t.at,
                "id": str(t.id),
                "kind": t.kind,
                "from_stage": t.from_stage,
                "to_stage": t.to_stage,
                "seconds_in_previous": t.seconds_in_previous,
                "author_id": t.author_id,
                "comment": t.comment,
                "cause": t.cause,
            }
        )
    for r in (await session.execute(select(Rating).where(Rating.deal_id == deal_id))).scalars():
        items.append(
            {
                "type": "interest_rating",
                "at": r.at,
                "id": str(r.id),
                "rating": r.rating,
                "comment": r.comment,
                "author_id": r.author_id,
            }
        )
    for o in (await session.execute(select(Offer).where(Offer.deal_id == deal_id))).scalars():
        items.append(
            {
                "type": "offer",
                "at": o.made_at,
                "id": str(o.id),
                "side": o.side,
                "amount": quantize(o.amount, deal.currency),
                "discount_percent": plain(o.discount_percent),
                "valid_until": o.valid_until,
                "status": o.status,
                "comment": o.comment,
                "author_id": o.author_id,
            }
        )
    for p in (await session.execute(select(Proposal).where(Proposal.deal_id == deal_id))).scalars():
        items.append(
            {
                "type": "proposal",
                "at": p.sent_at,
                "id": str(p.id),
                "documents": p.documents,
                "recipient_person_ids": p.recipient_person_ids,
                "channel": p.channel,
                "author_id": p.author_id,
            }
        )
    order = {"transition": 0, "interest_rating": 1, "offer": 2, "proposal": 3}
    return sorted(items, key=lambda i: (i["at"], order[i["type"]], i["id"]))


async def board(
    session: AsyncSession,
    caller: Caller,
    *,
    pipeline_id: uuid.UUID | None,
    owner_id,
    department_id,
    as_of: datetime | None,
) -> tuple[domain.Pipeline, list[domain.BoardColumn], datetime]:
    stmt = _seen(select(Deal), caller)  # first: marketing and support get 403 before anything is read
    pipeline_id = pipeline_id or await repository.default_pipeline_id(session)
    pipeline = await repository.pipeline(session, pipeline_id)
    stmt = stmt.where(Deal.pipeline_id == pipeline_id)
    if owner_id is not None:
        stmt = stmt.where(Deal.owner_id == owner_id)
    if department_id is not None:
        stmt = stmt.where(Deal.department_id == department_id)
    deals = {d.id: d for d in (await session.execute(stmt)).scalars()}
    when = as_of or now()
    if as_of is None:
        cards = [domain.BoardDeal(d.id, d.stage_code, d.amount, d.currency, d.entered_stage_at) for d in deals.values()]
    else:
        # The pipeline as it stood then, rebuilt from the kept transitions (amounts as they are now).
        rows = (
            await session.execute(
                select(Transition)
                .where(Transition.deal_id.in_(deals), Transition.at <= as_of)
                .order_by(Transition.at, Transition.id)
            )
        ).scalars()
        kept = [(t.deal_id, repository.as_domain(t)) for t in rows]
        cards = [
            domain.BoardDeal(deal_id, at.stage_code, deals[deal_id].amount, deals[deal_id].currency, at.entered_at)
            for deal_id, at in domain.stages_as_of(kept, as_of).items()
        ]
    return pipeline, domain.board(pipeline, cards, when), when


async def board_cards(
    session: AsyncSession,
    caller: Caller,
    *,
    pipeline_id: uuid.UUID | None,
    owner_id,
    department_id,
    stage: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict], str | None]:
    """The open deals of a pipeline as the board's cards: only the columns a card shows, the owner's name from
    the users replica, the stalled flag by the stage's threshold; the same sight as every list."""
    stmt = _seen(
        select(
            Deal.id,
            Deal.title,
            Deal.amount,
            Deal.currency,
            Deal.owner_id,
            User.name.label("owner_name"),
            Deal.stage_code,
            Deal.version,
            Deal.entered_stage_at,
            Deal.opened_at,
        ).outerjoin(User, User.user_id == Deal.owner_id),
        caller,
    )
    pipeline_id = pipeline_id or await repository.default_pipeline_id(session)
    pipeline = await repository.pipeline(session, pipeline_id)
    stages = {s.code: s for s in pipeline.stages}
    if stage is not None and stage not in stages:
        raise InvalidValue("unknown_stage", f"the pipeline has no stage {stage!r}", "stage")
    stmt = stmt.where(Deal.pipeline_id == pipeline_id, Deal.status == domain.DealStatus.OPEN.value)
    for column, value in ((Deal.owner_id, owner_id), (Deal.department_id, department_id), (Deal.stage_code, stage)):
        if value is not None:
            stmt = stmt.where(column == value)
    rows, nxt = await keyset_page(
        session, stmt, (Deal.opened_at, Deal.id), limit, cursor, descending=True, rows_of_columns=True
    )
    when = now()
    return [
        {
            "id": r.id,
            "title": r.title,
            "amount": None if r.amount is None else quantize(r.amount, r.currency),
            "currency": r.currency,
            "owner_id": r.owner_id,
            "owner_name": r.owner_name,
            "stage": r.stage_code,
            "version": r.version,
            "stalled": r.stage_code in stages and domain.is_stalled(stages[r.stage_code], r.entered_stage_at, when),
        }
        for r in rows
    ], nxt


# --- the replica of client cards (fed by contacts' events) --------------------------------------------


async def apply_client_card(
    session: AsyncSession, company_id: uuid.UUID, sequence: int, name: str, owner_id: uuid.UUID, status: str
) -> None:
    row = await session.get(Client, company_id, with_for_update=True)
    if row is None:
        session.add(Client(company_id=company_id, name=name, owner_id=owner_id, status=status, version=sequence))
    elif sequence > row.version:  # events of one card may arrive out of order across topics
        row.name, row.owner_id, row.status, row.version = name, owner_id, status, sequence


async def apply_client_merged(session: AsyncSession, survivor_id: uuid.UUID, absorbed_id: uuid.UUID) -> None:
    row = await session.get(Client, absorbed_id, with_for_update=True)
    if row is None:
        session.add(Client(company_id=absorbed_id, version=0, merged_into_id=survivor_id))
    else:
        row.merged_into_id = survivor_id
    # The absorbed card's people now belong to the survivor (contacts moved them too).
    await session.execute(update(Person).where(Person.company_id == absorbed_id).values(company_id=survivor_id))


async def apply_person(
    session: AsyncSession, person_id: uuid.UUID, company_id: uuid.UUID, name: str, sequence: int
) -> None:
    row = await session.get(Person, person_id, with_for_update=True)
    if row is None:
        session.add(Person(person_id=person_id, company_id=company_id, name=name, version=sequence))
    elif sequence > row.version:
        row.name, row.version = name, sequence


async def apply_user(
    session: AsyncSession, user_id: uuid.UUID, name: str, department_id: uuid.UUID | None, active: bool, sequence: int
) -> None:
    row = await session.get(User, user_id, with_for_update=True)
    if row is None:
        session.add(User(user_id=user_id, name=name, department_id=department_id, active=active, version=sequence))
    elif sequence > row.version:
        row.name, row.department_id, row.active, row.version = name, department_id, active, sequence
