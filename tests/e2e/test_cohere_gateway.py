"""The official `openai` SDK through a real pllm server to a mock Cohere v2 upstream
(`cohere/...` and `cohere_chat/...` deployments): chat, streams, tool round trips, images,
errors and embeddings, with the native requests pllm sent checked at the mock."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from mockups.cohere_mock import TEMPLATE_TOKENS, CohereMock, Fault
from server import PllmServer, serving

pytestmark = pytest.mark.e2e

CO_KEY = "co-upstream-key-0123456789abcdef"
MASTER = "sk-gw-master-cohere-0123456789"
CONFIG = """
model_list:
  - model_name: command-r-plus
    litellm_params:
      model: cohere/command-r-plus
      api_base: {url}
      api_key: os.environ/CO_KEY
  - model_name: command-a
    litellm_params:
      model: cohere_chat/command-a-03-2025
      api_base: {url}
      api_key: os.environ/CO_KEY
  - model_name: co-embed
    litellm_params:
      model: cohere/embed-v4.0
      api_base: {url}
      api_key: os.environ/CO_KEY
# One attempt per request: these tests check how each upstream answer is translated
# (retries and failover have their own tests).
router:
  retries: 0
general_settings:
  master_key: os.environ/MASTER_KEY
"""
WEATHER: Any = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
HELLO: Any = [{"role": "system", "content": "Be brief."},
              {"role": "user", "content": "hello cohere"}]


@pytest.fixture(scope="module")
def mock() -> Iterator[CohereMock]:
    with CohereMock(api_key=CO_KEY) as m:
        yield m


@pytest.fixture(scope="module")
def gateway(mock: CohereMock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PllmServer]:
    server = PllmServer(tmp_path_factory.mktemp("gw"), CONFIG.format(url=mock.url),
                        env={"CO_KEY": CO_KEY, "MASTER_KEY": MASTER})
    with serving(server, (CO_KEY, MASTER)):
        yield server


@pytest.fixture
def client(gateway: PllmServer, mock: CohereMock) -> Iterator[openai.OpenAI]:
    mock.clear()
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0) as sdk:
        yield sdk


def test_text_and_the_native_request(client: openai.OpenAI, mock: CohereMock) -> None:
    resp = client.chat.completions.create(model="command-r-plus", messages=HELLO,
                                          temperature=0.3, top_p=0.8, max_tokens=20, stop="END")
    assert resp.model == "command-r-plus" and resp.object == "chat.completion"
    assert resp.id.startswith("co-chat-")
    assert resp.choices[0].message.content == "echo: hello cohere"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (4 + TEMPLATE_TOKENS, 3)
    seen = mock.requests[-1]
    assert (seen.method, seen.path) == ("POST", "/v2/chat")
    assert seen.headers["authorization"] == f"Bearer {CO_KEY}"
    assert seen.json == {"model": "command-r-plus", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello cohere"}],
        "temperature": 0.3, "p": 0.8, "max_tokens": 20, "stop_sequences": ["END"]}


def test_stream_with_usage(client: openai.OpenAI, mock: CohereMock) -> None:
    chunks = list(client.chat.completions.create(
        model="command-a", messages=HELLO, stream=True,
        stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "echo: hello cohere"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 4 + TEMPLATE_TOKENS + 3
    assert len({c.id for c in chunks}) == 1
    seen = mock.requests[-1].json
    assert seen["model"] == "command-a-03-2025" and seen["stream"] is True
    plain = list(client.chat.completions.create(model="command-a", messages=HELLO,
                                                stream=True))
    assert all(c.choices for c in plain) and all(c.usage is None for c in plain)


def _second_turn(call_id: str, args: str, plan: str | None) -> Any:
    assistant: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function",
         "function": {"name": "get_weather", "arguments": args}}]}
    if plan:
        assistant["reasoning_content"] = plan
    return [{"role": "user", "content": "Paris"}, assistant,
            {"role": "tool", "tool_call_id": call_id, "content": '{"temp": 21}'}]


def test_tool_round_trip(client: openai.OpenAI, mock: CohereMock) -> None:
    first = client.chat.completions.create(model="command-a", tools=[WEATHER],
                                           messages=[{"role": "user", "content": "Paris"}])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    calls = choice.message.tool_calls or []
    assert len(calls) == 1 and calls[0].type == "function"
    assert calls[0].function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    plan = (choice.message.model_extra or {}).get("reasoning_content")
    assert plan == "I will use get_weather."
    assert mock.requests[-1].json["tools"] == [WEATHER]
    second = client.chat.completions.create(
        model="command-a", tools=[WEATHER],
        messages=_second_turn(calls[0].id, calls[0].function.arguments, plan))  # type: ignore[union-attr]
    assert second.choices[0].message.content == 'tool said: {"temp": 21}'
    assert second.choices[0].finish_reason == "stop"
    sent = mock.requests[-1].json["messages"]
    assert sent[1] == {"role": "assistant", "tool_plan": plan, "tool_calls": [
        {"id": calls[0].id, "type": "function", "function": {
            "name": "get_weather", "arguments": calls[0].function.arguments}}]}  # type: ignore[union-attr]
    assert sent[2] == {"role": "tool", "tool_call_id": calls[0].id, "content": '{"temp": 21}'}


def test_tool_round_trip_streamed(client: openai.OpenAI, mock: CohereMock) -> None:
    chunks = list(client.chat.completions.create(
        model="command-r-plus", tools=[WEATHER], stream=True,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        messages=[{"role": "user", "content": "Paris"}]))
    assert mock.requests[-1].json["tool_choice"] == "REQUIRED"
    deltas = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert deltas[0].index == 0 and deltas[0].id and deltas[0].type == "function"
    assert deltas[0].function is not None and deltas[0].function.name == "get_weather"
    assert all(d.index == 0 and d.id is None for d in deltas[1:])
    args = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert json.loads(args) == {"city": "Paris"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    answer = list(client.chat.completions.create(
        model="command-r-plus", tools=[WEATHER], stream=True,
        messages=_second_turn(deltas[0].id or "", args, None)))
    assert "".join(c.choices[0].delta.content or "" for c in answer if c.choices) == \
        'tool said: {"temp": 21}'


def test_images_data_and_http_urls(client: openai.OpenAI, mock: CohereMock) -> None:
    url = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    resp = client.chat.completions.create(model="command-a", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": url, "detail": "low"}}]}])
    assert resp.choices[0].message.content == "echo: what is this [1 image(s)]"
    assert mock.requests[-1].json["messages"][0]["content"][1] == {
        "type": "image_url", "image_url": {"url": url, "detail": "low"}}
    web = "https://images.example.test/cat.jpg"
    resp = client.chat.completions.create(model="command-a", messages=[{"role": "user", "content": [
        {"type": "text", "text": "and these"},
        {"type": "image_url", "image_url": {"url": web}},
        {"type": "image_url", "image_url": {"url": url}}]}])
    assert resp.choices[0].message.content == "echo: and these [2 image(s)]"
    assert mock.requests[-1].json["messages"][0]["content"][1] == {
        "type": "image_url", "image_url": {"url": web}}


def test_rate_limit(client: openai.OpenAI, mock: CohereMock) -> None:
    mock.enqueue(Fault.rate_limit(retry_after=2))
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="command-r-plus", messages=HELLO)
    assert e.value.code == "rate_limit_exceeded"
    assert "per minute request limit" in e.value.message
    assert e.value.response.headers["retry-after"] == "2"


def test_context_length(client: openai.OpenAI, mock: CohereMock) -> None:
    mock.enqueue(Fault.too_many_tokens())
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="command-r-plus", messages=HELLO)
    assert e.value.code == "context_length_exceeded"
    assert "too many tokens: total number of tokens" in e.value.message


def test_invalid_token_overloaded_and_stream_error(client: openai.OpenAI,
                                                   mock: CohereMock) -> None:
    mock.enqueue(Fault.invalid_token())
    with pytest.raises(openai.AuthenticationError) as auth:
        client.chat.completions.create(model="command-r-plus", messages=HELLO)
    assert auth.value.code == "invalid_api_key"
    mock.enqueue(Fault.unavailable())
    with pytest.raises(openai.InternalServerError) as down:
        client.chat.completions.create(model="command-r-plus", messages=HELLO)
    assert down.value.status_code == 503
    mock.enqueue(Fault.error_in_stream("model crashed"))
    with pytest.raises(openai.APIError) as mid:
        list(client.chat.completions.create(model="command-r-plus", messages=HELLO,
                                            stream=True))
    assert "model crashed" in mid.value.message


def test_unsupported_param_is_refused_before_sending(client: openai.OpenAI,
                                                     mock: CohereMock) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="command-r-plus", messages=HELLO, n=2)
    assert e.value.param == "n" and "cohere" in e.value.message
    assert mock.requests == []


def test_embeddings_float_base64_and_list(client: openai.OpenAI, mock: CohereMock) -> None:
    flt = client.embeddings.create(model="co-embed", input="vector me", encoding_format="float")
    assert len(flt.data) == 1 and len(flt.data[0].embedding) == 8
    assert flt.usage.prompt_tokens == 2 and flt.model == "co-embed"
    seen = mock.requests[-1]
    assert seen.path == "/v2/embed" and seen.headers["authorization"] == f"Bearer {CO_KEY}"
    assert seen.json == {"model": "embed-v4.0", "texts": ["vector me"],
                         "input_type": "search_document", "embedding_types": ["float"]}
    # The SDK asks for base64 by default and decodes it: the same numbers must come back.
    b64 = client.embeddings.create(model="co-embed", input="vector me")
    assert b64.data[0].embedding == pytest.approx(flt.data[0].embedding, abs=1e-6)
    raw = client.embeddings.with_raw_response.create(model="co-embed", input="vector me",
                                                     encoding_format="base64")
    encoded = json.loads(raw.content)["data"][0]["embedding"]
    values = struct.unpack("<8f", base64.b64decode(encoded))
    assert list(values) == pytest.approx(flt.data[0].embedding, abs=1e-6)
    many = client.embeddings.create(model="co-embed", input=["one", "two three"], dimensions=64,
                                    extra_body={"input_type": "search_query"})
    assert [d.index for d in many.data] == [0, 1] and len(many.data[1].embedding) == 64
    assert many.usage.prompt_tokens == 3
    sent = mock.requests[-1].json
    assert (sent["texts"], sent["input_type"], sent["output_dimension"]) == (
        ["one", "two three"], "search_query", 64)
