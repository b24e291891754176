"""The official `openai` SDK through a real pllm server to the mock Bedrock Runtime
(tests/mockups/bedrock_mock.py): Converse and ConverseStream signed with SigV4 (the mock
recomputes the signature with botocore), a Bedrock API key deployment, tool round trips, images,
errors in and out of streams, and Titan/Cohere embeddings through InvokeModel.

No AWS lookup may leave 127.0.0.1: every deployment has explicit credentials, and the server runs
with the instance-metadata service disabled and no AWS config files."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from mockups.bedrock_mock import BedrockMock, Fault
from server import PllmServer

pytestmark = pytest.mark.e2e

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
KEY_ID = "AKIAPLLMBEDROCKTEST1"
SECRET = "pllm/e2e+Secret/Key0123456789abcdefghij"
API_KEY = "ABSKcGxsbS1lMmUtYmVkcm9jay1hcGkta2V5LTAw"
MASTER = "sk-gw-master-bedrock-0123"
CONFIG = """
model_list:
  - model_name: claude
    litellm_params:
      model: bedrock/{haiku}
      api_base: {url}
      aws_access_key_id: os.environ/BR_KEY_ID
      aws_secret_access_key: os.environ/BR_SECRET
      aws_region_name: us-east-1
  - model_name: claude-key
    litellm_params:
      model: bedrock/{haiku}
      aws_bedrock_runtime_endpoint: {url}
      aws_bearer_token: os.environ/BR_API_KEY
      aws_region_name: us-east-1
  - model_name: claude-wrong-secret
    litellm_params:
      model: bedrock/{haiku}
      api_base: {url}
      aws_access_key_id: os.environ/BR_KEY_ID
      aws_secret_access_key: not-the-right-secret-000000000000000000
      aws_region_name: us-east-1
  - model_name: titan
    litellm_params:
      model: bedrock/amazon.titan-embed-text-v2:0
      api_base: {url}
      aws_access_key_id: os.environ/BR_KEY_ID
      aws_secret_access_key: os.environ/BR_SECRET
      aws_region_name: us-east-1
  - model_name: cohere-embed
    litellm_params:
      model: bedrock/cohere.embed-english-v3
      api_base: {url}
      aws_bearer_token: os.environ/BR_API_KEY
# One attempt per request: these tests check how each upstream answer is translated
# (retries and failover have their own tests).
router:
  retries: 0
general_settings:
  master_key: {master}
"""
WEATHER: Any = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
PNG_B64 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJ"
           "RU5ErkJggg==")
ENCODED_PATH = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/"


@pytest.fixture(scope="module")
def bedrock() -> Iterator[BedrockMock]:
    with BedrockMock(access_key_id=KEY_ID, secret_access_key=SECRET, api_key=API_KEY) as m:
        yield m


@pytest.fixture(scope="module")
def gateway(bedrock: BedrockMock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PllmServer]:
    config = CONFIG.format(haiku=HAIKU, url=bedrock.url, master=MASTER)
    env = {"BR_KEY_ID": KEY_ID, "BR_SECRET": SECRET, "BR_API_KEY": API_KEY,
           # Nothing from the machine's AWS setup, and never the instance-metadata service.
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_BEARER_TOKEN_BEDROCK": "",
           "AWS_PROFILE": "", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    server = PllmServer(tmp_path_factory.mktemp("bedrock"), config, env=env)
    with server:
        yield server
    logs = server.logs()
    for secret in (SECRET, API_KEY, MASTER):
        assert secret not in logs


@pytest.fixture
def client(gateway: PllmServer, bedrock: BedrockMock) -> Iterator[openai.OpenAI]:
    bedrock.clear()
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0) as c:
        yield c


def test_text_with_sigv4(client: openai.OpenAI, bedrock: BedrockMock) -> None:
    resp = client.chat.completions.create(
        model="claude", max_tokens=50, temperature=0.2,
        messages=[{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": "hello bedrock"}])
    assert resp.choices[0].message.content == "echo: hello bedrock"
    assert resp.choices[0].finish_reason == "stop" and resp.model == "claude"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) \
        == (4, 3, 7)
    seen = bedrock.requests[-1]
    assert seen.raw_path == ENCODED_PATH + "converse" and seen.auth == "sigv4"
    assert seen.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={KEY_ID}/")
    assert seen.json == {"messages": [{"role": "user", "content": [{"text": "hello bedrock"}]}],
                         "system": [{"text": "Be brief."}],
                         "inferenceConfig": {"maxTokens": 50, "temperature": 0.2}}


def test_stream_with_usage(client: openai.OpenAI, bedrock: BedrockMock) -> None:
    chunks = list(client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "stream these four words"}],
        stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: stream these four words"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 4 + 5
    assert bedrock.requests[-1].raw_path == ENCODED_PATH + "converse-stream"
    plain = list(client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "no usage"}], stream=True))
    assert all(c.choices for c in plain)


def _tool_history(call: Any, result: str) -> list[Any]:
    return [{"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": call.id, "type": "function",
                 "function": {"name": call.function.name, "arguments": call.function.arguments}}]},
            {"role": "tool", "tool_call_id": call.id, "content": result}]


def test_tool_round_trip(client: openai.OpenAI, bedrock: BedrockMock) -> None:
    first = client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER], tool_choice="required")
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert call.id.startswith("tooluse_")
    assert bedrock.requests[-1].json["toolConfig"]["toolChoice"] == {"any": {}}
    second = client.chat.completions.create(model="claude", messages=_tool_history(call, "21C"),
                                            tools=[WEATHER])
    assert second.choices[0].message.content == "tool said: 21C"
    sent = bedrock.requests[-1].json["messages"]
    assert sent[1]["content"][0]["toolUse"] == {"toolUseId": call.id, "name": "get_weather",
                                                "input": {"city": "Paris"}}
    assert sent[2] == {"role": "user", "content": [
        {"toolResult": {"toolUseId": call.id, "content": [{"text": "21C"}]}}]}


def test_tool_round_trip_streamed(client: openai.OpenAI, bedrock: BedrockMock) -> None:
    chunks = list(client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER], stream=True))
    deltas = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    head = deltas[0]
    assert head.index == 0 and head.id and head.function and \
        head.function.name == "get_weather"
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert json.loads(arguments) == {"city": "Paris"}
    assert len(deltas) > 2  # the arguments arrived in fragments
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"

    class Call:
        id = head.id
        function = type("F", (), {"name": "get_weather", "arguments": arguments})

    answer = list(client.chat.completions.create(
        model="claude", messages=_tool_history(Call, "sunny"), tools=[WEATHER], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in answer if c.choices) == \
        "tool said: sunny"
    assert "toolConfig" in bedrock.requests[-1].json


def test_image_data_url(client: openai.OpenAI, bedrock: BedrockMock) -> None:
    resp = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}]}])
    assert resp.choices[0].message.content == "echo: what is this"
    image = bedrock.requests[-1].json["messages"][0]["content"][1]["image"]
    assert image == {"format": "png", "source": {"bytes": PNG_B64}}


def test_http_image_url_is_a_400(client: openai.OpenAI, bedrock: BedrockMock) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}])
    assert "cannot fetch image URLs" in e.value.message
    assert bedrock.requests == []


def test_bedrock_api_key_deployment(client: openai.OpenAI, bedrock: BedrockMock) -> None:
    resp = client.chat.completions.create(
        model="claude-key", messages=[{"role": "user", "content": "with a key"}])
    assert resp.choices[0].message.content == "echo: with a key"
    seen = bedrock.requests[-1]
    assert seen.auth == "bearer" and seen.headers["authorization"] == f"Bearer {API_KEY}"
    assert "x-amz-date" not in seen.headers


def test_rate_limit(client: openai.OpenAI, bedrock: BedrockMock) -> None:
    bedrock.enqueue(Fault.throttling(path_contains="/converse"))
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="claude",
                                       messages=[{"role": "user", "content": "hi"}])
    assert e.value.code == "rate_limit_exceeded"
    assert "Too many requests" in e.value.message


def test_context_length(client: openai.OpenAI, bedrock: BedrockMock) -> None:
    bedrock.enqueue(Fault.context_length())
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="claude",
                                       messages=[{"role": "user", "content": "long"}])
    assert e.value.code == "context_length_exceeded"
    assert "Input is too long" in e.value.message


def test_service_unavailable_is_a_503(client: openai.OpenAI, bedrock: BedrockMock) -> None:
    bedrock.enqueue(Fault.unavailable())
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="claude",
                                       messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 503


def test_stream_setup_error_is_a_status(client: openai.OpenAI, bedrock: BedrockMock) -> None:
    bedrock.enqueue(Fault.throttling(path_contains="/converse-stream"))
    with pytest.raises(openai.RateLimitError):
        list(client.chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "hi"}], stream=True))


def test_mid_stream_exception_raises_in_the_sdk(client: openai.OpenAI,
                                               bedrock: BedrockMock) -> None:
    # The pause makes the text reach pllm (and the client) before the exception does.
    bedrock.enqueue(Fault.mid_stream("throttlingException", after_events=3, pause_s=0.3))
    got: list[str] = []
    with pytest.raises(openai.APIError) as e:
        for chunk in client.chat.completions.create(
                model="claude", messages=[{"role": "user", "content": "one two three four"}],
                stream=True):
            if chunk.choices:
                got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "echo: one"
    assert "Too many tokens" in e.value.message


def test_exception_in_the_first_read_is_a_clean_status(client: openai.OpenAI,
                                                       bedrock: BedrockMock) -> None:
    """Events and the exception in one read: nothing was sent yet, so the client gets the
    error status itself (429 here) instead of a cut stream."""
    bedrock.enqueue(Fault.mid_stream("throttlingException", after_events=1))
    with pytest.raises(openai.RateLimitError):
        list(client.chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "one"}], stream=True))


def test_wrong_secret_is_refused_by_the_signature_check(client: openai.OpenAI,
                                                       bedrock: BedrockMock) -> None:
    with pytest.raises(openai.PermissionDeniedError) as e:
        client.chat.completions.create(model="claude-wrong-secret",
                                       messages=[{"role": "user", "content": "hi"}])
    assert "InvalidSignatureException" in e.value.message
    assert bedrock.requests[-1].auth is None


def test_titan_embedding(client: openai.OpenAI, bedrock: BedrockMock) -> None:
    out = client.embeddings.create(model="titan", input="hello world", dimensions=256,
                                   encoding_format="float")
    assert len(out.data) == 1 and len(out.data[0].embedding) == 256
    assert out.usage.prompt_tokens == 2 and out.model == "titan"
    seen = bedrock.requests[-1]
    assert seen.raw_path == "/model/amazon.titan-embed-text-v2%3A0/invoke"
    assert seen.json == {"inputText": "hello world", "dimensions": 256}
    assert seen.auth == "sigv4"
    with pytest.raises(openai.BadRequestError, match="one text per request"):
        client.embeddings.create(model="titan", input=["a", "b"])


def test_cohere_batch_embeddings_base64(client: openai.OpenAI, bedrock: BedrockMock) -> None:
    floats = client.embeddings.create(model="cohere-embed", input=["a b", "c d e"],
                                      encoding_format="float")
    assert [d.index for d in floats.data] == [0, 1]
    assert floats.usage.prompt_tokens == 5
    assert bedrock.requests[-1].json == {"texts": ["a b", "c d e"],
                                         "input_type": "search_document"}
    assert bedrock.requests[-1].auth == "bearer"
    raw = client.embeddings.with_raw_response.create(
        model="cohere-embed", input=["a b", "c d e"], encoding_format="base64")
    body = json.loads(raw.text)
    vec = body["data"][1]["embedding"]
    assert isinstance(vec, str)
    decoded = list(struct.unpack("<1024f", base64.b64decode(vec)))
    assert decoded == floats.data[1].embedding
    # The SDK's default asks for base64 and decodes it itself.
    default = client.embeddings.create(model="cohere-embed", input=["a b", "c d e"])
    assert default.data[0].embedding == floats.data[0].embedding
