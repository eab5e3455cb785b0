"""The business day: dates in billing are the company's calendar days, in its time zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo


def today(time_zone: str) -> date:
    return datetime.now(ZoneInfo(time_zone)).date()
