"""`pllm bench` as a process against real servers: a demo pllm, two pllms compared, its own
`--mock` stack on a machine with no configuration, and servers that answer 401/429/500."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mockups.faulty import FaultyUpstream
from server import PllmServer

pytestmark = pytest.mark.e2e

SLOW = """
model_list:
  - model_name: slow
    litellm_params:
      model: mock/slow
      mock_latency_ms: 25
"""
MASTER = "sk-bench-test-master-0123456789"
LOCKED = f"""
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: mock/gpt-4o-mini
general_settings:
  master_key: {MASTER}
auth:
  failed_auth_per_minute: 12
"""


def clean_env(home: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PLLM_") and not k.endswith("_API_KEY")}
    if home is not None:
        env.update(HOME=str(home), XDG_DATA_HOME=str(home / ".local/share"),
                   XDG_CONFIG_HOME=str(home / ".config"))
    return env


def bench(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
          expect: int = 0, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "pllm", "bench", *args], capture_output=True,
                          text=True, timeout=timeout, env=env or clean_env(), cwd=cwd)
    assert done.returncode == expect, done.stdout + done.stderr
    return done


def bench_json(*args: str, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(bench(*args, "--json", **kw).stdout)
    return out


def test_fifty_requests_against_a_demo_server(make_server: Callable[..., PllmServer]) -> None:
    server = make_server(demo=True)
    out = bench_json("--url", server.url, "-n", "50", "-c", "5")
    t = out["target"]
    assert (t["requests"], t["ok"], t["failed"], t["errors"]) == (50, 50, 0, {})
    assert t["rps"] > 0 and 0 < t["latency_ms"]["p50"] <= t["latency_ms"]["p99"]
    assert t["tokens"]["source"] == "usage" and t["tokens"]["completion"] > 0
    assert t["ttft_ms"] is None  # not streamed
    assert t["server_overhead_ms"] is not None  # pllm's x-pllm-overhead-ms, read per answer
    assert out["config"]["targets"]["target"]["url"] == server.url + "/v1/chat/completions"
    assert "baseline" not in out and "overhead" not in out


def test_streams_report_time_to_first_token(make_server: Callable[..., PllmServer]) -> None:
    server = make_server(demo=True)  # the demo paces streams at 15 ms per token
    out = bench_json("--url", server.url + "/v1", "-n", "20", "-c", "10", "--stream")
    t = out["target"]
    assert t["ok"] == 20
    assert 10 <= t["ttft_ms"]["p50"] < t["latency_ms"]["p50"]
    assert 10 <= t["itl_ms"]["p50"] <= 100
    assert t["tokens"]["source"] == "usage" and t["tokens"]["completion_per_s"] > 0


def test_compare_reports_the_difference(make_server: Callable[..., PllmServer]) -> None:
    slow = make_server(SLOW)  # answers 25 ms later than the demo, otherwise the same
    fast = make_server(demo=True)
    out = bench_json("--url", slow.url, "--model", "slow", "--compare", fast.url,
                     "--compare-model", "gpt-4o-mini", "-n", "30", "-c", "3", "--rounds", "2")
    assert out["target"]["ok"] == 60 and out["baseline"]["ok"] == 60  # 2 rounds of 30 each
    assert [sorted(r) for r in out["rounds"]] == [["baseline", "round", "target"]] * 2
    p50 = out["overhead"]["latency p50 ms"]
    assert 20 <= p50["difference"] <= 200 and p50["ratio"] > 2
    assert out["overhead"]["rps"]["ratio"] < 1
    assert out["config"]["targets"]["baseline"]["model"] == "gpt-4o-mini"


def test_mock_on_a_machine_with_no_configuration(tmp_path: Path) -> None:
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    out = bench_json("--mock", "-n", "100", "-c", "4", "--warmup", "10",
                     env=clean_env(home), cwd=cwd)
    gw, direct = out["target"], out["baseline"]
    assert (gw["ok"], gw["failed"], direct["ok"], direct["failed"]) == (300, 0, 300, 0)
    assert len(out["rounds"]) == 3
    assert gw["server_overhead_ms"] is not None and direct["server_overhead_ms"] is None
    assert gw["tokens"]["completion"] == 300 * 16  # max_tokens words from the mock
    o = out["overhead"]
    assert o["latency p50 ms"]["difference"] > 0 and o["rps"]["ratio"] < 1
    assert out["config"]["targets"]["target"]["label"] == "pllm"
    assert list(home.iterdir()) == [] and list(cwd.iterdir()) == []  # nothing left behind


def test_mock_table_and_streams(tmp_path: Path) -> None:
    done = bench("--mock", "-n", "60", "-c", "3", "--rounds", "1", "--stream", cwd=tmp_path)
    text = done.stdout
    for row in ("requests/s", "latency p99.9 ms", "time to first token p50 ms",
                "inter-token latency p50 ms", "difference", "ratio", "pllm", "mock, direct"):
        assert row in text, text


def test_bad_key_then_lockout_counted_by_status(make_server: Callable[..., PllmServer]) -> None:
    server = make_server(LOCKED)
    wrong = "sk-wrong-key-abcdefghijklmnop"
    out = json.loads(bench("--url", server.url, "--key", wrong, "-n", "30", "-c", "1",
                           "--json", expect=1).stdout)  # exit 1: nothing succeeded
    t = out["target"]
    # 12 failed authentications a minute, then pllm locks the address out with 429s
    assert (t["ok"], t["errors"]) == (0, {"401": 12, "429": 18})
    assert "too many failed authentication" in t["error_samples"]["429"].lower()
    assert t["latency_ms"] is None  # failures do not count as latency
    assert wrong not in json.dumps(out) and "abcdefghijklmnop" not in json.dumps(out)
    table = bench("--url", server.url, "--key", wrong, "-n", "5", expect=1).stdout
    assert "errors: target" in table and "429" in table and wrong not in table


def test_429_and_500_are_counted_by_status() -> None:
    with FaultyUpstream("faulty", api_key="sk-faulty", seed=3) as up:
        up.set(fail_rate=0.3, fail_status=429)
        out = bench_json("--url", up.url, "--key", "sk-faulty", "-n", "200", "-c", "8")
        t = out["target"]
        failed = up.count() - up.answered_ok
        assert 20 < failed < 120  # about 30% of 200
        assert (t["ok"], t["errors"]) == (up.answered_ok, {"429": failed})
        assert "failed on purpose" in t["error_samples"]["429"]
        up.set(status=500)
        t = bench_json("--url", up.url, "--key", "sk-faulty", "-n", "20", "--stream",
                       expect=1)["target"]
        assert (t["ok"], t["errors"]) == (0, {"500": 20})
