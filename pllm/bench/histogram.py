"""A log-linear latency histogram: constant relative precision, cheap to record, mergeable.

Values are whole microseconds. Below 256 µs every value has its own bucket (exact); above, each
power of two is cut into 128 equal buckets, so a bucket is at most 1/128 of its values wide and
the midpoint reported for a percentile is within 0.4% of any value in it (HdrHistogram's layout
with two significant digits, in a sparse dict). Counts add, so histograms from several load
processes or rounds merge exactly: percentiles of the merge are those of the pooled data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["SUB_BITS", "Histogram"]

SUB_BITS = 8
_EXACT = 1 << SUB_BITS  # values below this are stored exactly
_HALF_BITS = SUB_BITS - 1


def bucket_of(us: int) -> int:
    """The bucket index of a value (µs, >= 0)."""
    if us < _EXACT:
        return us
    e = us.bit_length() - SUB_BITS
    return (e << _HALF_BITS) + (us >> e)


def bucket_bounds(index: int) -> tuple[int, int]:
    """(lowest value, width) of a bucket."""
    if index < _EXACT:
        return index, 1
    e = (index >> _HALF_BITS) - 1
    m = index - (e << _HALF_BITS)
    return m << e, 1 << e


@dataclass(slots=True)
class Histogram:
    """Counts per bucket plus the exact count, sum, minimum and maximum."""

    counts: dict[int, int] = field(default_factory=dict)
    n: int = 0
    total: int = 0
    low: int = 0
    high: int = 0

    def record(self, us: int) -> None:
        """Count one value in microseconds (negative values count as 0)."""
        if us < _EXACT:
            if us < 0:
                us = 0
            i = us
        else:
            e = us.bit_length() - SUB_BITS
            i = (e << _HALF_BITS) + (us >> e)
        counts = self.counts
        counts[i] = counts.get(i, 0) + 1
        if self.n == 0:
            self.low = self.high = us
        elif us < self.low:
            self.low = us
        elif us > self.high:
            self.high = us
        self.n += 1
        self.total += us

    def record_n(self, us: int, count: int) -> None:
        """Count `count` equal values at once."""
        if count <= 0:
            return
        us = max(us, 0)
        i = bucket_of(us)
        self.counts[i] = self.counts.get(i, 0) + count
        if self.n == 0:
            self.low = self.high = us
        else:
            self.low, self.high = min(self.low, us), max(self.high, us)
        self.n += count
        self.total += us * count

    def record_s(self, seconds: float) -> None:
        self.record(int(seconds * 1_000_000))

    def merge(self, other: Histogram) -> None:
        """Add another histogram's counts to this one."""
        if other.n == 0:
            return
        counts = self.counts
        for i, c in other.counts.items():
            counts[i] = counts.get(i, 0) + c
        if self.n == 0:
            self.low, self.high = other.low, other.high
        else:
            self.low, self.high = min(self.low, other.low), max(self.high, other.high)
        self.n += other.n
        self.total += other.total

    def copy(self) -> Histogram:
        return Histogram(dict(self.counts), self.n, self.total, self.low, self.high)

    def mean(self) -> float:
        return self.total / self.n if self.n else math.nan

    def percentile(self, q: float) -> float:
        """The nearest-rank q-th percentile (0 < q <= 100) in µs: the midpoint of the bucket
        holding the value of rank ceil(q/100 * n), kept within the exact minimum and maximum.
        NaN when empty."""
        return self.percentiles((q,))[0]

    def percentiles(self, qs: tuple[float, ...]) -> list[float]:
        """Several percentiles in one pass over the buckets (qs in any order)."""
        if self.n == 0:
            return [math.nan] * len(qs)
        ranks = sorted((max(1, math.ceil(q / 100.0 * self.n - 1e-9)), k)
                       for k, q in enumerate(qs))
        out = [math.nan] * len(qs)
        seen, r = 0, 0
        for i in sorted(self.counts):
            seen += self.counts[i]
            while r < len(ranks) and ranks[r][0] <= seen:
                lo, width = bucket_bounds(i)
                mid = lo + (width - 1) / 2.0
                out[ranks[r][1]] = float(min(max(mid, self.low), self.high))
                r += 1
            if r == len(ranks):
                break
        for _, k in ranks[r:]:  # only reachable through float rounding at q = 100
            out[k] = float(self.high)
        return out
