#!/usr/bin/env python3
"""Routing under faults, measured: prints the figures behind the adaptive-routing promises.

Runs a real `pllm serve` in front of fault-injecting OpenAI-format upstreams on loopback
(`tests/mockups/faulty.py`) and drives it with the official `openai` SDK (`max_retries=0`, so
the SDK hides nothing):

1. dead + flaky: deployment A always answers 500, B fails 30% at random, C is healthy;
   5,000 requests at 32 concurrent: client-visible failures, and how many requests A received
   after its circuit breaker opened.
2. kill and revive: two deployments under steady load; A is killed, then restarted: client
   failures, and how long after its return A serves again (breaker timeout 2 s).
3. latency_based: deployments at 10 ms and 100 ms: share sent to the fast one; then the fast
   one turns slow (200 ms): seconds until most traffic has moved.
4. usage_based with rpm 60 on each of two deployments: the most either received in one minute.
5. streams: failover before the first byte, and a mid-stream death seen as an error.

    python benchmarks/failover.py            # about a minute
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import openai

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from mockups.faulty import FaultyUpstream  # noqa: E402
from server import PllmServer  # noqa: E402

MASTER = "sk-bench-failover"
HELLO = [{"role": "user", "content": "hello"}]


def config(ups: list[FaultyUpstream], router: str, extra: str = "") -> str:
    deps = "".join(f"""
  - model_name: m
    model_info: {{id: {u.name}}}
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {u.url}
      api_key: {u.api_key}
{extra}""" for u in ups)
    return f"model_list:{deps}\nrouter:\n{router}\ngeneral_settings:\n  master_key: {MASTER}\n"


async def load(url: str, n: int, concurrency: int, *, stream: bool = False,
               served: list[tuple[float, str]] | None = None,
               stop: threading.Event | None = None) -> tuple[int, list[BaseException]]:
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key=MASTER, max_retries=0)
    gate = asyncio.Semaphore(concurrency)
    errors: list[BaseException] = []
    ok = 0

    async def one() -> None:
        nonlocal ok
        async with gate:
            if stop is not None and stop.is_set():
                return
            try:
                if stream:
                    s = await client.chat.completions.create(model="m", messages=HELLO,
                                                             stream=True)
                    async for _ in s:
                        pass
                else:
                    raw = await client.chat.completions.with_raw_response.create(
                        model="m", messages=HELLO)
                    if served is not None:
                        served.append((time.monotonic(), raw.headers["x-pllm-model"]))
                ok += 1
            except Exception as e:  # counted as a client-visible failure
                errors.append(e)

    try:
        await asyncio.gather(*(one() for _ in range(n)))
    finally:
        await client.close()
    return ok, errors


def breaker_opened(url: str, dep: str, done: threading.Event) -> list[float]:
    """Poll /admin/health; the first time `dep`'s breaker was seen open."""
    seen: list[float] = []

    def poll() -> None:
        with httpx.Client(headers={"authorization": f"Bearer {MASTER}"}) as c:
            while not done.is_set() and not seen:
                for d in c.get(url + "/admin/health").json()["deployments"]:
                    if d["id"] == dep and d["circuit"]["state"] == "open":
                        seen.append(time.monotonic())
                time.sleep(0.02)

    threading.Thread(target=poll, daemon=True).start()
    return seen


def scenario_dead_and_flaky(tmp: Path) -> list[str]:
    with FaultyUpstream("a", seed=1) as a, FaultyUpstream("b", seed=2) as b, \
            FaultyUpstream("c", seed=3) as c:
        a.set(status=500)
        b.set(fail_rate=0.3)
        with PllmServer(tmp, config([a, b, c], "  strategy: weighted")) as server:
            done = threading.Event()
            opened = breaker_opened(server.url, "a", done)
            t0 = time.monotonic()
            ok, errors = asyncio.run(load(server.url, 5000, 32))
            elapsed = time.monotonic() - t0
            done.set()
            after = a.count(since=opened[0]) if opened else None
        return [
            "1. A always 500, B fails 30%, C healthy; 5,000 requests at 32 concurrent",
            f"   client-visible failures: {len(errors)} of 5000 ({ok} answered, "
            f"{5000 / elapsed:.0f} req/s)",
            f"   upstream requests: A {a.count()}, B {b.count()} "
            f"({b.count() - b.answered_ok} failed), C {c.count()}",
            f"   A after its breaker opened: {after} "
            f"(breaker threshold 5, timeout 30 s, run {elapsed:.1f} s)",
        ]


def scenario_kill_revive(tmp: Path) -> list[str]:
    with FaultyUpstream("a") as a, FaultyUpstream("b") as b:
        router = "  strategy: round_robin\n  circuit_breaker: {threshold: 3, timeout: 2}"
        with PllmServer(tmp, config([a, b], router)) as server:
            served: list[tuple[float, str]] = []
            stop = threading.Event()
            result: list[tuple[int, list[BaseException]]] = []
            runner = threading.Thread(target=lambda: result.append(asyncio.run(
                load(server.url, 100_000, 4, served=served, stop=stop))))
            runner.start()
            time.sleep(2)
            a.kill()
            killed = time.monotonic()
            time.sleep(3)
            a.revive()
            revived = time.monotonic()
            time.sleep(4)
            stop.set()
            runner.join()
        ok, errors = result[0]
        back = next((t for t in list(a.received) if t > revived), None)
        return [
            "2. two deployments, steady load (4 concurrent); A killed for 3 s, then restarted",
            f"   client-visible failures: {len(errors)} of {ok + len(errors)}",
            "   A served while dead: "
            f"{sum(1 for t, d in served if d == 'a' and killed + 0.05 < t < revived)}",
            f"   A receiving traffic again {back - revived:.2f} s after its restart (breaker "
            "timeout 2 s)" if back else "   A never served again",
        ]


def scenario_latency(tmp: Path) -> list[str]:
    with FaultyUpstream("fast") as fast, FaultyUpstream("slow") as slow:
        fast.set(latency_s=0.01)
        slow.set(latency_s=0.1)
        with PllmServer(tmp, config([fast, slow], "  strategy: latency_based")) as server:
            served: list[tuple[float, str]] = []
            asyncio.run(load(server.url, 1000, 8, served=served))
            share = sum(1 for _, d in served if d == "fast") / len(served)
            fast.set(latency_s=0.2)
            turned = time.monotonic()
            served2: list[tuple[float, str]] = []
            asyncio.run(load(server.url, 400, 8, served=served2))
            moved = _majority_moved(served2, "slow", turned)
        return [
            "3. latency_based, deployments at 10 ms and 100 ms, 1,000 requests at 8 concurrent",
            f"   share to the fast one: {share:.1%}",
            f"   after it turned slow (200 ms): most traffic on the other within {moved:.2f} s"
            if moved is not None else "   traffic did not move",
        ]


def _majority_moved(served: list[tuple[float, str]], target: str, since: float) -> float | None:
    window = 20
    for i in range(window, len(served) + 1):
        chunk = served[i - window:i]
        if sum(1 for _, d in chunk if d == target) > window * 0.8:
            return chunk[-1][0] - since
    return None


def scenario_usage(tmp: Path) -> list[str]:
    with FaultyUpstream("a") as a, FaultyUpstream("b") as b:
        with PllmServer(tmp, config([a, b], "  strategy: usage_based",
                                    extra="      rpm: 60\n")) as server:
            ok, errors = asyncio.run(load(server.url, 200, 8))
        limited = sum(1 for e in errors if isinstance(e, openai.RateLimitError))
        return [
            "4. usage_based, rpm 60 on each of two deployments, 200 requests within a minute",
            f"   received: A {a.count()}, B {b.count()} (limit 60 each); answered {ok}, "
            f"429 with retry-after: {limited}, other failures: {len(errors) - limited}",
        ]


def scenario_streams(tmp: Path) -> list[str]:
    with FaultyUpstream("a") as a, FaultyUpstream("b") as b:
        a.set(status=503)
        with PllmServer(tmp, config([a, b], "  strategy: round_robin")) as server:
            _, errors = asyncio.run(load(server.url, 500, 16, stream=True))
            tried = a.count()
            a.set(die_after_chunks=2)
            b.set(die_after_chunks=2)
            ok2, errors2 = asyncio.run(load(server.url, 20, 4, stream=True))
        return [
            "5. streams: A answers 503, B healthy; 500 streams at 16 concurrent",
            f"   client-visible failures: {len(errors)} (A received {tried}; its breaker opened)",
            f"   both die after 2 events: {len(errors2)} of {ok2 + len(errors2)} streams end as "
            f"errors the SDK raises ({type(errors2[0]).__name__ if errors2 else '-'})",
        ]


def main() -> int:
    lines: list[str] = []
    for scenario in (scenario_dead_and_flaky, scenario_kill_revive, scenario_latency,
                     scenario_usage, scenario_streams):
        lines += scenario(Path(tempfile.mkdtemp(prefix="pllm-failover-")))
        print("\n".join(lines[-4:]), file=sys.stderr)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
