"""Views that need several services, answered with what is there when one of them is down."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from mercator.common.http.errors import AppError, NotFound
from mercator.gateway.auth_api import PrincipalDep
from mercator.gateway.proxy import Upstreams, forwarded_headers

router = APIRouter(prefix="/api/v1", tags=["client card"])


class Unavailable(AppError):
    status, title = 503, "Service unavailable"


async def _get(upstreams: Upstreams, service: str, path: str, headers: dict, params: dict | None = None):
    """The JSON body, or the exception that says why there is none."""
    try:
        answer = await upstreams.send(service, "GET", path, params=params, headers=headers)
    except AppError as exc:
        return exc
    if answer.status_code != 200:
        return AppError(f"{service} answered {answer.status_code}") if answer.status_code != 404 else None
    return answer.json()


@router.get("/client-cards/{company_id}")
async def client_card(company_id: uuid.UUID, request: Request, principal: PrincipalDep) -> dict:
    """The client card in one call: company, persons, recent history, upcoming meetings, deals with their
    stages, invoices and debt, fetched in parallel. A part whose service is down is listed in `missing`
    and the rest still comes (`partial: true`)."""
    upstreams: Upstreams = request.app.state.upstreams
    await upstreams.check_rate(str(principal.caller.user_id))
    headers = await forwarded_headers(request, principal, request.app.state.runtime.settings)
    c = f"/api/v1/companies/{company_id}"
    company, persons, history, meetings, deals, invoices = await asyncio.gather(
        _get(upstreams, "contacts", c, headers),
        _get(upstreams, "contacts", f"{c}/persons", headers),
        _get(upstreams, "contacts", f"{c}/history", headers, {"limit": 20}),
        _get(upstreams, "contacts", "/api/v1/meetings", headers, {"company_id": str(company_id), "status": "planned"}),
        _get(upstreams, "deals", "/api/v1/deals", headers, {"company_id": str(company_id), "limit": 200}),
        _get(upstreams, "billing", "/api/v1/invoices", headers, {"company_id": str(company_id)}),
    )
    if company is None:
        raise NotFound(f"no client card {company_id}")
    parts = {"company": company, "persons": persons, "history": history, "meetings": meetings, "deals": deals,
             "invoices": invoices}
    owner = {"company": "contacts", "persons": "contacts", "history": "contacts", "meetings": "contacts",
             "deals": "deals", "invoices": "billing"}
    missing = sorted({owner[k] for k, v in parts.items() if isinstance(v, Exception)})
    if isinstance(company, Exception):
        raise Unavailable("the client card's own service (contacts) is not answering",
                          headers={"Retry-After": "5"})
    card = {k: (None if isinstance(v, Exception) else v) for k, v in parts.items()}
    for key in ("history", "meetings", "deals"):
        if isinstance(card[key], dict):
            card[key] = card[key]["items"]
    debt = None
    if isinstance(card["invoices"], list):
        debt: dict[str, str] = {}
        for invoice in card["invoices"]:
            if invoice["status"] in ("issued", "partly_paid", "overdue"):
                owed = Decimal(debt.get(invoice["currency"], "0")) + Decimal(invoice["outstanding"])
                debt[invoice["currency"]] = str(owed)
    return {**card, "debt": debt, "partial": bool(missing), "missing": missing}


async def _whole(upstreams: Upstreams, service: str, path: str, headers: dict, params: dict | None = None):
    """Every item of a list, page after page (a bare list comes whole); an error if any page fails."""
    params, items = dict(params or {}), []
    while True:
        body = await _get(upstreams, service, path, headers, params)
        if isinstance(body, Exception) or body is None:
            return body if body is not None else AppError(f"{service} has no {path}")
        if isinstance(body, list):
            return body
        items += body["items"]
        if not body.get("next_cursor"):
            return items
        params["cursor"] = body["next_cursor"]


@router.get("/client-cards/{company_id}/export")
async def export_client_card(company_id: uuid.UUID, request: Request, principal: PrincipalDep) -> JSONResponse:
    """Everything Mercator holds about one client, as one JSON file: the card, contact persons, the whole
    history, meetings, deals with their lines, offers and stage history, invoices, payments and deliveries.
    Only what the caller may see, and never partial: when a service is down the answer is 503, not an
    export that silently lacks a part."""
    upstreams: Upstreams = request.app.state.upstreams
    await upstreams.check_rate(str(principal.caller.user_id))
    headers = await forwarded_headers(request, principal, request.app.state.runtime.settings)
    c, of_client = f"/api/v1/companies/{company_id}", {"company_id": str(company_id)}
    company = await _get(upstreams, "contacts", c, headers)
    if company is None:
        raise NotFound(f"no client card {company_id}")
    if isinstance(company, Exception):
        raise Unavailable("contacts is not answering; try the export again shortly", headers={"Retry-After": "5"})
    limit = {"limit": 200}
    persons, history, meetings, deals, invoices, payments, deliveries = await asyncio.gather(
        _whole(upstreams, "contacts", f"{c}/persons", headers),
        _whole(upstreams, "contacts", f"{c}/history", headers, limit),
        _whole(upstreams, "contacts", "/api/v1/meetings", headers, {**of_client, **limit}),
        _whole(upstreams, "deals", "/api/v1/deals", headers, {**of_client, **limit}),
        _whole(upstreams, "billing", "/api/v1/invoices", headers, of_client),
        _whole(upstreams, "billing", "/api/v1/payments", headers, of_client),
        _whole(upstreams, "billing", "/api/v1/deliveries", headers, of_client))
    parts = {"persons": persons, "history": history, "meetings": meetings, "deals": deals, "invoices": invoices,
             "payments": payments, "deliveries": deliveries}
    if isinstance(deals, list):
        async def whole_deal(deal: dict):
            detail, timeline = await asyncio.gather(
                _get(upstreams, "deals", f"/api/v1/deals/{deal['id']}", headers),
                _get(upstreams, "deals", f"/api/v1/deals/{deal['id']}/timeline", headers))
            if isinstance(detail, Exception) or isinstance(timeline, Exception):
                return detail if isinstance(detail, Exception) else timeline
            return {**(detail or deal), "timeline": timeline or []}
        parts["deals"] = await asyncio.gather(*(whole_deal(d) for d in deals))
        if any(isinstance(d, Exception) for d in parts["deals"]):
            parts["deals"] = next(d for d in parts["deals"] if isinstance(d, Exception))
    failed = sorted(k for k, v in parts.items() if isinstance(v, Exception))
    if failed:
        raise Unavailable(f"{', '.join(failed)} could not be read; try the export again shortly",
                          headers={"Retry-After": "5"})
    body = {"exported_at": datetime.now(UTC).isoformat(), "company": company, **parts}
    return JSONResponse(body, headers={
        "Content-Disposition": f'attachment; filename="client-card-{company_id}.json"'})
