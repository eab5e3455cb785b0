"""ETag / If-Match: an update names the version it was made against (optimistic concurrency)."""

from __future__ import annotations

from mercator.common.errors import PreconditionFailed, PreconditionRequired


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str | None, *, required: bool = True) -> int | None:
    if not if_match:
        if required:
            raise PreconditionRequired("send If-Match with the ETag of the version you changed", field="If-Match")
        return None
    value = if_match.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    if not value.isdigit():
        raise PreconditionFailed("If-Match is not an ETag this service issued", field="If-Match")
    return int(value)


def check_version(record, expected: int | None, what: str = "record") -> None:
    """The update was made against the version the caller read, or it is refused (412): two people
    editing one record cannot silently overwrite each other."""
    if expected is not None and record.version != expected:
        raise PreconditionFailed(
            f"the {what} changed since you read it (your version {expected}, now "
            f"{record.version}); reload it and apply your change again"
        )
