"""The official anthropic SDK against AnthropicMock: proves the mock speaks Anthropic's wire format
(plain, streamed both ways, tools, thinking, caching, and the error classes the SDK raises)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import anthropic
import orjson
import pytest

from .anthropic_mock import AnthropicFault, AnthropicMock

KEY = "sk-ant-api03-mock-sdk-0123456789"
MODEL = "claude-haiku-4-5"
WEATHER = {"name": "get_weather", "description": "Weather in a city",
           "input_schema": {"type": "object", "properties": {"location": {"type": "string"}},
                            "required": ["location"]}}


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with AnthropicMock(api_key=KEY) as m:
        yield m


@pytest.fixture
def client(mock: AnthropicMock) -> Iterator[anthropic.Anthropic]:
    mock.clear()
    with anthropic.Anthropic(base_url=mock.url, api_key=KEY, max_retries=0) as c:
        yield c


def say(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def test_create_echoes_and_reports_usage(client: anthropic.Anthropic, mock: AnthropicMock) -> None:
    msg = client.messages.create(model=MODEL, max_tokens=100, messages=say("hello there"),
                                 system="be brief")
    assert msg.content[0].type == "text" and msg.content[0].text == "echo: hello there"
    assert msg.stop_reason == "end_turn" and msg.model == MODEL and msg.id.startswith("msg_")
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens == 3
    seen = mock.requests[-1]
    assert seen.path == "/v1/messages" and seen.json["system"] == "be brief"
    assert seen.headers["anthropic-version"]  # the SDK's own version (2.x: 2026-10-21)


def test_x_api_key_is_accepted_and_wins_over_bearer(mock: AnthropicMock) -> None:
    with anthropic.Anthropic(base_url=mock.url, api_key="wrong-key", max_retries=0,
                             default_headers={"x-api-key": KEY}) as c:
        msg = c.messages.create(model=MODEL, max_tokens=10, messages=say("hi"))
    assert msg.content[0].text == "echo: hi"  # type: ignore[union-attr]
    assert mock.requests[-1].headers["x-api-key"] == KEY


def test_wrong_key_is_401(mock: AnthropicMock) -> None:
    with anthropic.Anthropic(base_url=mock.url, api_key="nope", max_retries=0) as c, \
            pytest.raises(anthropic.AuthenticationError) as e:
        c.messages.create(model=MODEL, max_tokens=10, messages=say("hi"))
    assert e.value.body["error"]["message"] == "invalid x-api-key"  # type: ignore[index]


def test_missing_version_max_tokens_and_system_role_are_400(mock: AnthropicMock,
                                                           client: anthropic.Anthropic) -> None:
    req = urllib.request.Request(mock.url + "/v1/messages", data=b"{}", method="POST",
                                 headers={"x-api-key": KEY, "content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    with e.value:
        assert e.value.code == 400
        assert b"anthropic-version: header is required" in e.value.read()
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.post("/v1/messages", cast_to=object,
                    body={"model": MODEL, "messages": say("hi")})
    assert bad.value.body["error"]["message"] == "max_tokens: Field required"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model=MODEL, max_tokens=10, messages=[
            {"role": "system", "content": "x"}, *say("hi")])
    assert 'Unexpected role "system"' in bad.value.message


def test_stream_helper_and_raw_events(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=MODEL, max_tokens=100,
                                messages=say("one two three four five")) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "echo: one two three four five"
    assert final.usage.output_tokens == 6 and final.stop_reason == "end_turn"
    events = list(client.messages.create(model=MODEL, max_tokens=100, messages=say("hi"),
                                         stream=True))
    assert [e.type for e in events] == ["message_start", "content_block_start",
                                        "content_block_delta", "content_block_stop",
                                        "message_delta", "message_stop"]


def test_sse_wire_has_event_lines_and_a_ping(mock: AnthropicMock) -> None:
    body = orjson.dumps({"model": MODEL, "max_tokens": 50, "stream": True,
                         "messages": say("a b c")})
    req = urllib.request.Request(mock.url + "/v1/messages", data=body, method="POST", headers={
        "x-api-key": KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        raw = resp.read().decode()
        assert resp.headers["content-type"].startswith("text/event-stream")
    blocks = [b for b in raw.split("\n\n") if b]
    names = [b.split("\n")[0].removeprefix("event: ") for b in blocks]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    for b in blocks:  # each event's name is the type inside its data
        name, data = b.split("\n")
        assert orjson.loads(data.removeprefix("data: "))["type"] == name.removeprefix("event: ")


def test_tool_call_then_tool_result(client: anthropic.Anthropic) -> None:
    first = client.messages.create(model=MODEL, max_tokens=100, tools=[WEATHER],  # type: ignore[list-item]
                                   messages=say("Paris"))
    assert first.stop_reason == "tool_use"
    text, call = first.content
    assert text.type == "text" and call.type == "tool_use"
    assert call.name == "get_weather" and call.input == {"location": "Paris"}
    second = client.messages.create(model=MODEL, max_tokens=100, tools=[WEATHER],  # type: ignore[list-item]
                                    messages=[*say("Paris"),
                                              {"role": "assistant", "content": first.content},
                                              {"role": "user", "content": [{
                                                  "type": "tool_result", "tool_use_id": call.id,
                                                  "content": "18C and sunny"}]}])
    assert second.content[0].text == "tool said: 18C and sunny"  # type: ignore[union-attr]
    with pytest.raises(anthropic.BadRequestError, match="unexpected `tool_use_id`"):
        client.messages.create(model=MODEL, max_tokens=100, messages=[
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x",
                                          "content": "?"}]}])


def test_streamed_tool_call_arguments_assemble(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=MODEL, max_tokens=100, tools=[WEATHER],  # type: ignore[list-item]
                                tool_choice={"type": "any"}, messages=say("Buenos Aires")) as s:
        final = s.get_final_message()
    assert [b.type for b in final.content] == ["tool_use"]  # forced: no text first
    assert final.content[0].input == {"location": "Buenos Aires"}  # type: ignore[union-attr]


def test_thinking_block_and_budget_check(client: anthropic.Anthropic) -> None:
    msg = client.messages.create(model=MODEL, max_tokens=2048, messages=say("why"),
                                 thinking={"type": "enabled", "budget_tokens": 1024})
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.content[0].thinking == "Thinking about: why"  # type: ignore[union-attr]
    with pytest.raises(anthropic.BadRequestError, match="must be greater than"):
        client.messages.create(model=MODEL, max_tokens=1024, messages=say("why"),
                               thinking={"type": "enabled", "budget_tokens": 1024})


def test_cache_write_then_read(client: anthropic.Anthropic) -> None:
    system = [{"type": "text", "text": "long shared context " * 20,
               "cache_control": {"type": "ephemeral"}}]
    first = client.messages.create(model=MODEL, max_tokens=10, system=system,  # type: ignore[arg-type]
                                   messages=say("q1"))
    second = client.messages.create(model=MODEL, max_tokens=10, system=system,  # type: ignore[arg-type]
                                    messages=say("q2"))
    assert first.usage.cache_creation_input_tokens == 60
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == 60
    assert second.usage.input_tokens == first.usage.input_tokens


def test_error_classes(client: anthropic.Anthropic, mock: AnthropicMock) -> None:
    mock.enqueue(AnthropicFault.rate_limit(retry_after=7))
    with pytest.raises(anthropic.RateLimitError) as rl:
        client.messages.create(model=MODEL, max_tokens=10, messages=say("hi"))
    assert rl.value.response.headers["retry-after"] == "7"
    mock.enqueue(AnthropicFault.overloaded())
    with pytest.raises(anthropic.InternalServerError) as over:
        client.messages.create(model=MODEL, max_tokens=10, messages=say("hi"))
    assert over.value.status_code == 529
    mock.enqueue(AnthropicFault.context_length())
    with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
        client.messages.create(model=MODEL, max_tokens=10, messages=say("hi"))
    mock.enqueue(AnthropicFault.spend_limit())
    with pytest.raises(anthropic.RateLimitError) as spend:
        client.messages.create(model=MODEL, max_tokens=10, messages=say("hi"))
    assert "retry-after" not in spend.value.response.headers


def test_error_event_mid_stream(client: anthropic.Anthropic, mock: AnthropicMock) -> None:
    mock.enqueue(AnthropicFault.stream_overloaded(after=4))
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as e:
        for event in client.messages.create(model=MODEL, max_tokens=50, stream=True,
                                            messages=say("one two three four five six")):
            seen.append(event.type)
    assert seen == ["message_start", "content_block_start", "content_block_delta"]  # ping hidden
    assert e.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_new_api_version_rejects_sampling_fields(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="temperature: Extra inputs"):
        client.messages.create(model=MODEL, max_tokens=10, messages=say("hi"),
                               extra_body={"temperature": 0.5})
