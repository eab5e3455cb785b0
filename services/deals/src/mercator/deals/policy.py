"""Who may do what with the deals service's records, beyond the sight every read and write is checked against."""

from __future__ import annotations

import uuid

from mercator.common.auth import Caller
from mercator.common.visibility import Kind, NoAccess, may_file_under, sight


def may_edit_settings(caller: Caller) -> None:
    """Pipelines, lost reasons and the catalogue: heads, executives and admins (NoAccess for the rest)."""
    sight(caller, Kind.SETTINGS, write=True)


def may_hold(
    caller: Caller, owner_id: uuid.UUID, department_id: uuid.UUID | None, filed_under: uuid.UUID | None = None
) -> None:
    """A deal is given only to someone the caller sees: a manager opens deals for themselves, a head for
    people of their department subtree, executives and admins for anyone. The caller keeps sight of it."""
    if not sight(caller, Kind.DEAL, write=True).sees(owner_id, department_id):
        raise NoAccess("a deal can be given only to yourself or, for a head, to your departments")
    if department_id != filed_under and not may_file_under(caller, department_id):
        raise NoAccess("a deal can be filed only under your own department or, for a head, the ones you head")


def name_key(text: str) -> str:
    """Names compared as people read them: case, 'ё' and spacing aside."""
    return " ".join(text.casefold().replace("ё", "е").split())
