"""A partial update (PATCH) applied to a record: only what differs is written, and only then is it a new version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mercator.common.clock import now


def apply_changes(record: Any, changes: Mapping[str, Any], *, versioned: bool = True) -> list[str]:
    """Sets each field whose value differs from the record's and returns their names in the order given.

    When any did and `versioned`, the record's `version` goes up by one and `updated_at` becomes now, so a
    PATCH that repeats what is stored changes nothing: no new version, no event.
    """
    changed = [name for name, value in changes.items() if getattr(record, name) != value]
    for name in changed:
        setattr(record, name, changes[name])
    if changed and versioned:
        record.version += 1
        if hasattr(record, "updated_at"):
            record.updated_at = now()
    return changed
