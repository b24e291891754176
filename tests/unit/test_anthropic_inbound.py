"""Anthropic Messages requests in, OpenAI requests out; OpenAI answers back as Anthropic's."""

from __future__ import annotations

import orjson
import pytest

from pllm.errors import InvalidRequest, ProviderError
from pllm.inbound.anthropic import (
    anthropic_error_body,
    anthropic_message,
    estimate_input_tokens,
    openai_request,
)
from pllm.inbound.anthropic_stream import AnthropicEventEncoder
from pllm.sse import SSEDecoder


def test_request_translation() -> None:
    body = {
        "model": "m", "max_tokens": 100, "stream": True, "top_k": 5,
        "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "t", "description": "d", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "metadata": {"user_id": "u1"}, "thinking": {"type": "enabled", "budget_tokens": 3000},
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                             "data": "AAAA"}}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hm", "signature": "s"},
                {"type": "tool_use", "id": "toolu_1", "name": "t", "input": {"a": 1}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
                 "content": [{"type": "text", "text": "boom"}]},
                {"type": "text", "text": "and now?"}]},
        ],
    }
    out = openai_request(body)
    assert out["messages"][0] == {"role": "system", "content": [
        {"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}]}
    assert out["messages"][1]["content"][1] == {
        "type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    assert out["messages"][2] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "toolu_1", "type": "function", "function": {"name": "t", "arguments": '{"a":1}'}}]}
    assert out["messages"][3:] == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "ok"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: boom"},
        {"role": "user", "content": [{"type": "text", "text": "and now?"}]}]
    assert out["tool_choice"] == "required" and out["parallel_tool_calls"] is False
    assert out["tools"][0]["function"] == {"name": "t", "parameters": {"type": "object"},
                                           "description": "d"}
    assert out["user"] == "u1" and out["top_k"] == 5 and out["reasoning_effort"] == "medium"
    assert out["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("missing", ["model", "max_tokens", "messages"])
def test_required_fields(missing: str) -> None:
    body = {"model": "m", "max_tokens": 1, "messages": []}
    del body[missing]
    with pytest.raises(InvalidRequest, match=f"{missing}: Field required"):
        openai_request(body)


def test_response_translation() -> None:
    completion = {"id": "chatcmpl-1", "choices": [{"index": 0, "finish_reason": "tool_calls",
                   "message": {"role": "assistant", "content": "let me check",
                               "reasoning_content": "thinking...",
                               "tool_calls": [{"id": "call_1", "type": "function", "function": {
                                   "name": "t", "arguments": '{"q": "x"}'}}]}}],
                  "usage": {"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57,
                            "prompt_tokens_details": {"cached_tokens": 20}}}
    msg = anthropic_message(completion, "alias")
    assert msg["model"] == "alias" and msg["stop_reason"] == "tool_use"
    assert [b["type"] for b in msg["content"]] == ["thinking", "text", "tool_use"]
    assert msg["content"][2]["input"] == {"q": "x"}
    assert msg["usage"] == {"input_tokens": 30, "output_tokens": 7,
                            "cache_read_input_tokens": 20, "cache_creation_input_tokens": 0}


def test_stream_encoder_sequence() -> None:
    enc = AnthropicEventEncoder("alias")
    base = {"id": "c1", "object": "chat.completion.chunk"}
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {**base, "choices": [{"index": 0, "delta": {"content": "Hi"}}]},
        {**base, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_1", "type": "function",
             "function": {"name": "t", "arguments": ""}}]}}]},
        {**base, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": '{"q":1}'}}]}}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {**base, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}},
    ]
    raw = b"".join(enc.feed(c) for c in chunks) + enc.finish()
    events = SSEDecoder().feed(raw)
    names = [e.event for e in events]
    assert names == ["message_start", "ping", "content_block_start", "content_block_delta",
                     "content_block_stop", "content_block_start", "content_block_delta",
                     "content_block_stop", "message_delta", "message_stop"]
    data = [orjson.loads(e.data) for e in events]
    assert data[5]["content_block"] == {"type": "tool_use", "id": "call_1", "name": "t",
                                        "input": {}}
    assert data[6]["delta"] == {"type": "input_json_delta", "partial_json": '{"q":1}'}
    assert data[8]["delta"]["stop_reason"] == "tool_use"
    assert data[8]["usage"]["input_tokens"] == 9 and data[8]["usage"]["output_tokens"] == 4


def test_error_body_and_estimate() -> None:
    err = ProviderError("slow down", upstream_status=429, provider="openai")
    assert anthropic_error_body(err) == {"type": "error", "error": {
        "type": "rate_limit_error", "message": "slow down"}}
    assert estimate_input_tokens({"messages": [{"role": "user", "content": "a " * 40}]}) == 40
