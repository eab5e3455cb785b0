"""What the deals routes share: the If-Match header, a page's size, the check of client cards at contacts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request

from mercator.common.http.peers import Peer
from mercator.deals.clients import ClientCheck

IfMatch = Annotated[str | None, Header(alias="If-Match")]
Limit = Annotated[int, Query(ge=1, le=200)]


def client_check(request: Request) -> ClientCheck:
    return ClientCheck(Peer("contacts", request.app.state.contacts_http, request.headers.get("authorization")))


Clients = Annotated[ClientCheck, Depends(client_check)]
