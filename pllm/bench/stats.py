"""What a load run measured, and how measurements from processes and rounds combine.

`Stats` is filled by one load process (`record_ok`, `record_error`); the coordinator merges the
processes of one run in parallel (the run lasted from the first start to the last end) and the
rounds of one endpoint in series (their durations add). `summarize` turns it into the figures
the report and `--json` print: requests/s, latency percentiles of the successful requests, time
to first token and inter-token latency for streams, tokens/s, errors by status.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pllm.bench.histogram import Histogram

__all__ = ["PERCENTILES", "Stats", "generator", "summarize", "tokens_source"]

PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9))


@dataclass(slots=True)
class Stats:
    """Counters and histograms of one endpoint (one process, one run or several rounds)."""

    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    """Failed requests by HTTP status ("429") or by kind ("connect", "timeout", "closed",
    "stream_error", "protocol")."""
    samples: dict[str, str] = field(default_factory=dict)
    """One (redacted, shortened) error message per error key."""
    latency: Histogram = field(default_factory=Histogram)
    ttft: Histogram = field(default_factory=Histogram)
    itl: Histogram = field(default_factory=Histogram)
    overhead: Histogram = field(default_factory=Histogram)
    """The server's own `x-pllm-overhead-ms` per answer, when it sends one."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_answers: int = 0
    """Successful answers that reported usage."""
    counted_answers: int = 0
    """Successful streamed answers without usage whose content events were counted."""
    started: float = math.inf
    ended: float = -math.inf
    elapsed: float = 0.0
    cpu_user_s: float = 0.0
    cpu_sys_s: float = 0.0
    """CPU the load processes spent while loading (user, kernel)."""
    processes: int = 0

    # -- recording (one process) --------------------------------------------------------------
    def record_error(self, key: str, sample: str | None = None) -> None:
        self.errors[key] = self.errors.get(key, 0) + 1
        if sample and key not in self.samples:
            self.samples[key] = sample[:200]

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def done(self) -> int:
        return self.ok + self.failed

    def mark(self, start: float, end: float, cpu_user_s: float = 0.0,
             cpu_sys_s: float = 0.0) -> None:
        """The span this process's load ran (monotonic seconds) and the CPU it used."""
        self.started, self.ended = start, end
        self.elapsed = max(0.0, end - start)
        self.cpu_user_s, self.cpu_sys_s, self.processes = cpu_user_s, cpu_sys_s, 1

    # -- combining ------------------------------------------------------------------------------
    def merge(self, other: Stats, *, parallel: bool) -> None:
        """Add another process's (parallel=True: same run) or round's (False) measurements."""
        self.ok += other.ok
        for k, v in other.errors.items():
            self.errors[k] = self.errors.get(k, 0) + v
        for k, s in other.samples.items():
            self.samples.setdefault(k, s)
        self.latency.merge(other.latency)
        self.ttft.merge(other.ttft)
        self.itl.merge(other.itl)
        self.overhead.merge(other.overhead)
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.usage_answers += other.usage_answers
        self.counted_answers += other.counted_answers
        self.cpu_user_s += other.cpu_user_s
        self.cpu_sys_s += other.cpu_sys_s
        if parallel:
            self.started = min(self.started, other.started)
            self.ended = max(self.ended, other.ended)
            self.elapsed = max(0.0, self.ended - self.started)
            self.processes += other.processes
        else:
            self.elapsed += other.elapsed
            self.processes = max(self.processes, other.processes)

    @classmethod
    def combine(cls, parts: list[Stats], *, parallel: bool) -> Stats:
        out = cls()
        for p in parts:
            out.merge(p, parallel=parallel)
        return out


def _ms(h: Histogram) -> dict[str, float] | None:
    if h.n == 0:
        return None
    values = h.percentiles(tuple(q for _, q in PERCENTILES))
    out = {"mean": h.mean() / 1000.0, "min": h.low / 1000.0, "max": h.high / 1000.0}
    out.update({name: v / 1000.0 for (name, _), v in zip(PERCENTILES, values, strict=True)})
    return {k: round(v, 4) for k, v in out.items()}


def _per_s(count: float, elapsed: float) -> float:
    return round(count / elapsed, 2) if elapsed > 0 else 0.0


def tokens_source(s: Stats) -> str:
    if s.usage_answers and s.counted_answers:
        return "mixed"
    if s.usage_answers:
        return "usage"
    return "chunks" if s.counted_answers else "none"


def generator(s: Stats) -> dict[str, Any]:
    """What loading cost the load processes: CPU per request and how busy they were (near 1.0
    the generator, not the endpoint, may be the limit)."""
    cpu = s.cpu_user_s + s.cpu_sys_s
    busy = cpu / (s.elapsed * s.processes) if s.elapsed > 0 and s.processes else 0.0
    return {"processes": s.processes, "cpu_user_s": round(s.cpu_user_s, 3),
            "cpu_sys_s": round(s.cpu_sys_s, 3),
            "cpu_us_per_request": round(1e6 * cpu / s.done, 1) if s.done else None,
            "busy": round(busy, 3)}


def summarize(s: Stats) -> dict[str, Any]:
    """The figures of one endpoint, JSON-ready (durations in ms, rates per second)."""
    return {
        "requests": s.done,
        "ok": s.ok,
        "failed": s.failed,
        "errors": dict(sorted(s.errors.items())),
        "error_samples": dict(sorted(s.samples.items())),
        "elapsed_s": round(s.elapsed, 3),
        "rps": _per_s(s.done, s.elapsed),
        "ok_rps": _per_s(s.ok, s.elapsed),
        "latency_ms": _ms(s.latency),
        "ttft_ms": _ms(s.ttft),
        "itl_ms": _ms(s.itl),
        "server_overhead_ms": _ms(s.overhead),
        "tokens": {
            "prompt": s.prompt_tokens,
            "completion": s.completion_tokens,
            "completion_per_s": _per_s(s.completion_tokens, s.elapsed),
            "total_per_s": _per_s(s.prompt_tokens + s.completion_tokens, s.elapsed),
            "source": tokens_source(s),
        },
        "generator": generator(s),
    }
