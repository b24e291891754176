"""A whole benchmark: warm-up, rounds, and with two endpoints the comparison.

With `--compare` the rounds alternate A B, B A, A B, ... (ABBA), so a drift of the machine
(another process waking up, a CPU clocking down) falls on both endpoints alike; each endpoint's
rounds are pooled (histograms merged, durations added), and every metric is reported for both
with the difference (target - baseline) and the ratio (target / baseline).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pllm.bench.pool import Pool
from pllm.bench.spec import Load, Target, Workload, split
from pllm.bench.stats import Stats, summarize

__all__ = ["METRICS", "BenchResult", "Phase", "figure", "overhead", "run_bench"]

# (name in the overhead table, path into a summary); rates compare higher-is-better, the rest
# are times.
METRICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("rps", ("rps",)),
    ("latency mean ms", ("latency_ms", "mean")),
    ("latency p50 ms", ("latency_ms", "p50")),
    ("latency p90 ms", ("latency_ms", "p90")),
    ("latency p99 ms", ("latency_ms", "p99")),
    ("latency p99.9 ms", ("latency_ms", "p99.9")),
    ("ttft p50 ms", ("ttft_ms", "p50")),
    ("ttft p99 ms", ("ttft_ms", "p99")),
    ("itl p50 ms", ("itl_ms", "p50")),
    ("itl p99 ms", ("itl_ms", "p99")),
    ("completion tokens/s", ("tokens", "completion_per_s")),
)


@dataclass(frozen=True, slots=True)
class Phase:
    """What the progress display is told at the start of each run."""

    target: Target
    round: int
    rounds: int
    load: Load
    warmup: bool = False


@dataclass(slots=True)
class BenchResult:
    targets: list[Target]
    stats: dict[str, Stats]
    rounds: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False

    def summaries(self) -> dict[str, dict[str, Any]]:
        return {t.name: summarize(self.stats[t.name]) for t in self.targets}


def run_bench(targets: list[Target], workload: Workload, load: Load, *, rounds: int,
              processes: int, warmup: int = 0,
              on_phase: Callable[[Phase], None] | None = None,
              on_progress: Callable[[Stats, float], None] | None = None) -> BenchResult:
    """Run `rounds` rounds of `load` against every target (alternating when there are two)."""
    result = BenchResult(targets, {t.name: Stats() for t in targets})
    with Pool(min(processes, load.concurrency)) as pool:
        if warmup:
            w = Load(load.concurrency, requests=max(warmup, 1))
            for t in targets:
                if on_phase:
                    on_phase(Phase(t, 0, rounds, w, warmup=True))
                pool.run(split(w, t, workload, pool.size), on_progress)
        for r in range(rounds):
            order = targets if r % 2 == 0 else targets[::-1]
            row: dict[str, Any] = {"round": r + 1}
            for t in order:
                if on_phase:
                    on_phase(Phase(t, r + 1, rounds, load))
                stats = pool.run(split(load, t, workload, pool.size), on_progress)
                result.stats[t.name].merge(stats, parallel=False)
                row[t.name] = {"rps": round(stats.done / stats.elapsed, 2)
                               if stats.elapsed > 0 else 0.0, "ok": stats.ok,
                               "failed": stats.failed}
                if pool.interrupted:
                    break
            result.rounds.append(row)
            if pool.interrupted:
                result.interrupted = True
                break
    return result


def figure(summary: dict[str, Any], path: tuple[str, ...]) -> float | None:
    """The number at `path` in a summary, None where it is missing."""
    value: Any = summary
    for key in path:
        if not isinstance(value, dict) or value.get(key) is None:
            return None
        value = value[key]
    return float(value)


def overhead(target: dict[str, Any], baseline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per metric: both values, the difference (target - baseline) and the ratio."""
    out: dict[str, dict[str, Any]] = {}
    for name, path in METRICS:
        a, b = figure(target, path), figure(baseline, path)
        if a is None or b is None:
            continue
        out[name] = {"target": a, "baseline": b, "difference": round(a - b, 4),
                     "ratio": round(a / b, 4) if b else None}
    return out
