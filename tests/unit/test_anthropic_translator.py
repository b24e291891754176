"""The Anthropic translator: OpenAI requests -> Messages bodies, Messages answers and SSE streams ->
OpenAI completions and chunks, Anthropic errors -> OpenAI-shaped ones. Answers, streams and errors
are recorded payloads (tests/fixtures/providers/anthropic/README.md says where each came from)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from pllm.config.model import Deployment, FrozenDict, Secret
from pllm.errors import InvalidRequest, ProviderError, UnsupportedParam
from pllm.providers.anthropic import (
    Anthropic,
    AnthropicStreamDecoder,
    anthropic_body,
    claude_model,
    completion_from_anthropic,
    default_max_tokens,
    error_from_anthropic,
    usage_from_anthropic,
)
from pllm.providers.base import UpstreamResponse
from pllm.providers.registry import default_registry
from pllm.providers.relay import EventRelay
from pllm.schema import GatewayRequest
from pllm.sse import SSEDecoder

FIX = Path(__file__).parent.parent / "fixtures" / "providers" / "anthropic"
PROVIDER = Anthropic()
KEY = "sk-ant-api03-unit-0123456789abcdef"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                   "required": ["location"]}}}
HI = [{"role": "user", "content": "hi"}]


def dep(**kw: Any) -> Deployment:
    base = {"id": "d1", "model_name": "claude", "provider": "anthropic",
            "model": "claude-haiku-4-5", "api_key": Secret(KEY)}
    return Deployment(**{**base, **kw})


def request(**body: Any) -> GatewayRequest:
    body = {"model": "claude", "messages": HI, **body}
    opts = body.get("stream_options") or {}
    stream = body.get("stream") is True
    return GatewayRequest("chat", body, orjson.dumps(body), "claude", stream,
                          bool(stream and opts.get("include_usage")), "rid", 1700000000)


def build(model: str = "claude-haiku-4-5", d: Deployment | None = None, **body: Any) -> Any:
    return anthropic_body(request(**body), model, d or dep())


def fixture(name: str) -> Any:
    return orjson.loads((FIX / name).read_bytes())


# -- provider wiring --------------------------------------------------------------------------
def test_prepare_url_headers_and_registry() -> None:
    target = PROVIDER.prepare(dep())
    assert target.base_url == "https://api.anthropic.com/v1/messages"
    assert target.headers == {"content-type": "application/json",
                              "anthropic-version": "2023-06-01", "x-api-key": KEY}
    assert isinstance(default_registry().get("anthropic"), Anthropic)
    up = PROVIDER.build_request(request(stream=True), target, "claude-haiku-4-5")
    assert (up.method, up.url, up.stream, up.stream_format) == \
        ("POST", target.base_url, True, "sse")
    sent = orjson.loads(up.body or b"")
    assert sent["model"] == "claude-haiku-4-5" and sent["stream"] is True


@pytest.mark.parametrize(("api_base", "url"), [
    ("http://proxy:8080", "http://proxy:8080/v1/messages"),
    ("http://proxy:8080/anthropic/", "http://proxy:8080/anthropic/v1/messages"),
    ("https://gw.example/v1/messages", "https://gw.example/v1/messages"),  # LiteLLM style
])
def test_api_base_is_the_sdk_base_url(api_base: str, url: str) -> None:
    assert PROVIDER.prepare(dep(api_base=api_base)).base_url == url


def test_extra_headers_add_and_replace() -> None:
    d = dep(extra_headers=FrozenDict({"anthropic-beta": "context-1m-2025-08-07",
                                      "Anthropic-Version": "2023-01-01"}))
    headers = PROVIDER.prepare(d).headers
    assert headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert headers["Anthropic-Version"] == "2023-01-01" and "anthropic-version" not in headers


# -- request mapping --------------------------------------------------------------------------
def test_system_and_developer_messages_become_top_level_system() -> None:
    body = build(messages=[{"role": "system", "content": "Be brief."},
                           {"role": "developer", "content": [{"type": "text", "text": "No."}]},
                           *HI])
    assert body["system"] == "Be brief.\n\nNo."
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["model"] == "claude-haiku-4-5" and body["max_tokens"] == 64000
    assert "stream" not in body


def test_system_cache_control_keeps_blocks() -> None:
    body = build(messages=[
        {"role": "system", "content": [
            {"type": "text", "text": "long context", "cache_control": {"type": "ephemeral"}}]},
        {"role": "system", "content": "tail", "cache_control": {"type": "ephemeral",
                                                                "ttl": "1h"}},
        *HI])
    assert body["system"] == [
        {"type": "text", "text": "long context", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "tail", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]


def test_tool_round_trip_history_merges_turns() -> None:
    call = {"id": "toolu_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'}}
    call2 = {"id": "toolu_2", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"location": "Rome"}'}}
    body = build(tools=[WEATHER], messages=[
        {"role": "user", "content": "Paris"}, {"role": "user", "content": "and Rome"},
        {"role": "assistant", "content": "", "tool_calls": [call, call2]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "toolu_2",
         "content": [{"type": "text", "text": "21C"}]},
        {"role": "user", "content": "thanks"}])
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Paris"},
                                     {"type": "text", "text": "and Rome"}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
             "input": {"location": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather",
             "input": {"location": "Rome"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "toolu_2",
             "content": [{"type": "text", "text": "21C"}]},
            {"type": "text", "text": "thanks"}]}]
    assert body["tools"] == [{"name": "get_weather", "description": "Weather in a city",
                              "input_schema": WEATHER["function"]["parameters"]}]  # type: ignore[index]


def test_thinking_blocks_go_back_first() -> None:
    thinking = {"type": "thinking", "thinking": "hmm", "signature": "sig"}
    body = build(messages=[*HI, {"role": "assistant", "content": "ok",
                                 "thinking_blocks": [thinking]}])
    assert body["messages"][1]["content"] == [thinking, {"type": "text", "text": "ok"}]


def test_images_and_files() -> None:
    body = build(messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"},
         "cache_control": {"type": "ephemeral"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=",
                                  "filename": "a.pdf"}},
        {"type": "file", "file": {"file_data": "data:text/plain;base64,aGVsbG8="}}]}])
    assert body["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"},
         "cache_control": {"type": "ephemeral"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                        "data": "JVBERi0="}, "title": "a.pdf"},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                        "data": "hello"}}]
    for bad in ({"type": "image_url", "image_url": {"url": "gs://bucket/cat.png"}},
                {"type": "file", "file": {"file_id": "file-123"}},
                {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}):
        with pytest.raises(InvalidRequest):
            build(messages=[{"role": "user", "content": [bad]}])


def test_cache_control_on_messages_and_tools() -> None:
    cc = {"type": "ephemeral"}
    body = build(tools=[{**WEATHER, "cache_control": cc}], messages=[
        {"role": "user", "content": [{"type": "text", "text": "doc", "cache_control": cc},
                                     {"type": "text", "text": "q"}]},
        {"role": "assistant", "content": "a", "cache_control": cc},
        {"role": "user", "content": "next", "cache_control": cc}])
    assert body["tools"][0]["cache_control"] == cc
    assert body["messages"][0]["content"][0]["cache_control"] == cc
    assert body["messages"][1]["content"] == [{"type": "text", "text": "a", "cache_control": cc}]
    assert body["messages"][2]["content"] == [{"type": "text", "text": "next",
                                               "cache_control": cc}]


@pytest.mark.parametrize(("choice", "parallel", "expected"), [
    ("auto", None, {"type": "auto"}),
    ("required", None, {"type": "any"}),
    ("none", False, {"type": "none"}),
    ({"type": "function", "function": {"name": "get_weather"}}, None,
     {"type": "tool", "name": "get_weather"}),
    (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    (None, None, None),
])
def test_tool_choice(choice: Any, parallel: Any, expected: Any) -> None:
    extra = {k: v for k, v in (("tool_choice", choice), ("parallel_tool_calls", parallel))
             if v is not None}
    body = build(tools=[WEATHER], **extra)
    assert body.get("tool_choice") == expected
    assert "tool_choice" not in build(tool_choice="auto")  # no tools, no choice


def test_plain_parameters() -> None:
    body = build(temperature=1.7, top_p=0.9, top_k=40, stop="END", user="user-42",
                 max_completion_tokens=300, stream=True, service_tier="auto",
                 stream_options={"include_usage": True}, store=True)
    assert (body["temperature"], body["top_p"], body["top_k"]) == (1, 0.9, 40)
    assert body["stop_sequences"] == ["END"] and body["max_tokens"] == 300
    assert body["metadata"] == {"user_id": "user-42"} and body["stream"] is True
    assert body["service_tier"] == "auto"
    assert "store" not in body and "stream_options" not in body and "user" not in body


def test_deployment_defaults_fill_gaps() -> None:
    d = dep(defaults=FrozenDict({"max_tokens": 77, "temperature": 0.2}))
    body = build(d=d, temperature=0.5)
    assert (body["max_tokens"], body["temperature"]) == (77, 0.5)


def test_model_none_leaves_model_out_for_vertex() -> None:
    body = anthropic_body(request(), None, dep(model="claude-opus-4-1@20250805"))
    assert "model" not in body and body["max_tokens"] == 32000
    body = anthropic_body(request(), None, dep(), model_name="claude-3-5-haiku@20241022")
    assert body["max_tokens"] == 8192


@pytest.mark.parametrize(("model", "tokens"), [
    ("claude-3-haiku-20240307", 4096), ("claude-3-opus-latest", 4096),
    ("claude-3-5-sonnet-20241022", 8192), ("claude-3-7-sonnet-latest", 64000),
    ("claude-sonnet-4-20250514", 64000), ("claude-opus-4-20250514", 32000),
    ("claude-4-opus-20250514", 32000), ("claude-opus-4-1", 32000),
    ("claude-sonnet-4-5@20250929", 64000), ("claude-haiku-4-5-20251001", 64000),
    ("anthropic.claude-opus-4-6-v1", 128000), ("claude-sonnet-4-6", 64000),
    ("claude-opus-4-7", 128000), ("claude-sonnet-5", 128000), ("claude-fable-5-1", 128000),
    ("claude-haiku-5-5", 64000), ("claude-mythos-preview", 64000), ("my-finetune", 4096),
])
def test_default_max_tokens(model: str, tokens: int) -> None:
    assert default_max_tokens(model) == tokens


def test_model_names_read_family_and_version() -> None:
    c = claude_model("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert c is not None and (c.family, c.version) == ("sonnet", (4, 5))
    c = claude_model("claude-sonnet-4-20250514")
    assert c is not None and c.version == (4, 0)  # the date is not a minor version
    assert claude_model("gpt-4o") is None


@pytest.mark.parametrize(("effort", "budget", "max_tokens"), [
    ("low", 1024, 64000), ("medium", 2048, 64000), ("high", 4096, 64000),
    ("minimal", 1024, 64000)])
def test_reasoning_effort_becomes_a_thinking_budget(effort: str, budget: int,
                                                    max_tokens: int) -> None:
    body = build(reasoning_effort=effort)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == max_tokens


def test_thinking_budget_fits_under_max_tokens() -> None:
    body = build(reasoning_effort="high", max_tokens=1000)
    assert body["max_tokens"] == 5096  # the client's 1000 stay for the answer
    assert build(reasoning_effort="low", max_tokens=5000)["max_tokens"] == 5000
    assert "thinking" not in build(reasoning_effort="none")
    with pytest.raises(InvalidRequest, match="reasoning_effort"):
        build(reasoning_effort="extreme")


def test_adaptive_models_get_effort_not_budget() -> None:
    body = build("claude-sonnet-4-6", reasoning_effort="medium",
                 response_format={"type": "json_schema",
                                  "json_schema": {"name": "x", "schema": {"type": "object"}}})
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"format": {"type": "json_schema",
                                                "schema": {"type": "object"}},
                                     "effort": "medium"}


def test_native_fields_pass_through() -> None:
    thinking = {"type": "enabled", "budget_tokens": 2000}
    body = build(thinking=thinking, max_tokens=1500, cache_control={"type": "ephemeral"},
                 output_config={"effort": "low"}, container="cnt_1",
                 tools=[WEATHER, {"type": "web_search_20250305", "name": "web_search"}])
    assert body["thinking"] == thinking and body["max_tokens"] == 3500
    assert body["cache_control"] == {"type": "ephemeral"}
    assert body["output_config"] == {"effort": "low"} and body["container"] == "cnt_1"
    assert body["tools"][1] == {"type": "web_search_20250305", "name": "web_search"}


def test_sampling_rules_for_thinking_and_new_models() -> None:
    with pytest.raises(UnsupportedParam, match="together with extended thinking") as e:
        build(reasoning_effort="low", temperature=0.3)
    assert e.value.param == "temperature"
    assert "temperature" not in build(reasoning_effort="low", temperature=0.3,
                                      d=dep(drop_params=True))
    assert "temperature" not in build(reasoning_effort="low", temperature=1)
    assert build(reasoning_effort="low", top_p=0.96)["top_p"] == 0.96
    with pytest.raises(UnsupportedParam, match="'top_k'"):
        build(reasoning_effort="low", top_k=5)
    with pytest.raises(UnsupportedParam, match="for claude-opus-4-7"):
        build("claude-opus-4-7", temperature=0.5)
    body = build("claude-opus-4-7", temperature=1, top_p=1)
    assert "temperature" not in body and "top_p" not in body
    assert "top_k" not in build("claude-fable-5", top_k=3, d=dep(drop_params=True))


@pytest.mark.parametrize(("param", "value"), [
    ("n", 2), ("logprobs", True), ("seed", 7), ("presence_penalty", 0.5),
    ("frequency_penalty", 0.5), ("logit_bias", {"50256": -100}),
    ("response_format", {"type": "json_object"})])
def test_unsupported_parameters_are_400_or_dropped(param: str, value: Any) -> None:
    with pytest.raises(UnsupportedParam) as e:
        build(**{param: value})
    assert e.value.param == param and e.value.status == 400 and "anthropic" in e.value.message
    body = build(d=dep(drop_params=True), **{param: value})
    assert param not in body and "output_config" not in body
    assert "n" not in build(n=1) and "logprobs" not in build(logprobs=False)  # defaults


# -- response mapping -------------------------------------------------------------------------
def completion(name: str, **req: Any) -> dict[str, Any]:
    resp = UpstreamResponse(200, {}, (FIX / name).read_bytes())
    return PROVIDER.parse_response(request(**req), resp).data()


def test_plain_message() -> None:
    data = completion("message_basic.json")
    assert data["id"] == "msg_013Zva2CMHLNnXjNJJKqJ2EF" and data["model"] == "claude"
    assert data["created"] == 1700000000 and data["object"] == "chat.completion"
    choice = data["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Hi! My name is Claude.",
                                 "refusal": None}
    assert choice["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 2095, "completion_tokens": 503,
                             "total_tokens": 2598}


def test_tool_use_message() -> None:
    data = completion("message_tool_use.json")
    message = data["choices"][0]["message"]
    assert message["content"].startswith("<thinking>I need to call")
    assert message["tool_calls"] == [{
        "id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
        "function": {"name": "get_weather",
                     "arguments": '{"location":"San Francisco, CA","unit":"celsius"}'}}]
    assert data["choices"][0]["finish_reason"] == "tool_calls" and "usage" not in data


def test_thinking_and_cache_usage() -> None:
    data = completion("message_thinking_cached.json")
    message = data["choices"][0]["message"]
    assert message["content"] == "Based on my analysis..."
    assert message["reasoning_content"] == "Let me analyze this step by step..."
    assert [b["type"] for b in message["thinking_blocks"]] == ["thinking", "redacted_thinking"]
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"] == {"prompt_tokens": 1233, "completion_tokens": 393,
                             "total_tokens": 1626, "prompt_tokens_details": {"cached_tokens": 1024},
                             "completion_tokens_details": {"reasoning_tokens": 250}}


def test_tool_only_message_has_null_content_and_refusal_maps() -> None:
    req = request()
    data = completion_from_anthropic(req, {"id": "m", "content": [
        {"type": "tool_use", "id": "t", "name": "f", "input": {}}], "stop_reason": "tool_use"})
    assert data.data()["choices"][0]["message"]["content"] is None
    data = completion_from_anthropic(req, {"id": "m", "content": [], "stop_reason": "refusal"})
    assert data.data()["choices"][0]["finish_reason"] == "content_filter"


def test_usage_sums_cache_fields() -> None:
    u = usage_from_anthropic({"input_tokens": 5, "cache_creation_input_tokens": 10,
                              "cache_read_input_tokens": 100, "output_tokens": 7})
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens) == \
        (115, 7, 122, 100)


def test_non_message_bodies_are_errors() -> None:
    with pytest.raises(ProviderError) as e:
        PROVIDER.parse_response(request(), UpstreamResponse(200, {}, b"<html>"))
    assert e.value.status == 502
    with pytest.raises(ProviderError) as e:
        PROVIDER.parse_response(request(), UpstreamResponse(
            200, {}, (FIX / "error_overloaded.json").read_bytes()))
    assert e.value.message == "Overloaded"


# -- streams ----------------------------------------------------------------------------------
def replay(name: str, *, usage: bool = True, piece: int = 0) -> tuple[list[dict[str, Any]], Any]:
    data = (FIX / name).read_bytes()
    relay = EventRelay(AnthropicStreamDecoder(request(
        stream=True, stream_options={"include_usage": usage})))
    pieces = [data[i:i + piece] for i in range(0, len(data), piece)] if piece else [data]
    out = b"".join(relay.feed(p) for p in pieces) + relay.flush()
    d = SSEDecoder()
    return [orjson.loads(e.data) for e in d.feed(out) + d.flush()], relay.usage


def deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks if c["choices"]]


def test_basic_stream_event_by_event() -> None:
    decoder = AnthropicStreamDecoder(request(stream=True,
                                             stream_options={"include_usage": True}))
    framer = SSEDecoder()
    out = [[c.data for c in decoder.feed(e.data, e.event)]
           for e in framer.feed((FIX / "stream_basic.sse").read_bytes()) + framer.flush()]
    out.append([c.data for c in decoder.flush()])
    flat = [c for group in out for c in group if c is not None]
    assert [len(g) for g in out] == [1, 0, 0, 1, 1, 1, 0, 1, 1, 0]
    assert {c["id"] for c in flat} == {"msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK"}
    assert all(c["model"] == "claude" and c["created"] == 1700000000 for c in flat)
    assert deltas(flat) == [{"role": "assistant", "content": ""}, {"content": "Hello"},
                            {"content": " there"}, {"content": "!"}, {}]
    assert flat[-2]["choices"][0]["finish_reason"] == "stop"
    assert flat[-1]["choices"] == [] and flat[-1]["usage"] == {
        "prompt_tokens": 11, "completion_tokens": 6, "total_tokens": 17}


@pytest.mark.parametrize("piece", [0, 1, 7, 64])
def test_basic_stream_in_pieces(piece: int) -> None:
    chunks, usage = replay("stream_basic.sse", piece=piece)
    assert "".join(d.get("content", "") for d in deltas(chunks)) == "Hello there!"
    assert usage.total_tokens == 17 and chunks[-1]["usage"]["completion_tokens"] == 6
    chunks, usage = replay("stream_basic.sse", usage=False, piece=piece)
    assert all(c["choices"] for c in chunks) and usage.prompt_tokens == 11


@pytest.mark.parametrize("piece", [0, 5])
def test_tool_use_stream(piece: int) -> None:
    chunks, usage = replay("stream_tool_use.sse", piece=piece)
    ds = deltas(chunks)
    assert "".join(d.get("content", "") for d in ds) == \
        "I'll check the current weather in Paris for you."
    calls = [d["tool_calls"][0] for d in ds if "tool_calls" in d]
    assert calls[0] == {"index": 0, "id": "toolu_01NRLabsLyVHZPKxbKvkfSMn", "type": "function",
                        "function": {"name": "get_weather", "arguments": ""}}
    assert all(c.keys() == {"index", "function"} and c["index"] == 0 for c in calls[1:])
    assert "".join(c["function"]["arguments"] for c in calls) == '{"location": "Paris"}'
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert (usage.prompt_tokens, usage.completion_tokens) == (377, 65)


def test_thinking_stream_has_reasoning_content() -> None:
    chunks, usage = replay("stream_thinking.sse", piece=11)
    ds = deltas(chunks)
    reasoning = "".join(d.get("reasoning_content", "") for d in ds)
    assert reasoning.startswith("Simple educational question") and reasoning.endswith("politely.")
    assert "".join(d.get("content", "") for d in ds) == "Hi"
    assert chunks[-2]["choices"][0]["finish_reason"] == "content_filter"
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens) == (28, 106, 67)
    assert chunks[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 67}


def test_refusal_stream() -> None:
    chunks, _ = replay("stream_refusal.sse")
    assert deltas(chunks) == [{"role": "assistant", "content": ""}, {}]
    assert chunks[1]["choices"][0]["finish_reason"] == "content_filter"


@pytest.mark.parametrize("piece", [0, 3])
def test_error_event_raises_overloaded_as_503(piece: int) -> None:
    with pytest.raises(ProviderError) as e:
        replay("stream_error_overloaded.sse", piece=piece)
    err = e.value
    assert (err.status, err.upstream_status, err.retryable) == (503, 529, True)
    assert err.error_type == "overloaded_error" and err.message == "Overloaded"


def test_stream_cut_short() -> None:
    data = (FIX / "stream_basic.sse").read_bytes()
    cut = data[:data.index(b"event: message_delta")]
    relay = EventRelay(AnthropicStreamDecoder(request(stream=True)))
    relay.feed(cut)
    with pytest.raises(ProviderError, match="ended before") as e:
        relay.flush()
    assert e.value.status == 502 and e.value.retryable
    relay = EventRelay(AnthropicStreamDecoder(request(stream=True)))
    out = relay.feed(data[:data.index(b"event: message_stop")]) + relay.flush()
    assert b'"finish_reason":"stop"' in out  # only message_stop was missing


def test_tool_without_arguments_gets_empty_object() -> None:
    decoder = AnthropicStreamDecoder(request(stream=True))
    events = [
        {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 3}}},
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "tool_use", "id": "t1", "name": "now", "input": {}}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "input_json_delta", "partial_json": ""}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1,
         "content_block": {"type": "server_tool_use", "id": "s", "name": "web_search"}},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "input_json_delta", "partial_json": "{}"}},
        {"type": "future_event"},
    ]
    chunks = [c.data for e in events for c in decoder.feed(orjson.dumps(e))]
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if c
             and "tool_calls" in c["choices"][0]["delta"]]
    assert [c["function"]["arguments"] for c in calls] == ["", "{}"]


# -- errors -----------------------------------------------------------------------------------
def error(name: str, status: int, headers: dict[str, str] | None = None) -> ProviderError:
    return error_from_anthropic(status, headers or {}, (FIX / name).read_bytes())


def test_rate_limit_keeps_retry_after() -> None:
    err = error("error_rate_limit.json", 429, {"retry-after": "7"})
    assert (err.status, err.code, err.error_type, err.retry_after, err.retryable) == \
        (429, "rate_limit_exceeded", "rate_limit_error", 7.0, True)
    assert err.response_headers()["retry-after"] == "7"
    assert err.message.startswith("This request would exceed the rate limit")


def test_spend_limit_is_not_retryable() -> None:
    err = error("error_spend_limit.json", 429)
    assert (err.status, err.code, err.retryable, err.retry_after) == \
        (429, "insufficient_quota", False, None)


def test_overloaded_is_503_and_retryable() -> None:
    err = error("error_overloaded.json", 529, {"x-should-retry": "true"})
    assert (err.status, err.error_type, err.retryable) == (503, "overloaded_error", True)


@pytest.mark.parametrize("message", [
    "prompt is too long: 210266 tokens > 200000 maximum",
    "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000, decrease "
    "input length or `max_tokens` and try again"])
def test_context_overflow(message: str) -> None:
    body = orjson.dumps({"type": "error", "error": {"type": "invalid_request_error",
                                                    "message": message}})
    err = error_from_anthropic(400, {}, body)
    assert (err.status, err.code, err.retryable) == (400, "context_length_exceeded", False)
    assert error("error_prompt_too_long.json", 400).code == "context_length_exceeded"


def test_other_errors() -> None:
    auth = error("error_auth.json", 401)
    assert (auth.status, auth.code, auth.error_type, auth.message) == \
        (401, "invalid_api_key", "invalid_request_error", "invalid x-api-key")
    bad = error("error_system_role.json", 400)
    assert (bad.status, bad.code, bad.error_type) == (400, None, "invalid_request_error")
    missing = error_from_anthropic(404, {}, orjson.dumps(
        {"type": "error", "error": {"type": "not_found_error", "message": "model: claude-9"}}))
    assert missing.code == "model_not_found"
    html = error_from_anthropic(502, {}, b"<html>Bad gateway</html>")
    assert (html.status, html.message, html.retryable) == \
        (502, "anthropic answered HTTP 502", True)
    api = error_from_anthropic(500, {"x-should-retry": "false"}, orjson.dumps(
        {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}))
    assert (api.status, api.retryable) == (502, False)
    assert PROVIDER.parse_error(UpstreamResponse(413, {}, b"")).code == "request_too_large"
