"""`pllm serve --workers 2`: limits and budgets stay exact across worker processes (one
ledger in the supervisor, never a private copy per worker), and a SIGTERM under load loses no
audit row or spend.

Requests go over separate connections, and the test checks in /proc that both workers really
served some of them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from server import PllmServer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc"),
]

MASTER = "sk-master-workers-0123456789"
HI = [{"role": "user", "content": "hi"}]
OUT = 2.0**-12
COST = 8 * OUT  # the mock answers 8 tokens; input is free here, so cost == reservation
CONFIG = f"""
model_list:
  - model_name: w
    litellm_params: {{model: mock/w, mock_response: "a b c d e f g h", mock_latency_ms: 150}}
    model_info: {{input_cost_per_token: 0, output_cost_per_token: {OUT!r}}}
general_settings:
  master_key: {MASTER}
"""


def pllm_cli(db: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLLM_")}
    done = subprocess.run([sys.executable, "-m", "pllm", *args], capture_output=True,
                          text=True, env={**env, "PLLM_DB": str(db)}, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def new_key(db: Path, *args: str) -> dict[str, Any]:
    return dict(json.loads(pllm_cli(db, "keys", "create", "--name", "w", "--json", *args)))


def audit_export(db: Path) -> list[dict[str, Any]]:
    out = pllm_cli(db, "audit", "export", "--format", "jsonl")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def start_both(server: PllmServer) -> None:
    """Start, and wait for both workers (/health answers as soon as the first one serves)."""
    server.start()
    deadline = time.monotonic() + 15
    while server.logs().count("Running on") < 2:
        assert time.monotonic() < deadline, server.logs()
        time.sleep(0.05)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PllmServer]:
    s = PllmServer(tmp_path, CONFIG, args=("--workers", "2"))
    yield s
    if s.proc is not None:
        s.stop()


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def connections_per_worker(server: PllmServer) -> dict[int, int]:
    """Established connections the gateway's processes hold on its port, per process."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == server.port and fields[3] == "01":
                inodes.add(f"socket:[{fields[9]}]")
    assert server.proc is not None
    counts = {}
    for pid in _children(server.proc.pid):
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        counts[pid] = sum(1 for link in links if link in inodes)
    return counts


async def spread(server: PllmServer, jobs: list[tuple[str, str]],
                 ) -> tuple[list[Any], dict[int, int]]:
    """Every (key, model) request on its own connection, all at once: a response's headers
    or the exception; and, while the connections are still open, how many each worker has."""
    clients = [openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)
               for key, _ in jobs]

    async def one(c: openai.AsyncOpenAI, model: str, i: int) -> Any:
        await asyncio.sleep(i * 0.004)  # a few ms apart, so both workers' accept loops get some
        try:
            raw = await c.chat.completions.with_raw_response.create(
                model=model, messages=HI, max_tokens=8)  # type: ignore[arg-type]
            raw.parse()
            return raw.headers
        except openai.APIError as e:
            return e

    try:
        results = await asyncio.gather(*(one(c, m, i) for i, (c, (_, m)) in enumerate(
            zip(clients, jobs, strict=True))))
        per_worker = connections_per_worker(server)
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    return list(results), per_worker


def test_two_workers_admit_exactly_the_rpm_and_spend_exactly_the_budget(
        server: PllmServer) -> None:
    db = server.db_path
    limited = new_key(db, "--rpm", "6", "--budget", "1")
    budgeted = new_key(db)
    pllm_cli(db, "budgets", "set", "--key", budgeted["id"], "--max", repr(5.5 * COST))
    start_both(server)
    jobs = [(limited["key"], "w")] * 18 + [(budgeted["key"], "w")] * 20
    results, per_worker = asyncio.run(spread(server, jobs))
    busy = [pid for pid, n in per_worker.items() if n > 0]
    assert len(busy) == 2, f"both workers serve: {per_worker}"

    rpm_ok = [r for r in results[:18] if not isinstance(r, Exception)]
    rpm_refused = [r for r in results[:18] if isinstance(r, Exception)]
    assert len(rpm_ok) == 6, "one shared window: never 6 per worker"
    assert sorted(h["x-ratelimit-remaining-requests"] for h in rpm_ok) == list("012345")
    assert all(isinstance(e, openai.RateLimitError) and e.code == "rate_limit_exceeded"
               for e in rpm_refused)
    budget_ok = [r for r in results[18:] if not isinstance(r, Exception)]
    budget_refused = [r for r in results[18:] if isinstance(r, Exception)]
    assert len(budget_ok) == 5, "one shared budget: 5.5 requests' worth admits exactly 5"
    assert all(isinstance(e, openai.RateLimitError) and e.code == "budget_exceeded"
               for e in budget_refused)
    # With workers a settlement is one way: a response reports the budget seen at its
    # admission less its own cost (concurrent requests' costs may not show yet).
    for h in budget_ok:
        assert 0.5 * COST - 1e-6 <= float(h["x-pllm-budget-remaining"]) <= 4.5 * COST + 1e-6
        assert float(h["x-pllm-cost"]) == pytest.approx(COST, abs=1e-8)

    assert server.stop() == 0  # at once: queued rows are written on the way out
    rows = audit_export(db)
    assert len(rows) == 38, "one audit row per request, refusals included"
    for key, ok, spend in ((limited, 6, 6 * COST), (budgeted, 5, 5 * COST)):
        mine = [r for r in rows if r["key_id"] == key["id"]]
        assert sum(r["status"] == 200 for r in mine) == ok
        assert sum(r["cost_usd"] for r in mine) == spend
        budget = json.loads(pllm_cli(db, "budgets", "show", "--key", key["id"], "--json"))
        assert budget["spend_usd"] == spend


def test_sigterm_under_load_with_two_workers_loses_no_audit_row(server: PllmServer) -> None:
    db = server.db_path
    key = new_key(db, "--budget", "10")
    start_both(server)
    assert server.proc is not None
    proc = server.proc

    async def load() -> list[Any]:
        loop = asyncio.get_running_loop()
        # SIGTERM while the first wave is inside the gateway (the mock takes 150 ms).
        loop.call_later(0.08, proc.send_signal, signal.SIGTERM)
        results, _ = await spread(server, [(key["key"], "w")] * 30)
        return results

    started = time.monotonic()
    results = asyncio.run(load())
    assert proc.wait(20) == 0
    assert time.monotonic() - started < 15, "in-flight requests finish, then it exits"
    answered = [r for r in results if not isinstance(r, openai.APIConnectionError)]
    served = [r for r in answered if not isinstance(r, Exception)]
    assert served, "requests in flight at SIGTERM are answered"
    rows = audit_export(db)
    assert sorted(r["request_id"] for r in rows if r["status"] == 200) == sorted(
        h["x-request-id"] for h in served), "every answered request is audited"
    assert len(rows) == len(answered)
    budget = json.loads(pllm_cli(db, "budgets", "show", "--key", key["id"], "--json"))
    assert budget["spend_usd"] == len(served) * COST == sum(r["cost_usd"] for r in rows)
