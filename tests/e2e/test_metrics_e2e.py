"""`/metrics` end to end, through a real `pllm serve` driven with the official `openai` SDK: a
mixed run (answers, a stream, an unknown model, a rate-limited and a budget-refused request)
leaves exactly the expected series and values, parsed with prometheus-client's parser (and
`promtool check metrics` where installed), with no key or prompt anywhere in the page; with
`--workers 2` every worker's requests are summed whichever worker answers the scrape, from the
supervisor's multiprocess directory (removed at exit); `server.metrics_port` serves the page
without auth on its own port, alone or with workers, and not on the main port; a busy metrics
port is a clean startup error.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as strict_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families
from server import PllmServer, free_port

pytestmark = pytest.mark.e2e

MASTER = "sk-master-metrics-e2e-0123456789"
PROMPT = "PROMPT-MARKER-5519 say hi"
HI = [{"role": "user", "content": PROMPT}]
IN, OUT = 2.0**-14, 2.0**-12
PRICES = f"{{input_cost_per_token: {IN!r}, output_cost_per_token: {OUT!r}}}"
CONFIG = f"""
model_list:
  - model_name: m
    litellm_params: {{model: mock/m, mock_response: "a b c d e f g h", mock_token_delay_ms: 5}}
    model_info: {PRICES}
  - model_name: limited
    litellm_params: {{model: mock/limited, mock_response: "a b c d e f g h"}}
    model_info: {PRICES}
  - model_name: down                # nothing listens on port 9: falls back to m
    litellm_params: {{model: openai/gpt-4o, api_base: "http://127.0.0.1:9/v1", api_key: sk-x-0000}}
router:
  fallbacks: [{{down: [m]}}]
general_settings:
  master_key: {MASTER}
limits:
  models:
    limited: {{rpm: 1}}
"""
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def pllm_cli(db: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLLM_")}
    done = subprocess.run([sys.executable, "-m", "pllm", *args], capture_output=True,
                          text=True, env={**env, "PLLM_DB": str(db)}, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def new_key(db: Path, *args: str) -> str:
    return str(json.loads(pllm_cli(db, "keys", "create", "--name", "k", "--json", *args))["key"])


def scrape(url: str, key: str | None = MASTER) -> tuple[str, Samples]:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    r = httpx.get(url, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    if shutil.which("promtool"):
        check = subprocess.run(["promtool", "check", "metrics"], input=r.text,
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
    return r.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def deployment_ids(server: PllmServer) -> dict[str, str]:
    r = httpx.get(server.url + "/admin/health", headers={"authorization": f"Bearer {MASTER}"})
    return {d["model_name"]: d["id"] for d in r.json()["deployments"]}


def test_series_after_a_mixed_run(tmp_path: Path) -> None:
    server = PllmServer(tmp_path, CONFIG)
    key = new_key(server.db_path)
    broke = new_key(server.db_path, "--budget", "0")
    viewer = new_key(server.db_path, "--role", "viewer")
    server.start()
    try:
        _mixed_run(server, key, broke, viewer)
    finally:
        server.stop()


def _mixed_run(server: PllmServer, key: str, broke: str, viewer: str) -> None:
    prompt_tokens, completion_tokens = _traffic(server, key, broke)
    assert httpx.get(server.url + "/metrics").status_code == 401  # the admin API's auth
    text, s = scrape(server.url + "/metrics", viewer)
    ids = deployment_ids(server)
    m = {"model_group": "m", "deployment": ids["m"]}
    lim = {"model_group": "limited", "deployment": ids["limited"]}
    assert value(s, "pllm_requests_total", **m, endpoint="chat", status="200") == 5
    assert value(s, "pllm_requests_total", **lim, endpoint="chat", status="200") == 1
    assert value(s, "pllm_requests_total", model_group="other", deployment="none",
                 endpoint="chat", status="404") == 1
    assert value(s, "pllm_requests_total", model_group="limited", deployment="none",
                 endpoint="chat", status="429") == 1
    assert value(s, "pllm_requests_total", model_group="m", deployment="none",
                 endpoint="chat", status="429") == 1
    assert value(s, "pllm_requests_total", model_group="none", deployment="none",
                 endpoint="chat", status="401") == 1
    assert total(s, "pllm_requests_total") == 10
    assert value(s, "pllm_fallbacks_total", model_group="down", fallback="m") == 1
    assert value(s, "pllm_retries_total", model_group="m") >= 1  # the dead one, then m
    assert value(s, "pllm_upstream_attempts_total", model_group="down",
                 deployment=ids["down"], status="502") >= 1
    assert value(s, "pllm_deployment_health_score", model_group="down",
                 deployment=ids["down"]) < 100
    assert value(s, "pllm_rejected_requests_total", reason="rate_limit") == 1
    assert value(s, "pllm_rejected_requests_total", reason="budget") == 1
    assert value(s, "pllm_tokens_total", **m, type="input") == prompt_tokens
    assert value(s, "pllm_tokens_total", **m, type="output") == completion_tokens
    assert value(s, "pllm_cost_usd_total", **m) == prompt_tokens * IN + completion_tokens * OUT
    assert value(s, "pllm_request_duration_seconds_count", **m, endpoint="chat") == 5
    assert value(s, "pllm_gateway_overhead_seconds_count", **m, endpoint="chat") == 5
    assert value(s, "pllm_upstream_duration_seconds_count", **m) == 4
    assert value(s, "pllm_time_to_first_token_seconds_count", **m) == 1
    assert value(s, "pllm_upstream_attempts_total", **m, status="200") == 5
    genai = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "mock",
             "gen_ai_request_model": "m"}
    assert value(s, "gen_ai_client_token_usage_sum", **genai,
                 gen_ai_token_type="output") == completion_tokens
    assert value(s, "gen_ai_client_operation_duration_seconds_count", **genai) == 5
    assert value(s, "gen_ai_server_time_to_first_token_seconds_count", **genai) == 1
    assert value(s, "pllm_deployment_health_score", **m) == 100
    assert value(s, "pllm_deployment_circuit_state", **m) == 0
    assert value(s, "pllm_in_flight_requests", **m) == 0
    assert value(s, "pllm_deployment_info", **m, provider="mock") == 1
    assert value(s, "pllm_cache_hits_total") == 0
    for secret in (MASTER, key, broke, viewer, "sk-not-a-key", "PROMPT-MARKER", "no-such-model"):
        assert secret not in text
    # The same page as OpenMetrics, through prometheus-client's strict parser (it raises on
    # any malformed line, type or label): the check promtool would make.
    om = httpx.get(server.url + "/metrics", headers={
        "authorization": f"Bearer {viewer}",
        "accept": "application/openmetrics-text; version=1.0.0; charset=utf-8"})
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    strict = {f.name: f for f in strict_openmetrics(om.text)}
    for name in ("pllm_requests", "pllm_request_duration_seconds", "pllm_tokens",
                 "pllm_gateway_overhead_seconds", "pllm_time_to_first_token_seconds",
                 "pllm_deployment_health_score", "pllm_retries", "pllm_fallbacks",
                 "gen_ai_client_token_usage"):
        assert name in strict, name
    assert strict["pllm_requests"].type == "counter"
    assert strict["pllm_request_duration_seconds"].type == "histogram"


def _traffic(server: PllmServer, key: str, broke: str) -> tuple[int, int]:
    """Answers, a stream, an unknown model, a rate limit, a budget, a bad key: the tokens
    the answers reported."""
    url = server.url + "/v1"
    prompt_tokens = completion_tokens = 0
    with openai.OpenAI(base_url=url, api_key=key, max_retries=0) as client:
        for _ in range(3):
            reply = client.chat.completions.create(model="m", messages=HI)  # type: ignore[arg-type]
            assert reply.usage is not None
            prompt_tokens += reply.usage.prompt_tokens
            completion_tokens += reply.usage.completion_tokens
        chunks = list(client.chat.completions.create(
            model="m", messages=HI, stream=True,  # type: ignore[arg-type]
            stream_options={"include_usage": True}))
        usage = chunks[-1].usage
        assert usage is not None
        prompt_tokens += usage.prompt_tokens
        completion_tokens += usage.completion_tokens
        rescued = client.chat.completions.create(model="down", messages=HI)  # type: ignore[arg-type]
        assert rescued.usage is not None
        prompt_tokens += rescued.usage.prompt_tokens
        completion_tokens += rescued.usage.completion_tokens
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="no-such-model-3391", messages=HI)  # type: ignore[arg-type]
        client.chat.completions.create(model="limited", messages=HI)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError) as rate:
            client.chat.completions.create(model="limited", messages=HI)  # type: ignore[arg-type]
        assert rate.value.code == "rate_limit_exceeded"
    with openai.OpenAI(base_url=url, api_key=broke, max_retries=0) as poor, \
            pytest.raises(openai.RateLimitError) as budget:
        poor.chat.completions.create(model="m", messages=HI)  # type: ignore[arg-type]
    assert budget.value.code == "budget_exceeded"
    with openai.OpenAI(base_url=url, api_key="sk-not-a-key-0000000000000",
                       max_retries=0) as stranger, pytest.raises(openai.AuthenticationError):
        stranger.chat.completions.create(model="m", messages=HI)  # type: ignore[arg-type]
    return prompt_tokens, completion_tokens


def test_workers_are_summed_from_the_multiprocess_directory(tmp_path: Path) -> None:
    server = PllmServer(tmp_path, CONFIG, args=("--workers", "2"))
    key = new_key(server.db_path)
    server.start()
    try:
        _wait_for_workers(server, 2)
        workers = _children(server.proc.pid if server.proc else 0)
        folders = {_environ(pid).get("PROMETHEUS_MULTIPROC_DIR") for pid in workers}
        assert len(folders) == 1 and None not in folders
        folder = Path(str(folders.pop()))
        assert folder.stat().st_mode & 0o777 == 0o700
        served: dict[int, float] = {}
        for _ in range(40):  # a connection each: the kernel spreads them over the workers
            with httpx.Client() as http:
                r = http.post(server.url + "/v1/chat/completions",
                              headers={"authorization": f"Bearer {key}"},
                              json={"model": "m", "messages": HI})
                assert r.status_code == 200, r.text
        for pid in workers:  # each worker's own file holds part of the 40
            served[pid] = _requests_in(folder / f"counter_{pid}.db", tmp_path / str(pid))
        assert sum(served.values()) == 40 and min(served.values()) > 0, served
        ids = deployment_ids(server)
        for _ in range(6):  # whichever worker answers, it sums both
            _, s = scrape(server.url + "/metrics")
            assert value(s, "pllm_requests_total", model_group="m", deployment=ids["m"],
                         endpoint="chat", status="200") == 40
            assert value(s, "pllm_deployment_info", model_group="m", deployment=ids["m"],
                         provider="mock") == 1
            assert value(s, "pllm_in_flight_requests", model_group="m",
                         deployment=ids["m"]) == 0
    finally:
        assert server.stop() == 0
    assert not folder.exists(), "the supervisor removes its metrics directory"


@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_port_serves_without_auth_and_the_main_port_does_not(
        tmp_path: Path, workers: int) -> None:
    port = free_port()
    server = PllmServer(tmp_path, CONFIG + f"server:\n  metrics_port: {port}\n",
                        args=("--workers", str(workers)))
    key = new_key(server.db_path)
    server.start()
    try:
        r = httpx.post(server.url + "/v1/chat/completions", json={"model": "m", "messages": HI},
                       headers={"authorization": f"Bearer {key}"})
        assert r.status_code == 200
        main = httpx.get(server.url + "/metrics", headers={"authorization": f"Bearer {MASTER}"})
        assert main.status_code == 404
        deadline = time.monotonic() + 5
        while True:  # the port's router gauges come from the workers' once-a-second refresh
            _, s = scrape(f"http://127.0.0.1:{port}/metrics", key=None)
            if total(s, "pllm_deployment_info") == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert total(s, "pllm_requests_total") == 1
        assert total(s, "pllm_deployment_info") == 3
    finally:
        assert server.stop() == 0


def test_a_busy_metrics_port_is_a_clean_startup_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = PllmServer(tmp_path, CONFIG + f"server:\n  metrics_port: {port}\n")
        server.start(wait=False)
        assert server.proc is not None
        assert server.proc.wait(30) == 2
        logs = server.logs()
        assert f"cannot listen on 127.0.0.1:{port} for metrics" in logs
        assert "Traceback" not in logs
        server.stop()


def _requests_in(db: Path, scratch: Path) -> float:
    """pllm_requests_total as one worker's counter file alone holds it."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    scratch.mkdir()
    shutil.copy(db, scratch / db.name)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(scratch))  # type: ignore[no-untyped-call]
    families = text_string_to_metric_families(generate_latest(registry).decode())
    return sum(s.value for f in families for s in f.samples if s.name == "pllm_requests_total")


def _wait_for_workers(server: PllmServer, n: int) -> None:
    deadline = time.monotonic() + 15
    while server.logs().count("Running on") < n:
        assert time.monotonic() < deadline, server.logs()
        time.sleep(0.05)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and \
                    "multiprocessing.spawn" in _cmdline(int(entry)):
                found.append(int(entry))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0")
                if "=" in item)
