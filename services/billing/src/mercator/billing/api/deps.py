"""What billing's routes take besides the request: the peers asked for records not replicated yet, and the
company's time zone (the business day)."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from mercator.billing.settings import BillingSettings
from mercator.common.http.deps import RuntimeDep
from mercator.common.http.peers import Peer


def deals_peer(request: Request) -> Peer:
    return Peer("deals", request.app.state.deals_http, request.headers.get("authorization"))


def contacts_peer(request: Request) -> Peer:
    return Peer("contacts", request.app.state.contacts_http, request.headers.get("authorization"))


def time_zone(runtime: RuntimeDep) -> str:
    return cast(BillingSettings, runtime.settings).time_zone


Deals = Annotated[Peer, Depends(deals_peer)]
Contacts = Annotated[Peer, Depends(contacts_peer)]
TimeZone = Annotated[str, Depends(time_zone)]
