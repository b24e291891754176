#!/usr/bin/env python3
"""What the access log costs: the same gateway with it off and on (text and JSON), in one run.

Three `pllm serve` processes in front of the same zero-latency nginx mock (see overhead.py),
each writing its stderr to a file, as a service manager or a redirect would:

- off:  `--log-level warning` (the access log is INFO: below the level, the observer returns
        at its first line);
- text: `--log-level info` (one logfmt line per request);
- json: `--log-level info --log-format json` (one JSON object per request).

Rounds rotate the order so drift on this noisy machine hits every variant. Prints requests/s,
latency percentiles and CPU time per request (every process of the server), the medians'
differences against `off`, and checks that each logging server wrote one line per request.

    python benchmarks/access_log.py                   # c64, 8 s cells, 5 rounds
    python benchmarks/access_log.py --conc 1,64 --dur 5 --rounds 3 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from overhead import LUA, Nginx, free_port, measure_server, missing_tools, pllm_cmd, wait_http, wrk

VARIANTS = {"off": ("--log-level", "warning"), "text": ("--log-level", "info"),
            "json": ("--log-level", "info", "--log-format", "json")}


class Server:
    def __init__(self, work: Path, name: str, upstream: int, workers: int) -> None:
        self.name, self.port = name, free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PLLM_")}
        self.env["PLLM_DB"] = str(work / f"{name}.db")
        config = work / f"{name}.yaml"
        config.write_text(f"""
model_list:
  - model_name: chat
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:{upstream}/v1
      api_key: sk-dummy
    model_info: {{input_cost_per_token: 0.00000015, output_cost_per_token: 0.0000006}}
""")
        self.log = work / f"{name}.log"
        self.cmd = [*pllm_cmd(), "serve", "--config", str(config), "--port", str(self.port),
                    "--workers", str(workers), *VARIANTS[name]]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=subprocess.DEVNULL,
                                         stderr=out, start_new_session=True)
        wait_http(f"http://127.0.0.1:{self.port}/health")

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, 15)
            self.proc.wait(30)

    def access_lines(self) -> int:
        marker = "pllm.access" if self.name != "json" else '"logger":"pllm.access"'
        with open(self.log, errors="replace") as f:
            return sum(1 for line in f if marker in line and "/v1/chat/completions" in line)


def measure(server: Server, lua: Path, conc: int, dur: int) -> dict[str, float]:
    assert server.proc is not None
    return measure_server(server.proc.pid, server.port, lua, conc, dur)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conc", default="64")
    ap.add_argument("--dur", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    if missing_tools():
        return 2
    work = Path(tempfile.mkdtemp(prefix="pllm-access-log-"))
    work.chmod(0o755)
    nginx = Nginx(work)
    nginx.start()
    servers = [Server(work, name, nginx.port, args.workers) for name in VARIANTS]
    lua = work / "bench.lua"
    lua.write_text(LUA.format(key="sk-anything", body=json.dumps(
        {"model": "chat", "max_tokens": 64,
         "messages": [{"role": "user", "content": "Hello, how are you today?"}]})))
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    sent = dict.fromkeys(VARIANTS, 0.0)
    try:
        for s in servers:
            s.start()
            first = wrk(f"http://127.0.0.1:{s.port}/v1/chat/completions", 1, 1, lua)
            sent[s.name] += first["requests"]
            if first["errors"]:
                raise RuntimeError(f"{s.name}: requests fail ({first})")
        for conc in (int(c) for c in args.conc.split(",")):
            for rnd in range(args.rounds):
                shift = rnd % len(servers)
                for s in servers[shift:] + servers[:shift]:
                    r = measure(s, lua, conc, args.dur)
                    sent[s.name] += r["requests"]
                    if r["errors"]:
                        raise RuntimeError(f"{s.name} c{conc}: {r['errors']:.0f} errors")
                    results.setdefault((s.name, conc), []).append(r)
                    print(f"{s.name} c{conc} r{rnd + 1}: {r['rps']:.0f}/s p50 "
                          f"{r['p50_ms']:.3f} ms cpu {r['cpu_us']:.0f} us/req", file=sys.stderr)
    finally:
        for s in servers:
            s.stop()
        nginx.stop()
    print(report(results))
    for s in servers[1:]:
        print(f"{s.name}: {s.access_lines()} access lines for ~{sent[s.name]:.0f} requests "
              "(wrk counts only completed ones)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


def report(results: dict[tuple[str, int], list[dict[str, float]]]) -> str:
    out = ["| conc | access log | resp/s | p50 ms | p99 ms | CPU µs/req |",
           "|---|---|---|---|---|---|"]
    deltas = []
    for conc in sorted({c for _, c in results}):
        med: dict[str, dict[str, float]] = {}
        for name in VARIANTS:
            rs = results[(name, conc)]
            med[name] = {k: statistics.median(r[k] for r in rs)
                         for k in ("rps", "p50_ms", "p99_ms", "cpu_us")}
            m = med[name]
            out.append(f"| {conc} | {name} | {m['rps']:.0f} | {m['p50_ms']:.3f} | "
                       f"{m['p99_ms']:.3f} | {m['cpu_us']:.0f} |")
        off = med["off"]
        for name in ("text", "json"):
            m = med[name]
            deltas.append(f"c{conc} {name}: {100 * (m['rps'] / off['rps'] - 1):+.1f}% resp/s, "
                          f"{m['cpu_us'] - off['cpu_us']:+.0f} µs CPU per request "
                          "(medians, against off)")
    return "\n".join([*out, "", *deltas])


if __name__ == "__main__":
    sys.exit(main())
