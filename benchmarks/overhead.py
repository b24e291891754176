#!/usr/bin/env python3
"""What pllm costs on top of calling the upstream directly, measured in one run.

Starts a zero-latency mock upstream (nginx serving a fixed OpenAI chat completion and a fixed
22-event SSE stream), then `pllm serve` in front of it, and for each mode (non-streaming,
streaming) and concurrency runs wrk against the mock directly and against pllm, back to back,
`--rounds` times. Prints requests/s, latency percentiles, pllm's CPU time per request, its peak
RSS, startup time and `pllm --help` time, as a markdown table (and JSON lines with --json).

Needs `wrk` and `nginx` on PATH (Debian: apt-get install wrk nginx); run it with the Python
that has pllm installed.

    python benchmarks/overhead.py                      # c1, c64, c256, 10 s per cell, 2 rounds
    python benchmarks/overhead.py --conc 64 --dur 5 --rounds 1 --loops asyncio,uvloop
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
MASTER = "sk-bench-master"
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
wrk.body = '{body}'
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ----------------------------------------------------------------------------- mock upstream
def mock_bodies() -> tuple[bytes, bytes]:
    created, model, rid = 1727000000, "gpt-4o-mini-2024-07-18", "chatcmpl-bench0000000000000001"
    completion = {
        "id": rid, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": {
            "role": "assistant", "refusal": None,
            "content": "Hello! How can I assist you today? If you have any questions or need "
                       "help with something, just let me know."},
            "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 24, "total_tokens": 33},
        "system_fingerprint": "fp_bench",
    }
    words = ["Hello", "!", " How", " can", " I", " assist", " you", " today", "?", " If",
             " you", " have", " any", " questions", ",", " just", " ask", "."]

    def chunk(delta: object, finish: str | None = None) -> bytes:
        c = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
             "choices": [{"index": 0, "delta": delta, "logprobs": None,
                          "finish_reason": finish}]}
        return b"data: " + json.dumps(c, separators=(",", ":")).encode() + b"\n\n"

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": w}) for w in words]
    events.append(chunk({}, "stop"))
    usage = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
             "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 18,
                                      "total_tokens": 27}}
    events.append(b"data: " + json.dumps(usage, separators=(",", ":")).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return json.dumps(completion, separators=(",", ":")).encode(), b"".join(events)


class Nginx:
    """nginx serving the two fixed bodies for POST (static files; 405 re-served as 200)."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "nginx"
        self.port = free_port()
        (self.dir / "logs").mkdir(parents=True)
        completion, stream = mock_bodies()
        (self.dir / "completion.json").write_bytes(completion)
        (self.dir / "stream.sse").write_bytes(stream)
        conf = f"""
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/logs/error.log warn;
events {{ worker_connections 8192; multi_accept on; }}
http {{
  access_log off;
  client_body_temp_path {self.dir}/tmp;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  open_file_cache max=16 inactive=3600s;
  server {{
    listen 127.0.0.1:{self.port} backlog=4096;
    location = /v1/chat/completions {{
      default_type application/json; alias {self.dir}/completion.json;
      error_page 405 =200 $uri; }}
    location = /stream/v1/chat/completions {{
      default_type text/event-stream; alias {self.dir}/stream.sse;
      error_page 405 =200 $uri; }}
  }}
}}
"""
        (self.dir / "nginx.conf").write_text(conf)

    def start(self) -> None:
        subprocess.run(["nginx", "-c", str(self.dir / "nginx.conf"), "-p", str(self.dir)],
                       check=True)
        try:
            wait_http(f"http://127.0.0.1:{self.port}/v1/chat/completions", method="POST")
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        pid_file = self.dir / "nginx.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGQUIT)


# ----------------------------------------------------------------------------- helpers
def wait_http(url: str, method: str = "GET", timeout: float = 20.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            req = urllib.request.Request(url, method=method, data=b"{}" if method == "POST"
                                         else None)
            with urllib.request.urlopen(req, timeout=1) as r:
                if r.status == 200:
                    return time.monotonic() - start
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def group_stats(pgid: int) -> tuple[float, int]:
    """(CPU seconds, RSS KB) summed over every process in the process group."""
    cpu, rss = 0.0, 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:
            cpu += (int(fields[11]) + int(fields[12])) / TICK
            rss += int(fields[21]) * PAGE_KB
    return cpu, rss


class RssSampler(threading.Thread):
    def __init__(self, pgid: int) -> None:
        super().__init__(daemon=True)
        self.pgid, self.peak_kb, self.running = pgid, 0, True

    def run(self) -> None:
        while self.running:
            self.peak_kb = max(self.peak_kb, group_stats(self.pgid)[1])
            time.sleep(0.25)


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in", text)
    out["requests"] = float(m.group(1)) if m else 0.0
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}\.000%\s+([\d.]+)(us|ms|s)", text, re.M) or \
            re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)", text, re.M)
        out[f"p{pct}_ms"] = float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["errors"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["errors"] += sum(int(g) for g in m.groups()) if m else 0
    return out


def wrk(url: str, conc: int, dur: int, lua: Path) -> dict[str, float]:
    # One wrk thread: on 2 cores a second one takes CPU from the server under test.
    cmd = ["wrk", "-t1", f"-c{conc}", f"-d{dur}s", "--latency", "-s", str(lua), url]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


# ----------------------------------------------------------------------------- pllm
def measure_server(pid: int, port: int, lua: Path, conc: int, dur: int) -> dict[str, float]:
    """wrk against a `pllm serve` started in its own session (`pid` leads the process group):
    wrk's figures plus the group's CPU per request."""
    cpu0 = group_stats(pid)[0]
    out = wrk(f"http://127.0.0.1:{port}/v1/chat/completions", conc, dur, lua)
    cpu = group_stats(pid)[0] - cpu0
    out["cpu_us"] = 1e6 * cpu / max(out["requests"], 1)
    return out


def missing_tools() -> bool:
    """Say so (and be true) when wrk or nginx is not installed."""
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            print(f"{tool} is needed (apt-get install wrk nginx)", file=sys.stderr)
            return True
    return False


class Pllm:
    def __init__(self, workdir: Path, upstream: int, loop: str, workers: int) -> None:
        self.port = free_port()
        self.config = workdir / f"pllm-{loop}.yaml"
        self.config.write_text(f"""
model_list:
  - model_name: chat
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:{upstream}/v1
      api_key: sk-dummy
  - model_name: chat-stream
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:{upstream}/stream/v1
      api_key: sk-dummy
general_settings:
  master_key: {MASTER}
""")
        self.cmd = [*pllm_cmd(), "serve", "--config", str(self.config),
                    "--port", str(self.port), "--loop", loop, "--workers", str(workers),
                    "--log-level", "warning"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s = 0.0

    def start(self) -> None:
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        wait_http(f"http://127.0.0.1:{self.port}/health")
        self.startup_s = time.monotonic() - t0

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)


def pllm_cmd() -> list[str]:
    """The `pllm` script beside this Python (a venv's bin/), else `python -m pllm`."""
    script = Path(sys.executable).with_name("pllm")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pllm"]


def help_time() -> float:
    runs = []
    for _ in range(5):
        t0 = time.monotonic()
        subprocess.run([*pllm_cmd(), "--help"], capture_output=True, check=True)
        runs.append(time.monotonic() - t0)
    return statistics.median(runs)


# ----------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conc", default="1,64,256")
    ap.add_argument("--dur", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--modes", default="nonstream,stream")
    ap.add_argument("--loops", default="asyncio")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also append JSON lines to this file")
    args = ap.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            print(f"{tool} is needed (apt-get install wrk nginx)", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="pllm-bench-"))
    work.chmod(0o755)  # nginx workers may run as another user
    nginx = Nginx(work)
    nginx.start()
    rows: list[dict[str, object]] = []
    try:
        for loop in args.loops.split(","):
            rows += run_loop(args, work, nginx.port, loop)
    finally:
        nginx.stop()
    print(report(rows, help_time()))
    if args.json:
        with args.json.open("a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
    return 0


def run_loop(args: argparse.Namespace, work: Path, upstream: int,
             loop: str) -> list[dict[str, object]]:
    server = Pllm(work, upstream, loop, args.workers)
    server.start()
    rows: list[dict[str, object]] = []
    try:
        for mode in args.modes.split(","):
            stream = mode == "stream"
            body = json.dumps({"model": "chat-stream" if stream else "chat", "stream": stream,
                               "messages": [{"role": "user", "content": "Hello"}]})
            lua = work / f"{mode}.lua"
            lua.write_text(LUA.format(key=MASTER, body=body))
            direct = f"http://127.0.0.1:{upstream}/{'stream/' if stream else ''}v1/chat/completions"
            via = f"http://127.0.0.1:{server.port}/v1/chat/completions"
            wrk(via, 16, 2, lua)  # warm up
            for conc in (int(c) for c in args.conc.split(",")):
                for rnd in range(1, args.rounds + 1):
                    d = wrk(direct, conc, args.dur, lua)
                    assert server.proc is not None
                    sampler = RssSampler(server.proc.pid)
                    sampler.start()
                    cpu0 = group_stats(server.proc.pid)[0]
                    p = wrk(via, conc, args.dur, lua)
                    cpu = group_stats(server.proc.pid)[0] - cpu0
                    sampler.running = False
                    sampler.join()
                    rows.append({"loop": loop, "workers": args.workers, "mode": mode,
                                 "conc": conc, "round": rnd, "direct": d, "pllm": p,
                                 "cpu_us_per_req": 1e6 * cpu / max(p["requests"], 1),
                                 "rss_peak_mb": sampler.peak_kb / 1024,
                                 "startup_s": server.startup_s})
                    print(f"{loop} {mode} c{conc} r{rnd}: direct {d['rps']:.0f}/s, "
                          f"pllm {p['rps']:.0f}/s p50 {p['p50_ms']:.2f} ms", file=sys.stderr)
    finally:
        server.stop()
    return rows


def report(rows: list[dict[str, object]], help_s: float) -> str:
    out = ["| loop | mode | conc | direct resp/s | pllm resp/s | pllm p50 / p99 ms | "
           "added p50 ms | pllm CPU µs/req | pllm peak RSS MB | errors |",
           "|---|---|---:|---:|---:|---|---:|---:|---:|---:|"]
    groups: dict[tuple[object, ...], list[dict[str, object]]] = {}
    for r in rows:
        groups.setdefault((r["loop"], r["mode"], r["conc"]), []).append(r)
    for (loop, mode, conc), rs in groups.items():
        def med(side: str, key: str, rs: list[dict[str, object]] = rs) -> float:
            return statistics.median(float(r[side][key]) for r in rs)  # type: ignore[index]
        added = med("pllm", "p50_ms") - med("direct", "p50_ms")
        cpu = statistics.median(float(r["cpu_us_per_req"]) for r in rs)  # type: ignore[arg-type]
        rss = max(float(r["rss_peak_mb"]) for r in rs)  # type: ignore[arg-type]
        errors = sum(float(r["pllm"]["errors"]) for r in rs)  # type: ignore[index]
        out.append(f"| {loop} | {mode} | {conc} | {med('direct', 'rps'):,.0f} | "
                   f"{med('pllm', 'rps'):,.0f} | {med('pllm', 'p50_ms'):.2f} / "
                   f"{med('pllm', 'p99_ms'):.2f} | {added:.2f} | {cpu:.0f} | {rss:.0f} | "
                   f"{errors:.0f} |")
    startups = sorted({float(r["startup_s"]) for r in rows})  # type: ignore[arg-type]
    out.append("")
    out.append(f"startup to first /health 200: {', '.join(f'{s:.2f}' for s in startups)} s; "
               f"`pllm --help`: {help_s:.2f} s (median of 5)")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
