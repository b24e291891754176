"""The Bedrock translator: Converse request mapping, answers, the binary ConverseStream relay
(event by event and cut into small pieces), errors and InvokeModel embeddings, on recorded and
documented payloads (tests/fixtures/providers/bedrock/README.md says where each came from)."""

from __future__ import annotations

import base64
import binascii
import struct
from pathlib import Path
from typing import Any

import orjson
import pytest
from mockups.bedrock_mock import encode_frame

from pllm.config.model import Deployment, FrozenDict, Secret
from pllm.errors import (
    DeploymentError,
    InvalidRequest,
    NotImplementedByPllm,
    ProviderError,
    UnsupportedParam,
)
from pllm.providers.base import AwsSigV4, UpstreamResponse
from pllm.providers.bedrock import Bedrock
from pllm.providers.bedrock_stream import EventStreamFramer
from pllm.providers.registry import default_registry
from pllm.schema import GatewayRequest
from pllm.sse import SSEDecoder

FIX = Path(__file__).parent.parent / "fixtures" / "providers" / "bedrock"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
BEDROCK = Bedrock()
PNG_B64 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJ"
           "RU5ErkJggg==")
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


def dep(**kw: Any) -> Deployment:
    params = kw.pop("params", {"aws_region_name": "us-east-1", "aws_access_key_id": "AKIDEXAMPLE",
                               "aws_secret_access_key": Secret("secret-0000")})
    base = {"id": "b1", "model_name": "claude", "provider": "bedrock", "model": HAIKU,
            "params": FrozenDict(params)}
    return Deployment(**{**base, **kw})


def request(body: dict[str, Any], endpoint: str = "chat") -> GatewayRequest:
    body = {"model": "claude", **body}
    opts = body.get("stream_options") or {}
    return GatewayRequest(endpoint, body, orjson.dumps(body), "claude",  # type: ignore[arg-type]
                          body.get("stream") is True,
                          bool(body.get("stream") and opts.get("include_usage")),
                          request_id="req_test1", created=1_700_000_000)


def converse(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """The Converse body pllm sends for this OpenAI body."""
    d = dep(**kw)
    up = BEDROCK.build_request(request(body), BEDROCK.prepare(d), d.model)
    assert up.body is not None
    out: dict[str, Any] = orjson.loads(up.body)
    return out


def chat(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"messages": list(messages)}


U = {"role": "user", "content": "hi"}


# -- deployment, URL, auth ------------------------------------------------------------------
def test_registered_for_chat_and_embeddings() -> None:
    provider = default_registry().get("bedrock")
    assert isinstance(provider, Bedrock)
    assert provider.endpoints == frozenset({"chat", "embeddings"})


def test_default_url_encodes_the_model_id_and_signs_with_sigv4() -> None:
    d = dep()
    target = BEDROCK.prepare(d)
    assert target.base_url == "https://bedrock-runtime.us-east-1.amazonaws.com"
    up = BEDROCK.build_request(request(chat(U)), target, HAIKU)
    assert up.url == ("https://bedrock-runtime.us-east-1.amazonaws.com/model/"
                      "anthropic.claude-3-haiku-20240307-v1%3A0/converse")
    assert up.method == "POST" and not up.stream
    assert up.headers == {"content-type": "application/json"}
    assert up.signer == AwsSigV4(region="us-east-1", service="bedrock",
                                 access_key_id="AKIDEXAMPLE",
                                 secret_access_key=Secret("secret-0000"))
    streamed = BEDROCK.build_request(request({**chat(U), "stream": True}), target, HAIKU)
    assert streamed.url.endswith("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream")
    assert streamed.stream and streamed.stream_format == "eventstream"


def test_arns_profiles_and_litellm_route_prefixes() -> None:
    target = BEDROCK.prepare(dep())
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5"
    up = BEDROCK.build_request(request(chat(U)), target, arn)
    assert up.url.endswith("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3A"
                           "inference-profile%2Fus.anthropic.claude-3-5/converse")
    up = BEDROCK.build_request(request(chat(U)), target, "converse/us.amazon.nova-pro-v1:0")
    assert "/model/us.amazon.nova-pro-v1%3A0/converse" in up.url


def test_api_base_is_the_endpoint_url() -> None:
    d = dep(api_base="http://127.0.0.1:9999/proxy/")
    up = BEDROCK.build_request(request(chat(U)), BEDROCK.prepare(d), HAIKU)
    assert up.url.startswith("http://127.0.0.1:9999/proxy/model/anthropic.")


def test_region_from_a_standard_endpoint_host() -> None:
    d = dep(api_base="https://bedrock-runtime.eu-west-3.amazonaws.com",
            params={"aws_access_key_id": "AKID", "aws_secret_access_key": Secret("s")})
    up = BEDROCK.build_request(request(chat(U)), BEDROCK.prepare(d), HAIKU)
    assert isinstance(up.signer, AwsSigV4) and up.signer.region == "eu-west-3"


def test_no_region_is_a_deployment_error() -> None:
    with pytest.raises(DeploymentError, match="aws_region_name"):
        BEDROCK.prepare(dep(params={}))
    with pytest.raises(DeploymentError, match="needs aws_region_name"):
        BEDROCK.prepare(dep(params={}, api_base="http://127.0.0.1:1"))
    with pytest.raises(DeploymentError, match="assume AWS roles"):
        BEDROCK.prepare(dep(params={"aws_region_name": "us-east-1",
                                    "aws_role_name": "arn:aws:iam::1:role/x"}))


@pytest.mark.parametrize("kw", [
    {"params": {"aws_region_name": "us-west-2", "aws_bearer_token": Secret("ABSK-key-1")}},
    {"params": {"aws_region_name": "us-west-2"}, "api_key": Secret("ABSK-key-1")},
    {"params": {}, "api_key": Secret("ABSK-key-1"), "api_base": "http://127.0.0.1:1"},
])
def test_bedrock_api_key_is_a_bearer_header_without_signing(kw: dict[str, Any]) -> None:
    d = dep(**kw)
    up = BEDROCK.build_request(request(chat(U)), BEDROCK.prepare(d), HAIKU)
    assert up.headers["authorization"] == "Bearer ABSK-key-1"
    assert up.signer is None


def test_profile_and_session_token_reach_the_signer() -> None:
    d = dep(params={"aws_region_name": "us-east-1", "aws_profile_name": "dev",
                    "aws_session_token": Secret("tok")}, extra_headers=FrozenDict({"X-Tag": "a"}))
    up = BEDROCK.build_request(request(chat(U)), BEDROCK.prepare(d), HAIKU)
    assert up.signer == AwsSigV4(region="us-east-1", profile="dev",
                                 session_token=Secret("tok"))
    assert up.headers["X-Tag"] == "a"


def test_request_signs_to_the_reference_vector() -> None:
    """The wire notes' SigV4 vector (computed with botocore): our URL, headers and body sign
    to the same signature, so the upstream layer's botocore signing sees what boto3 sends."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    up = BEDROCK.build_request(request(chat({"role": "user", "content": "Hello"})),
                               BEDROCK.prepare(dep()), HAIKU)
    assert up.body == b'{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}'
    aws = AWSRequest(method=up.method, url=up.url, data=up.body, headers=dict(up.headers))
    aws.context["timestamp"] = "20250101T000000Z"
    aws.headers["X-Amz-Date"] = "20250101T000000Z"
    auth = SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                     "bedrock", "us-east-1")
    canonical = auth.canonical_request(aws)
    assert "/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse" in canonical
    signature = auth.signature(auth.string_to_sign(aws, canonical), aws)
    assert signature == "61e2d8183ecd06e4679120b67b2f7adf31a6e22735db5080fad08fae68659077"


# -- request body ---------------------------------------------------------------------------
def test_system_developer_and_alternating_turns() -> None:
    out = converse(chat(
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "user", "content": "one"},
        {"role": "user", "content": [{"type": "text", "text": "two"}]},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "three"}))
    assert out["system"] == [{"text": "Be brief.\n\nAnswer in French."}]
    assert out["messages"] == [
        {"role": "user", "content": [{"text": "one"}, {"text": "two"}]},
        {"role": "assistant", "content": [{"text": "ok"}]},
        {"role": "user", "content": [{"text": "three"}]}]
    assert set(out) == {"system", "messages"}


def test_tool_history_becomes_tool_use_and_merged_tool_results() -> None:
    out = converse({**chat(
        {"role": "user", "content": "weather in Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "call/2 bad", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call/2 bad",
         "content": [{"type": "text", "text": "rain"}]},
        {"role": "user", "content": "thanks, summarise"}), "tools": [WEATHER]})
    assert out["messages"][1] == {"role": "assistant", "content": [
        {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}},
        {"toolUse": {"toolUseId": "call_2_bad", "name": "get_weather",
                     "input": {"city": "Rome"}}}]}
    assert out["messages"][2] == {"role": "user", "content": [
        {"toolResult": {"toolUseId": "call_1", "content": [{"text": "sunny"}]}},
        {"toolResult": {"toolUseId": "call_2_bad", "content": [{"text": "rain"}]}},
        {"text": "thanks, summarise"}]}
    assert out["toolConfig"] == {"tools": [{"toolSpec": {
        "name": "get_weather", "description": "Current weather",
        "inputSchema": {"json": WEATHER["function"]["parameters"]}}}]}  # type: ignore[index]


def test_inference_config() -> None:
    out = converse({**chat(U), "max_completion_tokens": 64, "temperature": 0.3, "top_p": 0.9,
                    "stop": ["END", ""]})
    assert out["inferenceConfig"] == {"maxTokens": 64, "temperature": 0.3, "topP": 0.9,
                                      "stopSequences": ["END"]}
    assert converse({**chat(U), "max_tokens": 5, "stop": "X"})["inferenceConfig"] == \
        {"maxTokens": 5, "stopSequences": ["X"]}


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", {"auto": {}}),
    ("required", {"any": {}}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"tool": {"name": "get_weather"}}),
])
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    out = converse({**chat(U), "tools": [WEATHER], "tool_choice": choice})
    assert out["toolConfig"]["toolChoice"] == expected


def test_tool_choice_none() -> None:
    """No "none" in Converse: tools left out, unless the history holds tool blocks (Bedrock
    refuses those without a toolConfig): then the tools are kept, with no toolChoice."""
    assert "toolConfig" not in converse({**chat(U), "tools": [WEATHER], "tool_choice": "none"})
    history = chat(U, {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"})
    out = converse({**history, "tools": [WEATHER], "tool_choice": "none"})
    assert out["toolConfig"] == {"tools": [converse({**chat(U), "tools": [WEATHER]})[
        "toolConfig"]["tools"][0]]}
    placeholder = converse(history)["toolConfig"]["tools"]
    assert [t["toolSpec"]["name"] for t in placeholder] == ["no_tools_available"]


def test_images_and_documents() -> None:
    out = converse(chat({"role": "user", "content": [
        {"type": "text", "text": "what is it?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
        {"type": "image_url", "image_url": {"url": "s3://bucket/cat.JPG"}},
        {"type": "file", "file": {"filename": "q3 report (final).pdf",
                                  "file_data": "data:application/pdf;base64,JVBERi0x"}}]}))
    assert out["messages"][0]["content"][1:] == [
        {"image": {"format": "png", "source": {"bytes": PNG_B64}}},
        {"image": {"format": "jpeg", "source": {"s3Location": {"uri": "s3://bucket/cat.JPG"}}}},
        {"document": {"format": "pdf", "name": "q3 report (final)",
                      "source": {"bytes": "JVBERi0x"}}}]


def test_http_image_urls_are_refused_or_dropped() -> None:
    body = chat({"role": "user", "content": [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]})
    with pytest.raises(InvalidRequest, match="cannot fetch image URLs") as e:
        converse(body)
    assert e.value.status == 400 and "data: URL" in e.value.message
    assert converse(body, drop_params=True)["messages"][0]["content"] == [{"text": "look"}]
    with pytest.raises(InvalidRequest, match="png, jpeg, gif and webp"):
        converse(chat({"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}}]}))


def test_response_format() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    out = converse({**chat(U), "response_format": {"type": "json_schema", "json_schema": {
        "name": "num", "description": "a number", "schema": schema, "strict": True}}})
    assert out["outputConfig"] == {"textFormat": {"type": "json_schema", "structure": {
        "jsonSchema": {"schema": orjson.dumps(schema).decode(), "name": "num",
                       "description": "a number"}}}}
    assert "outputConfig" not in converse({**chat(U), "response_format": {"type": "text"}})
    with pytest.raises(UnsupportedParam, match="json_object"):
        converse({**chat(U), "response_format": {"type": "json_object"}})
    dropped = converse({**chat(U), "response_format": {"type": "json_object"}}, drop_params=True)
    assert "outputConfig" not in dropped


def test_unsupported_params_400_or_dropped() -> None:
    with pytest.raises(UnsupportedParam) as e:
        converse({**chat(U), "n": 2})
    assert e.value.param == "n" and "bedrock" in e.value.message and e.value.status == 400
    assert set(converse({**chat(U), "presence_penalty": 1, "seed": 3}, drop_params=True)) == \
        {"messages"}
    assert set(converse({**chat(U), "n": 1, "user": "u-1", "stream_options": {}})) == \
        {"messages"}


def test_non_openai_keys_and_native_members() -> None:
    out = converse({**chat(U), "top_k": 40,
                    "thinking": {"type": "enabled", "budget_tokens": 1024},
                    "guardrailConfig": {"guardrailIdentifier": "g1", "guardrailVersion": "1"},
                    "service_tier": "flex", "fallbacks": ["other"]})
    assert out["additionalModelRequestFields"] == {
        "top_k": 40, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    assert out["guardrailConfig"] == {"guardrailIdentifier": "g1", "guardrailVersion": "1"}
    assert out["serviceTier"] == {"type": "flex"}


def test_deployment_defaults_and_extra_body() -> None:
    out = converse({**chat(U), "temperature": 0.1},
                   defaults=FrozenDict({"temperature": 0.9, "max_tokens": 99,
                                        "extra_body": {"top_k": 5}}))
    assert out["inferenceConfig"] == {"maxTokens": 99, "temperature": 0.1}
    assert out["additionalModelRequestFields"] == {"top_k": 5}


def test_prompt_cache_points() -> None:
    out = converse(chat(
        {"role": "system", "content": [{"type": "text", "text": "long rules",
                                        "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": [{"type": "text", "text": "doc",
                                      "cache_control": {"type": "ephemeral"}},
                                     {"type": "text", "text": "question"}]}))
    assert out["system"] == [{"text": "long rules"}, {"cachePoint": {"type": "default"}}]
    assert out["messages"][0]["content"] == [
        {"text": "doc"}, {"cachePoint": {"type": "default"}}, {"text": "question"}]


# -- answers --------------------------------------------------------------------------------
def answer(fixture: str, body: dict[str, Any] | None = None,
           headers: dict[str, str] | None = None) -> dict[str, Any]:
    resp = UpstreamResponse(200, headers or {"x-amzn-requestid": "rid-1"},
                            (FIX / fixture).read_bytes())
    data: dict[str, Any] = BEDROCK.parse_response(request(body or chat(U)), resp).data()
    return data


def test_text_answer() -> None:
    data = answer("converse_text.json")
    assert data == {
        "id": "chatcmpl-rid-1", "object": "chat.completion", "created": 1_700_000_000,
        "model": "claude",
        "choices": [{"index": 0, "message": {"role": "assistant",
                                             "content": "Hello! How can I help?",
                                             "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17}}


def test_tool_use_answer() -> None:
    choice = answer("converse_tool_use.json")["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "I'll look up the top song for that station."
    assert choice["message"]["tool_calls"] == [{
        "id": "tooluse_hbTgdi0CSLq_hM4P8csZJA", "type": "function",
        "function": {"name": "top_song", "arguments": '{"sign":"WZPZ"}'}}]


def test_reasoning_and_cached_usage() -> None:
    data = answer("converse_reasoning_cached.json")
    assert data["choices"][0]["message"]["reasoning_content"] == \
        "The user asks for 2+2. That is 4."
    assert data["choices"][0]["message"]["content"] == "2 + 2 = 4."
    assert data["usage"] == {"prompt_tokens": 2048, "completion_tokens": 40,
                             "total_tokens": 2088,
                             "prompt_tokens_details": {"cached_tokens": 2036}}


@pytest.mark.parametrize(("stop", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"), ("tool_use", "tool_calls"),
    ("guardrail_intervened", "content_filter"), ("content_filtered", "content_filter"),
    ("malformed_model_output", "stop"), ("something_new", "stop"),
])
def test_stop_reasons(stop: str, finish: str) -> None:
    body = {"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
            "stopReason": stop, "usage": {"inputTokens": 1, "outputTokens": 1,
                                          "totalTokens": 2}, "metrics": {"latencyMs": 1}}
    resp = UpstreamResponse(200, {}, orjson.dumps(body))
    data = BEDROCK.parse_response(request(chat(U)), resp).data()
    assert data["choices"][0]["finish_reason"] == finish
    assert data["id"] == "chatcmpl-req_test1"


def test_malformed_answer_is_a_502() -> None:
    with pytest.raises(ProviderError) as e:
        BEDROCK.parse_response(request(chat(U)), UpstreamResponse(200, {}, b"<html>"))
    assert e.value.status == 502


# -- stream ---------------------------------------------------------------------------------
def frames(fixture: str, limit: int | None = None) -> bytes:
    out = b""
    for line in (FIX / fixture).read_text().splitlines()[:limit]:
        name, payload = orjson.loads(line)
        out += encode_frame({":event-type": name, ":content-type": "application/json",
                             ":message-type": "event"}, orjson.dumps(payload))
    return out


def relay(data: bytes, *, wants_usage: bool = True, piece: int = 0) -> list[dict[str, Any]]:
    body = {**chat(U), "stream": True, "stream_options": {"include_usage": wants_usage}}
    r = BEDROCK.stream_relay(request(body), BEDROCK.prepare(dep()))
    pieces = [data[i:i + piece] for i in range(0, len(data), piece)] if piece else [data]
    sse = b"".join(r.feed(p) for p in pieces) + r.flush()
    d = SSEDecoder()
    return [orjson.loads(e.data) for e in d.feed(sse) + d.flush()]


@pytest.mark.parametrize("fixture", ["stream_text.events.jsonl", "stream_tool.events.jsonl",
                                     "stream_reasoning.events.jsonl"])
def test_stream_pieces_give_the_same_chunks(fixture: str) -> None:
    data = frames(fixture)
    whole = relay(data)
    assert relay(data, piece=7) == whole
    assert relay(data, piece=1) == whole


def test_text_stream() -> None:
    chunks = relay(frames("stream_text.events.jsonl"))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["id"] == "chatcmpl-req_test1" and c["model"] == "claude" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "I'm doing well, thanks for asking!"
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None,
                                        "finish_reason": "stop"}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {
        "prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}
    assert relay(frames("stream_text.events.jsonl"), wants_usage=False)[-1]["choices"][0][
        "finish_reason"] == "stop"


def test_stream_usage_is_known_without_a_usage_chunk() -> None:
    r = BEDROCK.stream_relay(request({**chat(U), "stream": True}), BEDROCK.prepare(dep()))
    out = r.feed(frames("stream_text.events.jsonl")) + r.flush()
    assert b'"usage"' not in out
    assert r.usage is not None and r.usage.total_tokens == 21


def test_tool_stream() -> None:
    chunks = relay(frames("stream_tool.events.jsonl"))
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks
             if c["choices"] and "tool_calls" in c["choices"][0]["delta"]]
    assert calls[0] == {"index": 0, "id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "type": "function",
                        "function": {"name": "get_weather", "arguments": ""}}
    assert all(set(c) == {"index", "function"} for c in calls[1:])
    assert orjson.loads("".join(c["function"]["arguments"] for c in calls)) == {"city": "Paris"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["total_tokens"] == 452


def test_reasoning_stream_and_cached_usage() -> None:
    chunks = relay(frames("stream_reasoning.events.jsonl"))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "2+2 is 4."
    assert "".join(d.get("content") or "" for d in deltas) == "4"
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"] == {"prompt_tokens": 125, "completion_tokens": 30,
                                   "total_tokens": 155,
                                   "prompt_tokens_details": {"cached_tokens": 100}}


def exception(kind: str, payload: dict[str, Any]) -> bytes:
    return encode_frame({":exception-type": kind, ":content-type": "application/json",
                         ":message-type": "exception"}, orjson.dumps(payload))


@pytest.mark.parametrize(("kind", "message", "status", "code", "retryable"), [
    ("throttlingException", "Too many tokens, please wait before trying again.", 429,
     "rate_limit_exceeded", True),
    ("serviceUnavailableException", "Bedrock is unable to process your request.", 503, None,
     True),
    ("validationException", "Input is too long for requested model.", 400,
     "context_length_exceeded", False),
    ("modelStreamErrorException", "Model stream error", 502, "upstream_model_error", True),
    ("internalServerException", "Internal error", 502, None, True),
])
def test_exception_frames_raise(kind: str, message: str, status: int, code: str | None,
                                retryable: bool) -> None:
    r = BEDROCK.stream_relay(request({**chat(U), "stream": True}), BEDROCK.prepare(dep()))
    assert b'"content":"\'m"' in r.feed(frames("stream_text.events.jsonl", 3))  # text went out
    with pytest.raises(ProviderError) as e:
        r.feed(exception(kind, {"message": message}))
    assert e.value.status == status and e.value.code == code
    assert e.value.retryable is retryable and message in e.value.message


def test_error_message_frames_raise() -> None:
    frame = encode_frame({":message-type": "error", ":error-code": "InternalFailure",
                          ":error-message": "boom"}, b"")
    r = BEDROCK.stream_relay(request({**chat(U), "stream": True}), BEDROCK.prepare(dep()))
    with pytest.raises(ProviderError, match="boom") as e:
        r.feed(frame)
    assert e.value.status == 502


def test_truncated_and_corrupt_streams_are_502() -> None:
    data = frames("stream_text.events.jsonl")
    r = BEDROCK.stream_relay(request({**chat(U), "stream": True}), BEDROCK.prepare(dep()))
    r.feed(data[:-5])
    with pytest.raises(ProviderError, match="middle of a message") as e:
        r.flush()
    assert e.value.status == 502
    bad = bytearray(data)
    bad[20] ^= 0xFF
    r = BEDROCK.stream_relay(request({**chat(U), "stream": True}), BEDROCK.prepare(dep()))
    with pytest.raises(ProviderError, match="malformed event stream"):
        r.feed(bytes(bad))


def test_framer_reads_the_reference_frame() -> None:
    raw = bytes.fromhex((FIX / "message_start.frame.hex").read_text())
    framer = EventStreamFramer()
    events = framer.feed(raw[:50]) + framer.feed(raw[50:]) + framer.flush()
    assert [(e.event, e.data) for e in events] == [("messageStart", b'{"role":"assistant"}')]
    assert struct.unpack(">I", raw[-4:])[0] == binascii.crc32(raw[:-4])


def test_exception_before_any_content_produces_no_bytes_first() -> None:
    """messageStart alone sends nothing, so an exception right after it is still a clean error
    status for the client (and the router may try another deployment)."""
    start = encode_frame({":event-type": "messageStart", ":content-type": "application/json",
                          ":message-type": "event"}, b'{"role":"assistant","p":"abc"}')
    r = BEDROCK.stream_relay(request({**chat(U), "stream": True}), BEDROCK.prepare(dep()))
    assert r.feed(start) == b""
    with pytest.raises(ProviderError) as e:
        r.feed(exception("throttlingException", {"message": "slow down"}))
    assert e.value.status == 429


# -- errors ---------------------------------------------------------------------------------
ERRORS = orjson.loads((FIX / "errors.json").read_bytes())


@pytest.mark.parametrize(("name", "status", "etype", "code", "retryable"), [
    ("throttling", 429, "rate_limit_error", "rate_limit_exceeded", True),
    ("too_long", 400, "invalid_request_error", "context_length_exceeded", False),
    ("too_long_claude", 400, "invalid_request_error", "context_length_exceeded", False),
    ("too_long_invoke", 400, "invalid_request_error", "context_length_exceeded", False),
    ("tool_config", 400, "invalid_request_error", None, False),
    ("access_denied", 403, "permission_error", None, False),
    ("unrecognized_client", 403, "permission_error", None, False),
    ("missing_auth", 403, "permission_error", None, False),
    ("unavailable", 503, "api_error", None, True),
    ("model_error", 502, "api_error", "upstream_model_error", True),
    ("not_ready", 429, "rate_limit_error", "model_not_ready", True),
    ("model_timeout", 408, "timeout", None, True),
])
def test_http_errors(name: str, status: int, etype: str, code: str | None,
                     retryable: bool) -> None:
    spec = ERRORS[name]
    err = BEDROCK.parse_error(UpstreamResponse(spec["status"], spec["headers"],
                                               orjson.dumps(spec["body"])))
    assert (err.status, err.error_type, err.code, err.retryable) == \
        (status, etype, code, retryable)
    message = spec["body"].get("message") or spec["body"].get("Message")
    assert message in err.message


def test_error_code_from_header_wins_and_retry_after_is_kept() -> None:
    err = BEDROCK.parse_error(UpstreamResponse(
        429, {"x-amzn-errortype": "ThrottlingException:ns", "retry-after": "3"},
        b'{"code": "Other", "message": "slow"}'))
    assert err.message == "Bedrock ThrottlingException: slow" and err.retry_after == 3.0
    err = BEDROCK.parse_error(UpstreamResponse(500, {}, b"upstream exploded"))
    assert err.status == 502 and "upstream exploded" in err.message


# -- embeddings -----------------------------------------------------------------------------
def embed_request(body: dict[str, Any], model: str, **kw: Any) -> tuple[str, dict[str, Any]]:
    d = dep(**kw)
    up = BEDROCK.build_request(request(body, "embeddings"), BEDROCK.prepare(d), model)
    assert up.body is not None and not up.stream and isinstance(up.signer, AwsSigV4)
    assert up.headers["accept"] == "application/json"
    return up.url, orjson.loads(up.body)


def test_titan_embedding_requests() -> None:
    url, body = embed_request({"input": "hello world", "dimensions": 256},
                              "amazon.titan-embed-text-v2:0")
    assert url.endswith("/model/amazon.titan-embed-text-v2%3A0/invoke")
    assert body == {"inputText": "hello world", "dimensions": 256}
    _, body = embed_request({"input": ["one"], "normalize": False}, "amazon.titan-embed-text-v1")
    assert body == {"inputText": "one", "normalize": False}
    with pytest.raises(InvalidRequest, match="one text per request"):
        embed_request({"input": ["a", "b"]}, "amazon.titan-embed-text-v2:0")
    with pytest.raises(UnsupportedParam, match="dimensions"):
        embed_request({"input": "a", "dimensions": 8}, "amazon.titan-embed-text-v1")
    _, body = embed_request({"input": "a", "dimensions": 8}, "amazon.titan-embed-text-v1",
                            drop_params=True)
    assert body == {"inputText": "a"}


def test_cohere_embedding_requests() -> None:
    _, body = embed_request({"input": ["a b", "c"], "encoding_format": "base64", "user": "u"},
                            "cohere.embed-english-v3")
    assert body == {"texts": ["a b", "c"], "input_type": "search_document"}
    _, body = embed_request({"input": "q", "input_type": "search_query", "dimensions": 512},
                            "us.cohere.embed-v4:0")
    assert body == {"texts": ["q"], "input_type": "search_query", "output_dimension": 512}
    with pytest.raises(UnsupportedParam):
        embed_request({"input": "q", "dimensions": 512}, "cohere.embed-multilingual-v3")


def test_embedding_inputs_and_models_refused() -> None:
    with pytest.raises(InvalidRequest, match="token-id"):
        embed_request({"input": [[1, 2, 3]]}, "cohere.embed-english-v3")
    with pytest.raises(InvalidRequest, match="empty"):
        embed_request({"input": []}, "cohere.embed-english-v3")
    with pytest.raises(NotImplementedByPllm):
        embed_request({"input": "x"}, "amazon.titan-embed-image-v1")


def parse_embed(fixture: str, body: dict[str, Any],
                headers: dict[str, str] | None = None) -> dict[str, Any]:
    resp = UpstreamResponse(200, headers or {}, (FIX / fixture).read_bytes())
    data: dict[str, Any] = BEDROCK.parse_response(request(body, "embeddings"), resp).data()
    return data


def test_embedding_answers() -> None:
    titan = parse_embed("embed_titan_v2.json", {"input": "hello there you"})
    assert titan == {"object": "list", "model": "claude", "data": [
        {"object": "embedding", "index": 0, "embedding": [0.0625, -0.25, 0.5, 0.125]}],
        "usage": {"prompt_tokens": 3, "total_tokens": 3}}
    cohere = parse_embed("embed_cohere_floats.json", {"input": ["hello world", "second text"]},
                         {"x-amzn-bedrock-input-token-count": "4"})
    assert [d["embedding"] for d in cohere["data"]] == [[0.5, -0.5, 0.25], [0.125, 0.75, -1.0]]
    assert [d["index"] for d in cohere["data"]] == [0, 1]
    assert cohere["usage"] == {"prompt_tokens": 4, "total_tokens": 4}
    by_type = parse_embed("embed_cohere_by_type.json", {"input": "hello world"})
    assert by_type["data"][0]["embedding"] == [0.5, -0.5, 0.25]
    assert by_type["usage"] == {"prompt_tokens": 0, "total_tokens": 0}


def test_base64_embeddings_are_float32_little_endian() -> None:
    data = parse_embed("embed_titan_v2.json", {"input": "x", "encoding_format": "base64"})
    raw = base64.b64decode(data["data"][0]["embedding"])
    assert struct.unpack("<4f", raw) == (0.0625, -0.25, 0.5, 0.125)
