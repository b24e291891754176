#!/usr/bin/env python3
"""Hot reload under load: failed requests (must be 0) and what reloads do to latency.

Runs a real `pllm serve` (built-in mock models: no keys, no network) and keeps a steady load on
it (aiohttp, bounded concurrency, every third request a stream paced by `mock_token_delay_ms`,
so streams are open whenever a reload lands) while the config is reloaded N times: each
version adds a model, changes the answer of the deployment under load and drops the previous
version's model. Phases alternate, steady then reloading, so drift on a noisy machine hits
both; the reloading phases' latency percentiles are compared with the steady ones'.

A request fails when its status is not 200, the connection breaks, or a stream ends without
`[DONE]`. Also printed: how long after the write (or SIGHUP, or POST) the new model is listed
by /v1/models, which includes the watcher's 100 ms settling time for file changes.

    python benchmarks/reload.py                         # 30 file rewrites, 1 worker
    python benchmarks/reload.py --trigger sighup --workers 2
    python benchmarks/reload.py --trigger admin --reloads 60 --interval 0.25
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from server import PllmServer  # noqa: E402

MASTER = "sk-bench-reload-0123456789"
AUTH = {"authorization": f"Bearer {MASTER}"}
BODY = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
STREAM = b'{"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'


def config(version: int) -> str:
    return f"""model_list:
  - model_name: m
    litellm_params:
      model: mock/m
      mock_response: "version {version} says hello to you"
      mock_latency_ms: 10
      mock_token_delay_ms: 5
  - model_name: v{version}
    litellm_params: {{model: mock/v{version}}}
general_settings:
  master_key: {MASTER}
"""


@dataclass(slots=True)
class Done:
    phase: str
    latency: float
    ok: bool
    error: str = ""


class Load:
    def __init__(self, url: str, concurrency: int) -> None:
        self.url, self.concurrency = url, concurrency
        self.phase = "steady"
        self.running = True
        self.results: list[Done] = []

    async def one(self, session: aiohttp.ClientSession, i: int) -> None:
        phase, stream = self.phase, i % 3 == 0
        started = time.perf_counter()
        try:
            async with session.post(self.url + "/v1/chat/completions",
                                    data=STREAM if stream else BODY,
                                    headers={**AUTH, "content-type": "application/json"}) as r:
                body = await r.read()
            ok = r.status == 200 and (b"data: [DONE]" in body if stream else b"says" in body)
            error = "" if ok else f"{r.status}: {body[:200]!r}"
        except (TimeoutError, aiohttp.ClientError) as e:
            ok, error = False, f"{type(e).__name__}: {e}"
        self.results.append(Done(phase, time.perf_counter() - started, ok, error))

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        async with aiohttp.ClientSession(connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=30)) as session:
            counter = iter(range(10**9))

            async def worker() -> None:
                while self.running:
                    await self.one(session, next(counter))

            await asyncio.gather(*(worker() for _ in range(self.concurrency)))


async def models(session: aiohttp.ClientSession, url: str) -> list[str]:
    async with session.get(url + "/v1/models", headers=AUTH) as r:
        return [m["id"] for m in (await r.json())["data"]]


async def reload_once(server: PllmServer, session: aiohttp.ClientSession, version: int,
                      trigger: str) -> float:
    """Write version `version`, trigger the reload, and wait until its model is listed."""
    started = time.monotonic()
    tmp = server.config_path.with_suffix(".tmp")
    tmp.write_text(config(version))
    os.replace(tmp, server.config_path)
    if trigger == "sighup":
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGHUP)
    elif trigger == "admin":
        async with session.post(server.url + "/admin/reload", headers=AUTH) as r:
            assert r.status == 200, await r.text()
    while f"v{version}" not in await models(session, server.url):
        if time.monotonic() - started > 10:
            raise RuntimeError(f"version {version} was not served after 10 s:\n"
                               f"{server.logs()[-3000:]}")
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def drive(server: PllmServer, args: argparse.Namespace) -> tuple[Load, list[float]]:
    load = Load(server.url, args.conc)
    task = asyncio.create_task(load.run())
    applied: list[float] = []
    per_round = max(1, args.reloads // args.rounds)
    version = 0
    async with aiohttp.ClientSession() as session:
        await asyncio.sleep(1.0)  # warm up: discarded below
        load.results.clear()
        for _ in range(args.rounds):
            load.phase = "steady"
            await asyncio.sleep(per_round * args.interval)
            load.phase = "reloading"
            for _ in range(per_round):
                version += 1
                t0 = time.monotonic()
                applied.append(await reload_once(server, session, version, args.trigger))
                await asyncio.sleep(max(0.0, args.interval - (time.monotonic() - t0)))
    load.running = False
    await task
    return load, applied


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def report(load: Load, applied: list[float], args: argparse.Namespace) -> int:
    print(f"trigger={args.trigger} workers={args.workers} concurrency={args.conc} "
          f"reloads={len(applied)} rounds={args.rounds}")
    print(f"{'phase':<10} {'requests':>8} {'failed':>6} {'p50 ms':>7} {'p90 ms':>7} "
          f"{'p99 ms':>7} {'max ms':>7}")
    p: dict[str, tuple[float, float]] = {}
    for phase in ("steady", "reloading"):
        rows = [d for d in load.results if d.phase == phase]
        lat = [d.latency for d in rows if d.ok] or [0.0]
        failed = sum(1 for d in rows if not d.ok)
        p[phase] = (pct(lat, 0.5), pct(lat, 0.99))
        print(f"{phase:<10} {len(rows):>8} {failed:>6} {pct(lat, 0.5):>7.1f} "
              f"{pct(lat, 0.9):>7.1f} {pct(lat, 0.99):>7.1f} {max(lat) * 1000:>7.1f}")
    if p["steady"][0] and p["steady"][1]:
        print(f"reloading/steady: p50 x{p['reloading'][0] / p['steady'][0]:.2f}, "
              f"p99 x{p['reloading'][1] / p['steady'][1]:.2f}")
    print(f"new model listed after: median {statistics.median(applied) * 1000:.0f} ms, "
          f"max {max(applied) * 1000:.0f} ms")
    failures = [d for d in load.results if not d.ok]
    for d in failures[:10]:
        print("  failed:", d.error)
    print(f"failed requests: {len(failures)}")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reloads", type=int, default=30)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between reloads")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--conc", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--trigger", choices=("file", "sighup", "admin"), default="file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        extra = ("--workers", str(args.workers))
        if args.trigger != "file":
            extra += ("--no-watch",)
        server = PllmServer(Path(folder), config(0), args=extra).start()
        try:
            deadline = time.monotonic() + 20
            while args.workers > 1 and server.logs().count("Running on") < args.workers:
                if time.monotonic() > deadline:
                    raise RuntimeError(server.logs())
                time.sleep(0.05)
            load, applied = asyncio.run(drive(server, args))
        finally:
            server.stop()
    return report(load, applied, args)


if __name__ == "__main__":
    sys.exit(main())
