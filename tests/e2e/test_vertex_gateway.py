"""The official `openai` SDK through a real pllm server to a mock Vertex AI (`vertex_ai/...`
deployments authenticated with a service account against a local OAuth token server): chat,
streams, tool round trips, images, safety blocks, errors and `:predict` embeddings, with the
native requests and bearer tokens pllm sent checked at the mock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any

import openai
import pytest
from mockups.gemini_mock import Fault, GeminiMock, mock_vector
from mockups.google_token import GoogleTokenServer
from server import PllmServer, serving

pytestmark = pytest.mark.e2e

MASTER = "sk-gw-master-vertex-0123456789"
PREFIX = "/v1/projects/proj-e2e/locations/europe-west4/publishers/google/models/"
CONFIG = """
model_list:
  - model_name: vertex-flash
    litellm_params:
      model: vertex_ai/gemini-2.0-flash
      api_base: {url}
      vertex_project: proj-e2e
      vertex_location: europe-west4
      vertex_credentials: {creds}
  - model_name: vertex-embed
    litellm_params:
      model: vertex_ai/text-embedding-005
      api_base: {url}
      vertex_project: proj-e2e
      vertex_location: europe-west4
      vertex_credentials: {creds}
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
HELLO: Any = [{"role": "user", "content": "hello vertex"}]
PIXEL = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJ"
         "RU5ErkJggg==")


@pytest.fixture(scope="module")
def tokens() -> Iterator[GoogleTokenServer]:
    with GoogleTokenServer() as server:
        yield server


@pytest.fixture(scope="module")
def mock(tokens: GoogleTokenServer) -> Iterator[GeminiMock]:
    with GeminiMock(tokens=tokens) as m:
        yield m


@pytest.fixture(scope="module")
def account(tokens: GoogleTokenServer) -> dict[str, str]:
    return tokens.service_account()


@pytest.fixture(scope="module")
def gateway(mock: GeminiMock, tokens: GoogleTokenServer, account: dict[str, str],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[PllmServer]:
    tmp = tmp_path_factory.mktemp("gw")
    creds = Path(tmp / "service-account.json")
    creds.write_text(json.dumps(account))
    server = PllmServer(tmp, CONFIG.format(url=mock.url, creds=creds),
                        env={"MASTER_KEY": MASTER})
    # The chain is read at teardown, so it covers every token issued while the tests ran.
    with serving(server, chain((MASTER, account["private_key"].splitlines()[1]),
                               tokens.issued)):
        yield server


@pytest.fixture
def client(gateway: PllmServer, mock: GeminiMock) -> Iterator[openai.OpenAI]:
    mock.clear()
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0) as sdk:
        yield sdk


def collect(stream: Any) -> tuple[str, list[Any], list[Any]]:
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    return text, calls, chunks


def test_text_oauth_and_the_native_request(client: openai.OpenAI, mock: GeminiMock,
                                           tokens: GoogleTokenServer) -> None:
    resp = client.chat.completions.create(model="vertex-flash", messages=HELLO, max_tokens=50)
    assert resp.choices[0].message.content == "echo: hello vertex"
    assert resp.model == "vertex-flash" and resp.choices[0].finish_reason == "stop"
    seen = mock.requests[-1]
    assert seen.path == PREFIX + "gemini-2.0-flash:generateContent"
    assert tokens.valid(seen.headers.get("authorization"))
    assert "x-goog-api-key" not in seen.headers
    assert seen.json == {"contents": [{"role": "user", "parts": [{"text": "hello vertex"}]}],
                         "generationConfig": {"maxOutputTokens": 50}}


def test_stream_with_usage(client: openai.OpenAI, mock: GeminiMock) -> None:
    text, _, chunks = collect(client.chat.completions.create(
        model="vertex-flash", messages=[{"role": "user", "content": "a b c d e"}],
        stream=True, stream_options={"include_usage": True}))
    assert text == "echo: a b c d e"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (5, 6)
    assert mock.requests[-1].path == PREFIX + "gemini-2.0-flash:streamGenerateContent"
    assert mock.requests[-1].query == {"alt": "sse"}


@pytest.mark.parametrize("stream", [False, True])
def test_tool_round_trip(client: openai.OpenAI, mock: GeminiMock, stream: bool) -> None:
    question: Any = {"role": "user", "content": "Rome"}
    if stream:
        _, deltas, _ = collect(client.chat.completions.create(
            model="vertex-flash", messages=[question], tools=[WEATHER], stream=True))
        call_id, args = deltas[0].id, deltas[0].function.arguments
    else:
        first = client.chat.completions.create(model="vertex-flash", messages=[question],
                                               tools=[WEATHER])
        assert first.choices[0].finish_reason == "tool_calls"
        call = (first.choices[0].message.tool_calls or [])[0]
        call_id, args = call.id, call.function.arguments
    assert (call_id, args) == ("call_0_get_weather", '{"location":"Rome"}')
    history: Any = [question,
                    {"role": "assistant", "tool_calls": [
                        {"id": call_id, "type": "function",
                         "function": {"name": "get_weather", "arguments": args}}]},
                    {"role": "tool", "tool_call_id": call_id, "content": '{"temp": 30}'}]
    if stream:
        text, _, _ = collect(client.chat.completions.create(
            model="vertex-flash", messages=history, tools=[WEATHER], stream=True))
    else:
        text = client.chat.completions.create(model="vertex-flash", messages=history,
                                              tools=[WEATHER]).choices[0].message.content or ""
    assert text == 'tool said: {"temp":30}'
    assert mock.requests[-1].json["contents"][2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"temp": 30}}}]


def test_image_data_url(client: openai.OpenAI, mock: GeminiMock) -> None:
    resp = client.chat.completions.create(model="vertex-flash", messages=[{
        "role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}]}])
    assert resp.choices[0].message.content == "echo: what is this [inline image/png, 70 bytes]"


def test_rate_limit_and_context_length(client: openai.OpenAI, mock: GeminiMock) -> None:
    mock.enqueue(Fault.rate_limit(retry_delay="3s"))
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="vertex-flash", messages=HELLO)
    assert limited.value.response.headers["retry-after"] == "3"
    mock.enqueue(Fault.context_length())
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="vertex-flash", messages=HELLO)
    assert e.value.code == "context_length_exceeded"


def test_safety_block_is_content_filter(client: openai.OpenAI, mock: GeminiMock) -> None:
    mock.enqueue(Fault.safety_block())
    resp = client.chat.completions.create(model="vertex-flash", messages=HELLO)
    assert resp.choices[0].finish_reason == "content_filter"
    mock.enqueue(Fault.safety_block("answer"))
    _, _, chunks = collect(client.chat.completions.create(model="vertex-flash", messages=HELLO,
                                                          stream=True))
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "content_filter"


def test_embeddings_float_and_base64(client: openai.OpenAI, mock: GeminiMock) -> None:
    floats = client.embeddings.create(model="vertex-embed", input=["x y", "z"],
                                      encoding_format="float", dimensions=3)
    assert [d.embedding for d in floats.data] == [mock_vector("x y", 3), mock_vector("z", 3)]
    assert floats.usage.prompt_tokens == 3
    seen = mock.requests[-1]
    assert seen.path == PREFIX + "text-embedding-005:predict"
    assert seen.json == {"instances": [{"content": "x y"}, {"content": "z"}],
                         "parameters": {"outputDimensionality": 3}}
    decoded = client.embeddings.create(model="vertex-embed", input="x y")  # base64 on the wire
    assert decoded.data[0].embedding == pytest.approx(mock_vector("x y"), abs=1e-6)


def test_one_token_serves_every_request(client: openai.OpenAI, mock: GeminiMock,
                                        tokens: GoogleTokenServer) -> None:
    client.chat.completions.create(model="vertex-flash", messages=HELLO)
    list(client.chat.completions.create(model="vertex-flash", messages=HELLO, stream=True))
    client.embeddings.create(model="vertex-embed", input="q")
    used = {r.headers.get("authorization") for r in mock.requests}
    assert len(used) == 1 and tokens.valid(used.pop())
    assert tokens.grants == 1, "pllm fetched a new token instead of reusing the cached one"
