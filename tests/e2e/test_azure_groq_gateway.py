"""The official `openai` SDK through pllm to mock Azure OpenAI and Groq upstreams."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
from mockups import Fault, MockUpstream
from server import PllmServer

pytestmark = pytest.mark.e2e

AZ_KEY = "azure-upstream-key-0123456789abcdef"
GROQ_KEY = "gsk_upstream_groq_0123456789abcdef"
MASTER = "sk-gw-master-azure-groq-0123"
CONFIG = """
model_list:
  - model_name: azure-gpt
    litellm_params:
      model: azure/my-gpt4o-deployment
      api_base: {az}
      api_key: os.environ/AZ_KEY
      api_version: "2024-10-21"
  - model_name: azure-old
    litellm_params:
      model: azure/my-gpt4o-deployment
      api_base: {az}
      api_key: os.environ/AZ_KEY
      api_version: "2024-02-01"
  - model_name: azure-embed
    litellm_params:
      model: azure/my-embedding
      litellm_credential_name: azure_eu
  - model_name: azure-v1
    litellm_params:
      model: azure/gpt-4o-v1dep
      api_base: {az}/openai/v1
      api_key: os.environ/AZ_KEY
  - model_name: llama
    litellm_params:
      model: groq/llama-3.3-70b-versatile
      api_base: {groq}/openai/v1
      api_key: os.environ/GROQ_KEY
  - model_name: llama-lenient
    litellm_params:
      model: groq/llama-3.3-70b-versatile
      api_base: {groq}/openai/v1
      api_key: os.environ/GROQ_KEY
      drop_params: true
credential_list:
  - credential_name: azure_eu
    credential_values:
      api_key: os.environ/AZ_KEY
      api_base: {az}
      api_version: "2024-10-21"
    credential_info:
      description: shared Azure credentials
general_settings:
  master_key: {master}
"""
HELLO = [{"role": "user", "content": "hello azure"}]


@pytest.fixture(scope="module")
def azure() -> Iterator[MockUpstream]:
    with MockUpstream("azure", api_key=AZ_KEY) as up:
        yield up


@pytest.fixture(scope="module")
def groq() -> Iterator[MockUpstream]:
    with MockUpstream("groq", api_key=GROQ_KEY) as up:
        yield up


@pytest.fixture(scope="module")
def gateway(azure: MockUpstream, groq: MockUpstream,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[PllmServer]:
    config = CONFIG.format(az=azure.url, groq=groq.url, master=MASTER)
    server = PllmServer(tmp_path_factory.mktemp("gw"), config,
                        env={"AZ_KEY": AZ_KEY, "GROQ_KEY": GROQ_KEY})
    with server:
        yield server
    logs = server.logs()
    for secret in (AZ_KEY, GROQ_KEY, MASTER):
        assert secret not in logs


@pytest.fixture
def client(gateway: PllmServer, azure: MockUpstream,
           groq: MockUpstream) -> Iterator[openai.OpenAI]:
    azure.clear()
    groq.clear()
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0) as c:
        yield c


def test_azure_deployment_url_version_and_key(client: openai.OpenAI, azure: MockUpstream) -> None:
    resp = client.chat.completions.create(model="azure-gpt", messages=HELLO)
    assert resp.choices[0].message.content == "echo: hello azure"
    seen = azure.requests[-1]
    assert seen.path == "/openai/deployments/my-gpt4o-deployment/chat/completions"
    assert seen.query == {"api-version": "2024-10-21"}
    assert seen.headers["api-key"] == AZ_KEY
    assert "authorization" not in seen.headers


def test_azure_stream_drops_the_filter_chunk_and_reports_usage(client: openai.OpenAI,
                                                               azure: MockUpstream) -> None:
    chunks = list(client.chat.completions.create(
        model="azure-gpt", messages=HELLO, stream=True, stream_options={"include_usage": True}))
    assert all(c.choices or c.usage for c in chunks), "Azure's empty prompt-filter chunk leaked"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "echo: hello azure"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_azure_old_api_version_is_not_sent_stream_options(client: openai.OpenAI,
                                                          azure: MockUpstream) -> None:
    list(client.chat.completions.create(model="azure-old", messages=HELLO, stream=True))
    assert "stream_options" not in azure.requests[-1].json
    assert azure.requests[-1].query == {"api-version": "2024-02-01"}


def test_azure_embeddings_with_a_shared_credential(client: openai.OpenAI,
                                                   azure: MockUpstream) -> None:
    out = client.embeddings.create(model="azure-embed", input="vector me")
    assert len(out.data[0].embedding) > 0
    seen = azure.requests[-1]
    assert seen.path == "/openai/deployments/my-embedding/embeddings"
    assert seen.headers["api-key"] == AZ_KEY


def test_azure_v1_routes(client: openai.OpenAI, azure: MockUpstream) -> None:
    client.chat.completions.create(model="azure-v1", messages=HELLO)
    seen = azure.requests[-1]
    assert seen.path == "/openai/v1/chat/completions"
    assert seen.json["model"] == "gpt-4o-v1dep"


def test_azure_rate_limit(client: openai.OpenAI, azure: MockUpstream) -> None:
    azure.enqueue(Fault.rate_limit(retry_after=2, profile="azure"))
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="azure-gpt", messages=HELLO)
    assert e.value.response.headers["retry-after"] == "2"
    assert "exceeded token rate limit" in e.value.message


def test_azure_content_filter_is_a_400(client: openai.OpenAI, azure: MockUpstream) -> None:
    azure.enqueue(Fault.content_filter())
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="azure-gpt", messages=HELLO)
    assert e.value.code == "content_filter"


def test_groq_chat_and_bearer_key(client: openai.OpenAI, groq: MockUpstream) -> None:
    resp = client.chat.completions.create(model="llama", messages=HELLO)
    assert resp.choices[0].message.content == "echo: hello azure"
    seen = groq.requests[-1]
    assert seen.path == "/openai/v1/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {GROQ_KEY}"
    assert seen.json["model"] == "llama-3.3-70b-versatile"


def test_groq_stream_usage_comes_from_x_groq(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(
        model="llama", messages=HELLO, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    plain = list(client.chat.completions.create(model="llama", messages=HELLO, stream=True))
    assert all(c.choices for c in plain)


def test_groq_unsupported_params_are_refused_or_dropped(client: openai.OpenAI,
                                                        groq: MockUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="llama", messages=HELLO, logprobs=True)
    assert e.value.param == "logprobs" and "groq" in e.value.message
    assert groq.requests == [], "a request groq would reject must not be sent"
    named = [{"role": "user", "content": "hi", "name": "alice"}]
    resp = client.chat.completions.create(model="llama-lenient", messages=named, logprobs=True,
                                          n=1)
    assert resp.choices[0].message.content == "echo: hi"
    sent = groq.requests[-1].json
    assert "logprobs" not in sent and "name" not in sent["messages"][0]


def test_groq_tool_use_failed_passes_through(client: openai.OpenAI, groq: MockUpstream) -> None:
    groq.enqueue(Fault.tool_use_failed())
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="llama", messages=HELLO)
    assert e.value.code == "tool_use_failed"


TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object", "properties": {
        "location": {"type": "string"}}, "required": ["location"]}}}]
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


@pytest.mark.parametrize("model", ["azure-gpt", "llama"])
@pytest.mark.parametrize("stream", [False, True])
def test_tool_round_trip(client: openai.OpenAI, model: str, stream: bool) -> None:
    messages: list[dict[str, object]] = [{"role": "user", "content": "weather in Oslo?"}]
    if stream:
        calls: dict[int, dict[str, str]] = {}
        for chunk in client.chat.completions.create(model=model, messages=messages,
                                                    tools=TOOLS, stream=True):
            for choice in chunk.choices:
                for tc in choice.delta.tool_calls or []:
                    slot = calls.setdefault(tc.index, {"id": "", "name": "", "args": ""})
                    slot["id"] += tc.id or ""
                    slot["name"] += (tc.function.name or "") if tc.function else ""
                    slot["args"] += (tc.function.arguments or "") if tc.function else ""
        call_id, name, args = calls[0]["id"], calls[0]["name"], calls[0]["args"]
    else:
        resp = client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
        tc = resp.choices[0].message.tool_calls[0]  # type: ignore[index]
        call_id, name, args = tc.id, tc.function.name, tc.function.arguments
    assert name == "get_weather" and "location" in args
    messages += [{"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}]},
        {"role": "tool", "tool_call_id": call_id, "content": "-3C"}]
    answer = client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
    assert answer.choices[0].message.content == "tool said: -3C"


@pytest.mark.parametrize("model", ["azure-gpt", "llama"])
def test_image_and_json_mode_pass_through(client: openai.OpenAI, azure: MockUpstream,
                                          groq: MockUpstream, model: str) -> None:
    up = azure if model == "azure-gpt" else groq
    resp = client.chat.completions.create(
        model=model, response_format={"type": "json_object"},
        messages=[{"role": "user", "content": [{"type": "text", "text": "describe"}, IMAGE]}])
    assert isinstance(json.loads(resp.choices[0].message.content or ""), dict)
    sent = up.requests[-1].json
    assert sent["messages"][0]["content"][1] == IMAGE
    assert sent["response_format"] == {"type": "json_object"}
