"""Asking another service over HTTP, for the one thing events cannot give: news of a moment ago.

A replica built from events lags by the time the event takes to arrive. When a request names a
record the replica does not have yet (a deal opened a second after its client card), the service
asks the record's owner directly, forwarding the caller's token, instead of refusing.
"""

from __future__ import annotations

import httpx

from mercator.common.errors import Unavailable


class Peer:
    def __init__(self, name: str, http: httpx.AsyncClient, authorization: str | None):
        self.name = name
        self.http = http
        self.authorization = authorization

    async def get(self, path: str) -> dict | None:
        """The record as its owner has it, or None if the owner says it does not exist."""
        try:
            answer = await self.http.get(path, headers={"Authorization": self.authorization or ""}, timeout=5)
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"{self.name} cannot be asked right now; retry shortly", headers={"Retry-After": "5"}
            ) from exc
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise Unavailable(f"{self.name} answered {answer.status_code}", headers={"Retry-After": "5"})
        return answer.json()
