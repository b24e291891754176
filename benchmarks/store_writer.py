#!/usr/bin/env python3
"""Does the store's writer keep up with the gateway? Queues what the request path queues per
request (an audit row, a spend increment on four budgets, a key's last-used time) from a
producer thread as fast as it can, or at a fixed rate, and prints rows committed per second,
the time `record_request` costs the caller, and how long the writer
takes to catch up after the last one.

    python benchmarks/store_writer.py                 # 200,000 requests, flat out
    python benchmarks/store_writer.py --rate 3000 --seconds 10   # the gateway's peak, paced
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from pllm.store import AuditRow, Store


def row(i: int, key_id: str) -> AuditRow:
    return AuditRow(
        ts=time.time(), request_id=f"req_{i:024x}", key_id=key_id, user_id="u1", team_id="t1",
        role="user", endpoint="chat", model="gpt-4o-mini", deployment="gpt-4o-mini.openai.1",
        status=200, latency_ms=412.5, prompt_tokens=1200, completion_tokens=350,
        cost_usd=0.00039, cache_hit=False, error=None, client="10.0.0.7")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--rate", type=float, default=0.0, help="requests/s (0: flat out)")
    ap.add_argument("--seconds", type=float, default=10.0, help="with --rate")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pllm-writer-"))
    store = Store.open(folder / "bench.db")
    key, _ = store.create_key(name="bench", user_id="u1", team_id="t1", actor="bench")
    budgets = [store.set_budget(scope, subject, max_usd=1e9, actor="bench").id
               for scope, subject in (("key", key.id), ("user", "u1"), ("team", "t1"),
                                      ("global", None))]
    n = int(args.rate * args.seconds) if args.rate else args.requests
    enqueue: list[float] = []

    def produce() -> None:
        start = time.perf_counter()
        for i in range(n):
            if args.rate:
                due = start + i / args.rate
                while time.perf_counter() < due:
                    time.sleep(0.0005)
            t = time.perf_counter()
            store.record_request(row(i, key.id))
            for b in budgets:
                store.add_spend(b, 0.00039)
            store.touch_key(key.id, time.time())
            enqueue.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    producer = threading.Thread(target=produce)
    producer.start()
    producer.join()
    produced = time.perf_counter() - t0
    store.flush()
    committed = time.perf_counter() - t0
    rows = store.audit_rows(limit=1)
    store.close()
    assert rows, "nothing was written"
    print(f"requests queued: {n:,} in {produced:.2f} s; all committed after {committed:.2f} s")
    print(f"committed: {n / committed:,.0f} requests/s (audit row + 4 budget increments + "
          f"last-used each)")
    print(f"queueing cost per request on the caller: median "
          f"{statistics.median(enqueue) * 1e6:.1f} µs, p99 "
          f"{sorted(enqueue)[int(len(enqueue) * 0.99)] * 1e6:.1f} µs")
    print(f"the writer finished {committed - produced:.2f} s after the last request was queued")
    return 0


if __name__ == "__main__":
    sys.exit(main())
