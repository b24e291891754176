"""The bench's log-linear histogram: percentiles against exact nearest-rank values on known
data, bucket layout, and merging (the merge of parts is the histogram of the pooled data)."""

from __future__ import annotations

import math
import random

import pytest

from pllm.bench.histogram import Histogram, bucket_bounds, bucket_of

QS = (1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 100.0)


def exact(values: list[int], q: float) -> int:
    """Nearest-rank percentile: the value of rank ceil(q/100 * n) in sorted order."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered) - 1e-9))
    return ordered[rank - 1]


def filled(values: list[int]) -> Histogram:
    h = Histogram()
    for v in values:
        h.record(v)
    return h


def test_small_values_are_exact() -> None:
    values = list(range(1, 101))  # 1..100 µs
    h = filled(values)
    assert h.percentile(50) == 50.0
    assert h.percentile(90) == 90.0
    assert h.percentile(99) == 99.0
    assert h.percentile(100) == 100.0
    assert (h.n, h.low, h.high, h.mean()) == (100, 1, 100, 50.5)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_within_bucket_precision_of_exact(seed: int) -> None:
    rng = random.Random(seed)
    # Latencies spanning µs to seconds: a lognormal body and a far tail.
    values = [int(rng.lognormvariate(8.0, 1.2)) for _ in range(20_000)]
    values += [rng.randrange(1_000_000, 5_000_000) for _ in range(50)]
    h = filled(values)
    for q, got in zip(QS, h.percentiles(QS), strict=True):
        want = exact(values, q)
        # A bucket is at most 1/128 of its values wide; its midpoint is within 1/256 of any.
        assert abs(got - want) <= want / 256 + 0.5, (q, got, want)
    assert h.low == min(values) and h.high == max(values)
    assert h.mean() == pytest.approx(sum(values) / len(values))


def test_percentile_of_a_skewed_known_set() -> None:
    values = [1000] * 990 + [250_000] * 9 + [4_000_000]
    h = filled(values)
    assert h.percentile(50) == pytest.approx(1000, rel=1 / 256)
    assert h.percentile(99) == pytest.approx(1000, rel=1 / 256)
    assert h.percentile(99.1) == pytest.approx(250_000, rel=1 / 256)
    assert h.percentile(99.9) == pytest.approx(250_000, rel=1 / 256)
    assert h.percentile(100) == 4_000_000  # the maximum is exact


def test_bucket_layout_is_monotonic_and_covers_every_value() -> None:
    last = -1
    for v in [*range(0, 5000), *range(5000, 10**7, 997), 2**40 + 12345]:
        i = bucket_of(v)
        lo, width = bucket_bounds(i)
        assert lo <= v < lo + width, v
        assert i >= last
        last = i
        if v >= 256:
            assert width <= lo / 128


def test_merge_equals_the_histogram_of_pooled_data() -> None:
    rng = random.Random(7)
    a = [rng.randrange(0, 50_000) for _ in range(3000)]
    b = [rng.randrange(10_000, 900_000) for _ in range(1000)]
    ha, hb = filled(a), filled(b)
    merged = ha.copy()
    merged.merge(hb)
    pooled = filled(a + b)
    assert merged.counts == pooled.counts
    assert (merged.n, merged.total, merged.low, merged.high) == \
        (pooled.n, pooled.total, pooled.low, pooled.high)
    assert merged.percentiles(QS) == pooled.percentiles(QS)
    assert ha.n == 3000  # copy() left the original alone


def test_merge_with_empty_sides() -> None:
    h = filled([5, 9])
    h.merge(Histogram())
    assert (h.n, h.low, h.high) == (2, 5, 9)
    empty = Histogram()
    empty.merge(h)
    assert (empty.n, empty.low, empty.high) == (2, 5, 9)


def test_empty_and_edge_values() -> None:
    assert math.isnan(Histogram().percentile(50))
    assert math.isnan(Histogram().mean())
    h = filled([-5, 0])
    assert (h.low, h.high, h.percentile(100)) == (0, 0, 0.0)


def test_record_n_equals_repeated_record() -> None:
    a, b = Histogram(), Histogram()
    a.record_n(12_345, 7)
    a.record_n(3, 0)
    for _ in range(7):
        b.record(12_345)
    assert (a.counts, a.n, a.total, a.low, a.high) == (b.counts, b.n, b.total, b.low, b.high)
