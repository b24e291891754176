"""The OpenAI-format translator: request rewriting, stream relaying and error reading, on
recorded payloads (tests/fixtures/providers/openai/README.md says where each came from)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from pllm.config.model import Deployment, FrozenDict, Secret
from pllm.errors import ProviderError, UnsupportedParam
from pllm.providers.azure import Azure
from pllm.providers.base import UpstreamResponse
from pllm.providers.groq import Groq
from pllm.providers.openai import OpenAICompatible, OpenAIRelay
from pllm.providers.registry import default_registry
from pllm.schema import GatewayRequest, Usage
from pllm.sse import SSEDecoder

FIX = Path(__file__).parent.parent / "fixtures" / "providers" / "openai"
OPENAI = OpenAICompatible("openai", "https://api.openai.com/v1")


def dep(**kw: Any) -> Deployment:
    base = {"id": "d1", "model_name": "m", "provider": "openai", "model": "gpt-4o",
            "api_key": Secret("sk-test-key-0000")}
    return Deployment(**{**base, **kw})


def request(body: dict[str, Any], endpoint: str = "chat") -> GatewayRequest:
    raw = orjson.dumps(body)
    opts = body.get("stream_options") or {}
    return GatewayRequest(endpoint, body, raw, body["model"], body.get("stream") is True,  # type: ignore[arg-type]
                          bool(body.get("stream") and opts.get("include_usage")))


def payloads(sse: bytes) -> list[dict[str, Any]]:
    d = SSEDecoder()
    return [orjson.loads(e.data) for e in d.feed(sse) + d.flush() if e.data != b"[DONE]"]


def relay(fixture: str, *, wants_usage: bool, piecewise: bool) -> tuple[bytes, Usage | None]:
    data = (FIX / fixture).read_bytes()
    r = OpenAIRelay("openai", client_wants_usage=wants_usage)
    pieces = [data[i:i + 7] for i in range(0, len(data), 7)] if piecewise else [data]
    out = b"".join(r.feed(p) for p in pieces) + r.flush()
    return out, r.usage


def test_body_passes_through_untouched_when_nothing_changes() -> None:
    req = request({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}],
                   "new_param_2030": True})
    target = OPENAI.prepare(dep())
    up = OPENAI.build_request(req, target, "gpt-4o")
    assert up.body is req.raw
    assert up.url == "https://api.openai.com/v1/chat/completions"
    assert up.headers["authorization"] == "Bearer sk-test-key-0000"


def test_model_defaults_and_stream_usage_are_rewritten() -> None:
    req = request({"model": "alias", "stream": True, "messages": [],
                   "stream_options": {"include_obfuscation": False}})
    d = dep(defaults=FrozenDict({"temperature": 0.1, "max_tokens": 50}),
            organization="org-1", extra_headers=FrozenDict({"X-Team": "ml"}))
    target = OPENAI.prepare(d)
    sent = orjson.loads(OPENAI.build_request(req, target, "gpt-4o").body or b"")
    assert sent["model"] == "gpt-4o"
    assert (sent["temperature"], sent["max_tokens"]) == (0.1, 50)
    assert sent["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert target.headers["openai-organization"] == "org-1"
    assert target.headers["X-Team"] == "ml"


@pytest.mark.parametrize("piecewise", [False, True])
def test_relay_forwards_content_and_strips_the_gateway_usage_chunk(piecewise: bool) -> None:
    out, usage = relay("stream_basic.sse", wants_usage=False, piecewise=piecewise)
    events = payloads(out)
    assert [e["choices"][0]["delta"] for e in events] == [
        {"role": "assistant", "content": ""}, {"content": "Hello"}, {}]
    assert b"[DONE]" not in out, "the server writes its own [DONE]"
    assert usage == Usage(19, 10, 29)
    original = (FIX / "stream_basic.sse").read_bytes()
    assert out in original, "content events must be forwarded byte for byte"


def test_relay_keeps_usage_for_a_client_that_asked() -> None:
    out, _ = relay("stream_basic.sse", wants_usage=True, piecewise=True)
    assert payloads(out)[-1] == {"id": "chatcmpl-123", "object": "chat.completion.chunk",
                                 "created": 1694268190, "model": "gpt-4o-mini", "choices": [],
                                 "usage": {"prompt_tokens": 19, "completion_tokens": 10,
                                           "total_tokens": 29}}


def test_relay_drops_azure_prompt_filter_chunk() -> None:
    out, _ = relay("azure_stream_start.sse", wants_usage=False, piecewise=False)
    events = payloads(out)
    assert len(events) == 1 and events[0]["choices"][0]["delta"]["tool_calls"][0]["id"] == \
        "call_TMbEoYn9q0ZKtoxav5LpD9Ts"


def test_relay_tool_call_fragments_pass_through() -> None:
    out, _ = relay("stream_tool_call.sse", wants_usage=False, piecewise=True)
    frags = [e["choices"][0]["delta"]["tool_calls"][0] for e in payloads(out)]
    assert frags[0]["function"] == {"name": "get_weather", "arguments": ""}
    assert frags[1] == {"index": 0, "function": {"arguments": '{"'}}


def test_relay_synthesises_usage_from_groq_x_groq() -> None:
    out, usage = relay("groq_stream_tool_finish.sse", wants_usage=True, piecewise=False)
    assert usage == Usage(18, 439, 457)
    last = payloads(out)[-1]
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 439
    assert last["id"] == "chatcmpl-e7f8e220-656c-4455-a132-dacfc1370798"
    out, _ = relay("groq_stream_tool_finish.sse", wants_usage=False, piecewise=False)
    assert all(e["choices"] for e in payloads(out))


def test_relay_raises_on_an_in_band_error() -> None:
    r = OpenAIRelay("openai", client_wants_usage=False)
    r.feed(b'data: {"id":"x","choices":[{"index":0,"delta":{"content":"a"}}]}\n\n')
    with pytest.raises(ProviderError) as e:
        r.feed(b'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n')
    assert e.value.message == "overloaded" and e.value.status == 502


def test_relay_handles_crlf_framing() -> None:
    r = OpenAIRelay("openai", client_wants_usage=False)
    out = r.feed(b'data: {"id":"x","choices":[{"index":0,"delta":{"content":"a"}}]}\r\n\r\n')
    assert payloads(out)[0]["choices"][0]["delta"] == {"content": "a"}


def error(fixture: str, status: int, headers: dict[str, str] | None = None) -> ProviderError:
    body = (FIX / fixture).read_bytes()
    return OPENAI.parse_error(UpstreamResponse(status, headers or {}, body))


def test_errors_from_recorded_bodies() -> None:
    ctx = error("error_context_length.json", 400)
    assert (ctx.status, ctx.code, ctx.param, ctx.retryable) == (
        400, "context_length_exceeded", "messages", False)
    rl = error("error_rate_limit.json", 429, {"retry-after": "20"})
    assert (rl.status, rl.code, rl.retry_after, rl.retryable) == (
        429, "rate_limit_exceeded", 20.0, True)
    assert rl.response_headers()["retry-after"] == "20"
    az = error("error_azure_429.json", 429, {"retry-after-ms": "1500", "retry-after": "2"})
    assert az.code == "rate_limit_exceeded" and az.retry_after == 1.5
    assert "exceeded token rate limit" in az.message
    assert az.response_headers()["retry-after"] == "2", "rounded up, never to zero"
    vllm = error("error_vllm.json", 400)
    assert vllm.code == "context_length_exceeded" and vllm.error_type == "invalid_request_error"
    cpp = error("error_llamacpp.json", 400)
    assert cpp.code == "context_length_exceeded"
    ollama = error("error_ollama_native.json", 404)
    assert ollama.status == 404 and "not found" in ollama.message
    html = OPENAI.parse_error(UpstreamResponse(502, {}, b"<html>Bad gateway</html>"))
    assert html.status == 502 and html.message == "openai answered HTTP 502"
    quota = OPENAI.parse_error(UpstreamResponse(429, {}, orjson.dumps(
        {"error": {"message": "You exceeded your quota", "type": "insufficient_quota",
                   "code": "insufficient_quota"}})))
    assert quota.retryable is False


def test_status_mapping_for_5xx() -> None:
    def status(code: int) -> int:
        return OPENAI.parse_error(UpstreamResponse(code, {}, b"{}")).status
    assert [status(c) for c in (500, 502, 503, 504, 529)] == [502, 502, 503, 504, 503]


def test_groq_refuses_or_drops_what_groq_rejects() -> None:
    groq = Groq()
    body = {"model": "m", "messages": [{"role": "user", "content": "x", "name": "bob"}]}
    with pytest.raises(UnsupportedParam):
        groq.build_request(request(body), groq.prepare(dep(provider="groq")), "llama")
    lenient = groq.prepare(dep(provider="groq", drop_params=True))
    sent = orjson.loads(groq.build_request(request({**body, "logit_bias": {"1": 2}, "n": 1}),
                                           lenient, "llama").body or b"")
    assert "logit_bias" not in sent and "name" not in sent["messages"][0] and sent["n"] == 1


def test_azure_urls() -> None:
    az = Azure()
    classic = az.prepare(dep(provider="azure", api_base="https://r.openai.azure.com",
                             api_version="2024-06-01"))
    up = az.build_request(request({"model": "x", "messages": [], "stream": True}), classic,
                          "my-dep")
    assert up.url == ("https://r.openai.azure.com/openai/deployments/my-dep/chat/completions"
                      "?api-version=2024-06-01")
    assert up.headers["api-key"] == "sk-test-key-0000"
    assert b"stream_options" not in (up.body or b""), "2024-06-01 predates stream_options"
    with pytest.raises(Exception, match="not a valid Azure deployment name"):
        az.build_request(request({"model": "x", "messages": []}), classic, "../admin")
    token = az.prepare(dep(provider="azure", api_key=None, api_base="https://r.openai.azure.com",
                           params=FrozenDict({"azure_ad_token": Secret("eyJ-token-1234")})))
    assert token.headers["authorization"] == "Bearer eyJ-token-1234"


def test_registry_serves_openai_compatible_providers() -> None:
    reg = default_registry()
    ollama = reg.get("ollama")
    assert ollama is not None
    target = ollama.prepare(dep(provider="ollama", api_key=None,
                                api_base="http://localhost:11434"))
    assert target.base_url == "http://localhost:11434/v1"
    for name in ("groq", "openrouter", "together_ai", "deepseek", "mistral", "fireworks_ai",
                 "hosted_vllm", "vllm", "azure", "mock"):
        assert reg.get(name) is not None, name
    for name in ("anthropic", "bedrock", "vertex_ai", "gemini", "cohere", "cohere_chat"):
        assert reg.get(name) is not None, name
    assert reg.get("huggingface") is None, "recognised by the config, not served"
    mocked = dep(provider="bedrock", params=FrozenDict({"mock_response": "hi"}))
    assert reg.for_deployment(mocked) is reg.get("mock"), "LiteLLM's mock_response semantics"
