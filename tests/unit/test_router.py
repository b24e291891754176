"""The routing pieces with an injected clock and RNG: strategies, breaker, health, limits, and the
dispatcher's failover loop over a scripted in-memory upstream."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import replace
from typing import Any

import orjson
import pytest

from pllm.config.model import (
    CircuitBreakerSettings,
    Deployment,
    FrozenDict,
    RouterSettings,
    Secret,
    ServerSettings,
    Settings,
)
from pllm.errors import ApiError, RateLimited, UpstreamConnectError, UpstreamTimeout
from pllm.providers.base import UpstreamRequest, UpstreamResponse
from pllm.providers.registry import default_registry
from pllm.router.breaker import Breaker
from pllm.router.dispatch import Dispatcher
from pllm.router.health import health_score
from pllm.router.state import DeploymentStats, LocalState, Window
from pllm.router.strategies import Candidate, Chooser
from pllm.router.table import build_table
from pllm.schema import GatewayRequest


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def dep(name: str = "g", model: str = "m", **kw: Any) -> Deployment:
    fields = {"id": kw.pop("id", f"{name}-{model}"), "model_name": name, "provider": "openai",
              "model": model, "api_key": Secret("sk-test-000000"),
              "api_base": f"http://{kw.pop('host', model)}.invalid/v1"}
    return Deployment(**{**fields, **kw})


def candidates(*deps: Deployment, clock: Clock | None = None) -> list[Candidate]:
    state = LocalState(CircuitBreakerSettings(), clock or Clock())
    return [Candidate(i, d, state.stats(d.id), 100) for i, d in enumerate(deps)]


# -- strategies -----------------------------------------------------------------------------
def test_weighted_three_to_one() -> None:
    chooser = Chooser("weighted", random.Random(7))
    pool = candidates(dep(model="a", weight=3.0), dep(model="b", weight=1.0))
    counts = Counter(chooser.choose("g", pool).dep.model for _ in range(10_000))
    assert counts["a"] / 10_000 == pytest.approx(0.75, abs=0.015)


def test_weighted_by_rpm_like_simple_shuffle() -> None:
    chooser = Chooser("weighted", random.Random(3))
    pool = candidates(dep(model="a", rpm=100), dep(model="b", rpm=300))
    counts = Counter(chooser.choose("g", pool).dep.model for _ in range(10_000))
    assert counts["b"] / 10_000 == pytest.approx(0.75, abs=0.015)


@pytest.mark.parametrize("strategy", ["weighted", "round_robin", "least_busy", "latency_based",
                                      "usage_based", "cost_based", "priority"])
def test_priority_tiers_hold_for_every_strategy(strategy: Any) -> None:
    chooser = Chooser(strategy, random.Random(1))
    pool = candidates(dep(model="low", priority=1), dep(model="high1", priority=5),
                      dep(model="high2", priority=5))
    picked = {chooser.choose("g", pool).dep.model for _ in range(500)}
    assert "low" not in picked, "tier 2 is never used while tier 1 can serve"
    ordered = candidates(dep(model="second", order=2), dep(model="first", order=1))
    assert {chooser.choose("g", ordered).dep.model for _ in range(50)} == {"first"}


def test_unhealthy_deployments_are_skipped_while_healthy_ones_exist() -> None:
    pool = candidates(dep(model="sick"), dep(model="fine"))
    pool[0].health = 10
    chooser = Chooser("round_robin")
    assert {chooser.choose("g", pool).dep.model for _ in range(20)} == {"fine"}
    pool[1].health = 5
    assert len({chooser.choose("g", pool).dep.model for _ in range(20)}) == 2


def test_round_robin_least_busy_usage_and_cost() -> None:
    pool = candidates(dep(model="a"), dep(model="b"), dep(model="c"))
    rr = Chooser("round_robin")
    assert [rr.choose("g", pool).dep.model for _ in range(6)] == ["a", "b", "c"] * 2
    pool[0].stats.in_flight, pool[1].stats.in_flight, pool[2].stats.in_flight = 3, 1, 2
    assert Chooser("least_busy").choose("g", pool).dep.model == "b"
    pool[0].headroom, pool[1].headroom, pool[2].headroom = 0.2, 0.1, 0.9
    assert Chooser("usage_based").choose("g", pool).dep.model == "c"
    priced = candidates(
        dep(model="dear", model_info=FrozenDict({"input_cost_per_token": 1e-5,
                                                 "output_cost_per_token": 3e-5})),
        dep(model="cheap", model_info=FrozenDict({"input_cost_per_token": 1e-7,
                                                  "output_cost_per_token": 4e-7})),
        dep(model="unknown"))
    assert Chooser("cost_based").choose("g", priced).dep.model == "cheap"


def test_latency_based_prefers_fast_and_explores() -> None:
    pool = candidates(dep(model="fast"), dep(model="slow"))
    chooser = Chooser("latency_based", random.Random(5))
    assert {chooser.choose("g", pool).dep.model for _ in range(50)} == {"fast", "slow"}, \
        "unmeasured deployments are measured first"
    pool[0].stats.latency, pool[1].stats.latency = 0.010, 0.100
    counts = Counter(chooser.choose("g", pool).dep.model for _ in range(10_000))
    assert counts["fast"] / 10_000 > 0.95 and counts["slow"] > 0, "5% exploration"
    pool[0].stats.ttft, pool[1].stats.ttft = 0.5, 0.05
    streamed = Counter(chooser.choose("g", pool, stream=True).dep.model for _ in range(1000))
    assert streamed["slow"] > 900, "streams go by time to first token"


# -- breaker, health, limits ----------------------------------------------------------------
def test_breaker_state_machine() -> None:
    b = Breaker(threshold=3, timeout=30)
    now = 0.0
    for _ in range(2):
        b.failure(now)
    assert b.state == "closed" and b.available(now)
    b.failure(now)
    assert b.state == "open" and not b.available(now) and not b.acquire(29.9)
    assert b.available(30.0) and b.acquire(30.0) and b.state == "half_open"
    assert not b.available(30.0) and not b.acquire(30.1), "one probe at a time"
    b.failure(31.0)
    assert b.state == "open" and b.open_until == 61.0, "a failed probe re-opens"
    assert b.acquire(61.0)
    b.success()
    assert b.state == "closed" and b.failures == 0
    b.cool_down(100.0)
    assert b.state == "open" and b.open_until == 100.0 and b.acquire(100.0)
    b.release()
    assert b.available(100.0), "a neutral end frees the probe slot"


def test_health_score() -> None:
    clock = Clock()
    s = DeploymentStats(Breaker(5, 30), decayed_at=clock())
    assert health_score(s, clock(), None) == 100
    s.successes, s.failures = 8, 3
    assert health_score(s, clock(), None) == 77  # (8 + 2) / (11 + 2)
    s.breaker.failures, s.last_failure = 2, clock()
    assert health_score(s, clock(), None) == 57, "recent consecutive failures weigh"
    s.latency = 0.3
    assert health_score(s, clock(), 0.1) == 27, "three times the group median: -30"
    clock.t += 31
    assert health_score(s, clock(), 0.1) > 30, "old failures stop excluding it"
    clock.t += 600  # ten half-lives: the past is forgotten
    s.breaker.failures, s.latency = 0, None
    assert health_score(s, clock(), None) == 100
    s.breaker.cool_down(clock() + 5)
    assert health_score(s, clock(), None) == 0


def test_window_is_sliding() -> None:
    w = Window()
    for t in range(10):
        w.add(100.0 + t, 1)
    assert w.used(109.0) == 10 and w.used(160.5) == 9 and w.used(170.0) == 0
    w.add(200.0, 5)
    w.add(230.0, 5)
    assert w.free_at(240.0, 1, 10) == 260.0 and w.free_at(240.0, 1, 11) == 240.0


# -- the dispatcher over a scripted upstream ------------------------------------------------
class ScriptedUpstream:
    """Answers by deployment host: a status per host (repeating), records every call."""

    def __init__(self, plan: dict[str, list[Any]]) -> None:
        self.plan = plan
        self.calls: list[str] = []

    async def send(self, req: UpstreamRequest, *, timeout: float) -> UpstreamResponse:
        host = req.url.split("//")[1].split(".")[0]
        self.calls.append(host)
        steps = self.plan[host]
        step = steps[min(len(self.calls_to(host)) - 1, len(steps) - 1)]
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, float):  # a slow answer; the timeout is kept as aiohttp keeps it
            try:
                await asyncio.wait_for(asyncio.sleep(step), timeout)
            except TimeoutError:
                raise UpstreamTimeout("slow") from None
            step = 200
        status, headers = (step, {}) if isinstance(step, int) else step
        body = {"id": "x", "choices": [{"message": {"content": host}}], "usage": {
            "prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}} if status == 200 \
            else {"error": {"message": f"{host} says {status}", "type": "x", "code": None}}
        return UpstreamResponse(status, headers, orjson.dumps(body))

    def calls_to(self, host: str) -> list[str]:
        return [c for c in self.calls if c == host]


def dispatcher(deps: list[Deployment], plan: dict[str, list[Any]], *, clock: Clock | None = None,
               **router: Any) -> tuple[Dispatcher, ScriptedUpstream]:
    settings = Settings(deployments=tuple(deps), server=ServerSettings(request_timeout=5),
                        router=RouterSettings(**router))
    table, _ = build_table(settings, default_registry())
    upstream = ScriptedUpstream(plan)

    async def no_sleep(_: float) -> None:
        return None

    d = Dispatcher(settings, table, upstream, clock=clock or Clock(), sleep=no_sleep,  # type: ignore[arg-type]
                   rng=random.Random(0))
    return d, upstream


def ask(model: str = "g") -> GatewayRequest:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return GatewayRequest("chat", body, orjson.dumps(body), model)


def text(outcome: Any) -> str:
    return str(outcome.completion.data()["choices"][0]["message"]["content"])


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_retryable_failures_move_to_another_deployment() -> None:
    d, up = dispatcher([dep(model="a"), dep(model="b")], {"a": [500], "b": [200]},
                       strategy="round_robin")
    out = run(d.complete(ask()))
    assert text(out) == "b" and out.attempts == 2 and up.calls == ["a", "b"]


def test_client_errors_return_immediately() -> None:
    d, up = dispatcher([dep(model="a"), dep(model="b")], {"a": [400], "b": [200]},
                       strategy="round_robin")
    with pytest.raises(ApiError) as e:
        run(d.complete(ask()))
    assert e.value.status == 400 and up.calls == ["a"]


def test_breaker_opens_and_a_probe_closes_it() -> None:
    clock = Clock()
    d, up = dispatcher([dep(model="a"), dep(model="b")], {"a": [500], "b": [200]}, clock=clock,
                       strategy="round_robin",
                       circuit_breaker=CircuitBreakerSettings(threshold=2, timeout=30))

    async def many(n: int) -> None:
        for _ in range(n):
            await d.complete(ask())

    run(many(20))
    assert len(up.calls_to("a")) == 2, "two failures open a's breaker; then it is skipped"
    assert d.state.stats("g-a").breaker.state == "open"
    up.plan["a"] = [200]
    clock.t += 31
    run(many(4))
    assert len(up.calls_to("a")) >= 3 and d.state.stats("g-a").breaker.state == "closed"


def test_rate_limit_retry_after_cools_down_exactly_that_long() -> None:
    clock = Clock()
    d, up = dispatcher([dep(model="a"), dep(model="b")],
                       {"a": [(429, {"retry-after": "7"}), 200], "b": [200]}, clock=clock,
                       strategy="round_robin")
    run(d.complete(ask()))
    assert d.state.stats("g-a").breaker.open_until == clock() + 7
    clock.t += 6.9
    run(d.complete(ask()))
    assert up.calls_to("a") == ["a"]
    clock.t += 0.2
    for _ in range(2):
        run(d.complete(ask()))
    assert len(up.calls_to("a")) == 2


def test_rejected_key_opens_the_breaker_and_is_logged_by_id(
        caplog: pytest.LogCaptureFixture) -> None:
    d, _ = dispatcher([dep(model="a", id="dep-a"), dep(model="b")], {"a": [401], "b": [200]},
                      strategy="round_robin")
    with pytest.raises(ApiError):
        run(d.complete(ask()))
    assert d.state.stats("dep-a").breaker.state == "open"
    assert "deployment dep-a" in caplog.text and "sk-test" not in caplog.text


def test_fallbacks_after_the_group_is_exhausted() -> None:
    deps = [dep(model="a"), dep("backup", model="c")]
    d, up = dispatcher(deps, {"a": [503], "c": [200]}, retries=1,
                       fallbacks=FrozenDict({"g": ("backup",)}))
    out = run(d.complete(ask()))
    assert text(out) == "c" and out.fallback == "backup" and out.attempts == 3
    assert up.calls == ["a", "a", "c"], "the only deployment is retried, then the fallback"


def test_context_window_and_default_fallbacks() -> None:
    deps = [dep(model="small"), dep("big", model="large"), dep("last", model="z")]
    ctx = {"error": {"message": "too long", "type": "invalid_request_error",
                     "code": "context_length_exceeded"}}

    class Ctx(ScriptedUpstream):
        async def send(self, req: UpstreamRequest, *, timeout: float) -> UpstreamResponse:
            if "small" in req.url:
                self.calls.append("small")
                return UpstreamResponse(400, {}, orjson.dumps(ctx))
            return await super().send(req, timeout=timeout)

    d, _ = dispatcher(deps, {"large": [200], "z": [200]},
                      context_window_fallbacks=FrozenDict({"g": ("big",)}))
    d.upstream = Ctx({"large": [200], "z": [200]})  # type: ignore[assignment]
    assert text(run(d.complete(ask()))) == "large"
    d2, _ = dispatcher([dep(model="a"), dep("last", model="z")], {"a": [500], "z": [200]},
                       retries=0, default_fallbacks=("last",))
    out = run(d2.complete(ask()))
    assert text(out) == "z" and out.fallback == "last"


def test_content_policy_fallback() -> None:
    refusal = {"error": {"message": "filtered", "type": None, "code": "content_filter"}}

    class Filtered(ScriptedUpstream):
        async def send(self, req: UpstreamRequest, *, timeout: float) -> UpstreamResponse:
            if "strict" in req.url:
                self.calls.append("strict")
                return UpstreamResponse(400, {}, orjson.dumps(refusal))
            return await super().send(req, timeout=timeout)

    d, _ = dispatcher([dep(model="strict"), dep("lenient", model="open")], {"open": [200]},
                      content_policy_fallbacks=FrozenDict({"g": ("lenient",)}))
    d.upstream = Filtered({"open": [200]})  # type: ignore[assignment]
    out = run(d.complete(ask()))
    assert text(out) == "open" and out.fallback == "lenient"
    plain, _ = dispatcher([dep(model="strict")], {"strict": [400]})
    with pytest.raises(ApiError):
        run(plain.complete(ask()))


def test_connect_errors_and_deadline() -> None:
    d, _ = dispatcher([dep(model="a"), dep(model="b")],
                      {"a": [UpstreamConnectError("down")], "b": [200]}, strategy="round_robin")
    assert text(run(d.complete(ask()))) == "b"
    slow, _ = dispatcher([dep(model="a")], {"a": [10.0]}, timeout=0.2)
    with pytest.raises(ApiError) as e:
        run(slow.complete(ask()))
    assert e.value.status == 504


def test_rpm_limits_are_never_exceeded() -> None:
    clock = Clock()
    d, up = dispatcher([dep(model="a", rpm=3), dep(model="b", rpm=2)],
                       {"a": [200], "b": [200]}, clock=clock)

    async def many(n: int) -> None:
        for _ in range(n):
            await d.complete(ask())

    run(many(5))
    assert (len(up.calls_to("a")), len(up.calls_to("b"))) == (3, 2)
    with pytest.raises(RateLimited) as e:
        run(d.complete(ask()))
    assert e.value.status == 429 and 0 < (e.value.retry_after or 0) <= 60
    clock.t += 61
    run(many(1))


def test_hedging_takes_the_first_success() -> None:
    async def scenario() -> tuple[str, list[str]]:
        d, up = dispatcher([dep(model="slow"), dep(model="fast")],
                           {"slow": [2.0], "fast": [200]}, strategy="round_robin",
                           hedge_after_ms=50)
        out = await d.complete(ask())
        return text(out), up.calls

    winner, calls = run(scenario())
    assert winner == "fast" and calls == ["slow", "fast"]


def test_state_counts_in_flight_and_latency() -> None:
    d, _ = dispatcher([replace(dep(model="a"), id="one")], {"a": [200]})
    run(d.complete(ask()))
    s = d.state.stats("one")
    assert s.in_flight == 0 and s.total_requests == 1 and s.latency is not None
