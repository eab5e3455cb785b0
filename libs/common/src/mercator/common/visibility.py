"""Who may see and change what: one policy, applied by the service that owns the data.

- executive, admin, partner: everything (a partner's key scopes are checked by the gateway);
- head: what belongs to their department and the departments below it, and what they own;
- manager: what they own (client cards, deals, and what hangs off them);
- marketing: reads client cards and the reports, nothing else;
- support: reads client cards that are clients (a deal was won) and reads and writes their history.

A record the caller may not see answers 404, exactly like one that does not exist: ids are not
probed. A caller whose role gives no access to a kind of record at all gets 403.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from mercator.common.auth import Caller
from mercator.common.errors import Forbidden

SEE_ALL = frozenset({"executive", "admin", "partner"})


class Kind(StrEnum):
    CARD = "card"  # client cards and their contact persons
    HISTORY = "history"  # history entries and meetings of a card
    DEAL = "deal"  # deals, offers, proposals
    BILLING = "billing"  # contracts, invoices, payments, deliveries, receivables
    REPORT = "report"  # analytics
    SETTINGS = "settings"  # dictionaries, pipelines, products, lost reasons


@dataclass(frozen=True)
class Sight:
    """What one caller sees of one kind of record. `everything`, or the records owned by `owner_id`
    or belonging to one of `departments`; `clients_only` narrows cards to those with a won deal."""

    everything: bool = False
    owner_id: uuid.UUID | None = None
    departments: frozenset[uuid.UUID] = frozenset()
    clients_only: bool = False

    def sees(self, owner_id: uuid.UUID | None, department_id: uuid.UUID | None, status: str | None = None) -> bool:
        if self.clients_only and status != "client":
            return False
        if self.everything:
            return True
        return (owner_id is not None and owner_id == self.owner_id) or (
            department_id is not None and department_id in self.departments
        )


class NoAccess(Forbidden):
    """The caller's roles give no access to this kind of record (403)."""


def sight(caller: Caller, kind: Kind, *, write: bool = False) -> Sight:
    roles = caller.roles
    if roles & SEE_ALL:
        return Sight(everything=True)
    if kind == Kind.SETTINGS:
        # Everyone who works in Mercator reads the dictionaries; changing them is for heads and admins.
        if write and not roles & {"head"}:
            raise NoAccess("changing settings is for heads of sales and admins")
        return Sight(everything=True)
    if "head" in roles:
        return Sight(
            owner_id=caller.user_id,
            departments=caller.departments or frozenset({caller.department_id} if caller.department_id else ()),
        )
    if "manager" in roles:
        return Sight(owner_id=caller.user_id)
    if "marketing" in roles and not write and kind in (Kind.CARD, Kind.REPORT):
        return Sight(everything=True)
    if "support" in roles and (kind == Kind.HISTORY or (kind == Kind.CARD and not write)):
        return Sight(everything=True, clients_only=True)
    raise NoAccess(
        f"the roles {sorted(roles) or '(none)'} give no {'write' if write else 'read'} access to {kind.value} records"
    )


def may_file_under(caller: Caller, department_id: uuid.UUID | None) -> bool:
    """Whether the caller may put a record (a card, a deal) under this department: one they work in, or for a head
    one of the departments they head. Owning a record is not enough: a manager's card tagged with another
    department would sit in that department's reports and before its head."""
    if department_id is None or caller.roles & SEE_ALL:
        return True
    if "head" in caller.roles and department_id in caller.departments:
        return True
    return department_id == caller.department_id


def may_act_for(caller: Caller, user_id: uuid.UUID | None) -> bool:
    """Whether the caller may make someone else the owner of what they schedule or open (a meeting, whose reminders
    go to its owner): heads, executives and admins may; everyone else only names themselves."""
    return user_id is None or user_id == caller.user_id or bool(caller.roles & (SEE_ALL | {"head"}))
