"""The audit log: one row per write request through the gateway."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mercator.common.auth import Caller
from mercator.common.clock import now
from mercator.gateway.tables import AuditEntry

log = logging.getLogger(__name__)


async def audit(
    session_maker: async_sessionmaker[AsyncSession],
    *,
    caller: Caller | None,
    api_key_id: uuid.UUID | None,
    method: str,
    path: str,
    status: int,
    request_id: str | None,
) -> None:
    """One row for one write request through the gateway, in its own transaction, after the answer is known.

    Never raises: the change it records is already made (or refused), and failing the request now would
    only invite a retry; a lost row is logged as an error instead.
    """
    try:
        async with session_maker() as s:
            s.add(
                AuditEntry(
                    at=now(),
                    user_id=caller.user_id if caller and api_key_id is None else None,
                    api_key_id=api_key_id,
                    method=method[:10],
                    path=path[:2000],
                    status=status,
                    request_id=request_id[:200] if request_id else None,
                )
            )
            await s.commit()
    except Exception:
        log.exception(
            "an audit entry was lost",
            extra={"method": method, "path": path, "status": status, "request_id": request_id},
        )
