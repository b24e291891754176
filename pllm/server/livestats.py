"""Live statistics for the dashboard (`pllm tui`, `GET /admin/stats`): a request observer that
keeps, for the whole gateway and for each deployment, per-second ring buffers of the last
minutes, plus the last requests.

Each second holds a request count, failures, tokens, cost and a small latency histogram
(geometric buckets 25% apart, so a percentile is within ~12% of the true value; only the
buckets used are stored). A ring reuses its slots, and an observation costs a few
microseconds (`benchmarks/stats_observer.py`). Pure: no I/O; the clock is injected.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from pllm.server.events import RequestDone

__all__ = ["BUCKETS", "LiveStats", "Ring", "Second", "bucket_of", "is_failure", "percentile"]

BUCKETS = 64
"""0.25 ms to ~7 minutes; slower requests count in the last bucket."""
_FLOOR_MS = 0.25
_RATIO = 1.25
_LOG_RATIO = math.log(_RATIO)
# Each bucket is reported as the geometric middle of its bounds.
_MIDDLE_MS: tuple[float, ...] = tuple(float(_FLOOR_MS * _RATIO ** (i + 0.5))
                                     for i in range(BUCKETS))


def bucket_of(latency_s: float) -> int:
    ms = latency_s * 1000.0
    if ms <= _FLOOR_MS:
        return 0
    return min(BUCKETS - 1, int(math.log(ms / _FLOOR_MS) / _LOG_RATIO))


def percentile(hist: dict[int, int], q: float) -> float | None:
    """The q-quantile (0-1) of a latency histogram (bucket -> count), in milliseconds; None
    when empty."""
    total = sum(hist.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for i in sorted(hist):
        seen += hist[i]
        if seen >= rank:
            return round(_MIDDLE_MS[i], 2)
    return round(_MIDDLE_MS[-1], 2)  # pragma: no cover (rank <= total)


def is_failure(status: int) -> bool:
    """What the dashboard counts as failed: every request the client got no answer for."""
    return status >= 400


@dataclass(slots=True)
class Second:
    at: int = -1
    requests: int = 0
    failed: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    hist: dict[int, int] = field(default_factory=dict)
    """Latency bucket -> requests; only the few buckets a second's requests fell in."""
    p50_ms: float | None = None
    p95_ms: float | None = None
    final: bool = False
    """Percentiles computed once the second is over (it can no longer change)."""

    def reset(self, at: int) -> None:
        self.at, self.requests, self.failed, self.tokens, self.cost_usd = at, 0, 0, 0, 0.0
        self.hist.clear()
        self.p50_ms = self.p95_ms = None
        self.final = False

    def finish(self) -> None:
        if not self.final:
            self.p50_ms = percentile(self.hist, 0.50)
            self.p95_ms = percentile(self.hist, 0.95)
            self.final = True


class Ring:
    """The last `seconds` seconds, one slot each, overwritten as time moves on."""

    def __init__(self, seconds: int) -> None:
        self.size = seconds
        self._slots = [Second() for _ in range(seconds)]

    def add(self, now: int, latency_s: float | None, failed: bool, tokens: int,
            cost_usd: float) -> None:
        slot = self._slots[now % self.size]
        if slot.at != now:
            slot.reset(now)
        slot.requests += 1
        if failed:
            slot.failed += 1
        slot.tokens += tokens
        slot.cost_usd += cost_usd
        if latency_s is not None:
            b = bucket_of(latency_s)
            slot.hist[b] = slot.hist.get(b, 0) + 1

    def seconds(self, first: int, last: int) -> Iterator[Second]:
        """The slots holding data for seconds first..last (inclusive), oldest first."""
        for at in range(max(first, last - self.size + 1), last + 1):
            slot = self._slots[at % self.size]
            if slot.at == at:
                yield slot

    def rate(self, now: int, window: int) -> float:
        """Requests per second over the `window` complete seconds before `now`."""
        return sum(s.requests for s in self.seconds(now - window, now - 1)) / window

    def summary(self, now: int, window: int) -> tuple[int, int, float | None, float | None]:
        """Requests, failures, p50 and p95 (ms) over the last `window` seconds."""
        merged: dict[int, int] = {}
        requests = failed = 0
        for s in self.seconds(now - window + 1, now):
            requests += s.requests
            failed += s.failed
            for i, n in s.hist.items():
                merged[i] = merged.get(i, 0) + n
        return requests, failed, percentile(merged, 0.50), percentile(merged, 0.95)

    def series(self, now: int, window: int) -> dict[str, list[float | None]]:
        """Per complete second over the last `window`: requests, failures, p50 and p95 (ms)."""
        rps: list[float | None] = []
        failed: list[float | None] = []
        p50: list[float | None] = []
        p95: list[float | None] = []
        for at in range(now - window, now):
            slot = self._slots[at % self.size]
            if slot.at != at or at < now - self.size + 1:
                rps.append(0)
                failed.append(0)
                p50.append(None)
                p95.append(None)
                continue
            slot.finish()
            rps.append(slot.requests)
            failed.append(slot.failed)
            p50.append(slot.p50_ms)
            p95.append(slot.p95_ms)
        return {"rps": rps, "failed": failed, "p50_ms": p50, "p95_ms": p95}


@dataclass(slots=True)
class Totals:
    requests: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {"requests": self.requests, "failed": self.failed,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "tokens": self.prompt_tokens + self.completion_tokens,
                "cost_usd": round(self.cost_usd, 6)}


class LiveStats:
    """The observer (call it with each `RequestDone`) and what it has gathered."""

    DEPLOYMENT_WINDOW_S = 60

    def __init__(self, *, minutes: int = 10, recent: int = 1000,
                 clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.started = clock()
        self.window_s = minutes * 60
        self.gateway = Ring(self.window_s)
        self.deployments: dict[str, Ring] = {}
        self.totals = Totals()
        self.seq = 0
        """Sequence number of the newest request seen (the first is 1)."""
        self._recent: deque[tuple[int, RequestDone]] = deque(maxlen=recent)

    def __call__(self, event: RequestDone) -> None:
        now = int(self.clock())
        failed = is_failure(event.status)
        tokens = event.prompt_tokens + event.completion_tokens
        latency = None if event.status == 499 else event.duration_s
        self.gateway.add(now, latency, failed, tokens, event.cost_usd)
        if event.deployment is not None:
            ring = self.deployments.get(event.deployment)
            if ring is None:
                ring = self.deployments[event.deployment] = Ring(self.DEPLOYMENT_WINDOW_S)
            ring.add(now, latency, failed, tokens, event.cost_usd)
        t = self.totals
        t.requests += 1
        t.failed += failed
        t.prompt_tokens += event.prompt_tokens
        t.completion_tokens += event.completion_tokens
        t.cost_usd += event.cost_usd
        self.seq += 1
        self._recent.append((self.seq, event))

    def now(self) -> int:
        return int(self.clock())

    def recent(self, limit: int, keep: Callable[[RequestDone], bool] | None = None,
               ) -> list[tuple[int, RequestDone]]:
        """The newest `limit` requests that `keep` accepts, newest first."""
        out: list[tuple[int, RequestDone]] = []
        for item in reversed(self._recent):
            if keep is None or keep(item[1]):
                out.append(item)
                if len(out) >= limit:
                    break
        return out

    def after(self, seq: int, limit: int) -> list[tuple[int, RequestDone]]:
        """Requests after sequence number `seq`, oldest first (at most the newest `limit`)."""
        out: list[tuple[int, RequestDone]] = []
        for item in reversed(self._recent):
            if item[0] <= seq or len(out) >= limit:
                break
            out.append(item)
        out.reverse()
        return out

    def forget(self, keep: Iterable[str]) -> None:
        """Drop the rings of deployments no longer configured (after a reload)."""
        wanted = set(keep)
        for dep_id in [d for d in self.deployments if d not in wanted]:
            del self.deployments[dep_id]
