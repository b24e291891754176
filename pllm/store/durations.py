"""Reading the times people type: `90m`, `12h`, `30d`, `2w`, a date (`2026-12-31`, midnight
UTC) or an ISO datetime (naive = UTC). Used by `--expires`, `--since`, `--grace` and the admin
API. Pure: the caller passes `now`."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Literal

from pllm.errors import InvalidRecord

__all__ = ["parse_duration", "parse_time"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> float:
    """Seconds in `90m`, `12h`, `30d`, `2w` (or `45s`)."""
    match = _DURATION.match(text)
    if not match:
        raise InvalidRecord(f"not a duration: {text!r} (use e.g. 90m, 12h, 30d, 2w)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_time(text: str, *, now: float, direction: Literal["future", "past"]) -> float:
    """A duration counted from `now` (forward or back), a date, or an ISO datetime."""
    if _DURATION.match(text):
        seconds = parse_duration(text)
        return now + seconds if direction == "future" else now - seconds
    value = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRecord(f"not a time: {text!r} (use e.g. 30d, 12h, 2026-12-31 or "
                            "2026-12-31T18:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
