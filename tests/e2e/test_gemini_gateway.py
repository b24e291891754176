"""The official `openai` SDK through a real pllm server to a mock Gemini Developer API
(`gemini/...` deployments): chat, streams, tool round trips (Gemini 3 thought signatures
included), images, safety blocks, errors and embeddings, with the native requests pllm sent
checked at the mock."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from mockups.gemini_mock import Fault, GeminiMock, mock_vector
from server import PllmServer, serving

pytestmark = pytest.mark.e2e

GEMINI_KEY = "AIzaSy-upstream-gemini-0123456789abcdef"
MASTER = "sk-gw-master-gemini-0123456789"
CONFIG = """
model_list:
  - model_name: gemini-flash
    litellm_params:
      model: gemini/gemini-2.0-flash
      api_base: {url}
      api_key: os.environ/GEMINI_KEY
  - model_name: gemini-3
    litellm_params:
      model: gemini/gemini-3-pro-preview
      api_base: {url}
      api_key: os.environ/GEMINI_KEY
  - model_name: gemini-embed
    litellm_params:
      model: gemini/text-embedding-004
      api_base: {url}
      api_key: os.environ/GEMINI_KEY
# One attempt per request: these tests check how each upstream answer is translated
# (retries and failover have their own tests).
router:
  retries: 0
general_settings:
  master_key: os.environ/MASTER_KEY
"""
WEATHER: Any = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                   "required": ["location"]}}}
HELLO: Any = [{"role": "system", "content": "Be brief."},
              {"role": "user", "content": "hello gemini"}]
PIXEL = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJ"
         "RU5ErkJggg==")


@pytest.fixture(scope="module")
def mock() -> Iterator[GeminiMock]:
    with GeminiMock(api_key=GEMINI_KEY) as m:
        yield m


@pytest.fixture(scope="module")
def gateway(mock: GeminiMock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PllmServer]:
    server = PllmServer(tmp_path_factory.mktemp("gw"), CONFIG.format(url=mock.url),
                        env={"GEMINI_KEY": GEMINI_KEY, "MASTER_KEY": MASTER})
    with serving(server, (GEMINI_KEY, MASTER)):
        yield server


@pytest.fixture
def client(gateway: PllmServer, mock: GeminiMock) -> Iterator[openai.OpenAI]:
    mock.clear()
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0) as sdk:
        yield sdk


def collect(stream: Any) -> tuple[str, list[Any], list[Any]]:
    """(text, tool-call deltas, chunks) of a streamed answer."""
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    return text, calls, chunks


def test_text_and_the_native_request(client: openai.OpenAI, mock: GeminiMock) -> None:
    resp = client.chat.completions.create(model="gemini-flash", messages=HELLO,
                                          temperature=0.3, top_p=0.8, max_tokens=20, stop="END")
    assert resp.model == "gemini-flash" and resp.object == "chat.completion"
    assert resp.id.startswith("chatcmpl-mock-")
    assert resp.choices[0].message.content == "echo: hello gemini"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (4, 3)
    seen = mock.requests[-1]
    assert seen.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert seen.headers["x-goog-api-key"] == GEMINI_KEY and seen.query == {}
    assert "authorization" not in seen.headers
    assert seen.json == {
        "contents": [{"role": "user", "parts": [{"text": "hello gemini"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.3, "topP": 0.8, "maxOutputTokens": 20,
                             "stopSequences": ["END"]}}


def test_stream_with_usage(client: openai.OpenAI, mock: GeminiMock) -> None:
    text, calls, chunks = collect(client.chat.completions.create(
        model="gemini-flash", messages=[{"role": "user", "content": "one two three four"}],
        stream=True, stream_options={"include_usage": True}))
    assert text == "echo: one two three four" and not calls
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (4, 5)
    seen = mock.requests[-1]
    assert seen.path == "/v1beta/models/gemini-2.0-flash:streamGenerateContent"
    assert seen.query == {"alt": "sse"}
    plain = list(client.chat.completions.create(model="gemini-flash", messages=HELLO,
                                                stream=True))
    assert all(c.choices for c in plain), "a usage chunk the client did not ask for"


@pytest.mark.parametrize("stream", [False, True])
def test_tool_round_trip(client: openai.OpenAI, mock: GeminiMock, stream: bool) -> None:
    question: Any = {"role": "user", "content": "What's the weather in Paris?"}
    if stream:
        _, deltas, chunks = collect(client.chat.completions.create(
            model="gemini-flash", messages=[question], tools=[WEATHER], stream=True))
        assert len(deltas) == 1 and deltas[0].index == 0
        call_id, name, args = deltas[0].id, deltas[0].function.name, deltas[0].function.arguments
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    else:
        first = client.chat.completions.create(model="gemini-flash", messages=[question],
                                               tools=[WEATHER], tool_choice="required")
        assert first.choices[0].finish_reason == "tool_calls"
        assert first.choices[0].message.content is None
        calls = first.choices[0].message.tool_calls or []
        assert len(calls) == 1 and calls[0].type == "function"
        call_id, name, args = calls[0].id, calls[0].function.name, calls[0].function.arguments
        assert mock.requests[-1].json["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert (call_id, name) == ("call_0_get_weather", "get_weather")
    assert args == '{"location":"What\'s the weather in Paris?"}'
    declared = mock.requests[-1].json["tools"][0]["functionDeclarations"][0]
    assert declared["parametersJsonSchema"] == WEATHER["function"]["parameters"]
    history: Any = [question,
                    {"role": "assistant", "content": None, "tool_calls": [
                        {"id": call_id, "type": "function",
                         "function": {"name": name, "arguments": args}}]},
                    {"role": "tool", "tool_call_id": call_id, "content": "sunny, 21C"}]
    if stream:
        text, _, _ = collect(client.chat.completions.create(
            model="gemini-flash", messages=history, tools=[WEATHER], stream=True))
    else:
        text = client.chat.completions.create(model="gemini-flash", messages=history,
                                              tools=[WEATHER]).choices[0].message.content or ""
    assert text == "tool said: sunny, 21C"
    sent = mock.requests[-1].json["contents"]
    assert sent[1] == {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather",
                          "args": {"location": "What's the weather in Paris?"}}}]}
    assert sent[2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"content": "sunny, 21C"}}}]}


def test_gemini_3_thought_signature_survives_the_round_trip(client: openai.OpenAI,
                                                            mock: GeminiMock) -> None:
    question: Any = {"role": "user", "content": "Oslo"}
    first = client.chat.completions.create(model="gemini-3", messages=[question],
                                           tools=[WEATHER])
    call = (first.choices[0].message.tool_calls or [])[0]
    assert call.id.startswith("fc-") and "__thought__" in call.id
    history: Any = [question, first.choices[0].message.model_dump(exclude_none=True),
                    {"role": "tool", "tool_call_id": call.id, "content": "snow"}]
    final = client.chat.completions.create(model="gemini-3", messages=history, tools=[WEATHER])
    assert final.choices[0].message.content == "tool said: snow"
    replayed = mock.requests[-1].json["contents"][1]["parts"][0]
    assert replayed["thoughtSignature"] and replayed["functionCall"]["id"] == \
        call.id.split("__thought__")[0]


def test_image_data_url(client: openai.OpenAI, mock: GeminiMock) -> None:
    resp = client.chat.completions.create(model="gemini-flash", messages=[{
        "role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}]}])
    assert resp.choices[0].message.content == "echo: what is this [inline image/png, 70 bytes]"
    parts = mock.requests[-1].json["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": PIXEL}}


def test_http_image_url_goes_as_file_data(client: openai.OpenAI, mock: GeminiMock) -> None:
    resp = client.chat.completions.create(model="gemini-flash", messages=[{
        "role": "user", "content": [
            {"type": "text", "text": "and this"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]}])
    assert resp.choices[0].message.content == \
        "echo: and this [file image/jpeg https://example.com/cat.jpg]"


def test_rate_limit_becomes_rate_limit_error(client: openai.OpenAI, mock: GeminiMock) -> None:
    mock.enqueue(Fault.rate_limit(retry_delay="37s"))
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="gemini-flash", messages=HELLO)
    assert e.value.status_code == 429 and e.value.code == "rate_limit_exceeded"
    assert e.value.response.headers["retry-after"] == "37"


def test_context_length(client: openai.OpenAI, mock: GeminiMock) -> None:
    mock.enqueue(Fault.context_length())
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="gemini-flash", messages=HELLO)
    assert e.value.code == "context_length_exceeded"
    assert "input token count" in e.value.message


def test_overloaded_and_mid_stream_error(client: openai.OpenAI, mock: GeminiMock) -> None:
    mock.enqueue(Fault.unavailable())
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="gemini-flash", messages=HELLO)
    assert e.value.status_code == 503
    mock.enqueue(Fault.error_mid_stream(after=1))
    got: list[str] = []
    with pytest.raises(openai.APIError, match="internal error"):
        for chunk in client.chat.completions.create(
                model="gemini-flash", stream=True,
                messages=[{"role": "user", "content": "one two three four five six"}]):
            if chunk.choices:
                got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "echo: one "
    # An error before any content is a plain error response (the stream is not committed yet).
    mock.enqueue(Fault.error_mid_stream(after=0))
    with pytest.raises(openai.InternalServerError) as early:
        list(client.chat.completions.create(model="gemini-flash", messages=HELLO, stream=True))
    assert early.value.status_code == 502


@pytest.mark.parametrize("stream", [False, True])
def test_safety_block_is_content_filter(client: openai.OpenAI, mock: GeminiMock,
                                        stream: bool) -> None:
    mock.enqueue(Fault.safety_block())
    if stream:
        text, _, chunks = collect(client.chat.completions.create(
            model="gemini-flash", messages=HELLO, stream=True))
        assert text == ""
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "content_filter"
    else:
        resp = client.chat.completions.create(model="gemini-flash", messages=HELLO)
        assert resp.choices[0].finish_reason == "content_filter"
        assert resp.choices[0].message.content == ""
    mock.enqueue(Fault.safety_block("answer"))
    resp = client.chat.completions.create(model="gemini-flash", messages=HELLO)
    assert resp.choices[0].finish_reason == "content_filter"


def test_embeddings_float_and_base64(client: openai.OpenAI, mock: GeminiMock) -> None:
    floats = client.embeddings.create(model="gemini-embed", input=["alpha", "beta"],
                                      encoding_format="float", dimensions=4)
    assert [d.embedding for d in floats.data] == [mock_vector("alpha", 4),
                                                 mock_vector("beta", 4)]
    assert floats.model == "gemini-embed"
    seen = mock.requests[-1]
    assert seen.path == "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert seen.json["requests"][1] == {"model": "models/text-embedding-004",
                                        "content": {"parts": [{"text": "beta"}]},
                                        "outputDimensionality": 4}
    # The SDK asks for base64 by default and decodes it itself.
    decoded = client.embeddings.create(model="gemini-embed", input="alpha")
    assert decoded.data[0].embedding == pytest.approx(mock_vector("alpha"), abs=1e-6)
    raw = client.embeddings.with_raw_response.create(model="gemini-embed", input="alpha",
                                                     encoding_format="base64")
    b64 = raw.http_response.json()["data"][0]["embedding"]
    values = struct.unpack("<8f", base64.b64decode(b64))
    assert list(values) == pytest.approx(mock_vector("alpha"), abs=1e-6)
