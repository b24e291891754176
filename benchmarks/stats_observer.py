#!/usr/bin/env python3
"""What the live stats behind `pllm tui` cost, in process:

- the observer (`LiveStats.__call__`), per request, with a realistic mix of events (70%
  answers, 20% streams, 5% unknown models, 5% rate-limited) spread over the deployments;
- one `/admin/stats` snapshot (rows, totals, 5 minutes of series) serialized to JSON, the work
  the event stream does once a second for all its clients, with 4 and 50 deployments and the
  rings full (ten minutes of traffic at 100 requests/s).

Figures are medians of `--rounds` timings, printed as a table.

    python benchmarks/stats_observer.py
    python benchmarks/stats_observer.py --n 200000 --rounds 9
"""

from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace
from typing import Any

import orjson

from pllm.config.model import CircuitBreakerSettings, Deployment, Settings
from pllm.router.state import LocalState
from pllm.server.events import RequestDone
from pllm.server.livestats import LiveStats
from pllm.server.stats_view import snapshot


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def events(deployments: list[str]) -> list[RequestDone]:
    out = []
    now = time.time()
    for i, dep in enumerate(deployments * 5):
        kind = i % 20
        if kind < 14:
            out.append(RequestDone(f"req_{i}", "chat", "gpt-4o", 200, now, 0.012 + i % 7 / 1000,
                                   deployment=dep, model_group="gpt-4o", provider="mock",
                                   upstream_s=0.011, attempts=1, prompt_tokens=25,
                                   completion_tokens=60, cost_usd=0.00004, key_name="ci"))
        elif kind < 18:
            out.append(RequestDone(f"req_{i}", "chat", "gpt-4o", 200, now, 0.4, deployment=dep,
                                   model_group="gpt-4o", provider="mock", stream=True,
                                   upstream_s=0.05, ttft_s=0.05, attempts=1,
                                   prompt_tokens=25, completion_tokens=60, cost_usd=0.00004))
        elif kind == 18:
            out.append(RequestDone(f"req_{i}", "chat", "nope", 404, now, 0.0001,
                                   error="model_not_found"))
        else:
            out.append(RequestDone(f"req_{i}", "chat", "gpt-4o", 429, now, 0.0001,
                                   error="rate_limit_exceeded"))
    return out


def observer_us(n: int, rounds: int) -> float:
    deps = [f"d{i}" for i in range(4)]
    mix = events(deps)
    clock = Clock(time.time())
    live = LiveStats(clock=clock)
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(n):
            if i % 100 == 0:
                clock.now += 1.0  # 100 requests a second: slots turn over as in production
            live(mix[i % len(mix)])
        timings.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(timings)


def snapshot_ms(count: int, rounds: int) -> tuple[float, int]:
    deployments = tuple(Deployment(id=f"d{i}", model_name=f"group-{i % 8}", provider="mock",
                                   model=f"m{i}", rpm=1000) for i in range(count))
    settings = Settings(deployments=deployments)
    clock = Clock(time.time() - 600)
    live = LiveStats(clock=clock)
    mix = events([d.id for d in deployments])
    for i in range(600 * 100):  # ten minutes at 100 requests/s
        if i % 100 == 0:
            clock.now += 1.0
        live(mix[i % len(mix)])
    state = LocalState(CircuitBreakerSettings(), time.monotonic)
    gw: Any = SimpleNamespace(settings=settings, dispatcher=SimpleNamespace(state=state))
    today = {"requests": 0, "source": "audit"}
    timings, size = [], 0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(20):
            body = orjson.dumps(snapshot(gw, live, today, minutes=5, clients=1))
        timings.append((time.perf_counter() - start) / 20 * 1e3)
        size = len(body)
    return statistics.median(timings), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="observer calls per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print("| measure | median |")
    print("|---|---:|")
    print(f"| observer, per request | {observer_us(args.n, args.rounds):.2f} µs |")
    for count in (4, 50):
        ms, size = snapshot_ms(count, args.rounds)
        print(f"| snapshot + JSON, {count} deployments | {ms:.2f} ms ({size / 1024:.1f} KiB) |")


if __name__ == "__main__":
    main()
