"""An exact sliding window: what was used in the last 60 seconds, as a log of entries.

Exact rather than bucketed because a limit is a promise to the client (`remaining` and `reset`
headers must be true), and the cost is one deque append per request and one popleft per
expired entry. Entries can be corrected after the fact (token estimates reconciled with the
usage the provider reported).
"""

from __future__ import annotations

from collections import deque

__all__ = ["Entry", "Window"]

SPAN_S = 60.0


class Entry:
    __slots__ = ("amount", "at")

    def __init__(self, at: float, amount: float) -> None:
        self.at = at
        self.amount = amount


class Window:
    __slots__ = ("_log", "span", "total")

    def __init__(self, span: float = SPAN_S) -> None:
        self._log: deque[Entry] = deque()
        self.span = span
        self.total = 0.0

    def used(self, now: float) -> float:
        log = self._log
        cutoff = now - self.span
        while log and log[0].at <= cutoff:
            self.total -= log.popleft().amount
        if not log:
            self.total = 0.0  # no float drift survives an empty window
        return self.total

    def add(self, now: float, amount: float) -> Entry:
        entry = Entry(now, amount)
        self._log.append(entry)
        self.total += amount
        return entry

    def adjust(self, entry: Entry, amount: float, now: float) -> None:
        """Correct an entry still inside the window (an expired one no longer counts)."""
        if entry.at > now - self.span:
            self.total += amount - entry.amount
        entry.amount = amount

    def free_at(self, now: float, need: float, limit: float) -> float:
        """The earliest time at which `need` more fits under `limit` (now if it already
        fits; +inf if it never can)."""
        if need > limit:
            return float("inf")
        excess = self.used(now) + need - limit
        if excess <= 0:
            return now
        for entry in self._log:
            excess -= entry.amount
            if excess <= 0:
                return entry.at + self.span
        return now + self.span

    def oldest_at(self, now: float) -> float:
        """When the oldest entry still in the window was added (`now` if it is empty). Call
        after `used(now)`, which expires older entries."""
        return self._log[0].at if self._log else now - self.span

    def empty(self, now: float) -> bool:
        return self.used(now) == 0.0 and not self._log
