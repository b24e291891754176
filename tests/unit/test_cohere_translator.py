"""The Cohere v2 translator: request mapping, whole answers, stream replay (event by event and
cut into small pieces), errors and embeddings, on recorded payloads
(tests/fixtures/providers/cohere/README.md says where each came from)."""

from __future__ import annotations

import base64
import struct
from pathlib import Path
from typing import Any

import orjson
import pytest

from pllm.config.model import Deployment, FrozenDict, Secret
from pllm.errors import InvalidRequest, ProviderError, UnsupportedParam
from pllm.providers.base import UpstreamResponse
from pllm.providers.cohere import Cohere
from pllm.providers.cohere_stream import CohereStreamDecoder
from pllm.providers.registry import default_registry
from pllm.schema import GatewayRequest, Usage
from pllm.sse import SSEDecoder

FIX = Path(__file__).parent.parent / "fixtures" / "providers" / "cohere"
CO = Cohere()
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
TIME = {"type": "function", "function": {"name": "current_time"}}


def dep(**kw: Any) -> Deployment:
    base = {"id": "d1", "model_name": "co", "provider": "cohere", "model": "command-r-plus",
            "api_key": Secret("co-test-key-0123456789")}
    return Deployment(**{**base, **kw})


def request(body: dict[str, Any], endpoint: str = "chat") -> GatewayRequest:
    body = {"model": "co", **body}
    opts = body.get("stream_options") or {}
    return GatewayRequest(endpoint, body, orjson.dumps(body), "co",  # type: ignore[arg-type]
                          body.get("stream") is True,
                          bool(body.get("stream") and opts.get("include_usage")),
                          "req1", 1_700_000_000)


def sent(body: dict[str, Any], d: Deployment | None = None, endpoint: str = "chat",
         model: str = "command-r-plus") -> dict[str, Any]:
    d = d or dep()
    up = CO.build_request(request(body, endpoint), CO.prepare(d), model)
    assert up.body is not None
    out: dict[str, Any] = orjson.loads(up.body)
    return out


def chat(messages: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return sent({"messages": messages, **kw})


USER = [{"role": "user", "content": "hi"}]


def answer(fixture: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    resp = UpstreamResponse(200, {}, (FIX / fixture).read_bytes())
    data: dict[str, Any] = CO.parse_response(request(body or {"messages": USER}), resp).data()
    return data


def error(status: int, body: bytes | str, headers: dict[str, str] | None = None) -> ProviderError:
    raw = (FIX / body).read_bytes() if isinstance(body, str) else body
    return CO.parse_error(UpstreamResponse(status, headers or {}, raw))


# -- target and request -------------------------------------------------------------------------
def test_prepare_default_base_api_base_and_headers() -> None:
    t = CO.prepare(dep(extra_headers=FrozenDict({"X-Client-Name": "pllm"})))
    assert t.base_url == "https://api.cohere.com"
    assert t.headers["authorization"] == "Bearer co-test-key-0123456789"
    assert t.headers["X-Client-Name"] == "pllm"
    up = CO.build_request(request({"messages": USER}), t, "command-a-03-2025")
    assert (up.method, up.url, up.stream) == ("POST", "https://api.cohere.com/v2/chat", False)
    proxy = CO.prepare(dep(api_base="http://127.0.0.1:9/cohere/"))
    assert CO.build_request(request({"messages": USER, "stream": True}), proxy, "m").url == \
        "http://127.0.0.1:9/cohere/v2/chat"
    assert CO.build_request(request({"input": "x"}, "embeddings"), proxy, "m").url == \
        "http://127.0.0.1:9/cohere/v2/embed"
    assert CO.endpoints == {"chat", "embeddings"}
    registry = default_registry()
    assert isinstance(registry.get("cohere"), Cohere)
    assert registry.get("cohere_chat") is registry.get("cohere")


def test_messages_system_history_images_tools_and_results() -> None:
    data_url = "data:image/png;base64,iVBORw0KGgo="
    body = chat([
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
        {"role": "user", "content": [
            {"type": "text", "text": "What is here?"},
            {"type": "image_url", "image_url": {"url": data_url}},
            {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg", "detail": "low"}},
        ]},
        {"role": "assistant", "content": "A cat."},
        {"role": "user", "content": "Weather in Paris and Rome?", "name": "alice"},
        {"role": "assistant", "content": None, "reasoning_content": "I will call the tool.",
         "tool_calls": [
             {"id": "get_weather_1", "type": "function",
              "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
             {"id": "get_weather_2", "type": "function",
              "function": {"name": "get_weather", "arguments": {"city": "Rome"}}}]},
        {"role": "tool", "tool_call_id": "get_weather_1", "content": '{"temp": 21}'},
        {"role": "tool", "tool_call_id": "get_weather_2",
         "content": [{"type": "text", "text": '{"temp": 25}'}]},
    ], tools=[WEATHER])
    assert body["model"] == "command-r-plus"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Use metric."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is here?"},
            {"type": "image_url", "image_url": {"url": data_url}},
            {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg", "detail": "low"}},
        ]},
        {"role": "assistant", "content": "A cat."},
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "tool_plan": "I will call the tool.", "tool_calls": [
            {"id": "get_weather_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "get_weather_2", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "get_weather_1", "content": '{"temp": 21}'},
        {"role": "tool", "tool_call_id": "get_weather_2", "content": '{"temp": 25}'},
    ]
    assert body["tools"] == [WEATHER]
    assert "tool_choice" not in body and "stream" not in body


def test_sampling_limits_format_and_reasoning() -> None:
    body = chat(USER, temperature=0.3, top_p=0.9, max_completion_tokens=64, stop="END", seed=7,
                presence_penalty=0.1, frequency_penalty=0.2, logprobs=True, n=1, user="u1",
                response_format={"type": "json_object"}, reasoning_effort="high",
                stream_options={"include_usage": True}, stream=True)
    assert {k: v for k, v in body.items() if k not in ("model", "messages")} == {
        "temperature": 0.3, "p": 0.9, "max_tokens": 64, "stop_sequences": ["END"], "seed": 7,
        "presence_penalty": 0.1, "frequency_penalty": 0.2, "logprobs": True,
        "response_format": {"type": "json_object"}, "thinking": {"type": "enabled"},
        "stream": True}
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = chat(USER, max_tokens=5, stop=["x", "y"], reasoning_effort="none",
                response_format={"type": "json_schema",
                                 "json_schema": {"name": "A", "schema": schema, "strict": True}})
    assert body["response_format"] == {"type": "json_object", "json_schema": schema}
    assert body["thinking"] == {"type": "disabled"}
    assert (body["max_tokens"], body["stop_sequences"]) == (5, ["x", "y"])
    assert "response_format" not in chat(USER, response_format={"type": "text"})


def test_native_keys_pass_through_and_deployment_defaults_apply() -> None:
    docs = [{"id": "d1", "data": {"text": "Paris is in France"}}]
    body = chat(USER, top_k=40, documents=docs, safety_mode="OFF", citation_options={
        "mode": "FAST"}, thinking={"type": "enabled", "token_budget": 500},
        reasoning_effort="none", unknown_key=1)
    assert (body["k"], body["documents"], body["safety_mode"]) == (40, docs, "OFF")
    assert body["citation_options"] == {"mode": "FAST"}
    assert body["thinking"] == {"type": "enabled", "token_budget": 500}
    assert "unknown_key" not in body
    d = dep(defaults=FrozenDict({"temperature": 0.1, "max_tokens": 50}))
    body = sent({"messages": USER, "temperature": 0.9}, d)
    assert (body["temperature"], body["max_tokens"]) == (0.9, 50)


def test_tool_choice_mapping() -> None:
    assert "tool_choice" not in chat(USER, tools=[WEATHER], tool_choice="auto")
    assert chat(USER, tools=[WEATHER], tool_choice="none")["tool_choice"] == "NONE"
    assert chat(USER, tools=[WEATHER], tool_choice="required")["tool_choice"] == "REQUIRED"
    named = chat(USER, tools=[WEATHER, TIME],
                 tool_choice={"type": "function", "function": {"name": "current_time"}})
    assert named["tool_choice"] == "REQUIRED"
    assert named["tools"] == [{"type": "function", "function": {
        "name": "current_time", "parameters": {"type": "object", "properties": {}}}}]
    allowed = chat(USER, tools=[WEATHER, TIME], tool_choice={
        "type": "allowed_tools",
        "allowed_tools": {"mode": "auto", "tools": [
            {"type": "function", "function": {"name": "get_weather"}}]}})
    assert [t["function"]["name"] for t in allowed["tools"]] == ["get_weather"]
    assert "tool_choice" not in allowed
    with pytest.raises(InvalidRequest) as e:
        chat(USER, tools=[WEATHER], tool_choice={"type": "function",
                                                 "function": {"name": "nope"}})
    assert e.value.param == "tool_choice" and "nope" in e.value.message
    strict = {"type": "function", "function": {**WEATHER["function"], "strict": True}}  # type: ignore[dict-item]
    body = chat(USER, tools=[strict])
    assert body["strict_tools"] is True and "strict" not in body["tools"][0]["function"]
    assert "tool_choice" not in chat(USER, tool_choice="none")


@pytest.mark.parametrize(("param", "value"), [
    ("n", 2), ("logit_bias", {"50256": -100}), ("top_logprobs", 3),
    ("parallel_tool_calls", False), ("functions", [{"name": "f"}])])
def test_unsupported_params_are_refused_or_dropped(param: str, value: Any) -> None:
    with pytest.raises(UnsupportedParam) as e:
        chat(USER, **{param: value})
    assert e.value.status == 400 and e.value.param == param and "cohere" in e.value.message
    body = sent({"messages": USER, param: value, "temperature": 0.5}, dep(drop_params=True))
    assert param not in body and body["temperature"] == 0.5


@pytest.mark.parametrize("messages", [
    [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "gs://b/a.png"}}]}],
    [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x"}}]}],
    [{"role": "function", "name": "f", "content": "x"}],
    [{"role": "tool", "content": "x"}],
    [{"role": "assistant", "tool_calls": [
        {"id": "1", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}],
    [],
])
def test_invalid_messages_are_400(messages: list[dict[str, Any]]) -> None:
    with pytest.raises(InvalidRequest) as e:
        chat(messages)
    assert e.value.status == 400


# -- whole answers ------------------------------------------------------------------------------
def test_text_answer() -> None:
    data = answer("chat_text.json")
    assert data["id"] == "e7592632-1e3d-424f-b129-bd5f9f980f7b"
    assert (data["object"], data["model"], data["created"]) == ("chat.completion", "co",
                                                                1_700_000_000)
    choice = data["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "The capital of France is Paris.",
                                 "refusal": None}
    assert choice["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 507, "completion_tokens": 10, "total_tokens": 517,
                             "prompt_tokens_details": {"cached_tokens": 448}}


def test_tool_call_answer_surfaces_the_tool_plan_as_reasoning() -> None:
    data = answer("chat_tool_calls.json")
    msg = data["choices"][0]["message"]
    assert msg["content"] is None
    assert msg["reasoning_content"].startswith("I will use the weather tool")
    assert msg["tool_calls"] == [
        {"id": "weather_dqgshstja6p9", "type": "function",
         "function": {"name": "weather", "arguments": '{"location":"San Francisco"}'}},
        {"id": "cityAttractions_dcxfx4myvx68", "type": "function",
         "function": {"name": "cityAttractions", "arguments": '{"city":"San Francisco"}'}}]
    assert data["choices"][0]["finish_reason"] == "tool_calls"
    assert data["usage"]["total_tokens"] == 1549 + 103


def test_thinking_max_tokens_and_billed_units() -> None:
    data = answer("chat_thinking.json")
    msg = data["choices"][0]["message"]
    assert msg["content"] == "2 + 2 = 4"
    assert msg["reasoning_content"].startswith("Okay, so I need to figure out")
    data = answer("chat_max_tokens.json")
    assert data["choices"][0]["finish_reason"] == "length"
    data = answer("chat_billed_only.json")
    assert data["usage"] == {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}
    assert type(data["usage"]["prompt_tokens"]) is int


def _answer_with(**kw: Any) -> dict[str, Any]:
    body = {"id": "x", "finish_reason": "COMPLETE",
            "message": {"role": "assistant", "content": [{"type": "text", "text": "ok"}]}, **kw}
    data: dict[str, Any] = CO.parse_response(
        request({"messages": USER}), UpstreamResponse(200, {}, orjson.dumps(body))).data()
    return data


def test_timeout_is_length_error_raises_and_logprobs_are_mapped() -> None:
    assert _answer_with(finish_reason="TIMEOUT")["choices"][0]["finish_reason"] == "length"
    assert _answer_with(finish_reason="STOP_SEQUENCE")["choices"][0]["finish_reason"] == "stop"
    with pytest.raises(ProviderError) as e:
        _answer_with(finish_reason="ERROR")
    assert e.value.status == 502 and e.value.retryable
    lp = _answer_with(logprobs=[{"text": "ok", "token_ids": [1, 2], "logprobs": [-0.5, -0.25]}])
    assert lp["choices"][0]["logprobs"] == {"refusal": None, "content": [
        {"token": "ok", "logprob": -0.75, "bytes": [111, 107], "top_logprobs": []}]}
    with pytest.raises(ProviderError):
        CO.parse_response(request({"messages": USER}), UpstreamResponse(200, {}, b"<html>"))


# -- streams ------------------------------------------------------------------------------------
def replay(fixture: str, *, usage: bool = True, piece: int = 0) -> tuple[list[dict[str, Any]],
                                                                         Usage | None]:
    raw = (FIX / fixture).read_bytes()
    req = request({"messages": USER, "stream": True,
                   **({"stream_options": {"include_usage": True}} if usage else {})})
    relay = CO.stream_relay(req, CO.prepare(dep()))
    pieces = [raw[i:i + piece] for i in range(0, len(raw), piece)] if piece else [raw]
    out = b"".join(relay.feed(p) for p in pieces) + relay.flush()
    d = SSEDecoder()
    events = d.feed(out) + d.flush()
    assert all(e.event is None for e in events)
    return [orjson.loads(e.data) for e in events], relay.usage


def deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks if c["choices"]]


@pytest.mark.parametrize("piece", [0, 1, 5, 64])
def test_stream_text(piece: int) -> None:
    chunks, usage = replay("stream_text.sse", piece=piece)
    assert {c["id"] for c in chunks} == {"321d178c-2c12-44d3-ae42-2f5510f6b1cc"}
    assert {(c["object"], c["model"], c["created"]) for c in chunks} == {
        ("chat.completion.chunk", "co", 1_700_000_000)}
    ds = deltas(chunks)
    assert ds[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content", "") for d in ds) == "The capital of France is Paris."
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 507, "completion_tokens": 10,
                                   "total_tokens": 517,
                                   "prompt_tokens_details": {"cached_tokens": 448}}
    assert usage == Usage(507, 10, 517, 448)


def test_stream_without_usage_request_has_no_usage_chunk_but_counts() -> None:
    chunks, usage = replay("stream_text.sse", usage=False, piece=3)
    assert all(c["choices"] for c in chunks)
    assert usage is not None and usage.total_tokens == 517


@pytest.mark.parametrize("piece", [0, 7])
def test_stream_tool_calls(piece: int) -> None:
    chunks, usage = replay("stream_tool_calls.sse", piece=piece)
    ds = deltas(chunks)
    assert "".join(d.get("reasoning_content", "") for d in ds) == (
        "I will use the weather tool to find the weather in San Francisco and the "
        "cityAttractions tool to find attractions in San Francisco.")
    calls = [tc for d in ds for tc in d.get("tool_calls", [])]
    firsts = [tc for tc in calls if "id" in tc]
    assert firsts == [
        {"index": 0, "id": "weather_e8p4pn45zt0t", "type": "function",
         "function": {"name": "weather", "arguments": ""}},
        {"index": 1, "id": "cityAttractions_pyxssbwnq9fq", "type": "function",
         "function": {"name": "cityAttractions", "arguments": ""}}]
    for i, expected in enumerate(['{"location": "San Francisco"}', '{"city": "San Francisco"}']):
        got = "".join(tc["function"]["arguments"] for tc in calls if tc["index"] == i)
        assert got == expected
    assert all(set(tc) == {"index", "function"} for tc in calls if "id" not in tc)
    finish = [c["choices"][0] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finish) == 1 and finish[0]["finish_reason"] == "tool_calls"
    assert finish[0]["delta"] == {}
    assert usage == Usage(1549, 95, 1644, 1504)


def test_stream_tool_call_without_arguments_gets_an_empty_object() -> None:
    chunks, _ = replay("stream_empty_tool_call.sse", piece=11)
    calls = [tc for d in deltas(chunks) for tc in d.get("tool_calls", [])]
    assert calls[0]["id"] == "currentTime_y46ar19t5gvw"
    assert "".join(tc["function"]["arguments"] for tc in calls) == "{}"


def test_stream_thinking_and_citations() -> None:
    ds = deltas(replay("stream_thinking.sse", piece=9)[0])
    assert "".join(d.get("reasoning_content", "") for d in ds) == \
        "The user is asking for the sum of 2 and 2."
    assert "".join(d.get("content", "") for d in ds) == "The answer to 2 + 2 is 4."
    ds = deltas(replay("stream_citations.sse", piece=13)[0])
    assert "".join(d.get("content", "") for d in ds) == \
        "The key benefits are automation of tasks."


@pytest.mark.parametrize("piece", [0, 4])
def test_stream_error_event_raises(piece: int) -> None:
    with pytest.raises(ProviderError) as e:
        replay("stream_error.sse", piece=piece)
    assert "internal server error" in e.value.message and e.value.status == 502


def test_decoder_event_by_event_with_names_and_cut_streams() -> None:
    req = request({"messages": USER, "stream": True})
    dec = CohereStreamDecoder(req)
    raw = (FIX / "stream_text.sse").read_bytes()
    d = SSEDecoder()
    events = d.feed(raw) + d.flush()
    assert events[0].event == "message-start" and events[-1].data == b"[DONE]"
    texts = []
    for ev in events:
        for chunk in dec.feed(ev.data, ev.event):
            assert chunk.data is not None
            texts.append(chunk.data["choices"][0]["delta"].get("content", ""))
    assert "".join(texts) == "The capital of France is Paris."
    assert dec.flush() == []
    cut = CohereStreamDecoder(req)
    for ev in events[:5]:
        cut.feed(ev.data, ev.event)
    with pytest.raises(ProviderError, match="before its message-end"):
        cut.flush()
    lp = CohereStreamDecoder(req)
    lp.feed(b'{"type":"message-start","id":"m"}')
    out = lp.feed(orjson.dumps({"type": "content-delta", "index": 0, "delta": {"message": {
        "content": {"text": "Hi"}}}, "logprobs": {"text": "Hi", "token_ids": [5],
                                                  "logprobs": [-0.1]}}))
    assert out[-1].data is not None
    assert out[-1].data["choices"][0]["logprobs"]["content"][0]["logprob"] == -0.1


# -- errors -------------------------------------------------------------------------------------
def test_rate_limit_keeps_retry_after() -> None:
    e = error(429, "error_rate_limit.json", {"retry-after": "7"})
    assert (e.status, e.code, e.error_type, e.retry_after) == (429, "rate_limit_exceeded",
                                                               "rate_limit_error", 7.0)
    assert e.message.startswith("You are past the per minute request limit")
    assert e.retryable and error(429, "error_rate_limit.json").retry_after is None


def test_context_length_and_max_tokens() -> None:
    e = error(400, "error_too_many_tokens.json")
    assert (e.status, e.code, e.error_type) == (400, "context_length_exceeded",
                                                "invalid_request_error")
    e = error(400, "error_max_tokens.json")
    assert (e.status, e.code, e.param) == (400, "invalid_value", "max_tokens")


@pytest.mark.parametrize("status", [401, 498])
def test_invalid_token_is_401(status: int) -> None:
    e = error(status, "error_invalid_token.json")
    assert (e.status, e.code, e.upstream_status) == (401, "invalid_api_key", status)
    assert e.message == "invalid api token" and not e.retryable


def test_cancelled_and_server_errors() -> None:
    e = error(499, "error_cancelled.json")
    assert (e.status, e.retryable, e.message) == (502, True, "request cancelled")
    e = error(503, b'{"message": "service unavailable"}')
    assert (e.status, e.retryable) == (503, True)
    assert error(500, b'{"message": "internal server error"}').status == 502
    assert error(502, b"<html>bad gateway</html>").message == "cohere answered HTTP 502"
    assert error(422, b'{"message": "invalid request: x"}').status == 422


# -- embeddings ---------------------------------------------------------------------------------
def test_embed_request_mapping() -> None:
    body = sent({"input": "hello", "dimensions": 256}, endpoint="embeddings", model="embed-v4.0")
    assert body == {"model": "embed-v4.0", "texts": ["hello"], "input_type": "search_document",
                    "embedding_types": ["float"], "output_dimension": 256}
    body = sent({"input": ["a", "b"], "input_type": "search_query", "encoding_format": "base64",
                 "truncate": "END", "user": "u"}, endpoint="embeddings")
    assert (body["texts"], body["input_type"], body["truncate"]) == (["a", "b"],
                                                                     "search_query", "END")
    assert body["embedding_types"] == ["float"] and "user" not in body
    for bad in ([1, 2, 3], [], None, [[1, 2]]):
        with pytest.raises(InvalidRequest) as e:
            sent({"input": bad}, endpoint="embeddings")
        assert e.value.param == "input"


def test_embed_response_float_and_base64() -> None:
    raw = (FIX / "embed_response.json").read_bytes()
    req = request({"input": ["sunny day at the beach", "rainy day in the city"]}, "embeddings")
    data = CO.parse_response(req, UpstreamResponse(200, {}, raw)).data()
    assert data["object"] == "list" and data["model"] == "co"
    assert [d["index"] for d in data["data"]] == [0, 1]
    assert data["data"][0]["embedding"][:2] == [0.03302002, 0.020904541]
    assert data["usage"] == {"prompt_tokens": 10, "total_tokens": 10}
    req = request({"input": ["a", "b"], "encoding_format": "base64"}, "embeddings")
    data = CO.parse_response(req, UpstreamResponse(200, {}, raw)).data()
    vec = struct.unpack("<5f", base64.b64decode(data["data"][1]["embedding"]))
    assert vec == pytest.approx([-0.04660034, 0.00037765503, -0.061157227, -0.08239746,
                                 -0.010360718], rel=1e-6)
    with pytest.raises(ProviderError):
        CO.parse_response(req, UpstreamResponse(200, {}, b'{"id": "x", "embeddings": {}}'))
