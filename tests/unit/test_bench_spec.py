"""`pllm bench` arguments: validation (library and command line), URLs, how a round is shared
among processes, and the request bytes each process sends."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from pllm.bench.spec import (
    Endpoint,
    Job,
    Load,
    RequestTemplate,
    Target,
    Workload,
    auto_processes,
    nonce_base,
    split,
    validate,
)
from pllm.cli import app

GOOD: dict[str, Any] = dict(url="http://127.0.0.1:8080", mock=False, compare=None,
                            requests=None, duration=None, concurrency=8, processes=None,
                            rounds=1, prompt_tokens=16, max_tokens=16, timeout=60.0)


def test_valid_arguments() -> None:
    assert validate(**GOOD) == []
    assert validate(**{**GOOD, "url": None, "mock": True, "duration": 2.0}) == []
    assert validate(**{**GOOD, "compare": "https://api.example.com/v1", "requests": 1}) == []


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"url": None}, "give --url"),
    ({"mock": True}, "--mock starts its own endpoints"),
    ({"url": None, "mock": True, "compare": "http://x:1"}, "--mock starts its own"),
    ({"url": "ftp://host/v1"}, "--url: not an http(s) URL"),
    ({"url": "http://u:p@host/v1"}, "credentials in the URL"),
    ({"compare": "localhost:8080"}, "--compare: not an http(s) URL"),
    ({"requests": 10, "duration": 1.0}, "not both"),
    ({"requests": 0}, "-n/--requests must be at least 1"),
    ({"concurrency": 0}, "-c/--concurrency must be at least 1"),
    ({"processes": 0}, "--processes must be at least 1"),
    ({"rounds": 0}, "--rounds must be at least 1"),
    ({"prompt_tokens": 0}, "--prompt-tokens"),
    ({"max_tokens": 0}, "--max-tokens"),
    ({"duration": 0.0}, "-d/--duration must be more than 0"),
    ({"timeout": -1.0}, "--timeout must be more than 0"),
])
def test_invalid_arguments(changes: dict[str, Any], fragment: str) -> None:
    problems = validate(**{**GOOD, **changes})
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize(("url", "path", "port"), [
    ("http://127.0.0.1:8080", "/v1/chat/completions", 8080),
    ("http://127.0.0.1:8080/", "/v1/chat/completions", 8080),
    ("http://127.0.0.1:8080/v1", "/v1/chat/completions", 8080),
    ("http://h/openai/v1/", "/openai/v1/chat/completions", 80),
    ("https://h/v1/chat/completions", "/v1/chat/completions", 443),
    ("http://h:9/v1/completions", "/v1/completions", 9),
    ("http://h:9/deployments/x?api-version=1", "/deployments/x/v1/chat/completions"
     "?api-version=1", 9),
])
def test_endpoint_parse(url: str, path: str, port: int) -> None:
    ep = Endpoint.parse(url)
    assert (ep.path, ep.port) == (path, port)
    assert ep.legacy == path.split("?")[0].endswith("/v1/completions")
    assert "?" not in ep.url and ep.url.endswith(path.split("?")[0])


def test_split_shares_connections_and_requests() -> None:
    t = Target("target", Endpoint.parse("http://h:1"), None, "m")
    jobs = split(Load(10, requests=1001), t, Workload(), 3)
    assert [j.concurrency for j in jobs] == [4, 3, 3]
    assert [j.requests for j in jobs] == [334, 334, 333]
    assert [j.index for j in jobs] == [0, 1, 2]
    # never more processes than connections or requests
    assert len(split(Load(2, requests=100), t, Workload(), 8)) == 2
    assert len(split(Load(64, requests=3), t, Workload(), 8)) == 3
    timed = split(Load(5, duration_s=2.0), t, Workload(), 2)
    assert [(j.concurrency, j.requests, j.duration_s) for j in timed] == \
        [(3, None, 2.0), (2, None, 2.0)]


def test_auto_processes() -> None:
    assert auto_processes(1, cpus=8) == 1
    assert auto_processes(256, cpus=8) == 1
    assert auto_processes(257, cpus=8) == 2
    assert auto_processes(10_000, cpus=4) == 4


def _parse(raw: bytes) -> tuple[str, dict[str, str], dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    first, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    assert int(headers["content-length"]) == len(body)
    return first, headers, orjson.loads(body)


def test_request_template() -> None:
    target = Target("target", Endpoint.parse("http://h:8080/v1"), "sk-test", "gpt-x")
    job = Job(target, Workload(stream=True, prompt_tokens=40, max_tokens=7), 4, 10, None, 3,
              nonce=nonce_base(42, 7, 3))
    tpl = RequestTemplate(job)
    first, headers, body = _parse(tpl.next())
    assert first == "POST /v1/chat/completions HTTP/1.1"
    assert headers["host"] == "h:8080" and headers["authorization"] == "Bearer sk-test"
    assert body["model"] == "gpt-x" and body["max_tokens"] == 7 and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    text = body["messages"][0]["content"]
    # run 42, batch (round) 7, process 3, then the process's own count
    assert text.startswith("00420070030000000001 ") and len(text.split()) == 31
    _, _, second = _parse(tpl.next())
    assert second["messages"][0]["content"].startswith("00420070030000000002 ")
    other = RequestTemplate(Job(target, Workload(), 4, 10, None, 0, nonce=nonce_base(42, 8, 0)))
    _, _, b0 = _parse(other.next())
    assert b0["messages"][0]["content"].startswith("00420080000000000001 ")
    assert "stream" not in b0


def test_request_template_legacy_and_no_key() -> None:
    target = Target("target", Endpoint.parse("https://h/v1/completions"), None, "m")
    first, headers, body = _parse(RequestTemplate(Job(target, Workload(), 1, 1, None, 0)).next())
    assert first == "POST /v1/completions HTTP/1.1" and headers["host"] == "h"
    assert "authorization" not in headers and isinstance(body["prompt"], str)


def test_command_line_rejects_bad_arguments() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["bench"])
    assert res.exit_code == 2 and "give --url" in res.output
    res = runner.invoke(app, ["bench", "--url", "http://127.0.0.1:1", "-n", "5", "-d", "2"])
    assert res.exit_code == 2 and "not both" in res.output
    res = runner.invoke(app, ["bench", "--mock", "--url", "http://127.0.0.1:1"])
    assert res.exit_code == 2 and "--mock starts its own endpoints" in res.output
