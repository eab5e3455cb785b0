"""Views that need several services, answered with what is there when one of them is down."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from mercator.common.clock import now
from mercator.common.errors import DomainError, NotFound, Unavailable
from mercator.common.pagination import BadCursor
from mercator.gateway.auth_api import PrincipalDep
from mercator.gateway.client_card import ClientCard, ClientCardExport
from mercator.gateway.proxy import Upstreams, forwarded_headers

router = APIRouter(prefix="/api/v1", tags=["client card"])


async def _get(
    upstreams: Upstreams,
    service: str,
    path: str,
    headers: dict,
    params: dict | None = None,
    *,
    cursor_field: str | None = None,
):
    """The JSON body, None for a 404, or the exception that says why there is none. A 422 to a request that
    carries the caller's cursor is about that cursor (the limits were checked here with the services' bounds),
    so it is the caller's error, named as the card's parameter (`cursor_field`)."""
    try:
        answer = await upstreams.send(service, "GET", path, params=params, headers=headers)
    except DomainError as exc:
        return exc
    if answer.status_code == 422 and cursor_field and (params or {}).get("cursor"):
        return BadCursor(cursor_field)
    if answer.status_code != 200:
        return DomainError(f"{service} answered {answer.status_code}") if answer.status_code != 404 else None
    return answer.json()


def _limit(what: str):
    return Query(ge=1, le=200, description=f"{what} on one page of the card (at most 200)")


def _cursor(section: str):
    return Query(max_length=1000, description=f"the `{section}.next_cursor` of the card before: its next page")


def _page(limit: int, cursor: str | None, **params) -> dict:
    return {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}


@router.get("/client-cards/{company_id}", response_model=ClientCard)
async def client_card(
    company_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    history_limit: Annotated[int, _limit("history entries")] = 20,
    history_cursor: Annotated[str | None, _cursor("history")] = None,
    meetings_limit: Annotated[int, _limit("planned meetings")] = 50,
    meetings_cursor: Annotated[str | None, _cursor("meetings")] = None,
    deals_limit: Annotated[int, _limit("deals")] = 50,
    deals_cursor: Annotated[str | None, _cursor("deals")] = None,
) -> dict:
    """The client card in one call: company, persons, history, planned meetings, deals, invoices and debt,
    fetched in parallel. Persons and invoices come whole; history (newest first), planned meetings (soonest
    first) and deals (newest first) come a page at a time, each with its `next_cursor`: pass it back as
    `history_cursor`, `meetings_cursor` or `deals_cursor` for that section's next page (the other sections
    come from their first page again). A part whose service is down is null, its service listed in `missing`,
    and the rest still comes (`partial: true`)."""
    upstreams: Upstreams = request.app.state.upstreams
    await upstreams.check_rate(str(principal.caller.user_id))
    headers = await forwarded_headers(request, principal, request.app.state.runtime.settings)
    c, of_client = f"/api/v1/companies/{company_id}", {"company_id": str(company_id)}
    company, persons, history, meetings, deals, invoices = await asyncio.gather(
        _get(upstreams, "contacts", c, headers),
        _get(upstreams, "contacts", f"{c}/persons", headers),
        _get(
            upstreams,
            "contacts",
            f"{c}/history",
            headers,
            _page(history_limit, history_cursor),
            cursor_field="history_cursor",
        ),
        _get(
            upstreams,
            "contacts",
            "/api/v1/meetings",
            headers,
            _page(meetings_limit, meetings_cursor, **of_client, status="planned"),
            cursor_field="meetings_cursor",
        ),
        _get(
            upstreams,
            "deals",
            "/api/v1/deals",
            headers,
            _page(deals_limit, deals_cursor, **of_client),
            cursor_field="deals_cursor",
        ),
        _get(upstreams, "billing", "/api/v1/invoices", headers, of_client),
    )
    if company is None:
        raise NotFound(f"no client card {company_id}")
    if isinstance(company, Exception):
        raise Unavailable("the client card's own service (contacts) is not answering", headers={"Retry-After": "5"})
    parts = {"persons": persons, "history": history, "meetings": meetings, "deals": deals, "invoices": invoices}
    refused = next((v for v in parts.values() if isinstance(v, BadCursor)), None)
    if refused is not None:
        raise refused
    missing = sorted({_OWNER[k] for k, v in parts.items() if isinstance(v, Exception)})
    card = {k: (None if isinstance(v, Exception) else v) for k, v in parts.items()}
    debt = _debt(card["invoices"]) if isinstance(card["invoices"], list) else None
    return {"company": company, **card, "debt": debt, "partial": bool(missing), "missing": missing}


# The service each part of the card comes from.
_OWNER = {"persons": "contacts", "history": "contacts", "meetings": "contacts", "deals": "deals", "invoices": "billing"}


def _debt(invoices: list[dict]) -> dict[str, str]:
    """What the client owes, by currency: the outstanding amounts of its open invoices."""
    owed: dict[str, str] = {}
    for invoice in invoices:
        if invoice["status"] in ("issued", "partly_paid", "overdue"):
            owed[invoice["currency"]] = str(
                Decimal(owed.get(invoice["currency"], "0")) + Decimal(invoice["outstanding"])
            )
    return owed


async def _whole(upstreams: Upstreams, service: str, path: str, headers: dict, params: dict | None = None):
    """Every item of a list, page after page (a bare list comes whole); an error if any page fails."""
    params, items = dict(params or {}), []
    while True:
        body = await _get(upstreams, service, path, headers, params)
        if isinstance(body, Exception) or body is None:
            return body if body is not None else DomainError(f"{service} has no {path}")
        if isinstance(body, list):
            return body
        items += body["items"]
        if not body.get("next_cursor"):
            return items
        params["cursor"] = body["next_cursor"]


@router.get(
    "/client-cards/{company_id}/export",
    response_model=ClientCardExport,
    responses={200: {"description": "The client's record, as a file to save (`Content-Disposition`)"}},
)
async def export_client_card(company_id: uuid.UUID, request: Request, principal: PrincipalDep) -> Response:
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
        _whole(upstreams, "billing", "/api/v1/deliveries", headers, of_client),
    )
    parts = {
        "persons": persons,
        "history": history,
        "meetings": meetings,
        "deals": deals,
        "invoices": invoices,
        "payments": payments,
        "deliveries": deliveries,
    }
    if isinstance(deals, list):

        async def whole_deal(deal: dict):
            detail, timeline = await asyncio.gather(
                _get(upstreams, "deals", f"/api/v1/deals/{deal['id']}", headers),
                _get(upstreams, "deals", f"/api/v1/deals/{deal['id']}/timeline", headers),
            )
            if isinstance(detail, Exception) or isinstance(timeline, Exception):
                return detail if isinstance(detail, Exception) else timeline
            return {**(detail or deal), "timeline": timeline or []}

        parts["deals"] = await asyncio.gather(*(whole_deal(d) for d in deals))
        if any(isinstance(d, Exception) for d in parts["deals"]):
            parts["deals"] = next(d for d in parts["deals"] if isinstance(d, Exception))
    failed = sorted(k for k, v in parts.items() if isinstance(v, Exception))
    if failed:
        raise Unavailable(
            f"{', '.join(failed)} could not be read; try the export again shortly", headers={"Retry-After": "5"}
        )
    body = ClientCardExport.model_validate({"exported_at": now(), "company": company, **parts})
    return Response(
        body.model_dump_json(),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="client-card-{company_id}.json"'},
    )
