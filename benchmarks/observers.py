#!/usr/bin/env python3
"""What the request observers cost per request, in process: the Prometheus series (one process,
and prometheus-client's multiprocess files as `--workers N` uses them), the dispatcher's
per-attempt hook, the access log (text and JSON, written to a file through the same handler and
redaction filter `pllm serve` sets up, and below its level), and tracing (the SDK with a
batching processor and an exporter that drops spans).

Each figure is the median of `--rounds` timings of `--n` calls with a realistic mix of events
(70% non-streamed answers, 20% streams, 5% unknown models, 5% rate-limited), in µs per request.
Each mode runs in a fresh interpreter (prometheus-client picks its value store at import).

    python benchmarks/observers.py
    python benchmarks/observers.py --n 50000 --rounds 7
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODES = ("metrics", "metrics-multiprocess", "access-text", "access-json", "access-off",
         "tracing")


def events() -> list[Any]:
    from pllm.server.events import RequestDone

    now = time.time()
    ok = RequestDone("req_0123456789abcdef01234567", "chat", "gpt-4o-mini", 200, now, 0.012,
                     deployment="gpt-4o-mini.demo", model_group="gpt-4o-mini", provider="mock",
                     upstream_s=0.0115, attempts=1, prompt_tokens=25, completion_tokens=60,
                     cost_usd=0.00004)
    stream = RequestDone("req_0123456789abcdef01234568", "chat", "gpt-4o-mini", 200, now, 0.4,
                         deployment="gpt-4o-mini.demo", model_group="gpt-4o-mini",
                         provider="mock", stream=True, upstream_s=0.05, ttft_s=0.0503,
                         attempts=1, prompt_tokens=25, completion_tokens=60, cost_usd=0.00004)
    missing = RequestDone("req_0123456789abcdef01234569", "chat", "nope", 404, now, 0.0001,
                          error="model_not_found")
    limited = RequestDone("req_0123456789abcdef0123456a", "chat", "gpt-4o-mini", 429, now,
                          0.0001, error="rate_limit_exceeded")
    return [ok] * 14 + [stream] * 4 + [missing, limited]


def child(mode: str, n: int, rounds: int, work: Path) -> dict[str, float]:
    os.environ["PLLM_DB"] = str(work / f"{mode}.db")
    if mode == "metrics-multiprocess":
        folder = work / "multiproc"
        folder.mkdir(exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    import logging
    from dataclasses import replace

    from pllm.config import demo_settings
    from pllm.logs import AccessLog, setup_logging
    from pllm.server.app import create_app

    settings = demo_settings()
    app = create_app(settings)
    gw = app.extensions["pllm"]
    metrics = app.extensions["pllm.metrics"]
    sample = events()
    calls: list[Any] = []
    if mode.startswith("metrics"):
        target = gw.table.resolve("gpt-4o-mini").targets[0]
        req = _request()

        def observe(e: Any) -> None:
            if e.deployment is not None:
                metrics.attempt_done(req, target, time.perf_counter(), None, True)
            metrics.request_done(e)
        calls.append(observe)
    elif mode == "tracing":
        from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

        class Drop(SpanExporter):
            def export(self, spans: Any) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from pllm.server.tracing import Tracing
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Drop()))
        tracing = Tracing(provider.get_tracer("bench"), provider)
        target = gw.table.resolve("gpt-4o-mini").targets[0]

        def trace(e: Any) -> None:
            if e.deployment is not None:
                tracing.attempt_done(e.request_id, "chat", target.deployment,
                                     time.perf_counter() - 0.01, None, True)
            tracing.request_done(e)
        calls.append(trace)
    else:
        fmt = "json" if mode == "access-json" else "text"
        level = "warning" if mode == "access-off" else "info"
        settings = replace(settings, server=replace(settings.server, log_format=fmt,
                                                    log_level=level))
        log_file = open(work / f"{mode}.log", "w")  # noqa: SIM115 (process-long)
        sys.stderr = log_file
        setup_logging(settings)
        calls.append(AccessLog(settings.secrets(), settings.model_names()))
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(n):
            e = sample[i % len(sample)]
            for call in calls:
                call(e)
        timings.append((time.perf_counter() - start) / n * 1e6)
    logging.shutdown()
    return {"median_us": statistics.median(timings), "min_us": min(timings)}


def _request() -> Any:
    from pllm.server.requests import parse_request

    return parse_request("chat", b'{"model": "gpt-4o-mini", "messages": [{"role": "user", '
                         b'"content": "hi"}]}', "req_x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--child")
    ap.add_argument("--work")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.n, args.rounds, Path(args.work))))
        return 0
    with tempfile.TemporaryDirectory(prefix="pllm-observers-") as work:
        print("| observer | µs per request (median) | best round |\n|---|---:|---:|")
        for mode in MODES:
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("PROMETHEUS_", "OTEL_"))}
            out = subprocess.run([sys.executable, __file__, "--child", mode, "--n", str(args.n),
                                  "--rounds", str(args.rounds), "--work", work],
                                 capture_output=True, text=True, env=env, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {mode} | {r['median_us']:.2f} | {r['min_us']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
