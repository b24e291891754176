#!/usr/bin/env python3
"""Is `pllm bench` fast enough to measure a gateway? wrk and `pllm bench` in the same run.

Starts the zero-latency nginx mock of `overhead.py`, `pllm bench`'s own Python mock upstream
(`python -m pllm.bench.mockserver`) and one `pllm serve` worker in front of nginx, then for each
mode (non-streaming, streaming) and round drives, back to back and for the same duration at the
same concurrency:

    wrk (C, one thread)      -> nginx mock        the ceiling of this machine
    pllm bench, 1 and 2 load processes -> nginx mock
    pllm bench               -> its own Python mock
    wrk                      -> pllm -> nginx      pllm measured by wrk
    pllm bench               -> pllm -> nginx      pllm measured by pllm bench

and prints medians: requests/s, p50/p99, the generator's own CPU per request and how busy it
was (CPU seconds per second, per process), and pllm's CPU per request under each generator.
The generator is not the bottleneck when it drives the direct mock far faster than pllm, and
when wrk and pllm bench find the same pllm figures.

Needs `wrk` and `nginx` (Debian: apt-get install wrk nginx).

    python benchmarks/generator.py                   # c64, 8 s per cell, 3 rounds
    python benchmarks/generator.py --conc 256 --dur 5 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from overhead import LUA, MASTER, Nginx, Pllm, group_stats, pllm_cmd, wrk


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_wrk(url: str, conc: int, dur: int, lua: Path) -> dict[str, float]:
    cpu0 = children_cpu()
    out = wrk(url, conc, dur, lua)
    cpu = children_cpu() - cpu0
    out["gen_cpu_us"] = 1e6 * cpu / max(out["requests"], 1)
    out["gen_busy"] = cpu / dur
    return out


def run_bench(url: str, model: str, key: str | None, conc: int, dur: int, stream: bool,
              processes: int) -> dict[str, float]:
    cmd = [*pllm_cmd(), "bench", "--url", url, "--model", model, "-c", str(conc), "-d",
           str(dur), "--processes", str(processes), "--json"]
    if key:
        cmd += ["--key", key]
    if stream:
        cmd.append("--stream")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pllm bench failed: {done.stderr[-2000:]}")
    t = json.loads(done.stdout)["target"]
    # The load processes' own CPU while loading (getrusage around the run), as `pllm bench`
    # reports it: start-up (~0.5 s of CPU for the command and its load process) is left out.
    return {"rps": t["rps"], "requests": t["requests"], "errors": t["failed"],
            "p50_ms": t["latency_ms"]["p50"], "p99_ms": t["latency_ms"]["p99"],
            "gen_cpu_us": t["generator"]["cpu_us_per_request"],
            "gen_busy": t["generator"]["busy"]}


class PyMock:
    """`pllm bench`'s own mock upstream."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "pllm.bench.mockserver"],
                                     stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline().split()[1])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conc", type=int, default=64)
    ap.add_argument("--dur", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--modes", default="nonstream,stream")
    args = ap.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            print(f"{tool} is needed (apt-get install wrk nginx)", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="pllm-gen-"))
    work.chmod(0o755)
    nginx = Nginx(work)
    nginx.start()
    pymock = PyMock()
    server = Pllm(work, nginx.port, "asyncio", 1)
    server.start()
    rows: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        for mode in args.modes.split(","):
            stream = mode == "stream"
            model = "chat-stream" if stream else "chat"
            body = json.dumps({"model": model, "stream": stream,
                               "messages": [{"role": "user", "content": "Hello"}]})
            lua = work / f"{mode}.lua"
            lua.write_text(LUA.format(key=MASTER, body=body))
            direct = f"http://127.0.0.1:{nginx.port}/{'stream/' if stream else ''}v1"
            py = f"http://127.0.0.1:{pymock.port}/v1"
            via = f"http://127.0.0.1:{server.port}/v1"
            run_bench(via, model, MASTER, 16, 2, stream, 1)  # warm up pllm
            c, d = args.conc, args.dur
            for rnd in range(1, args.rounds + 1):
                cells: list[tuple[str, Callable[[], dict[str, float]]]] = [
                    ("wrk -> nginx", partial(run_wrk, direct + "/chat/completions", c, d, lua)),
                    ("bench (1 process) -> nginx",
                     partial(run_bench, direct, model, None, c, d, stream, 1)),
                    ("bench (2 processes) -> nginx",
                     partial(run_bench, direct, model, None, c, d, stream, 2)),
                    ("bench (1 process) -> bench's mock",
                     partial(run_bench, py, model, None, c, d, stream, 1)),
                    ("wrk -> pllm", partial(run_wrk, via + "/chat/completions", c, d, lua)),
                    ("bench (1 process) -> pllm",
                     partial(run_bench, via, model, MASTER, c, d, stream, 1)),
                ]
                for name, fn in cells:
                    assert server.proc is not None
                    cpu0 = group_stats(server.proc.pid)[0]
                    r = fn()
                    r["pllm_cpu_us"] = (1e6 * (group_stats(server.proc.pid)[0] - cpu0)
                                        / max(r["requests"], 1)) if "pllm" in name else 0.0
                    rows.setdefault((mode, name), []).append(r)
                    print(f"{mode} r{rnd} {name}: {r['rps']:,.0f}/s p50 {r['p50_ms']:.2f} ms "
                          f"gen {r['gen_cpu_us']:.0f} µs/req", file=sys.stderr)
    finally:
        server.stop()
        pymock.stop()
        nginx.stop()
    print(f"\n{args.conc} connections, {args.dur} s per cell, medians of {args.rounds} rounds\n")
    print("| mode | generator -> target | resp/s | p50 / p99 ms | generator CPU µs/req · busy | "
          "pllm CPU µs/req | errors |")
    print("|---|---|---:|---|---:|---:|---:|")
    for (mode, name), rs in rows.items():
        def med(k: str, rs: list[dict[str, float]] = rs) -> float:
            return statistics.median(r[k] for r in rs)
        pcpu = f"{med('pllm_cpu_us'):.0f}" if "pllm" in name else "–"
        print(f"| {mode} | {name} | {med('rps'):,.0f} | {med('p50_ms'):.2f} / "
              f"{med('p99_ms'):.2f} | {med('gen_cpu_us'):.0f} · {100 * med('gen_busy'):.0f}% | "
              f"{pcpu} | "
              f"{sum(r['errors'] for r in rs):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
