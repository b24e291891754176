"""A sliding window: what was used in the last 60 seconds, counted in 100 ms buckets.

Counts are exact; only the moment a use leaves the window is rounded, to the start of its
bucket (a use expires 59.9 to 60 s after it was made). Buckets rather than a log of every
use because a busy limit would otherwise hold one object per request for a minute: at 2,000
requests/s and six limits, over a million objects for the garbage collector to walk, which
showed as 100+ ms pauses at p99. Here a window holds at most 600 numbers, in deques of ints and
floats that the collector does not track.

A use can be corrected after the fact (a token estimate reconciled with the usage the
provider reported): `add` returns its bucket, `adjust` changes that bucket's amount.
"""

from __future__ import annotations

from collections import deque

__all__ = ["BUCKET_S", "SPAN_S", "Window"]

SPAN_S = 60.0
BUCKET_S = 0.1
_PER_S = 1.0 / BUCKET_S


class Window:
    __slots__ = ("_amounts", "_ids", "_span_buckets", "span", "total")

    def __init__(self, span: float = SPAN_S) -> None:
        self._ids: deque[int] = deque()  # bucket numbers, increasing
        self._amounts: deque[float] = deque()
        self.span = span
        self._span_buckets = round(span * _PER_S)
        self.total = 0.0

    def used(self, now: float) -> float:
        ids = self._ids
        cutoff = int(now * _PER_S) - self._span_buckets
        while ids and ids[0] <= cutoff:
            ids.popleft()
            self.total -= self._amounts.popleft()
        if not ids:
            self.total = 0.0  # no float drift survives an empty window
        return self.total

    def add(self, now: float, amount: float) -> int:
        """Count `amount` now; the bucket it went to (for `adjust`)."""
        bucket = int(now * _PER_S)
        ids = self._ids
        if ids and ids[-1] == bucket:
            self._amounts[-1] += amount
        else:
            ids.append(bucket)
            self._amounts.append(amount)
        self.total += amount
        return bucket

    def adjust(self, bucket: int, old: float, new: float, now: float) -> None:
        """Replace `old` counted in `bucket` by `new`, if the bucket is still in the window."""
        self.used(now)
        ids = self._ids
        i = len(ids) - 1
        while i >= 0 and ids[i] > bucket:  # recent buckets are near the right end
            i -= 1
        if i >= 0 and ids[i] == bucket:
            self._amounts[i] += new - old
            self.total += new - old

    def free_at(self, now: float, need: float, limit: float) -> float:
        """The earliest time at which `need` more fits under `limit` (now if it already
        fits; +inf if it never can)."""
        if need > limit:
            return float("inf")
        excess = self.used(now) + need - limit
        if excess <= 0:
            return now
        for bucket, amount in zip(self._ids, self._amounts, strict=True):
            excess -= amount
            if excess <= 0:
                return self._leaves(bucket)
        return now + self.span

    def oldest_at(self, now: float) -> float:
        """When the oldest use still in the window leaves it (`now` if it is empty)."""
        self.used(now)
        return self._leaves(self._ids[0]) if self._ids else now

    def _leaves(self, bucket: int) -> float:
        return (bucket + self._span_buckets) * BUCKET_S

    def empty(self, now: float) -> bool:
        return self.used(now) == 0.0 and not self._ids
