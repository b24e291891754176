#!/usr/bin/env python3
"""What access control costs per request: virtual-key auth, rate limits and budget
reservations, measured against the same gateway with them off, in one run.

Two `pllm serve` processes in front of the same zero-latency nginx mock (see overhead.py):

- off: no master key, no keys (the open gateway of a laptop); every request is still audited.
- on:  a virtual key with rpm/tpm limits, plus limits per user, team, model and endpoint and
       budgets on the key, its user, its team and globally (priced deployment), so every request
       is authenticated, checked against six rate-limit windows, estimated in tokens (tiktoken),
       priced and reserved against four budgets, then reconciled and settled.

Rounds alternate off/on so drift on this noisy machine hits both. Prints CPU time per request
(all the server's processes) and latency percentiles, and the medians' difference.

    python benchmarks/access.py                 # c1 and c64, 8 s cells, 3 rounds
    python benchmarks/access.py --conc 64 --dur 5 --rounds 2 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from overhead import LUA, Nginx, free_port, measure_server, missing_tools, pllm_cmd, wait_http, wrk

BIG = 10_000_000


class Server:
    def __init__(self, work: Path, name: str, upstream: int, on: bool, workers: int) -> None:
        self.name, self.port = name, free_port()
        self.db = work / f"{name}.db"
        self.env = {**os.environ, "PLLM_DB": str(self.db)}
        self.env.pop("PLLM_MASTER_KEY", None)
        config = work / f"{name}.yaml"
        extra = ""
        if on:
            extra = f"""
general_settings:
  master_key: sk-bench-master
limits:
  user: {{rpm: {BIG}, tpm: {BIG * 100}}}
  team: {{rpm: {BIG}, tpm: {BIG * 100}}}
  models: {{chat: {{rpm: {BIG}, tpm: {BIG * 100}}}}}
  endpoints: {{chat: {{rpm: {BIG}, tpm: {BIG * 100}}}}}
"""
        config.write_text(f"""
model_list:
  - model_name: chat
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:{upstream}/v1
      api_key: sk-dummy
    model_info: {{input_cost_per_token: 0.00000015, output_cost_per_token: 0.0000006}}
{extra}""")
        self.key = "sk-anything"
        if on:
            self.key = self._provision()
        self.cmd = [*pllm_cmd(), "serve", "--config", str(config), "--port", str(self.port),
                    "--log-level", "warning", "--workers", str(workers)]
        self.proc: subprocess.Popen[bytes] | None = None

    def _cli(self, *args: str) -> str:
        done = subprocess.run([*pllm_cmd(), *args], env=self.env, capture_output=True,
                              text=True, check=True)
        return done.stdout

    def _provision(self) -> str:
        created = json.loads(self._cli("keys", "create", "--name", "bench", "--user", "u1",
                                       "--team", "t1", "--rpm", str(BIG), "--tpm",
                                       str(BIG * 100), "--json"))
        for scope in (["--key", created["id"]], ["--user", "u1"], ["--team", "t1"],
                      ["--global"]):
            self._cli("budgets", "set", *scope, "--max", "1000000")
        return str(created["key"])

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        wait_http(f"http://127.0.0.1:{self.port}/health")

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, 15)
            self.proc.wait(30)


def measure(server: Server, lua: Path, conc: int, dur: int) -> dict[str, float]:
    assert server.proc is not None
    return measure_server(server.proc.pid, server.port, lua, conc, dur)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conc", default="1,64")
    ap.add_argument("--dur", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    if missing_tools():
        return 2
    work = Path(tempfile.mkdtemp(prefix="pllm-access-"))
    work.chmod(0o755)
    nginx = Nginx(work)
    nginx.start()
    servers = [Server(work, "off", nginx.port, False, args.workers),
               Server(work, "on", nginx.port, True, args.workers)]
    body = json.dumps({"model": "chat", "max_tokens": 64,
                       "messages": [{"role": "user", "content": "Hello, how are you today?"}]})
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    try:
        for s in servers:
            s.start()
            lua = work / f"{s.name}.lua"
            lua.write_text(LUA.format(key=s.key, body=body))
            first = wrk(f"http://127.0.0.1:{s.port}/v1/chat/completions", 1, 1, lua)
            if first["errors"]:
                raise RuntimeError(f"{s.name}: requests fail ({first})")
        for conc in (int(c) for c in args.conc.split(",")):
            for rnd in range(args.rounds):
                for s in (servers if rnd % 2 == 0 else servers[::-1]):
                    r = measure(s, work / f"{s.name}.lua", conc, args.dur)
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
    return 0


def report(results: dict[tuple[str, int], list[dict[str, float]]]) -> str:
    out = ["| conc | access | resp/s | p50 ms | p99 ms | CPU µs/req |", "|---|---|---|---|---|---|"]
    deltas = []
    for conc in sorted({c for _, c in results}):
        med: dict[str, dict[str, float]] = {}
        for name in ("off", "on"):
            rs = results[(name, conc)]
            med[name] = {k: statistics.median(r[k] for r in rs)
                         for k in ("rps", "p50_ms", "p99_ms", "cpu_us")}
            m = med[name]
            out.append(f"| {conc} | {name} | {m['rps']:.0f} | {m['p50_ms']:.3f} | "
                       f"{m['p99_ms']:.3f} | {m['cpu_us']:.0f} |")
        deltas.append(f"c{conc}: +{(med['on']['p50_ms'] - med['off']['p50_ms']) * 1000:.0f} µs "
                      f"p50 latency, +{med['on']['cpu_us'] - med['off']['cpu_us']:.0f} µs CPU "
                      "per request (medians, on minus off)")
    return "\n".join([*out, "", *deltas])


if __name__ == "__main__":
    sys.exit(main())
