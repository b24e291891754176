"""Logs end to end, from a real `pllm serve`'s stderr: one access line per request at INFO
(method, path, status, latency, model, deployment, tokens, request id; the client's own
`x-request-id` kept), admin requests too, probes only at DEBUG; never a prompt or a key (the
master key, a client's wrong key, a key-shaped model name); `--log-format json` makes every log
record a JSON object, in every worker; `--log-level warning` silences the access log in every
worker too."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import openai
import pytest
from server import PllmServer

pytestmark = pytest.mark.e2e

MASTER = "sk-master-logs-e2e-0123456789"
WRONG = "sk-wrong-key-for-logs-0123456789"
PROMPT = "PROMPT-MARKER-8842 tell me a secret"
HI = [{"role": "user", "content": PROMPT}]
CONFIG = f"""
model_list:
  - model_name: m
    litellm_params: {{model: mock/m, mock_response: "a b c d e f g h", mock_token_delay_ms: 5}}
general_settings:
  master_key: {MASTER}
"""
ACCESS = re.compile(r"^\S+ \S+ INFO pllm\.access: (.*)$")


def traffic(server: PllmServer) -> list[str]:
    """A mixed set of requests; the request ids the gateway answered with."""
    ids = []
    with openai.OpenAI(base_url=server.url + "/v1", api_key=MASTER, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="m", messages=HI, extra_headers={"x-request-id": "client-trace-42"})  # type: ignore[arg-type]
        ids.append(raw.headers["x-request-id"])
        with client.chat.completions.with_streaming_response.create(
                model="m", messages=HI, stream=True) as streamed:  # type: ignore[arg-type]
            ids.append(streamed.headers["x-request-id"])
            assert "[DONE]" in streamed.read().decode()
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="sk-ant-api03-0123456789abcdefghij",  # type: ignore[arg-type]
                                           messages=HI)
    with openai.OpenAI(base_url=server.url + "/v1", api_key=WRONG, max_retries=0) as wrong, \
            pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="m", messages=HI)  # type: ignore[arg-type]
    assert httpx.get(server.url + "/admin/health",
                     headers={"authorization": f"Bearer {MASTER}"}).status_code == 200
    assert httpx.get(server.url + "/health").status_code == 200
    return ids


def wait_for(server: PllmServer, marker: str, count: int) -> str:
    deadline = time.monotonic() + 10
    while True:
        logs = server.logs()
        if logs.count(marker) >= count or time.monotonic() > deadline:
            return logs
        time.sleep(0.05)


def assert_clean(logs: str) -> None:
    for secret in (MASTER, WRONG, "PROMPT-MARKER", "tell me a secret",
                   "sk-ant-api03-0123456789abcdefghij"):
        assert secret not in logs


def test_text_access_lines(make_server: Any) -> None:
    server: PllmServer = make_server(CONFIG)
    ids = traffic(server)
    logs = wait_for(server, "INFO pllm.access", 5)
    lines = [m.group(1) for line in logs.splitlines() if (m := ACCESS.match(line))]
    assert len(lines) == 5, logs
    ok, stream, missing, refused, admin = lines
    assert re.fullmatch(r"POST /v1/chat/completions 200 latency_ms=[\d.]+ model=m "
                        r"deployment=m\.mock\.\w+ prompt_tokens=\d+ completion_tokens=8 "
                        r"request_id=client-trace-42", ok), ok
    assert ids[0] == "client-trace-42"
    assert re.fullmatch(rf"POST /v1/chat/completions 200 latency_ms=[\d.]+ model=m "
                        rf"deployment=m\.mock\.\w+ prompt_tokens=\d+ completion_tokens=8 "
                        rf"request_id={ids[1]} stream=true ttft_ms=[\d.]+", stream), stream
    assert missing.startswith("POST /v1/chat/completions 404 ")
    assert "model=\"sk-a…[REDACTED]\" deployment=-" in missing
    assert missing.endswith(" error=model_not_found")
    assert refused.startswith("POST /v1/chat/completions 401 ")
    assert "model=- " in refused and refused.endswith(" error=invalid_api_key")
    assert re.fullmatch(r"GET /admin/health 200 latency_ms=[\d.]+", admin), admin
    assert "GET /health" not in logs  # probes: DEBUG
    assert_clean(logs)


def test_json_lines_for_every_record_in_every_worker(make_server: Any) -> None:
    server: PllmServer = make_server(CONFIG, args=("--log-format", "json", "--workers", "2"))
    deadline = time.monotonic() + 15
    while server.logs().count("Running on") < 2:
        assert time.monotonic() < deadline, server.logs()
        time.sleep(0.05)
    traffic(server)
    logs = wait_for(server, '"logger":"pllm.access"', 5)
    records = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    rest = [line for line in logs.splitlines() if not line.startswith("{")]
    # Only the banner (printed, not logged) is not JSON.
    assert all(not re.match(r"^\d{4}-\d\d-\d\d ", line) for line in rest), rest
    running = [r for r in records if r["logger"] == "hypercorn.error"]
    assert len(running) == 2 and all("Running on" in r["message"] for r in running)
    access = [r for r in records if r["logger"] == "pllm.access"]
    assert len(access) == 5, access
    ok = access[0] if access[0].get("request_id") == "client-trace-42" else next(
        r for r in access if r.get("request_id") == "client-trace-42")
    assert ok["message"] == "POST /v1/chat/completions 200"
    assert (ok["method"], ok["path"], ok["status"], ok["model"], ok["completion_tokens"]) == (
        "POST", "/v1/chat/completions", 200, "m", 8)
    assert ok["deployment"].startswith("m.mock.") and ok["latency_ms"] > 0
    assert all(r["time"].endswith("Z") and r["level"] for r in records)
    assert_clean(logs)


def test_warning_level_silences_the_access_log_in_workers(make_server: Any) -> None:
    server: PllmServer = make_server(CONFIG, args=("--log-level", "warning", "--workers", "2"))
    traffic(server)
    time.sleep(0.5)
    logs = server.logs()
    assert "pllm.access" not in logs and "Running on" not in logs  # INFO, in every worker
    assert_clean(logs)
