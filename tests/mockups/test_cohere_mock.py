"""Proves the Cohere mock speaks Cohere's v2 wire format: the official `cohere` SDK
(`ClientV2(base_url=mock.url)`) parses its chat answers, its streams event by event, tool calls
and embeddings, and its faults surface as the SDK's own exception classes."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import cohere
import pytest
from cohere.errors import (
    BadRequestError,
    InvalidTokenError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
)

from .cohere_mock import TEMPLATE_TOKENS, CohereMock, Fault

KEY = "co-mock-key-0123456789"
MODEL = "command-a-03-2025"
WEATHER: Any = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


@pytest.fixture(scope="module")
def mock() -> Iterator[CohereMock]:
    with CohereMock(api_key=KEY) as m:
        yield m


@pytest.fixture
def co(mock: CohereMock) -> Iterator[cohere.ClientV2]:
    mock.clear()
    with cohere.ClientV2(api_key=KEY, base_url=mock.url, max_retries=0) as client:
        yield client


def test_chat_echo_with_usage(co: cohere.ClientV2, mock: CohereMock) -> None:
    resp = co.chat(model=MODEL, messages=[{"role": "system", "content": "Be brief."},
                                          {"role": "user", "content": "hello there"}],
                   temperature=0.2, p=0.9)
    assert resp.finish_reason == "COMPLETE"
    assert resp.message.content is not None
    assert resp.message.content[0].type == "text"
    assert resp.message.content[0].text == "echo: hello there"
    assert resp.usage is not None and resp.usage.tokens is not None
    assert resp.usage.billed_units is not None
    assert resp.usage.billed_units.input_tokens == 4 and resp.usage.billed_units.output_tokens == 3
    assert resp.usage.tokens.input_tokens == 4 + TEMPLATE_TOKENS
    seen = mock.requests[-1]
    assert (seen.method, seen.path) == ("POST", "/v2/chat")
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.json["p"] == 0.9 and seen.json["stream"] is False


def test_chat_stream_events(co: cohere.ClientV2, mock: CohereMock) -> None:
    events = list(co.chat_stream(model=MODEL, messages=[{"role": "user", "content": "a b c"}]))
    types = [e.type for e in events]
    assert types[0] == "message-start" and types[1] == "content-start"
    assert types[-2:] == ["content-end", "message-end"]
    text = "".join(e.delta.message.content.text for e in events  # type: ignore[union-attr]
                   if e.type == "content-delta")
    assert text == "echo: a b c"
    end = events[-1]
    assert end.type == "message-end" and end.delta is not None
    assert end.delta.finish_reason == "COMPLETE"
    assert end.delta.usage is not None and end.delta.usage.billed_units is not None
    assert end.delta.usage.billed_units.output_tokens == 4
    assert mock.requests[-1].json["stream"] is True


def test_raw_stream_has_event_lines_and_done(mock: CohereMock) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", int(mock.url.rsplit(":", 1)[1]), timeout=5)
    try:
        conn.request("POST", "/v2/chat", body=json.dumps({
            "model": MODEL, "stream": True, "messages": [{"role": "user", "content": "x"}]}),
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read().decode()
    finally:
        conn.close()
    assert resp.getheader("Content-Type", "").startswith("text/event-stream")
    assert raw.startswith("event: message-start\ndata: {")
    assert raw.endswith("data: [DONE]\n\n")


def test_tool_call_round_trip(co: cohere.ClientV2) -> None:
    first = co.chat(model=MODEL, tools=[WEATHER],
                    messages=[{"role": "user", "content": "Paris"}])
    assert first.finish_reason == "TOOL_CALL"
    assert first.message.tool_plan == "I will use get_weather."
    calls = first.message.tool_calls or []
    assert len(calls) == 1 and calls[0].function is not None
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments or "") == {"city": "Paris"}
    second = co.chat(model=MODEL, tools=[WEATHER], messages=[
        {"role": "user", "content": "Paris"},
        {"role": "assistant", "tool_plan": first.message.tool_plan,
         "tool_calls": [c.dict() for c in calls]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": '{"temp": 21}'}])
    assert second.finish_reason == "COMPLETE"
    assert second.message.content is not None
    assert second.message.content[0].text == 'tool said: {"temp": 21}'  # type: ignore[union-attr]


def test_tool_call_stream(co: cohere.ClientV2) -> None:
    events = list(co.chat_stream(model=MODEL, tools=[WEATHER], tool_choice="REQUIRED",
                                 messages=[{"role": "user", "content": "Rome"}]))
    starts = [e for e in events if e.type == "tool-call-start"]
    assert len(starts) == 1
    call = starts[0].delta.message.tool_calls  # type: ignore[union-attr]
    assert call is not None and call.function is not None and call.function.name == "get_weather"
    args = "".join(e.delta.message.tool_calls.function.arguments  # type: ignore[union-attr]
                   for e in events if e.type == "tool-call-delta")
    assert json.loads(args) == {"city": "Rome"}
    assert events[-1].delta.finish_reason == "TOOL_CALL"  # type: ignore[union-attr]


def test_image_and_embed(co: cohere.ClientV2, mock: CohereMock) -> None:
    resp = co.chat(model=MODEL, messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is it"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}])
    assert resp.message.content is not None
    assert resp.message.content[0].text == "echo: what is it [1 image(s)]"  # type: ignore[union-attr]
    emb = co.embed(model="embed-v4.0", texts=["one two", "three"], input_type="search_query",
                   embedding_types=["float"], output_dimension=256)
    assert emb.embeddings.float_ is not None and len(emb.embeddings.float_) == 2
    assert len(emb.embeddings.float_[0]) == 256
    assert emb.meta is not None and emb.meta.billed_units is not None
    assert emb.meta.billed_units.input_tokens == 3
    assert mock.requests[-1].path == "/v2/embed"


def test_faults_raise_the_sdk_errors(co: cohere.ClientV2, mock: CohereMock) -> None:
    hello: Any = [{"role": "user", "content": "hi"}]
    mock.enqueue(Fault.rate_limit(retry_after=3))
    with pytest.raises(TooManyRequestsError) as rl:
        co.chat(model=MODEL, messages=hello)
    assert rl.value.body["message"].startswith("You are past the per minute request limit")
    assert (rl.value.headers or {})["retry-after"] == "3"
    mock.enqueue(Fault.too_many_tokens())
    with pytest.raises(BadRequestError) as bad:
        co.chat(model=MODEL, messages=hello)
    assert bad.value.body["message"].startswith("too many tokens")
    mock.enqueue(Fault.invalid_token())
    with pytest.raises(InvalidTokenError):
        co.chat(model=MODEL, messages=hello)
    mock.enqueue(Fault.unavailable())
    with pytest.raises(ServiceUnavailableError):
        co.embed(model="embed-v4.0", texts=["x"], input_type="search_document")
    mock.enqueue(Fault.error_in_stream("boom"))
    events = list(co.chat_stream(model=MODEL, messages=hello))
    end = events[-1]
    assert end.type == "message-end" and end.delta is not None
    assert (end.delta.finish_reason, end.delta.error) == ("ERROR", "boom")


def test_wrong_key_and_malformed_requests(mock: CohereMock) -> None:
    with cohere.ClientV2(api_key="wrong", base_url=mock.url, max_retries=0) as bad, \
            pytest.raises(UnauthorizedError) as e:
        bad.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert e.value.body == {"message": "invalid api token"}
    with cohere.ClientV2(api_key=KEY, base_url=mock.url, max_retries=0) as co:
        with pytest.raises(BadRequestError):  # Cohere spells it "REQUIRED"
            co.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                    tools=[WEATHER], tool_choice="required")
        with pytest.raises(BadRequestError):
            co.embed(model="embed-v4.0", texts=["x"], input_type="bogus")
