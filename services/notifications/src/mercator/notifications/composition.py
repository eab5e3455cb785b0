"""What a document or an e-mail is made from (the context of a deal, the templates' texts) and its render
within the limits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.clock import now
from mercator.common.errors import InvalidValue
from mercator.notifications import context as ctx
from mercator.notifications import rendering
from mercator.notifications.domain import TemplateKind
from mercator.notifications.rendering import TemplateTooCostly
from mercator.notifications.settings import NotificationsSettings
from mercator.notifications.tables import (
    CompanyView,
    DealView,
    InvoiceView,
    PersonView,
    ProductView,
    Template,
    UserView,
)
from mercator.notifications.templates import template_named


async def _products(session: AsyncSession, ids) -> dict[uuid.UUID, ProductView]:
    ids = list(ids)
    if not ids:
        return {}
    rows = (await session.execute(select(ProductView).where(ProductView.product_id.in_(ids)))).scalars()
    return {r.product_id: r for r in rows}


async def document_context(
    session: AsyncSession,
    settings: NotificationsSettings,
    *,
    company_id: uuid.UUID | None,
    deal_id: uuid.UUID | None = None,
    person_id: uuid.UUID | None = None,
    invoice_id: uuid.UUID | None = None,
    manager_id: uuid.UUID | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """Everything a document about a deal is filled from: the client card, the person, the deal and its
    product lines, the newest invoice of the deal, the manager, the price list."""
    deal = await session.get(DealView, deal_id) if deal_id else None
    company_id = company_id or (deal.company_id if deal else None)
    company = await session.get(CompanyView, company_id) if company_id else None
    person = await session.get(PersonView, person_id) if person_id else None
    manager = await session.get(
        UserView,
        manager_id or (deal.owner_id if deal else None) or (company.owner_id if company else None) or uuid.UUID(int=0),
    )
    lines = list(deal.lines) if deal else []
    products = await _products(session, {uuid.UUID(str(l["product_id"])) for l in lines})
    invoice = await _invoice(session, invoice_id, deal_id)
    catalogue = (
        await session.execute(
            select(ProductView).where(ProductView.active.is_(True)).order_by(ProductView.group_name, ProductView.name)
        )
    ).scalars()
    line_ctx = [ctx.line_ctx(l, products) for l in lines]
    today = now().astimezone(ZoneInfo(settings.time_zone)).date()
    total = sum((l["total"] for l in line_ctx), start=0) if line_ctx else (deal.amount if deal else None)
    return {
        "company": ctx.company_ctx(company),
        "person": ctx.person_ctx(person),
        "recipient": {
            "name": person.name if person else (company.name if company else ""),
            "email": (person.emails[0] if person and person.emails else None),
        },
        "deal": ctx.deal_ctx(deal),
        "lines": line_ctx,
        "total": total,
        "currency": deal.currency if deal else (invoice.currency if invoice else "RUB"),
        "manager": ctx.user_ctx(manager),
        "invoice": ctx.invoice_ctx(invoice),
        "products": [ctx.product_ctx(p) for p in catalogue],
        "today": today,
        "valid_until": today + timedelta(days=settings.offer_validity_days),
        "message": message,
        "documents": [],
    }


async def _invoice(
    session: AsyncSession, invoice_id: uuid.UUID | None, deal_id: uuid.UUID | None
) -> InvoiceView | None:
    """The invoice named, else the newest of the deal."""
    if invoice_id:
        return await session.get(InvoiceView, invoice_id)
    if not deal_id:
        return None
    return (
        await session.execute(
            select(InvoiceView)
            .where(InvoiceView.deal_id == deal_id)
            .order_by(InvoiceView.issue_date.desc(), InvoiceView.number.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


@dataclass(frozen=True)
class Source:
    """A template's text as read: what a render needs once the transaction that read it is over."""

    name: str
    subject: str
    body: str

    @classmethod
    def of(cls, template: Template) -> Source:
        return cls(template.name, template.subject, template.body)


async def document_sources(session: AsyncSession, names: list[str]) -> list[Source]:
    out = []
    for name in names:
        template = await template_named(session, name, TemplateKind.DOCUMENT)
        if template is None:
            raise InvalidValue("unknown_document", f"no document template named '{name}'", "documents")
        out.append(Source.of(template))
    return out


async def email_source(session: AsyncSession, name: str) -> Source:
    template = await template_named(session, name, TemplateKind.EMAIL)
    if template is None:
        raise InvalidValue("unknown_template", f"no e-mail template named '{name}'", "template")
    return Source.of(template)


async def render_document_sources(
    sources: list[Source], context: dict[str, Any], settings: NotificationsSettings
) -> list[tuple[str, bytes]]:
    """(file name, PDF) of each; one over a render limit is TemplateTooCostly."""
    out = []
    for source in sources:
        try:
            out.append(await rendering.renderer(settings).document(source.subject, source.body, context))
        except rendering.TooCostly as exc:
            raise TemplateTooCostly(f"document '{source.name}' is over a limit: {exc.reason}", "documents") from None
    return out


async def render_email_source(
    source: Source, context: dict[str, Any], settings: NotificationsSettings
) -> tuple[str, str]:
    """(subject, body); over a render limit, TemplateTooCostly."""
    try:
        return await rendering.renderer(settings).email(source.subject, source.body, context)
    except rendering.TooCostly as exc:
        raise TemplateTooCostly(f"e-mail template '{source.name}' is over a limit: {exc.reason}", "template") from None


async def render_documents(
    session: AsyncSession, names: list[str], context: dict[str, Any], settings: NotificationsSettings
) -> list[tuple[str, bytes]]:
    return await render_document_sources(await document_sources(session, names), context, settings)


async def render_email(
    session: AsyncSession, name: str, context: dict[str, Any], settings: NotificationsSettings
) -> tuple[str, str]:
    return await render_email_source(await email_source(session, name), context, settings)
