"""The official `openai` SDK through a real pllm server to a mock Anthropic Messages API: text,
streams with usage, tool round trips, images, thinking, prompt caching, and Anthropic's errors
surfacing as the exceptions OpenAI's own errors raise."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from mockups.anthropic_mock import AnthropicFault, AnthropicMock
from server import PllmServer, serving

pytestmark = pytest.mark.e2e

KEY = "sk-ant-api03-e2e-upstream-0123456789abcdef"
WRONG_KEY = "sk-ant-api03-e2e-revoked-0123456789abcdef"
MASTER = "sk-gateway-master-anthropic-0123456789"
CONFIG = """
model_list:
  - model_name: claude
    litellm_params:
      model: anthropic/claude-haiku-4-5
      api_base: {url}
      api_key: os.environ/TEST_ANTHROPIC_KEY
  - model_name: claude-adaptive
    litellm_params:
      model: anthropic/claude-sonnet-4-6
      api_base: {url}
      api_key: os.environ/TEST_ANTHROPIC_KEY
  - model_name: claude-lenient
    litellm_params:
      model: anthropic/claude-haiku-4-5
      api_base: {url}
      api_key: os.environ/TEST_ANTHROPIC_KEY
      drop_params: true
  - model_name: claude-revoked
    litellm_params:
      model: anthropic/claude-haiku-4-5
      api_base: {url}
      api_key: os.environ/TEST_WRONG_KEY
# One attempt per request: these tests check how each upstream answer is translated
# (retries and failover have their own tests).
router:
  retries: 0
general_settings:
  master_key: os.environ/TEST_MASTER_KEY
"""
WEATHER: Any = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                   "required": ["location"]}}}
PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
       "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with AnthropicMock(api_key=KEY) as m:
        yield m


@pytest.fixture(scope="module")
def gateway(mock: AnthropicMock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PllmServer]:
    server = PllmServer(tmp_path_factory.mktemp("gw"), CONFIG.format(url=mock.url), env={
        "TEST_ANTHROPIC_KEY": KEY, "TEST_WRONG_KEY": WRONG_KEY, "TEST_MASTER_KEY": MASTER})
    with serving(server, (KEY, WRONG_KEY, MASTER)):
        yield server


@pytest.fixture
def client(gateway: PllmServer, mock: AnthropicMock) -> Iterator[openai.OpenAI]:
    mock.clear()
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0) as c:
        yield c


def sent(mock: AnthropicMock, index: int = -1) -> dict[str, Any]:
    assert mock.requests, "the upstream received nothing"
    body: dict[str, Any] = mock.requests[index].json
    return body


def test_text_reaches_messages_api_with_key_and_version(client: openai.OpenAI,
                                                        mock: AnthropicMock) -> None:
    resp = client.chat.completions.create(model="claude", messages=[
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "hello claude"}], stop=["zzz"], user="u-1")
    assert resp.choices[0].message.content == "echo: hello claude"
    assert resp.choices[0].finish_reason == "stop" and resp.model == "claude"
    assert resp.id.startswith("msg_") and resp.object == "chat.completion"
    assert resp.usage is not None and resp.usage.completion_tokens == 3
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + 3
    seen = mock.requests[-1]
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == KEY and "authorization" not in seen.headers
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.json == {"model": "claude-haiku-4-5", "max_tokens": 64000,
                         "system": "You are terse.",
                         "messages": [{"role": "user", "content": "hello claude"}],
                         "stop_sequences": ["zzz"], "metadata": {"user_id": "u-1"}}


def test_stream_with_usage(client: openai.OpenAI, mock: AnthropicMock) -> None:
    chunks = list(client.chat.completions.create(
        model="claude", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "one two three four"}]))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three four"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 5
    assert len({c.id for c in chunks}) == 1
    assert sent(mock)["stream"] is True
    plain = list(client.chat.completions.create(
        model="claude", stream=True, messages=[{"role": "user", "content": "x"}]))
    assert all(c.choices for c in plain), "a usage chunk nobody asked for"


def _call(client: openai.OpenAI, stream: bool, messages: list[Any]) -> tuple[str, list[Any], str]:
    """(text, tool calls as dicts, finish_reason), streamed or not."""
    if not stream:
        r = client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER])
        calls = [c.model_dump() for c in r.choices[0].message.tool_calls or []]
        return r.choices[0].message.content or "", calls, r.choices[0].finish_reason
    text, calls, finish = "", {}, ""
    for chunk in client.chat.completions.create(model="claude", messages=messages,
                                                tools=[WEATHER], stream=True):
        delta = chunk.choices[0].delta
        text += delta.content or ""
        for tc in delta.tool_calls or []:
            call = calls.setdefault(tc.index, {"id": "", "type": "function",
                                               "function": {"name": "", "arguments": ""}})
            call["id"] += tc.id or ""
            call["function"]["name"] += (tc.function and tc.function.name) or ""
            call["function"]["arguments"] += (tc.function and tc.function.arguments) or ""
        finish = chunk.choices[0].finish_reason or finish
    return text, [calls[i] for i in sorted(calls)], finish


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_round_trip(client: openai.OpenAI, mock: AnthropicMock, stream: bool) -> None:
    messages: list[Any] = [{"role": "user", "content": "Paris"}]
    text, calls, finish = _call(client, stream, messages)
    assert finish == "tool_calls" and text == "Let me use get_weather."
    assert len(calls) == 1 and calls[0]["function"]["name"] == "get_weather"
    assert json.loads(calls[0]["function"]["arguments"]) == {"location": "Paris"}
    assert calls[0]["id"].startswith("toolu_")
    assert sent(mock)["tools"] == [{"name": "get_weather",
                                    "description": "Current weather in a city",
                                    "input_schema": WEATHER["function"]["parameters"]}]
    call_id = calls[0]["id"]
    messages += [{"role": "assistant", "content": text, "tool_calls": calls},
                 {"role": "tool", "tool_call_id": call_id, "content": "18C and sunny"}]
    text, calls, finish = _call(client, stream, messages)
    assert (text, calls, finish) == ("tool said: 18C and sunny", [], "stop")
    history = sent(mock)["messages"]
    assert history[1:] == [
        {"role": "assistant", "content": [
            {"type": "text", "text": "Let me use get_weather."},
            {"type": "tool_use", "id": call_id, "name": "get_weather",
             "input": {"location": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id,
                                      "content": "18C and sunny"}]}]


def test_parallel_tool_calls(client: openai.OpenAI, mock: AnthropicMock) -> None:
    other = {"type": "function", "function": {"name": "get_time", "parameters": {
        "type": "object", "properties": {"zone": {"type": "string"}}}}}
    r = client.chat.completions.create(model="claude", tools=[WEATHER, other],  # type: ignore[list-item]
                                       messages=[{"role": "user", "content": "use all tools"}])
    names = [c.function.name for c in r.choices[0].message.tool_calls or []]  # type: ignore[union-attr]
    assert names == ["get_weather", "get_time"]
    r = client.chat.completions.create(model="claude", tools=[WEATHER, other],  # type: ignore[list-item]
                                       parallel_tool_calls=False, tool_choice="required",
                                       messages=[{"role": "user", "content": "use all tools"}])
    assert len(r.choices[0].message.tool_calls or []) == 1
    assert sent(mock)["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


def test_images_data_url_and_http_url(client: openai.OpenAI, mock: AnthropicMock) -> None:
    r = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": PNG}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]}])
    b64 = PNG.split(",", 1)[1]
    assert r.choices[0].message.content == (
        f"echo: what is this? [image image/png, {len(b64)} base64 chars]"
        " [image https://example.com/cat.jpg]")
    blocks = sent(mock)["messages"][0]["content"]
    assert blocks[1]["source"] == {"type": "base64", "media_type": "image/png", "data": b64}
    assert blocks[2]["source"] == {"type": "url", "url": "https://example.com/cat.jpg"}


def test_rate_limit_keeps_retry_after(client: openai.OpenAI, mock: AnthropicMock) -> None:
    mock.enqueue(AnthropicFault.rate_limit(retry_after=7))
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}])
    assert e.value.response.headers["retry-after"] == "7"
    assert e.value.code == "rate_limit_exceeded"
    assert "rate limit for your organization" in e.value.message
    mock.enqueue(AnthropicFault.rate_limit(retry_after=3))
    with pytest.raises(openai.RateLimitError):  # before the first chunk: a plain error answer
        list(client.chat.completions.create(model="claude", stream=True,
                                            messages=[{"role": "user", "content": "x"}]))


def test_context_length_and_overload(client: openai.OpenAI, mock: AnthropicMock) -> None:
    mock.enqueue(AnthropicFault.context_length())
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}])
    assert bad.value.code == "context_length_exceeded"
    assert "prompt is too long" in bad.value.message
    mock.enqueue(AnthropicFault.overloaded())
    with pytest.raises(openai.InternalServerError) as over:
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}])
    assert over.value.status_code == 503


def test_upstream_auth_failure(client: openai.OpenAI) -> None:
    with pytest.raises(openai.AuthenticationError) as e:
        client.chat.completions.create(model="claude-revoked",
                                       messages=[{"role": "user", "content": "x"}])
    assert e.value.code == "invalid_api_key"
    assert WRONG_KEY not in e.value.message


def test_reasoning_effort_gives_reasoning_content(client: openai.OpenAI,
                                                  mock: AnthropicMock) -> None:
    r = client.chat.completions.create(model="claude", reasoning_effort="low",
                                       messages=[{"role": "user", "content": "why"}])
    message = r.choices[0].message
    assert message.content == "echo: why"
    assert getattr(message, "reasoning_content", None) == "Thinking about: why"
    assert sent(mock)["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    chunks = list(client.chat.completions.create(
        model="claude", reasoning_effort="high", max_tokens=100, stream=True,
        messages=[{"role": "user", "content": "why not"}]))
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or ""
                        for c in chunks if c.choices)
    assert reasoning == "Thinking about: why not"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "echo: why not"
    body = sent(mock)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert body["max_tokens"] == 4196
    client.chat.completions.create(model="claude-adaptive", reasoning_effort="medium",
                                   messages=[{"role": "user", "content": "why"}])
    body = sent(mock)
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": "medium"}


def test_prompt_caching_passthrough_and_cached_tokens(client: openai.OpenAI,
                                                      mock: AnthropicMock) -> None:
    system: Any = {"role": "system", "content": [
        {"type": "text", "text": "shared reference text " * 30,
         "cache_control": {"type": "ephemeral"}}]}
    first = client.chat.completions.create(model="claude", messages=[
        system, {"role": "user", "content": "q one"}])
    assert sent(mock)["system"] == [{"type": "text", "text": "shared reference text " * 30,
                                     "cache_control": {"type": "ephemeral"}}]
    assert first.usage is not None and first.usage.prompt_tokens_details is None
    second = client.chat.completions.create(model="claude", messages=[
        system, {"role": "user", "content": "q two"}])
    assert second.usage is not None and second.usage.prompt_tokens_details is not None
    assert second.usage.prompt_tokens_details.cached_tokens == 90
    assert second.usage.prompt_tokens == first.usage.prompt_tokens  # the cache counts as input
    chunks = list(client.chat.completions.create(
        model="claude", stream=True, stream_options={"include_usage": True},
        messages=[system, {"role": "user", "content": "q three"}]))
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 90


def test_json_schema_and_unsupported_parameters(client: openai.OpenAI,
                                                mock: AnthropicMock) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}},
              "required": ["city"], "additionalProperties": False}
    r = client.chat.completions.create(model="claude", messages=[
        {"role": "user", "content": "Oslo"}], response_format={
        "type": "json_schema", "json_schema": {"name": "place", "schema": schema}})
    assert json.loads(r.choices[0].message.content or "") == {"city": "Oslo"}
    assert sent(mock)["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    for extra in ({"n": 2}, {"seed": 1}, {"response_format": {"type": "json_object"}}):
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model="claude", messages=[
                {"role": "user", "content": "x"}], **extra)  # type: ignore[call-overload]
        assert e.value.param == next(iter(extra)) and "anthropic" in e.value.message
    mock.clear()
    r = client.chat.completions.create(model="claude-lenient", n=2, seed=1, temperature=1.8,
                                       messages=[{"role": "user", "content": "x"}])
    assert r.choices[0].message.content == "echo: x"
    body = sent(mock)
    assert "n" not in body and "seed" not in body and body["temperature"] == 1


def test_error_in_the_middle_of_a_stream(client: openai.OpenAI, mock: AnthropicMock) -> None:
    # Paced, so pllm has sent the first chunks before the error arrives.
    mock.enqueue(AnthropicFault.stream_overloaded(after=4, chunk_delay_s=0.05))
    received: list[Any] = []
    with pytest.raises(openai.APIError) as e:
        for chunk in client.chat.completions.create(
                model="claude", stream=True,
                messages=[{"role": "user", "content": "one two three four five six"}]):
            received.append(chunk)
    assert received and received[0].choices[0].delta.role == "assistant"
    assert "Overloaded" in e.value.message
