"""The official `anthropic` SDK against pllm's `/v1/messages`, answered by an OpenAI model."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import pytest
from mockups import Fault, MockUpstream
from server import PllmServer

pytestmark = pytest.mark.e2e

UPSTREAM_KEY = "sk-upstream-for-messages-0123456789"
MASTER = "sk-master-messages-0123456789"
CONFIG = """
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {url}/v1
      api_key: {key}
general_settings:
  master_key: {master}
"""
TOOLS = [{"name": "get_weather", "description": "Weather in a city",
          "input_schema": {"type": "object", "properties": {"location": {"type": "string"}},
                           "required": ["location"]}}]


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockUpstream]:
    with MockUpstream("openai", api_key=UPSTREAM_KEY) as up:
        yield up


@pytest.fixture(scope="module")
def gateway(upstream: MockUpstream,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[PllmServer]:
    server = PllmServer(tmp_path_factory.mktemp("gw"),
                        CONFIG.format(url=upstream.url, key=UPSTREAM_KEY, master=MASTER))
    with server:
        yield server
    assert UPSTREAM_KEY not in server.logs() and MASTER not in server.logs()


@pytest.fixture
def client(gateway: PllmServer, upstream: MockUpstream) -> anthropic.Anthropic:
    upstream.clear()
    return anthropic.Anthropic(base_url=gateway.url, api_key=MASTER, max_retries=0)


def test_text_with_system_prompt_and_stop(client: anthropic.Anthropic,
                                          upstream: MockUpstream) -> None:
    # Current anthropic SDKs no longer have a `temperature` argument; older clients send it.
    msg = client.messages.create(model="gpt-4o-mini", max_tokens=64, system="Be brief.",
                                 stop_sequences=["END"], extra_body={"temperature": 0.3},
                                 messages=[{"role": "user", "content": "hello there"}])
    assert msg.type == "message" and msg.role == "assistant" and msg.model == "gpt-4o-mini"
    assert msg.content[0].type == "text" and msg.content[0].text == "echo: hello there"
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens == 3
    sent = upstream.requests[-1].json
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["stop"] == ["END"] and sent["max_tokens"] == 64 and sent["temperature"] == 0.3


def test_streaming_event_sequence(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model="gpt-4o-mini", max_tokens=64,
                                messages=[{"role": "user", "content": "stream please"}]) as s:
        kinds = [event.type for event in s]
        final = s.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    assert kinds.index("message_delta") > kinds.index("content_block_stop")
    assert final.content[0].text == "echo: stream please"  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 3 and final.usage.input_tokens > 0


@pytest.mark.parametrize("stream", [False, True])
def test_tool_round_trip(client: anthropic.Anthropic, stream: bool) -> None:
    first_messages: list[anthropic.types.MessageParam] = [
        {"role": "user", "content": "weather in Paris?"}]
    if stream:
        with client.messages.stream(model="gpt-4o-mini", max_tokens=64, tools=TOOLS,
                                    messages=first_messages) as s:
            first = s.get_final_message()
    else:
        first = client.messages.create(model="gpt-4o-mini", max_tokens=64, tools=TOOLS,
                                       messages=first_messages)
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert use.name == "get_weather" and "location" in use.input  # type: ignore[operator]
    answer = client.messages.create(model="gpt-4o-mini", max_tokens=64, tools=TOOLS, messages=[
        *first_messages,
        {"role": "assistant", "content": first.content},  # type: ignore[typeddict-item]
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                      "content": "18C and cloudy"}]}])
    assert answer.content[0].text == "tool said: 18C and cloudy"  # type: ignore[union-attr]


def test_errors_use_anthropic_shapes(client: anthropic.Anthropic, gateway: PllmServer,
                                     upstream: MockUpstream) -> None:
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="no-such-model", max_tokens=5,
                               messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=gateway.url, api_key="wrong", max_retries=0) \
            .messages.create(model="gpt-4o-mini", max_tokens=5,
                             messages=[{"role": "user", "content": "x"}])
    bad = httpx.post(gateway.url + "/v1/messages", headers={"x-api-key": MASTER},
                     json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]})
    assert bad.status_code == 400
    assert bad.json() == {"type": "error", "error": {
        "type": "invalid_request_error", "message": "max_tokens: Field required"}}
    upstream.enqueue(Fault.rate_limit(retry_after=4))
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(model="gpt-4o-mini", max_tokens=5,
                               messages=[{"role": "user", "content": "x"}])
    assert limited.value.response.headers["retry-after"] == "4"
    assert limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


def test_x_api_key_header_and_count_tokens(gateway: PllmServer) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key=MASTER, max_retries=0)
    count = client.messages.count_tokens(
        model="gpt-4o-mini", system="You are terse.", tools=TOOLS,
        messages=[{"role": "user", "content": "How many tokens is this sentence?"}])
    assert 10 < count.input_tokens < 200
