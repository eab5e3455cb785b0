"""Rules of identity: roles, passwords, e-mail addresses, partner API keys and scopes, the department tree.

Pure domain layer: no storage, no web framework.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from mercator.common.auth import Caller
from mercator.common.errors import InvalidValue, RuleViolation


class Role(StrEnum):
    MANAGER = "manager"
    HEAD = "head"  # head of sales: sees the managers of their department subtree
    MARKETING = "marketing"
    EXECUTIVE = "executive"
    SUPPORT = "support"
    ADMIN = "admin"
    IMPORTER = "importer"  # may record when things happened in the past (bringing history in); sees by other roles
    PARTNER = "partner"  # partner systems only: carried by API keys, never given to a person


def user_roles(roles: Iterable[str]) -> list[str]:
    """The roles of a person, deduplicated and sorted (a stable order for events and ETags)."""
    out = set()
    for r in roles:
        try:
            out.add(Role(r))
        except ValueError:
            raise InvalidValue("unknown_role", f"there is no role {r!r}", "roles") from None
    if Role.PARTNER in out:
        raise InvalidValue("partner_role", "the partner role belongs to API keys, not to people", "roles")
    if not out:
        raise InvalidValue("no_role", "a user needs at least one role", "roles")
    return sorted(r.value for r in out)


def must_keep_an_admin(other_active_admins: int, stays_admin: bool) -> None:
    """Somebody must be able to manage users: the last active admin cannot be demoted or deactivated."""
    if not stays_admin and other_active_admins == 0:
        raise RuleViolation("last_admin", "this is the last active admin; make another admin first", "roles")


@dataclass(frozen=True)
class Principal:
    """Who is calling the gateway: a person (scopes None: their roles decide) or a partner's API key."""

    caller: Caller
    scopes: frozenset[str] | None = None
    api_key_id: uuid.UUID | None = None

    def allows(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes


# --- passwords ------------------------------------------------------------------------------

PASSWORD_MIN = 10
PASSWORD_MAX = 256  # argon2 takes any length; the cap keeps a huge body from costing CPU


def _char_class(c: str) -> str:
    if c.isdigit():
        return "digit"
    if c.isalpha():
        # Case-less scripts have neither upper nor lower case: count them as letters of their own.
        return "upper" if c.isupper() else "lower" if c.islower() else "letter"
    return "other"


def check_password(password: str, *, email: str | None = None) -> None:
    weak = InvalidValue(
        "weak_password",
        f"a password needs at least {PASSWORD_MIN} characters of at least two "
        "kinds (lower case, upper case, digits, other)",
        "password",
    )
    if len(password) < PASSWORD_MIN or len({_char_class(c) for c in password}) < 2:
        raise weak
    if len(password) > PASSWORD_MAX:
        raise InvalidValue("weak_password", f"a password may have at most {PASSWORD_MAX} characters", "password")
    if email and password.strip().lower() == email.strip().lower():
        raise weak


# --- e-mail ---------------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")


def normalise_email(email: str) -> str:
    """The sign-in name: trimmed, NFC, lower case (`Anna@Example.RU` and `anna@example.ru` are one user)."""
    value = unicodedata.normalize("NFC", email.strip()).lower()
    if len(value) > 254 or not _EMAIL.match(value):
        raise InvalidValue("invalid_email", "this is not an e-mail address", "email")
    return value


# --- partner API keys -------------------------------------------------------------------------

KEY_PREFIX = "mk_"
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
_KEY_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class ApiKey:
    """`mk_<key id>_<secret>`: the key id finds the row, only a hash of the secret is stored."""

    key_id: str
    secret: str

    def __str__(self) -> str:
        return f"{KEY_PREFIX}{self.key_id}_{self.secret}"


def new_api_key() -> ApiKey:
    return ApiKey(secrets.token_hex(8), secrets.token_urlsafe(32))


def parse_api_key(value: str) -> ApiKey:
    # The id part is hex, so the first "_" after it ends it; the secret may hold "_" itself.
    key_id, sep, secret = value.strip().removeprefix(KEY_PREFIX).partition("_")
    if (
        not value.strip().startswith(KEY_PREFIX)
        or not sep
        or not _KEY_ID.match(key_id)
        or not _KEY_SECRET.match(secret)
    ):
        raise InvalidValue("invalid_api_key", "this is not a Mercator API key", "X-API-Key")
    return ApiKey(key_id, secret)


# What a partner key may do: read or write one kind of resource, named as in the public paths
# (`/api/v1/<resource>/...`). A card's contact persons, history and meetings are resources of their own
# (`/companies/{id}/persons` needs `read:persons`: their e-mails and phones are not the card's), and merging
# or reassigning a card or a deal is an action of its own: `write:companies` does neither.
READ_SCOPES = (
    "companies",
    "persons",
    "regions",
    "industries",
    "contact-sources",
    "history",
    "meetings",
    "deals",
    "pipelines",
    "lost-reasons",
    "products",
    "product-groups",
    "board",
    "contracts",
    "invoices",
    "payments",
    "deliveries",
    "receivables",
    "clients",
    "reports",
    "people",
)
# An ERP or telephony system writes client cards, history, deals, payments and waybills; never reference data.
WRITE_SCOPES = ("companies", "persons", "history", "meetings", "deals", "payments", "deliveries")
ACTION_SCOPES = ("merge:companies", "reassign:companies", "reassign:deals")
SCOPES = frozenset([f"read:{r}" for r in READ_SCOPES] + [f"write:{r}" for r in WRITE_SCOPES] + list(ACTION_SCOPES))
# Paths below a card that are resources of their own, and actions that are scopes of their own.
_SUB_RESOURCES = {
    ("companies", "persons"): "persons",
    ("companies", "history"): "history",
    ("companies", "meetings"): "meetings",
}
_ACTIONS = {
    ("companies", "merge"): "merge:companies",
    ("companies", "reassign"): "reassign:companies",
    ("deals", "reassign"): "reassign:deals",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def check_scopes(scopes: Iterable[str]) -> list[str]:
    out = sorted(set(scopes))
    unknown = [s for s in out if s not in SCOPES]
    if unknown:
        raise InvalidValue("unknown_scope", f"unknown scopes {unknown}; known: {sorted(SCOPES)}", "scopes")
    if not out:
        raise InvalidValue("no_scope", "an API key needs at least one scope", "scopes")
    return out


def needed_scope(method: str, resource: str) -> str:
    """The scope a request on a resource needs: reading takes `read:<resource>`, anything else `write:<resource>`."""
    return f"{'read' if method.upper() in SAFE_METHODS else 'write'}:{resource}"


def scope_of_path(method: str, path: str) -> str | None:
    """The scope a key needs for a public path (`/api/v1/companies/{id}/history`, a template or a real one), or None
    when no scope opens it (reference data to write, templates, imports...): then keys are refused."""
    parts = path.strip("/").split("/")
    if parts[:2] != ["api", "v1"] or len(parts) < 3:
        return None
    resource, below = parts[2], parts[4] if len(parts) > 4 else None
    if below is not None and method.upper() not in SAFE_METHODS and (resource, below) in _ACTIONS:
        return _ACTIONS[(resource, below)]
    scope = needed_scope(method, _SUB_RESOURCES.get((resource, below), resource) if below else resource)
    return scope if scope in SCOPES else None


# --- the department tree ----------------------------------------------------------------------


def subtree(department_id: uuid.UUID, parents: Mapping[uuid.UUID, uuid.UUID | None]) -> set[uuid.UUID]:
    """The department and all below it. `parents` maps every department to its parent (None at a root)."""
    children: dict[uuid.UUID, list[uuid.UUID]] = {}
    for child, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    seen, frontier = {department_id}, [department_id]
    while frontier:
        node = frontier.pop()
        for child in children.get(node, ()):
            if child in seen:  # one parent each: meeting a node twice means we went round a loop
                raise RuleViolation("department_cycle", "the departments form a loop", "parent_id")
            seen.add(child)
            frontier.append(child)
    return seen


def check_parent(
    department_id: uuid.UUID, parent_id: uuid.UUID | None, parents: Mapping[uuid.UUID, uuid.UUID | None]
) -> None:
    """A department cannot be put under itself or under one of its own subdepartments."""
    if parent_id is not None and parent_id in subtree(department_id, {**parents, department_id: None}):
        raise RuleViolation(
            "department_cycle", "a department cannot be placed under itself or its own subdepartment", "parent_id"
        )
