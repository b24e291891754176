"""What `pllm bench` shows: the live progress line, the final table, the `--json` object.

The progress line (on stderr, only on a terminal) redraws four times a second from the
coordinator's merged snapshots: requests done, requests/s, errors, p50/p99 so far. The final
table has one column per endpoint and, with two, the difference and the ratio per metric.
"""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from pllm.bench.runner import BenchResult, Phase, figure, overhead
from pllm.bench.stats import Stats

__all__ = ["LiveProgress", "render", "to_json"]

# (label, path into a summary, format); "ms" values print with 2 decimals below 10.
ROWS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("requests", ("requests",), "int"),
    ("  ok", ("ok",), "int"),
    ("  failed", ("failed",), "int"),
    ("requests/s", ("rps",), "rate"),
    ("latency mean", ("latency_ms", "mean"), "ms"),
    ("latency p50", ("latency_ms", "p50"), "ms"),
    ("latency p90", ("latency_ms", "p90"), "ms"),
    ("latency p99", ("latency_ms", "p99"), "ms"),
    ("latency p99.9", ("latency_ms", "p99.9"), "ms"),
    ("latency max", ("latency_ms", "max"), "ms"),
    ("time to first token p50", ("ttft_ms", "p50"), "ms"),
    ("time to first token p90", ("ttft_ms", "p90"), "ms"),
    ("time to first token p99", ("ttft_ms", "p99"), "ms"),
    ("inter-token latency p50", ("itl_ms", "p50"), "ms"),
    ("inter-token latency p99", ("itl_ms", "p99"), "ms"),
    ("completion tokens/s", ("tokens", "completion_per_s"), "rate"),
    ("total tokens/s", ("tokens", "total_per_s"), "rate"),
    ("reported overhead p50", ("server_overhead_ms", "p50"), "ms"),
    ("reported overhead p99", ("server_overhead_ms", "p99"), "ms"),
)


def _fmt(value: float | None, kind: str) -> str:
    if value is None or math.isnan(value):
        return "–"
    if kind == "int":
        return f"{value:,.0f}"
    if kind == "rate":
        return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


class LiveProgress:
    """A one-line live display on the given console (a no-op when it is not a terminal)."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled and console.is_terminal
        self._live: Live | None = None
        self._phase: Phase | None = None

    def __enter__(self) -> LiveProgress:
        if self.enabled:
            self._live = Live(Text("starting…"), console=self.console, auto_refresh=False,
                              transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def phase(self, phase: Phase) -> None:
        self._phase = phase
        self.update(Stats(), 0.0)

    def update(self, stats: Stats, elapsed: float) -> None:
        if self._live is None or self._phase is None:
            return
        self._live.update(self.line(self._phase, stats, elapsed), refresh=True)

    @staticmethod
    def line(phase: Phase, stats: Stats, elapsed: float) -> Text:
        t = phase.target
        where = "warm-up" if phase.warmup else f"round {phase.round}/{phase.rounds}"
        load = phase.load
        total = (f"/{load.requests:,} done" if load.requests is not None
                 else f" done · {min(elapsed, load.duration_s or 0):.1f}/{load.duration_s:g} s")
        rps = stats.done / elapsed if elapsed > 0 else 0.0
        p50, p99 = stats.latency.percentiles((50.0, 99.0))
        text = Text.assemble(
            (f"{t.label or t.name}", "bold cyan"), f" · {where} · ",
            (f"{stats.done:,}", "bold"), f"{total} · ", (f"{rps:,.0f}", "bold"),
            " req/s · ", (f"{stats.failed:,} errors", "red" if stats.failed else "green"))
        if stats.latency.n:
            text.append(f" · p50 {p50 / 1000:.2f} ms · p99 {p99 / 1000:.2f} ms")
        return text


def render(result: BenchResult, config: dict[str, Any], console: Console) -> None:
    """The final table, then the error breakdown when anything failed."""
    summaries = result.summaries()
    targets = result.targets
    compare = len(targets) == 2
    w = config["workload"]
    console.print(
        f"[bold]pllm bench[/] · {escape(w['model'] or '')} · "
        f"{'streaming' if w['stream'] else 'non-streaming'} · "
        f"{config['concurrency']} connections · {config['processes']} load "
        f"process{'es' if config['processes'] > 1 else ''} · "
        + (f"{config['requests']:,} requests" if config["requests"] is not None
           else f"{config['duration_s']:g} s")
        + (f" per round · {config['rounds']} rounds" if config["rounds"] > 1 else "")
        + (" · [yellow]interrupted[/]" if result.interrupted else ""))
    for t in targets:
        console.print(f"  {escape(t.label or t.name)}: {escape(t.endpoint.url)}")
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("")
    for t in targets:
        table.add_column(escape(t.label or t.name), justify="right")
    if compare:
        table.add_column("difference", justify="right")
        table.add_column("ratio", justify="right")
    for label, path, kind in ROWS:
        values = [figure(summaries[t.name], path) for t in targets]
        if all(v is None for v in values):
            continue
        cells = [_fmt(v, kind) for v in values]
        if compare:
            a, b = values
            diff = None if a is None or b is None else a - b
            sign = "+" if diff is not None and diff > 0 else ""
            cells.append(sign + _fmt(diff, kind) if kind != "int" else "")
            cells.append(f"{a / b:.2f}x" if a is not None and b and kind != "int" else "")
        table.add_row(label + (" ms" if kind == "ms" else ""), *cells)
    console.print(table)
    for t in targets:
        s = summaries[t.name]
        if not s["errors"]:
            continue
        errors = Table(title=f"errors: {escape(t.label or t.name)}", show_edge=False,
                       pad_edge=False, header_style="bold", title_justify="left")
        errors.add_column("status")
        errors.add_column("count", justify="right")
        errors.add_column("share", justify="right")
        errors.add_column("example")
        for key, n in s["errors"].items():
            errors.add_row(key, f"{n:,}", f"{100 * n / max(s['requests'], 1):.1f}%",
                           escape(s["error_samples"].get(key, "")))
        console.print(errors)
    if compare:
        console.print(_verdict(targets, summaries))
    notes = []
    for t in targets:
        g = summaries[t.name]["generator"]
        if g["cpu_us_per_request"] is None:
            continue
        line = (f"load generator against {escape(t.label or t.name)}: {g['processes']} "
                f"process{'es' if g['processes'] > 1 else ''}, {g['cpu_us_per_request']:,.0f} "
                f"µs of CPU per request, {100 * g['busy']:.0f}% busy")
        if g["busy"] > 0.8:
            console.print(f"[yellow]{line}: the generator may be the limit; try "
                          "--processes[/]")
        else:
            notes.append(line)
    if any(summaries[t.name]["server_overhead_ms"] for t in targets):
        notes.append("reported overhead: the gateway's own time per answer, from its "
                     "x-pllm-overhead-ms header")
    if any(summaries[t.name]["tokens"]["source"] in ("chunks", "mixed") for t in targets):
        notes.append("tokens: counted from content events where an answer had no usage")
    for note in notes:
        console.print(f"[dim]{note}[/]")


def _verdict(targets: list[Any], summaries: dict[str, dict[str, Any]]) -> str:
    """One sentence: what the target adds over the baseline."""
    a, b = (summaries[t.name] for t in targets)
    names = [escape(t.label or t.name) for t in targets]
    parts = []
    for q in ("p50", "p99"):
        x, y = figure(a, ("latency_ms", q)), figure(b, ("latency_ms", q))
        if x is not None and y is not None:
            parts.append(f"{x - y:+,.3f} ms at {q}")
    if a["rps"] and b["rps"]:
        parts.append(f"{a['rps']:,.0f} vs {b['rps']:,.0f} req/s "
                     f"({100 * a['rps'] / b['rps']:.0f}%)")
    if not parts:
        return f"[bold]{names[0]}[/] vs [bold]{names[1]}[/]: nothing to compare"
    return f"[bold]{names[0]}[/] vs [bold]{names[1]}[/]: latency " + ", ".join(parts)


def to_json(result: BenchResult, config: dict[str, Any]) -> dict[str, Any]:
    """One object: the configuration, a summary per role, and with two the overhead."""
    out: dict[str, Any] = {"config": config}
    summaries = result.summaries()
    out.update(summaries)
    if "baseline" in summaries and "target" in summaries:
        out["overhead"] = overhead(summaries["target"], summaries["baseline"])
    out["rounds"] = result.rounds
    out["interrupted"] = result.interrupted
    return out

