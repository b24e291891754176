"""`pllm serve` as a process: demo mode, discovery, binding rules, limits, workers, shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest
from mockups import MockUpstream
from server import PllmServer, free_port

from pllm.providers.mock import count_tokens

pytestmark = pytest.mark.e2e

SLOW_MOCK = """
model_list:
  - model_name: slow
    litellm_params:
      model: mock/slow
      mock_response: "one two three four five six seven eight nine ten"
      mock_token_delay_ms: 100
  - model_name: fast
    litellm_params:
      model: mock/fast
server:
  max_request_size_mb: 0.001
  graceful_timeout: 10
"""


def test_demo_mode_answers_the_sdk(make_server: Callable[..., PllmServer]) -> None:
    server = make_server(demo=True)
    assert "listening on" in server.logs() and "gpt-4o-mini" in server.logs()
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="anything", max_retries=0)
    resp = client.chat.completions.create(model="gpt-4o-mini",
                                          messages=[{"role": "user", "content": "hi pllm"}])
    assert "hi pllm" in (resp.choices[0].message.content or "")
    assert resp.usage is not None and resp.usage.prompt_tokens == 2
    chunks = list(client.chat.completions.create(
        model="claude-3-5-sonnet", messages=[{"role": "user", "content": "stream it"}],
        stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "stream it" in text
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == count_tokens(text)
    emb = client.embeddings.create(model="text-embedding-3-small", input="x")
    assert len(emb.data[0].embedding) == 64
    assert {m.id for m in client.models.list()} >= {"gpt-4o-mini", "text-embedding-3-small"}
    r = httpx.get(server.url + "/ready")
    assert r.status_code == 200 and r.json()["status"] == "ready"


def test_sigterm_lets_an_open_stream_finish(make_server: Callable[..., PllmServer]) -> None:
    server = make_server(SLOW_MOCK)
    received: list[bytes] = []
    started = threading.Event()

    def consume() -> None:
        with httpx.stream("POST", server.url + "/v1/chat/completions", timeout=30,
                          json={"model": "slow", "stream": True,
                                "messages": [{"role": "user", "content": "go"}]}) as r:
            for piece in r.iter_raw():
                received.append(piece)
                started.set()

    reader = threading.Thread(target=consume)
    reader.start()
    assert started.wait(10)
    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)
    reader.join(30)
    body = b"".join(received)
    assert body.rstrip().endswith(b"data: [DONE]"), "the stream was cut by the shutdown"
    assert b"ten" in body
    assert server.proc.wait(20) == 0


def test_body_too_large_is_413(make_server: Callable[..., PllmServer]) -> None:
    server = make_server(SLOW_MOCK)
    big = {"model": "fast", "messages": [{"role": "user", "content": "x" * 5000}]}
    r = httpx.post(server.url + "/v1/chat/completions", json=big)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"
    small = {"model": "fast", "messages": [{"role": "user", "content": "x"}]}
    assert httpx.post(server.url + "/v1/chat/completions", json=small).status_code == 200


def test_refuses_public_bind_without_master_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLLM_")}
    out = subprocess.run([sys.executable, "-m", "pllm", "serve", "--demo", "--host", "0.0.0.0",
                          "--port", str(free_port())], capture_output=True, text=True, env=env,
                         timeout=30, cwd=tmp_path)
    assert out.returncode == 2
    assert "master_key" in out.stderr and "0.0.0.0" in out.stderr


def test_public_bind_with_master_key(make_server: Callable[..., PllmServer]) -> None:
    server = make_server(demo=True, args=("--host", "0.0.0.0"),
                         env={"PLLM_MASTER_KEY": "sk-master-public-bind-123"})
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-master-public-bind-123",
                           max_retries=0)
    assert client.models.list().data
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.url + "/v1", api_key="nope", max_retries=0).models.list()


def test_missing_environment_variable_stops_startup(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("model_list:\n  - model_name: m\n    litellm_params:\n"
                   "      model: openai/gpt-4o\n      api_key: os.environ/PLLM_TEST_UNSET_KEY\n")
    out = subprocess.run([sys.executable, "-m", "pllm", "serve", "--config", str(cfg),
                          "--port", str(free_port())], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 1
    assert "PLLM_TEST_UNSET_KEY" in out.stderr and "config.yaml:5:" in out.stderr


def test_discovery_spreads_requests_over_every_key(make_server: Callable[..., PllmServer]) -> None:
    """No config file at all: models come from provider keys in the environment."""
    with MockUpstream("openai", api_key="sk-first-key-0000000000") as one, \
            MockUpstream("openai", api_key="sk-second-key-000000000") as two:
        server = make_server(env={
            "OPENAI_API_KEY": "sk-first-key-0000000000", "OPENAI_BASE_URL": one.url + "/v1",
            "OPENAI_API_KEY_2": "sk-second-key-000000000", "OPENAI_BASE_URL_2": two.url + "/v1",
        })
        assert "OPENAI_API_KEY, OPENAI_API_KEY_2" in server.logs()
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        for _ in range(30):
            client.chat.completions.create(model="gpt-4o",
                                           messages=[{"role": "user", "content": "hi"}])
        assert one.requests and two.requests, "both keys should take traffic"
        assert len(one.requests) + len(two.requests) == 30
        assert one.requests[0].json["model"] == "gpt-4o"
        client.chat.completions.create(model="openai/gpt-4.1",
                                       messages=[{"role": "user", "content": "hi"}])
        assert "gpt-4.1" in [r.json["model"] for r in one.requests + two.requests]
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="unknown-model",
                                           messages=[{"role": "user", "content": "hi"}])


def test_two_workers_share_the_port(make_server: Callable[..., PllmServer]) -> None:
    server = make_server(demo=True, args=("--workers", "2"))
    assert server.proc is not None
    time.sleep(0.5)
    children = _children(server.proc.pid)
    assert len(children) >= 2, f"expected 2 worker processes, found {children}"
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    for i in range(20):
        resp = client.chat.completions.create(model="gpt-4o-mini",
                                              messages=[{"role": "user", "content": f"n{i}"}])
        assert f"n{i}" in (resp.choices[0].message.content or "")
    assert server.stop() == 0


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out
