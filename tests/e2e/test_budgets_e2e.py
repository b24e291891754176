"""Budgets end to end: `pllm budgets set` for a key, a user, a team and the whole gateway;
every request priced from its usage at the configured prices (`x-pllm-cost`,
`x-pllm-budget-remaining`); a spent budget refuses with 429 `budget_exceeded` and
`x-should-retry: false`; 100 concurrent requests against a nearly spent budget overshoot it by
at most one reservation; streams are priced from the usage pllm asks the upstream for; and the
budget's spend equals the sum of the audit log's per-request costs once flushed.

Prices are powers of two, so every cost and sum here is exact in binary floating point.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from mockups import MockUpstream
from server import PllmServer

from pllm.limits.tokens import estimate_prompt_tokens

pytestmark = pytest.mark.e2e

MASTER = "sk-master-budgets-0123456789"
HI = [{"role": "user", "content": "hi"}]
IN, OUT = 2.0**-14, 2.0**-12  # USD per input / output token
REPLY = "a b c d e f g h"  # the mock's answer: 8 tokens
COST = 1 * IN + 8 * OUT  # "hi" is 1 prompt token to the mock
PRICES = f"{{input_cost_per_token: {IN!r}, output_cost_per_token: {OUT!r}}}"


def config(extra_models: str = "") -> str:
    return f"""
model_list:
  - model_name: b
    litellm_params: {{model: mock/b, mock_response: "{REPLY}"}}
    model_info: {PRICES}
  - model_name: slow
    litellm_params: {{model: mock/slow, mock_response: "{REPLY}", mock_latency_ms: 50}}
    model_info: {PRICES}
{extra_models}
general_settings:
  master_key: {MASTER}
"""


def reservation(max_tokens: int, model: str = "b", provider: str = "mock") -> float:
    """What pllm reserves for a request before the call: the prompt estimate at the input price
    plus max_tokens at the output price."""
    body = {"model": model, "messages": HI, "max_tokens": max_tokens}
    return estimate_prompt_tokens(body, "chat", provider) * IN + max_tokens * OUT


def pllm_cli(db: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLLM_")}
    done = subprocess.run([sys.executable, "-m", "pllm", *args], capture_output=True,
                          text=True, env={**env, "PLLM_DB": str(db)}, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def new_key(db: Path, *args: str) -> dict[str, Any]:
    return dict(json.loads(pllm_cli(db, "keys", "create", "--name", "k", "--json", *args)))


@pytest.fixture
def unstarted(tmp_path: Path) -> Iterator[Callable[[str], PllmServer]]:
    """Servers whose database the test prepares with the CLI before starting them."""
    made: list[PllmServer] = []

    def make(text: str) -> PllmServer:
        made.append(PllmServer(tmp_path, text))
        return made[-1]

    yield make
    for s in made:
        if s.proc is not None:
            s.stop()


def client(server: PllmServer, key: dict[str, Any], **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key["key"], **{
        "max_retries": 0, **kw})


def audit_rows(server: PllmServer, key_id: str, count: int) -> list[dict[str, Any]]:
    """The key's audit rows once `count` of them are written (the writer flushes every
    0.5 s)."""
    deadline = time.monotonic() + 5
    while True:
        r = httpx.get(server.url + "/admin/audit", params={"limit": 100_000},
                      headers={"authorization": f"Bearer {MASTER}"})
        assert r.status_code == 200, r.text
        rows = [row for row in r.json()["rows"] if row["key_id"] == key_id]
        if len(rows) >= count or time.monotonic() > deadline:
            assert len(rows) == count, rows
            return rows
        time.sleep(0.05)


def budget_show(server: PllmServer, *target: str) -> dict[str, Any]:
    return dict(json.loads(pllm_cli(server.db_path, "budgets", "show", *target, "--json")))


def assert_spend_matches_audit(server: PllmServer, key_id: str, rows: int,
                               *target: str) -> float:
    """After the flush the budget's spend is exactly the sum of the costs audited in its
    current period."""
    audited = audit_rows(server, key_id, rows)
    budget = budget_show(server, *target)
    spend = budget["spend_usd"]
    assert spend == sum(r["cost_usd"] for r in audited if r["ts"] >= budget["period_start"])
    return float(spend)


def test_key_budget_prices_each_request_and_refuses_once_spent(
        unstarted: Callable[[str], PllmServer]) -> None:
    server = unstarted(config())
    key = new_key(server.db_path)
    reserve = reservation(8)
    assert reserve > COST
    limit = 2 * COST + reserve + COST / 2  # room for exactly three requests
    pllm_cli(server.db_path, "budgets", "set", "--key", key["id"], "--max", repr(limit))
    server.start()
    sent: list[httpx.Request] = []
    with httpx.Client(event_hooks={"request": [sent.append]}) as http, \
            client(server, key, max_retries=3, http_client=http) as c:
        for n in (1, 2, 3):
            raw = c.chat.completions.with_raw_response.create(model="b", messages=HI,
                                                              max_tokens=8)
            assert raw.parse().usage.completion_tokens == 8  # type: ignore[union-attr]
            assert float(raw.headers["x-pllm-cost"]) == pytest.approx(COST, abs=1e-8)
            assert float(raw.headers["x-pllm-budget-remaining"]) == pytest.approx(
                limit - n * COST, abs=1e-6)
        sent.clear()
        with pytest.raises(openai.RateLimitError) as caught:
            c.chat.completions.create(model="b", messages=HI, max_tokens=8)
        err = caught.value
        assert err.code == "budget_exceeded" and err.type == "insufficient_quota"
        assert err.response.headers["x-should-retry"] == "false"
        assert f"key '{key['id']}'" in err.message
        assert len(sent) == 1, "the SDK does not retry a spent budget"
    spend = assert_spend_matches_audit(server, key["id"], 4, "--key", key["id"])
    assert spend == 3 * COST
    shown = budget_show(server, "--key", key["id"])
    assert shown["remaining_usd"] == limit - 3 * COST and shown["max_usd"] == limit
    listed = json.loads(pllm_cli(server.db_path, "budgets", "list", "--json"))
    assert [b["spend_usd"] for b in listed] == [3 * COST]
    refusal = [r for r in audit_rows(server, key["id"], 4) if r["status"] == 429]
    assert len(refusal) == 1 and refusal[0]["error"] == "budget_exceeded"
    assert refusal[0]["cost_usd"] == 0


@pytest.mark.parametrize("scope", ["user", "team", "global"])
def test_user_team_and_global_budgets_are_shared_by_their_keys(
        unstarted: Callable[[str], PllmServer], scope: str) -> None:
    server = unstarted(config())
    db = server.db_path
    members = {"user": ("--user", "u1"), "team": ("--team", "t1"), "global": ()}[scope]
    a = new_key(db, *members, "--user" if scope == "team" else "--team", "x-a")
    b = new_key(db, *members, "--user" if scope == "team" else "--team", "x-b")
    outsider = new_key(db, "--user", "u2", "--team", "t2")
    target = ("--global",) if scope == "global" else members
    limit = COST + reservation(8) + COST / 2  # room for exactly two requests
    pllm_cli(db, "budgets", "set", *target, "--max", repr(limit))
    server.start()
    with client(server, a) as ca, client(server, b) as cb, client(server, outsider) as co:
        for c, n in ((ca, 1), (cb, 2)):
            raw = c.chat.completions.with_raw_response.create(model="b", messages=HI,
                                                              max_tokens=8)
            assert float(raw.headers["x-pllm-budget-remaining"]) == pytest.approx(
                limit - n * COST, abs=1e-6)
        for c in (cb, ca):
            with pytest.raises(openai.RateLimitError) as caught:
                c.chat.completions.create(model="b", messages=HI, max_tokens=8)
            assert caught.value.code == "budget_exceeded"
        who = {"user": "user 'u1'", "team": "team 't1'", "global": "the gateway"}[scope]
        assert who in caught.value.message
        if scope == "global":
            with pytest.raises(openai.RateLimitError):
                co.chat.completions.create(model="b", messages=HI, max_tokens=8)
        else:
            raw = co.chat.completions.with_raw_response.create(model="b", messages=HI)
            assert "x-pllm-budget-remaining" not in raw.headers
            assert float(raw.headers["x-pllm-cost"]) == pytest.approx(COST, abs=1e-8)
    audit_rows(server, b["id"], 2)  # flushed
    assert budget_show(server, *target)["spend_usd"] == 2 * COST


async def race(server: PllmServer, key: dict[str, Any], n: int,
               max_tokens: int) -> tuple[int, list[BaseException]]:
    """n concurrent requests, every other one streamed without include_usage."""
    c = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=key["key"], max_retries=0)
    errors: list[BaseException] = []
    ok = 0

    async def one(i: int) -> None:
        nonlocal ok
        try:
            if i % 2:
                stream = await c.chat.completions.create(model="slow", messages=HI,
                                                         max_tokens=max_tokens, stream=True)
                chunks = [chunk async for chunk in stream]
                assert chunks and all(ch.usage is None for ch in chunks)
            else:
                await c.chat.completions.create(model="slow", messages=HI,
                                                max_tokens=max_tokens)
            ok += 1
        except openai.APIError as e:
            errors.append(e)

    try:
        await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        await c.close()
    return ok, errors


def test_100_concurrent_requests_never_overshoot_a_nearly_spent_budget(
        unstarted: Callable[[str], PllmServer]) -> None:
    server = unstarted(config())
    key = new_key(server.db_path, "--budget", "1")
    server.start()
    reserve = reservation(8, "slow")
    made = 0
    with client(server, key) as c:
        for _ in range(3):
            c.chat.completions.create(model="b", messages=HI, max_tokens=8)
        made = 3
        # Lower the budget while the server runs, to about ten reservations left. A request
        # reserving more than that is admitted until the server sees the change.
        limit = 3 * COST + 10.5 * reserve
        pllm_cli(server.db_path, "budgets", "set", "--key", key["id"], "--max", repr(limit))
        changed = time.monotonic()
        while True:
            made += 1
            try:
                c.chat.completions.create(model="b", messages=HI, max_tokens=200)
            except openai.RateLimitError as e:
                assert e.code == "budget_exceeded"
                break
            assert time.monotonic() - changed < 1.0, "a budget change applies within 1 s"
            time.sleep(0.02)
    spent_before = (made - 1) * COST
    assert spent_before < limit - reserve
    ok, errors = asyncio.run(race(server, key, 100, 8))
    assert ok + len(errors) == 100 and ok >= 1 and errors, (ok, errors[:3])
    assert all(isinstance(e, openai.RateLimitError) and e.code == "budget_exceeded"
               for e in errors), errors[:3]
    spend = assert_spend_matches_audit(server, key["id"], made + 100, "--key", key["id"])
    assert spend == spent_before + ok * COST, "streams are priced like the others"
    assert spend <= limit + reserve, f"overshoot: {spend} > {limit} + one reservation"
    # Without reservations every one of the 100 would have passed the "spend < max" check.
    assert ok * COST <= limit - spent_before


@pytest.fixture
def upstream() -> Iterator[MockUpstream]:
    with MockUpstream("openai", api_key="sk-upstream-budgets-0123456789") as up:
        yield up


def test_streams_are_priced_from_usage_pllm_requests_upstream(
        unstarted: Callable[[str], PllmServer], upstream: MockUpstream) -> None:
    server = unstarted(config(f"""
  - model_name: up
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {upstream.url}/v1
      api_key: {upstream.api_key}
    model_info: {PRICES}
"""))
    key = new_key(server.db_path, "--budget", "100")
    server.start()
    ask = [{"role": "user", "content": "price this stream please"}]
    with client(server, key) as c:
        raw = c.chat.completions.with_raw_response.create(model="up", messages=ask)
        usage = raw.parse().usage
        assert usage is not None and usage.completion_tokens > 0
        cost = usage.prompt_tokens * IN + usage.completion_tokens * OUT
        assert float(raw.headers["x-pllm-cost"]) == pytest.approx(cost, abs=1e-8)
        with c.chat.completions.with_streaming_response.create(model="up", messages=ask,
                                                               stream=True) as resp:
            assert float(resp.headers["x-pllm-budget-remaining"]) == pytest.approx(
                100 - cost, abs=1e-6)
            chunks = list(resp.parse())
    assert chunks and all(ch.usage is None for ch in chunks), "the client did not ask for it"
    sent = upstream.requests[-1].json
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    rows = audit_rows(server, key["id"], 2)
    assert [r["cost_usd"] for r in rows] == [cost, cost]
    assert [r["completion_tokens"] for r in rows] == [usage.completion_tokens] * 2
    assert assert_spend_matches_audit(server, key["id"], 2, "--key", key["id"]) == 2 * cost


def test_budget_reset_while_serving_lets_the_key_spend_again(
        unstarted: Callable[[str], PllmServer]) -> None:
    server = unstarted(config())
    key = new_key(server.db_path, "--budget", repr(COST + reservation(8) / 2))
    server.start()
    with client(server, key) as c:
        c.chat.completions.create(model="b", messages=HI, max_tokens=8)
        with pytest.raises(openai.RateLimitError):
            c.chat.completions.create(model="b", messages=HI, max_tokens=8)
        # At once, while the server may still hold the first request's spend in its queue.
        shown = json.loads(pllm_cli(server.db_path, "budgets", "reset", "--key", key["id"],
                                    "--json"))
        assert shown["spend_usd"] == 0
        reset, refused = time.monotonic(), 1
        while True:
            try:
                raw = c.chat.completions.with_raw_response.create(model="b", messages=HI,
                                                                  max_tokens=8)
                break
            except openai.RateLimitError:
                refused += 1
                assert time.monotonic() - reset < 1.0, "a reset applies within 1 s"
                time.sleep(0.02)
        assert float(raw.headers["x-pllm-budget-remaining"]) == pytest.approx(
            reservation(8) / 2, abs=1e-6)
    # The spend of the period before the reset stays out of the new one, however late the
    # server's writer flushes it.
    assert assert_spend_matches_audit(server, key["id"], 2 + refused, "--key",
                                      key["id"]) == COST
