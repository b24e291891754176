"""The Gemini / Vertex AI translator: request mapping, URLs and auth, answers, streams (event by
event and cut into small pieces) and errors, on recorded payloads
(tests/fixtures/providers/gemini/README.md says where each came from)."""

from __future__ import annotations

import base64
import struct
from pathlib import Path
from typing import Any

import orjson
import pytest

from pllm.config.model import Deployment, FrozenDict, Secret
from pllm.errors import DeploymentError, InvalidRequest, ProviderError, UnsupportedParam
from pllm.providers.base import GoogleOAuth, UpstreamResponse
from pllm.providers.gemini import Gemini, GoogleTarget
from pllm.providers.registry import default_registry
from pllm.providers.vertex import Vertex
from pllm.providers.vertex_anthropic import VertexAnthropic
from pllm.schema import GatewayRequest, Usage
from pllm.sse import SSEDecoder

FIX = Path(__file__).parent.parent / "fixtures" / "providers" / "gemini"
GEMINI = Gemini()
VERTEX = Vertex()
KEY = "AIzaSy-test-key-0000000000"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                   "required": ["location"], "additionalProperties": False}}}


def dep(provider: str = "gemini", **kw: Any) -> Deployment:
    base: dict[str, Any] = {"id": "d1", "model_name": "m", "provider": provider,
                            "model": "gemini-2.0-flash"}
    if provider == "gemini":
        base["api_key"] = Secret(KEY)
    else:
        base["params"] = FrozenDict({"vertex_project": "proj-1", "vertex_location": "us-central1"})
    return Deployment(**{**base, **kw})


def request(body: dict[str, Any], endpoint: str = "chat") -> GatewayRequest:
    body = {"model": "my-gemini", **body}
    opts = body.get("stream_options") or {}
    return GatewayRequest(endpoint, body, orjson.dumps(body), body["model"],  # type: ignore[arg-type]
                          body.get("stream") is True,
                          bool(body.get("stream") and opts.get("include_usage")), "req_1", 1700)


def native(body: dict[str, Any], *, d: Deployment | None = None, model: str = "gemini-2.0-flash",
           provider: Gemini | Vertex = GEMINI) -> dict[str, Any]:
    target = provider.prepare(d or dep("vertex_ai" if provider is VERTEX else "gemini"))
    up = provider.build_request(request(body), target, model)
    result: dict[str, Any] = orjson.loads(up.body or b"")
    return result


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def resp(name: str, status: int = 200, headers: dict[str, str] | None = None) -> UpstreamResponse:
    return UpstreamResponse(status, headers or {}, (FIX / name).read_bytes())


def payloads(sse: bytes) -> list[dict[str, Any]]:
    d = SSEDecoder()
    return [orjson.loads(e.data) for e in d.feed(sse) + d.flush()]


def relay(fixture: str, *, usage: bool = True, piece: int = 0,
          provider: Gemini | Vertex = GEMINI) -> tuple[list[dict[str, Any]], Usage | None]:
    data = (FIX / fixture).read_bytes()
    req = request({"messages": [user("x")], "stream": True,
                   "stream_options": {"include_usage": usage}})
    r = provider.stream_relay(req, provider.prepare(dep(provider.name)))
    pieces = [data[i:i + piece] for i in range(0, len(data), piece)] if piece else [data]
    out = b"".join(r.feed(p) for p in pieces) + r.flush()
    return payloads(out), r.usage


# -- request: messages ------------------------------------------------------------------------
def test_system_roles_and_turn_merging() -> None:
    body = native({"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
        user("hi"), user("there"),
        {"role": "assistant", "content": "Hello!"},
        user("weather?"),
    ]})
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief.\n\nUse metric units."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "hi"}, {"text": "there"}]},
        {"role": "model", "parts": [{"text": "Hello!"}]},
        {"role": "user", "parts": [{"text": "weather?"}]},
    ]
    assert "generationConfig" not in body and "tools" not in body


def test_tool_history_becomes_function_calls_and_merged_responses() -> None:
    body = native({"messages": [
        user("Paris and Rome?"),
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_0_get_weather", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'}},
            {"id": "gem-id-7__thought__U0lH", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"location": "Rome"}'}}]},
        {"role": "tool", "tool_call_id": "call_0_get_weather", "content": "sunny"},
        {"role": "tool", "tool_call_id": "gem-id-7__thought__U0lH",
         "content": '{"temp": 21, "sky": "clear"}'},
        user("thanks"),
    ]})
    model_turn, tool_turn, last = body["contents"][1:]
    assert model_turn == {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}},
        {"functionCall": {"name": "get_weather", "args": {"location": "Rome"}, "id": "gem-id-7"},
         "thoughtSignature": "U0lH"}]}
    assert tool_turn == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"content": "sunny"}}},
        {"functionResponse": {"name": "get_weather", "response": {"temp": 21, "sky": "clear"},
                              "id": "gem-id-7"}}]}
    assert last == {"role": "user", "parts": [{"text": "thanks"}]}


def test_signature_from_extra_content_and_unknown_tool_id() -> None:
    body = native({"messages": [user("q"), {"role": "assistant", "tool_calls": [
        {"id": "abc", "type": "function", "function": {"name": "f", "arguments": "{}"},
         "extra_content": {"google": {"thought_signature": "c2ln"}}}]},
        {"role": "tool", "tool_call_id": "abc", "content": "ok"}]})
    assert body["contents"][1]["parts"][0] == {
        "functionCall": {"name": "f", "args": {}, "id": "abc"}, "thoughtSignature": "c2ln"}
    with pytest.raises(InvalidRequest, match="matches no earlier assistant tool call"):
        native({"messages": [user("q"), {"role": "tool", "tool_call_id": "zzz", "content": "x"}]})


def test_images_audio_and_files() -> None:
    parts = native({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "gs://bucket/cat.webp"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a/dog.PNG?size=2"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/render?id=3"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0="}},
    ]}]})["contents"][0]["parts"]
    assert parts == [
        {"text": "look"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "gs://bucket/cat.webp"}},
        {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/a/dog.PNG?size=2"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/render?id=3"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
    ]
    with pytest.raises(InvalidRequest, match="not supported by Gemini"):
        native({"messages": [{"role": "user", "content": [{"type": "refusal", "refusal": "x"}]}]})


# -- request: tools and parameters ------------------------------------------------------------
@pytest.mark.parametrize(("choice", "config"), [
    ("auto", {"mode": "AUTO"}), ("none", {"mode": "NONE"}), ("required", {"mode": "ANY"}),
    ({"type": "function", "function": {"name": "get_weather"}},
     {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
])
def test_tools_and_tool_choice(choice: Any, config: dict[str, Any]) -> None:
    body = native({"messages": [user("q")], "tools": [WEATHER, {"googleSearch": {}}],
                   "tool_choice": choice})
    assert body["tools"] == [
        {"functionDeclarations": [{"name": "get_weather", "description": "Current weather",
                                   "parametersJsonSchema": WEATHER["function"]["parameters"]}]},
        {"googleSearch": {}}]
    assert body["toolConfig"] == {"functionCallingConfig": config}


def test_bad_tools_are_400() -> None:
    with pytest.raises(InvalidRequest, match="tool type 'web_search'"):
        native({"messages": [user("q")], "tools": [{"type": "web_search"}]})
    with pytest.raises(InvalidRequest, match="tool_choice"):
        native({"messages": [user("q")], "tools": [WEATHER], "tool_choice": "sometimes"})


def test_generation_config() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = native({"messages": [user("q")], "temperature": 0.3, "top_p": 0.9, "max_tokens": 10,
                   "max_completion_tokens": 20, "stop": "END", "n": 2, "seed": 7,
                   "presence_penalty": 0.1, "frequency_penalty": 0.2, "top_k": 40,
                   "response_format": {"type": "json_schema",
                                       "json_schema": {"name": "s", "schema": schema}},
                   "user": "u-1", "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT",
                                                       "threshold": "BLOCK_NONE"}],
                   "cached_content": "cachedContents/abc", "labels": {"team": "a"}})
    assert body["generationConfig"] == {
        "temperature": 0.3, "topP": 0.9, "maxOutputTokens": 20, "stopSequences": ["END"],
        "candidateCount": 2, "seed": 7, "presencePenalty": 0.1, "frequencyPenalty": 0.2,
        "topK": 40, "responseMimeType": "application/json", "responseJsonSchema": schema}
    assert body["safetySettings"][0]["threshold"] == "BLOCK_NONE"
    assert body["cachedContent"] == "cachedContents/abc"
    assert "labels" not in body  # the Gemini API has no labels
    assert native({"messages": [user("q")], "labels": {"team": "a"}},
                  provider=VERTEX)["labels"] == {"team": "a"}
    json_mode = native({"messages": [user("q")], "response_format": {"type": "json_object"}})
    assert json_mode["generationConfig"] == {"responseMimeType": "application/json"}


@pytest.mark.parametrize(("model", "effort", "thinking"), [
    ("gemini-2.5-flash", "low", {"includeThoughts": True, "thinkingBudget": 1024}),
    ("gemini-2.5-pro", "high", {"includeThoughts": True, "thinkingBudget": 4096}),
    ("gemini-2.5-flash", "none", {"includeThoughts": False, "thinkingBudget": 0}),
    ("gemini-3-pro-preview", "medium", {"includeThoughts": True, "thinkingLevel": "MEDIUM"}),
    ("gemini-3-flash", "minimal", {"includeThoughts": True, "thinkingLevel": "MINIMAL"}),
])
def test_reasoning_effort(model: str, effort: str, thinking: dict[str, Any]) -> None:
    body = native({"messages": [user("q")], "reasoning_effort": effort}, model=model)
    assert body["generationConfig"]["thinkingConfig"] == thinking


def test_anthropic_style_thinking_and_deployment_defaults() -> None:
    body = native({"messages": [user("q")],
                   "thinking": {"type": "enabled", "budget_tokens": 2000}},
                  d=dep(defaults=FrozenDict({"temperature": 0.5, "max_tokens": 99})))
    assert body["generationConfig"] == {
        "temperature": 0.5, "maxOutputTokens": 99,
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 2000}}


def test_unsupported_params_400_or_dropped() -> None:
    with pytest.raises(UnsupportedParam, match="'logit_bias'") as info:
        native({"messages": [user("q")], "logit_bias": {"1": 2}})
    assert info.value.param == "logit_bias" and info.value.status == 400
    body = native({"messages": [user("q")], "logit_bias": {"1": 2}, "logprobs": True},
                  d=dep(drop_params=True))
    assert "logit_bias" not in orjson.dumps(body).decode()
    # OpenAI's defaults ask for nothing: no 400.
    native({"messages": [user("q")], "n": 1, "logprobs": False, "parallel_tool_calls": True})
    target = GEMINI.prepare(dep())
    streamed = request({"messages": [user("q")], "n": 2, "stream": True})
    with pytest.raises(UnsupportedParam, match="n > 1"):
        GEMINI.build_request(streamed, target, "gemini-2.0-flash")
    lenient = GEMINI.prepare(dep(drop_params=True))
    sent = orjson.loads(GEMINI.build_request(streamed, lenient, "gemini-2.0-flash").body or b"")
    assert "generationConfig" not in sent


# -- URLs and auth ----------------------------------------------------------------------------
def test_gemini_urls_and_key_header() -> None:
    target = GEMINI.prepare(dep())
    req = request({"messages": [user("q")]})
    up = GEMINI.build_request(req, target, "gemini-2.0-flash")
    assert up.url == ("https://generativelanguage.googleapis.com/v1beta/models/"
                      "gemini-2.0-flash:generateContent")
    assert up.headers["x-goog-api-key"] == KEY and up.signer is None and "key=" not in up.url
    stream = GEMINI.build_request(request({"messages": [user("q")], "stream": True}), target,
                                  "gemini-2.0-flash")
    assert stream.url.endswith(":streamGenerateContent?alt=sse") and stream.stream
    proxied = GEMINI.prepare(dep(api_base="http://127.0.0.1:9/gemini/", api_version="v1"))
    assert GEMINI.build_request(req, proxied, "tunedModels/my model").url == \
        "http://127.0.0.1:9/gemini/v1/tunedModels/my%20model:generateContent"
    assert GEMINI.build_request(req, proxied, "models/gemini-pro").url == \
        "http://127.0.0.1:9/gemini/v1/models/gemini-pro:generateContent"
    with pytest.raises(DeploymentError, match="api_key"):
        GEMINI.prepare(dep(api_key=None))


@pytest.mark.parametrize(("location", "origin"), [
    ("us-central1", "https://us-central1-aiplatform.googleapis.com"),
    ("europe-west4", "https://europe-west4-aiplatform.googleapis.com"),
    ("global", "https://aiplatform.googleapis.com"),
    ("us", "https://aiplatform.us.rep.googleapis.com"),
    ("eu", "https://aiplatform.eu.rep.googleapis.com"),
])
def test_vertex_hosts(location: str, origin: str) -> None:
    d = dep("vertex_ai", params=FrozenDict({"vertex_project": "proj-1",
                                            "vertex_location": location}))
    up = VERTEX.build_request(request({"messages": [user("q")]}), VERTEX.prepare(d),
                              "gemini-2.0-flash")
    assert up.url == (f"{origin}/v1/projects/proj-1/locations/{location}/publishers/google/"
                      "models/gemini-2.0-flash:generateContent")


def test_vertex_auth_api_base_and_dispatch() -> None:
    creds = Secret('{"type": "service_account"}')
    d = dep("vertex_ai", api_base="http://127.0.0.1:9/",
            params=FrozenDict({"vertex_project": "p", "vertex_credentials": creds}))
    target = VERTEX.prepare(d)
    assert isinstance(target, GoogleTarget)
    up = VERTEX.build_request(request({"messages": [user("q")], "stream": True}), target,
                              "gemini-2.0-flash")
    assert up.url == ("http://127.0.0.1:9/v1/projects/p/locations/us-central1/publishers/google/"
                      "models/gemini-2.0-flash:streamGenerateContent?alt=sse")
    assert up.signer == GoogleOAuth(credentials=creds) and "authorization" not in up.headers
    assert VERTEX.build_request(request({"messages": [user("q")]}), target, "1234567").url == \
        "http://127.0.0.1:9/v1/projects/p/locations/us-central1/endpoints/1234567:generateContent"
    adc = VERTEX.prepare(dep("vertex_ai"))
    assert isinstance(adc, GoogleTarget) and adc.signer == GoogleOAuth(credentials=None)
    with pytest.raises(DeploymentError, match="vertex_project"):
        VERTEX.prepare(dep("vertex_ai", params=FrozenDict({})))
    claude = VERTEX.prepare(dep("vertex_ai", model="claude-sonnet-4@20250514"))
    assert isinstance(claude.provider, VertexAnthropic), "Claude goes through rawPredict"
    assert isinstance(claude, GoogleTarget) and claude.signer == adc.signer


def test_registry_serves_both() -> None:
    reg = default_registry()
    assert isinstance(reg.get("gemini"), Gemini) and isinstance(reg.get("vertex_ai"), Vertex)
    assert GEMINI.endpoints == VERTEX.endpoints == frozenset({"chat", "embeddings"})


# -- answers ----------------------------------------------------------------------------------
def test_text_answer_and_usage() -> None:
    out = GEMINI.parse_response(request({"messages": [user("q")]}), resp("text.json")).data()
    assert out["id"] == "chatcmpl-Un6LacrVMcjUxs0PmJfWoQc"
    assert (out["object"], out["model"], out["created"]) == ("chat.completion", "my-gemini", 1700)
    choice = out["choices"][0]
    assert choice["message"]["content"].startswith("There are **3** r's in strawberry.")
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]
    assert out["usage"] == {"prompt_tokens": 9, "completion_tokens": 272, "total_tokens": 281,
                            "completion_tokens_details": {"reasoning_tokens": 244}}


def test_parallel_tool_calls_get_ids_and_finish_tool_calls() -> None:
    out = GEMINI.parse_response(request({"messages": [user("q")]}),
                                resp("tool_calls_parallel.json")).data()
    msg = out["choices"][0]["message"]
    assert msg["content"] == "Checking both cities."
    assert msg["tool_calls"] == [
        {"id": "call_0_get_weather", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
        {"id": "call_1_get_weather", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city":"Tokyo"}'}}]
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    # toolUsePromptTokenCount counts as prompt, thoughts as completion.
    assert out["usage"] == {"prompt_tokens": 77, "completion_tokens": 142, "total_tokens": 219,
                            "completion_tokens_details": {"reasoning_tokens": 82}}


def test_prompt_blocked_and_several_candidates() -> None:
    blocked = GEMINI.parse_response(request({"messages": [user("q")]}),
                                    resp("prompt_blocked.json")).data()
    assert blocked["choices"][0]["message"]["content"] == ""
    assert blocked["choices"][0]["finish_reason"] == "content_filter"
    assert blocked["usage"]["prompt_tokens"] == 9
    out = GEMINI.parse_response(request({"messages": [user("q")], "n": 3}),
                                resp("candidates.json")).data()
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in out["choices"]] \
        == [(0, "First.", "stop"), (1, "Second, cut", "length"), (2, "", "content_filter")]


# -- streams ----------------------------------------------------------------------------------
@pytest.mark.parametrize("piece", [0, 1, 7])
def test_text_stream(piece: int) -> None:
    events, usage = relay("stream_text.sse", piece=piece)
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(e["id"] == "chatcmpl-bH6LaZW8Fp_3nsEPqtaSwQ4" for e in events)
    assert all(e["model"] == "my-gemini" and e["created"] == 1700 for e in events)
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert text == 'There are **3** "r"s in strawberry.\n\nst**r**awbe**rr**y'
    assert [e["choices"][0]["finish_reason"] for e in events if e["choices"]][-1] == "stop"
    assert events[-1]["choices"] == []
    assert events[-1]["usage"] == {"prompt_tokens": 9, "completion_tokens": 208,
                                   "total_tokens": 217,
                                   "completion_tokens_details": {"reasoning_tokens": 185}}
    assert usage == Usage(9, 208, 217, 0, 185)


def test_stream_without_usage_request_still_counts() -> None:
    events, usage = relay("stream_vertex.sse", usage=False, provider=VERTEX)
    assert all(e["choices"] for e in events)
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events) == \
        "Hello! How can I help you today?"
    assert usage == Usage(1, 9, 10)


@pytest.mark.parametrize("piece", [0, 5])
def test_tool_call_stream_carries_full_arguments_and_signature(piece: int) -> None:
    events, _ = relay("stream_tool_call.sse", piece=piece)
    deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
    calls = [d["tool_calls"] for d in deltas if "tool_calls" in d]
    assert len(calls) == 1
    call = calls[0][0]
    base, sig = call["id"].split("__thought__")
    assert base == "call_0_weather" and sig.startswith("EqUCCqICAb4")
    assert call["index"] == 0 and call["type"] == "function"
    assert call["function"] == {"name": "weather", "arguments": '{"location":"San Francisco"}'}
    assert [e["choices"][0]["finish_reason"] for e in events if e["choices"]][-1] == "tool_calls"
    # The id goes back into history: the signature returns on the functionCall part.
    follow = native({"messages": [
        user("weather?"), {"role": "assistant", "tool_calls": [
            {"id": call["id"], "type": "function", "function": call["function"]}]},
        {"role": "tool", "tool_call_id": call["id"], "content": "fog"}]},
        model="gemini-3-pro-preview")
    assert follow["contents"][1]["parts"] == [{
        "functionCall": {"name": "weather", "args": {"location": "San Francisco"}},
        "thoughtSignature": sig}]
    assert follow["contents"][2]["parts"] == [
        {"functionResponse": {"name": "weather", "response": {"content": "fog"}}}]


@pytest.mark.parametrize("piece", [0, 3])
def test_thinking_stream(piece: int) -> None:
    events, usage = relay("stream_thinking.sse", piece=piece)
    deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
    assert deltas[1] == {"reasoning_content":
                         "**Counting letters**\n\nI will count the r characters."}
    assert deltas[2] == {"content": "Three."}
    assert events[-2]["choices"][0]["finish_reason"] == "length"
    assert usage == Usage(1200, 52, 1252, 1024, 50)
    assert events[-1]["usage"]["prompt_tokens_details"] == {"cached_tokens": 1024}


def test_blocked_prompt_stream_and_in_stream_error() -> None:
    events, _ = relay("stream_prompt_blocked.sse")
    assert [e["choices"][0] for e in events if e["choices"]][-1]["finish_reason"] == \
        "content_filter"
    data = (FIX / "stream_error.sse").read_bytes()
    r = GEMINI.stream_relay(request({"messages": [user("x")], "stream": True}),
                            GEMINI.prepare(dep()))
    # The text that came in the same read is relayed; the error follows at the end.
    out = payloads(r.feed(data))
    assert [e["choices"][0]["delta"].get("content") for e in out] == ["", "Partial answer"]
    with pytest.raises(ProviderError) as info:
        r.flush()
    assert info.value.upstream_status == 500 and info.value.status == 502
    assert "internal error" in info.value.message
    first = GEMINI.stream_relay(request({"messages": [user("x")], "stream": True}),
                                GEMINI.prepare(dep()))
    error_event = data[data.index(b"data: {\"error\""):]
    assert first.feed(error_event) == b""
    with pytest.raises(ProviderError):
        first.flush()


# -- errors -----------------------------------------------------------------------------------
def test_rate_limit_keeps_retry_delay() -> None:
    err = GEMINI.parse_error(resp("error_429_retry_info.json", 429))
    assert (err.status, err.code, err.error_type) == (429, "rate_limit_exceeded",
                                                      "rate_limit_error")
    assert err.retry_after == 34.4 and err.retryable
    assert err.response_headers()["retry-after"] == "35"
    vertex = VERTEX.parse_error(resp("error_429_vertex.json", 429, {"retry-after": "7"}))
    assert (vertex.status, vertex.retry_after, vertex.provider) == (429, 7.0, "vertex_ai")


def test_context_length_bad_key_and_plain_400() -> None:
    err = GEMINI.parse_error(resp("error_context_length.json", 400))
    assert (err.status, err.code) == (400, "context_length_exceeded")
    assert err.message.startswith("The input token count (1200293)")
    key = GEMINI.parse_error(resp("error_api_key_invalid.json", 400))
    assert (key.status, key.code, key.error_type) == (401, "invalid_api_key",
                                                      "authentication_error")
    assert not key.retryable
    plain = GEMINI.parse_error(resp("error_invalid_argument.json", 400))
    assert (plain.status, plain.code, plain.error_type) == (400, None, "invalid_request_error")


@pytest.mark.parametrize(("status", "rpc", "client", "etype"), [
    (401, "UNAUTHENTICATED", 401, "authentication_error"),
    (403, "PERMISSION_DENIED", 403, "permission_error"),
    (404, "NOT_FOUND", 404, "not_found_error"),
    (500, "INTERNAL", 502, "api_error"),
    (503, "UNAVAILABLE", 503, "api_error"),
    (504, "DEADLINE_EXCEEDED", 504, "api_error"),
])
def test_rpc_statuses(status: int, rpc: str, client: int, etype: str) -> None:
    body = orjson.dumps({"error": {"code": status, "message": "m", "status": rpc}})
    err = VERTEX.parse_error(UpstreamResponse(status, {}, body))
    assert (err.status, err.error_type) == (client, etype)
    assert err.retryable == (status >= 500)


def test_non_json_error_body() -> None:
    err = GEMINI.parse_error(UpstreamResponse(502, {}, b"<html>Bad Gateway</html>"))
    assert err.status == 502 and err.message == "gemini answered HTTP 502"


# -- embeddings -------------------------------------------------------------------------------
def test_gemini_embeddings() -> None:
    target = GEMINI.prepare(dep())
    req = request({"input": ["a", "b"], "dimensions": 2, "model": "emb"}, "embeddings")
    up = GEMINI.build_request(req, target, "text-embedding-004")
    assert up.url.endswith("/v1beta/models/text-embedding-004:batchEmbedContents")
    assert orjson.loads(up.body or b"") == {"requests": [
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": t}]},
         "outputDimensionality": 2} for t in ("a", "b")]}
    out = GEMINI.parse_response(req, resp("batch_embed.json")).data()
    assert out["object"] == "list" and out["model"] == "emb"
    assert [d["embedding"] for d in out["data"]] == [[0.1, 0.2], [0.1, 0.2]]
    assert out["usage"] == {"prompt_tokens": 8, "total_tokens": 8}
    b64 = request({"input": "a", "encoding_format": "base64"}, "embeddings")
    encoded = GEMINI.parse_response(b64, resp("batch_embed.json")).data()["data"][0]["embedding"]
    assert list(struct.unpack("<2f", base64.b64decode(encoded))) == \
        pytest.approx([0.1, 0.2], rel=1e-6)
    with pytest.raises(InvalidRequest, match="token arrays"):
        GEMINI.build_request(request({"input": [[1, 2]]}, "embeddings"), target, "m")


def test_vertex_predict_embeddings() -> None:
    target = VERTEX.prepare(dep("vertex_ai"))
    req = request({"input": ["x", "y"], "dimensions": 2}, "embeddings")
    up = VERTEX.build_request(req, target, "text-embedding-005")
    assert up.url.endswith("/publishers/google/models/text-embedding-005:predict")
    assert orjson.loads(up.body or b"") == {
        "instances": [{"content": "x"}, {"content": "y"}],
        "parameters": {"outputDimensionality": 2}}
    out = VERTEX.parse_response(req, resp("predict_embeddings.json")).data()
    assert [d["embedding"] for d in out["data"]] == [[0.5, 0.6], [0.25, -0.5]]
    assert out["usage"] == {"prompt_tokens": 7, "total_tokens": 7}
