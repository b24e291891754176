"""The live-stats observer (`pllm/server/livestats.py`) with an injected clock: per-second
rings, rates over complete seconds, latency percentiles from the bucketed histogram, the
recent-requests window and its sequence numbers."""

from __future__ import annotations

import pytest

from pllm.server.events import RequestDone
from pllm.server.livestats import LiveStats, Ring, bucket_of, percentile


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def done(status: int = 200, duration_s: float = 0.05, deployment: str | None = "d1",
         tokens: tuple[int, int] = (10, 5), cost: float = 0.001, model: str = "m",
         key_name: str | None = None) -> RequestDone:
    return RequestDone(request_id="r", endpoint="chat", model=model, status=status,
                       started=0.0, duration_s=duration_s, deployment=deployment,
                       model_group="g" if deployment else None, prompt_tokens=tokens[0],
                       completion_tokens=tokens[1], cost_usd=cost, key_name=key_name)


@pytest.mark.parametrize("ms", [0.3, 1, 7.5, 42, 180, 999, 12_000, 300_000])
def test_percentile_is_within_the_bucket_width(ms: float) -> None:
    got = percentile({bucket_of(ms / 1000): 1}, 0.5)
    assert got is not None and abs(got - ms) / ms < 0.125


def test_percentiles_of_a_spread() -> None:
    hist: dict[int, int] = {}
    for ms in range(1, 101):  # 1..100 ms
        hist[bucket_of(ms / 1000)] = hist.get(bucket_of(ms / 1000), 0) + 1
    p50, p95 = percentile(hist, 0.5), percentile(hist, 0.95)
    assert p50 is not None and p95 is not None
    assert 44 < p50 < 57 and 84 < p95 < 108
    assert percentile({}, 0.5) is None


def test_rates_count_complete_seconds_only() -> None:
    ring = Ring(60)
    for second in range(100, 105):
        for _ in range(second - 99):  # 1, 2, 3, 4, 5 requests
            ring.add(second, 0.01, False, 0, 0.0)
    assert ring.rate(105, 5) == 3.0  # (1+2+3+4+5)/5
    ring.add(105, 0.01, False, 0, 0.0)  # the current second is not counted yet
    assert ring.rate(105, 5) == 3.0
    assert ring.rate(106, 5) == (2 + 3 + 4 + 5 + 1) / 5


def test_old_seconds_are_forgotten_when_their_slot_comes_round() -> None:
    ring = Ring(10)
    ring.add(100, 0.01, True, 3, 0.5)
    assert ring.summary(100, 10)[:2] == (1, 1)
    assert ring.summary(109, 10)[:2] == (1, 1)
    assert ring.summary(110, 10)[:2] == (0, 0)  # second 100 is out of the window
    ring.add(110, 0.01, False, 0, 0.0)  # reuses the slot of second 100
    assert ring.summary(110, 10)[:2] == (1, 0)


def test_series_per_second() -> None:
    ring = Ring(60)
    ring.add(10, 0.010, False, 0, 0.0)
    ring.add(10, 0.020, True, 0, 0.0)
    ring.add(12, 0.100, False, 0, 0.0)
    series = ring.series(13, 4)  # seconds 9..12
    assert series["rps"] == [0, 2, 0, 1]
    assert series["failed"] == [0, 1, 0, 0]
    assert series["p50_ms"][0] is None and series["p50_ms"][2] is None
    p50, p95 = series["p50_ms"][1], series["p95_ms"][1]
    assert p50 is not None and p95 is not None and p50 < p95


def test_observer_totals_deployments_and_recent() -> None:
    clock = Clock()
    live = LiveStats(minutes=2, recent=3, clock=clock)
    live(done())
    live(done(status=502, deployment=None, tokens=(0, 0), cost=0.0))
    live(done(status=499, duration_s=9.0))  # a client that left: no latency sample
    clock.now += 1
    live(done(model="other", key_name="ci"))
    assert live.seq == 4
    assert live.totals.to_dict() == {"requests": 4, "failed": 2, "prompt_tokens": 30,
                                     "completion_tokens": 15, "tokens": 45,
                                     "cost_usd": 0.003}
    ring = live.deployments["d1"]
    requests, failed, _p50, p95 = ring.summary(live.now(), 60)
    assert (requests, failed) == (3, 1) and p95 is not None and p95 < 100  # not the 9 s
    assert [seq for seq, _ in live.recent(10)] == [4, 3, 2]  # keeps the last 3
    assert [seq for seq, _ in live.recent(10, lambda e: e.status >= 400)] == [3, 2]
    assert [seq for seq, _ in live.after(2, 10)] == [3, 4]
    assert [seq for seq, _ in live.after(2, 1)] == [4]  # the newest when limited
    assert live.after(4, 10) == []
    live.forget(["d2"])
    assert live.deployments == {}
