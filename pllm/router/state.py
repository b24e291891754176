"""Routing state: what the router knows about each deployment, behind one small interface.

`RoutingState` is all the strategies and the dispatcher see: `stats(id)` to read, `begin` /
`finish` around every attempt. `LocalState` keeps it in this process; a shared implementation
(Redis, for several gateway instances) can replace it without touching the strategies.
Time comes from an injected clock (monotonic seconds), so everything here is testable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pllm.config.model import CircuitBreakerSettings
from pllm.limits.window import Window
from pllm.router.breaker import Breaker

__all__ = ["AttemptResult", "DeploymentStats", "LocalState", "RoutingState", "Window"]

# Exponentially decayed counters forget with this half-life (seconds).
HALF_LIFE_S = 60.0
# Weight of the newest latency in the moving average.
EWMA_ALPHA = 0.3

AttemptResult = Literal["success", "failure", "neutral"]
"""failure: counts against health (5xx, timeouts, 429, auth); neutral: says nothing about the
deployment (the client's own 4xx, a cancelled request)."""


@dataclass(slots=True)
class DeploymentStats:
    breaker: Breaker
    in_flight: int = 0
    successes: float = 0.0
    failures: float = 0.0
    decayed_at: float = 0.0
    latency: float | None = None
    """Moving average of whole-request latency (seconds)."""
    ttft: float | None = None
    """Moving average of time to first token for streams (seconds)."""
    requests: Window = field(default_factory=Window)
    tokens: Window = field(default_factory=Window)
    total_requests: int = 0
    total_failures: int = 0
    last_failure: float = float("-inf")

    def decay(self, now: float) -> None:
        if now > self.decayed_at:
            factor = math.pow(0.5, (now - self.decayed_at) / HALF_LIFE_S)
            self.successes *= factor
            self.failures *= factor
            self.decayed_at = now

    def success_rate(self, now: float) -> float | None:
        self.decay(now)
        seen = self.successes + self.failures
        return self.successes / seen if seen > 0.05 else None


class RoutingState(Protocol):
    def stats(self, dep_id: str) -> DeploymentStats: ...

    def begin(self, dep_id: str, tokens: int) -> bool:
        """Start an attempt (False: its breaker refuses, e.g. a probe is already out)."""
        ...

    def finish(self, dep_id: str, result: AttemptResult, *, latency: float | None = None,
               ttft: float | None = None, tokens_delta: int = 0, breaker: bool = True) -> None:
        """End an attempt. `breaker=False`: record it in the statistics but leave the circuit
        breaker alone (a deployment that is its group's only one)."""
        ...

    def cool_down(self, dep_id: str, seconds: float) -> None: ...

    def now(self) -> float: ...


class LocalState:
    """Routing state in this process."""

    def __init__(self, breaker: CircuitBreakerSettings,
                 clock: Callable[[], float]) -> None:
        self._breaker = breaker
        self._clock = clock
        self._stats: dict[str, DeploymentStats] = {}

    def now(self) -> float:
        return self._clock()

    def stats(self, dep_id: str) -> DeploymentStats:
        s = self._stats.get(dep_id)
        if s is None:
            breaker = Breaker(self._breaker.threshold, self._breaker.timeout)
            s = self._stats[dep_id] = DeploymentStats(breaker, decayed_at=self._clock())
        return s

    def known(self) -> Iterable[str]:
        return self._stats.keys()

    def reconfigure(self, breaker: CircuitBreakerSettings, keep: Iterable[str]) -> None:
        """After a config reload: the deployments in `keep` (ids are stable hashes of what a
        deployment is) keep their statistics and breakers, with the new breaker settings;
        the others are forgotten once no request is using them."""
        self._breaker = breaker
        wanted = set(keep)
        for dep_id in list(self._stats):
            s = self._stats[dep_id]
            if dep_id in wanted:
                s.breaker.threshold, s.breaker.timeout = breaker.threshold, breaker.timeout
            elif s.in_flight == 0:
                del self._stats[dep_id]

    def begin(self, dep_id: str, tokens: int) -> bool:
        s = self.stats(dep_id)
        now = self._clock()
        if not s.breaker.acquire(now):
            return False
        s.in_flight += 1
        s.total_requests += 1
        s.requests.add(now, 1)
        if tokens:
            s.tokens.add(now, tokens)
        return True

    def finish(self, dep_id: str, result: AttemptResult, *, latency: float | None = None,
               ttft: float | None = None, tokens_delta: int = 0, breaker: bool = True) -> None:
        s = self.stats(dep_id)
        now = self._clock()
        s.in_flight = max(0, s.in_flight - 1)
        s.decay(now)
        if tokens_delta:
            s.tokens.add(now, tokens_delta)  # the estimate replaced by the real count
        if result == "success":
            s.successes += 1
            s.breaker.success()
            if latency is not None:
                s.latency = _ewma(s.latency, latency)
            if ttft is not None:
                s.ttft = _ewma(s.ttft, ttft)
        elif result == "failure":
            s.failures += 1
            s.total_failures += 1
            s.last_failure = now
            if breaker:
                s.breaker.failure(now)
            else:
                s.breaker.release()
            if latency is not None:  # a slow failure is still a slow deployment
                s.latency = _ewma(s.latency, latency)
        else:
            s.breaker.release()

    def cool_down(self, dep_id: str, seconds: float) -> None:
        self.stats(dep_id).breaker.cool_down(self._clock() + seconds)


def _ewma(old: float | None, new: float) -> float:
    return new if old is None else old + EWMA_ALPHA * (new - old)
