"""Budget periods on calendar boundaries (a day, an ISO week starting Monday, a month) in a
chosen time zone, UTC by default; `total` never resets. Pure: the caller passes `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = ["PERIODS", "next_period_start", "period_start", "zone"]

PERIODS = ("daily", "weekly", "monthly", "total")


@lru_cache(maxsize=16)
def zone(name: str = "UTC") -> tzinfo:
    return UTC if name.upper() == "UTC" else ZoneInfo(name)


def period_start(period: str, now: float, tz: str = "UTC") -> float:
    """Start (unix) of the calendar period containing `now`; `total` has none (0.0)."""
    if period == "total":
        return 0.0
    return _start(period, now, tz).timestamp()


def next_period_start(period: str, now: float, tz: str = "UTC") -> float | None:
    """Start (unix) of the period after the one containing `now` (None for `total`)."""
    if period == "total":
        return None
    # Aware datetimes with a ZoneInfo add in wall-clock time and take the offset in force at
    # the result, so a period spanning a DST change still ends at local midnight.
    start = _start(period, now, tz)
    if period == "daily":
        return (start + timedelta(days=1)).timestamp()
    if period == "weekly":
        return (start + timedelta(days=7)).timestamp()
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1).timestamp()
    return start.replace(month=start.month + 1).timestamp()


def _start(period: str, now: float, tz: str) -> datetime:
    if period not in ("daily", "weekly", "monthly"):
        raise ValueError(f"unknown budget period '{period}' (choose from {', '.join(PERIODS)})")
    day = datetime.fromtimestamp(now, zone(tz)).replace(hour=0, minute=0, second=0,
                                                        microsecond=0)
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    return day.replace(day=1)
