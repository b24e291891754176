"""Proves the OpenAI-family mock upstream speaks each provider's wire format: the official openai SDK
(OpenAI, AzureOpenAI, OpenAI pointed at Groq's base URL) parses everything it sends, and faults surface
as the SDK exceptions a real provider would cause."""

from __future__ import annotations

import base64
import http.client
import json
import math
import struct
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from .openai_family import Fault, MockUpstream

KEY = "sk-upstream-test"
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello there"}]
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


@pytest.fixture
def oai() -> Iterator[MockUpstream]:
    with MockUpstream("openai") as mock:
        yield mock


@pytest.fixture
def azure() -> Iterator[MockUpstream]:
    with MockUpstream("azure") as mock:
        yield mock


@pytest.fixture
def groq() -> Iterator[MockUpstream]:
    with MockUpstream("groq") as mock:
        yield mock


@pytest.fixture
def client(oai: MockUpstream) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=oai.url + "/v1", api_key=KEY, max_retries=0) as sdk:
        yield sdk


@pytest.fixture
def azure_client(azure: MockUpstream) -> Iterator[openai.AzureOpenAI]:
    with openai.AzureOpenAI(
        azure_endpoint=azure.url, api_key=KEY, api_version="2024-10-21", max_retries=0
    ) as sdk:
        yield sdk


@pytest.fixture
def groq_client(groq: MockUpstream) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=groq.url + "/openai/v1", api_key=KEY, max_retries=0) as sdk:
        yield sdk


def raw(
    mock: MockUpstream,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """Send one request with http.client; returns status and parsed JSON body."""
    conn = http.client.HTTPConnection("127.0.0.1", int(mock.url.rsplit(":", 1)[1]), timeout=5)
    try:
        conn.request(
            method,
            path,
            body=body,
            headers=headers
            if headers is not None
            else {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def chat_stream(sdk: openai.OpenAI, **kwargs: Any) -> list[ChatCompletionChunk]:
    """Every chunk of a streamed chat completion (defaults: model gpt-4o-mini, HELLO)."""
    params: Any = {"model": "gpt-4o-mini", "messages": HELLO, **kwargs}
    with sdk.chat.completions.create(stream=True, **params) as stream:
        return list(stream)


def test_chat_non_stream_echoes_and_counts_words(client: openai.OpenAI, oai: MockUpstream) -> None:
    response = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=HELLO, temperature=0.2
    )
    completion = response.parse()
    assert response.headers["x-ratelimit-remaining-requests"] == "4999"
    assert completion.object == "chat.completion" and completion.model == "gpt-4o-mini"
    assert completion.choices[0].message.content == "echo: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    counts = (
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
        completion.usage.total_tokens,
    )
    assert counts == (2, 3, 5)
    [seen] = oai.requests
    assert (seen.method, seen.path) == ("POST", "/v1/chat/completions")
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.json == {"model": "gpt-4o-mini", "messages": HELLO, "temperature": 0.2}


def test_stream_with_include_usage(client: openai.OpenAI) -> None:
    chunks = chat_stream(client, stream_options={"include_usage": True})
    assert (
        chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].delta.content == ""
    )
    assert len(chunks) > 4 and len({(c.id, c.created) for c in chunks}) == 1
    assert "".join(c.choices[0].delta.content or "" for c in chunks[:-1]) == "echo: hello there"
    assert (
        chunks[-2].choices[0].finish_reason == "stop"
        and chunks[-2].choices[0].delta.content is None
    )
    assert all(c.usage is None for c in chunks[:-1])
    assert (
        chunks[-1].choices == []
        and chunks[-1].usage is not None
        and chunks[-1].usage.total_tokens == 5
    )


def test_stream_without_include_usage_has_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = chat_stream(client)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "usage" not in chunks[0].model_dump(exclude_unset=True)


def test_stream_is_delivered_incrementally(client: openai.OpenAI, oai: MockUpstream) -> None:
    oai.enqueue(Fault(chunk_delay_s=0.1))
    started = time.monotonic()
    with client.chat.completions.create(model="m", messages=HELLO, stream=True) as stream:
        first = next(iter(stream))
        first_at = time.monotonic() - started
        rest = list(stream)
    assert first.choices[0].delta.role == "assistant" and len(rest) == 4
    assert first_at < 0.25 and time.monotonic() - started >= 0.5


def test_tool_call_whole_and_streamed(client: openai.OpenAI) -> None:
    asked: list[ChatCompletionMessageParam] = [{"role": "user", "content": "weather in Paris?"}]
    message = client.chat.completions.create(
        model="m", messages=asked, tools=[WEATHER_TOOL]
    ).choices[0]
    assert message.finish_reason == "tool_calls" and message.message.content is None
    [call] = message.message.tool_calls or []
    assert (
        call.type == "function"
        and call.function.name == "get_weather"
        and call.id.startswith("call_")
    )
    assert json.loads(call.function.arguments) == {"location": "Paris"}

    chunks = chat_stream(client, messages=asked, tools=[WEATHER_TOOL])
    fragments = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or []]
    functions = [f.function for f in fragments if f.function is not None]
    assert len(fragments) > 2 and len(functions) == len(fragments)
    assert (
        fragments[0].id == call.id
        and functions[0].name == "get_weather"
        and functions[0].arguments == ""
    )
    assert all(f.index == 0 and f.id is None and f.type is None for f in fragments[1:])
    assert all(f.name is None for f in functions[1:])
    assert "".join(f.arguments or "" for f in functions) == call.function.arguments
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_result_json_modes_and_length(client: openai.OpenAI) -> None:
    after_tool: Any = [
        *HELLO,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "22C and sunny"},
    ]
    reply = client.chat.completions.create(model="m", messages=after_tool, tools=[WEATHER_TOOL])
    assert reply.choices[0].message.content == "tool said: 22C and sunny"
    as_object = client.chat.completions.create(
        model="m", messages=HELLO, response_format={"type": "json_object"}
    )
    assert json.loads(as_object.choices[0].message.content or "") == {"echo": "hello there"}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    }
    as_schema = client.chat.completions.create(
        model="m",
        messages=HELLO,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "forecast", "schema": schema},
        },
    )
    assert json.loads(as_schema.choices[0].message.content or "") == {"city": "Paris", "days": 1}
    cut = client.chat.completions.create(
        model="m", messages=HELLO, max_completion_tokens=2
    ).choices[0]
    assert (cut.message.content, cut.finish_reason) == ("echo: hello", "length")


def test_content_parts_and_token_ids_count_as_words(client: openai.OpenAI) -> None:
    parts: list[ChatCompletionMessageParam] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look at"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
                {"type": "text", "text": "this"},
            ],
        }
    ]
    completion = client.chat.completions.create(model="m", messages=parts)
    assert completion.choices[0].message.content == "echo: look at this"
    assert completion.usage is not None and completion.usage.prompt_tokens == 3
    legacy = client.completions.create(model="m", prompt=[101, 102, 103])
    assert legacy.choices[0].text == "echo: 101 102 103"
    assert legacy.usage is not None and legacy.usage.prompt_tokens == 3


def test_n_choices(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="m", messages=HELLO, n=2)
    assert [c.index for c in completion.choices] == [0, 1]
    assert {c.message.content for c in completion.choices} == {"echo: hello there"}
    assert completion.usage is not None and completion.usage.completion_tokens == 6
    chunks = chat_stream(client, n=2)
    for index in (0, 1):
        mine = [c.choices[0] for c in chunks if c.choices[0].index == index]
        assert "".join(c.delta.content or "" for c in mine) == "echo: hello there"
        assert mine[-1].finish_reason == "stop"


def test_legacy_completions(client: openai.OpenAI) -> None:
    completion = client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt=["say one", "say two"]
    )
    assert completion.object == "text_completion"
    assert [c.text for c in completion.choices] == ["echo: say one", "echo: say two"]
    assert completion.usage is not None and completion.usage.prompt_tokens == 4
    with client.completions.create(
        model="m", prompt="say one", stream=True, stream_options={"include_usage": True}
    ) as stream:
        chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks[:-1]) == "echo: say one"
    assert chunks[-2].choices[0].finish_reason == "stop" and chunks[-1].usage is not None


def test_embeddings_float_and_base64(client: openai.OpenAI, oai: MockUpstream) -> None:
    floats = client.embeddings.create(
        model="text-embedding-3-small", input=["a b", "c"], encoding_format="float"
    )
    assert [d.index for d in floats.data] == [0, 1] and len(floats.data[0].embedding) == 8
    assert math.isclose(sum(v * v for v in floats.data[0].embedding), 1.0, rel_tol=1e-5)
    assert floats.usage.prompt_tokens == 3
    decoded = client.embeddings.create(
        model="text-embedding-3-small", input=["a b", "c"]
    )  # SDK: base64
    assert oai.requests[-1].json["encoding_format"] == "base64"
    assert [d.embedding for d in decoded.data] == [d.embedding for d in floats.data]
    short = client.embeddings.create(model="m", input="a b", encoding_format="float", dimensions=4)
    status, body = raw(
        oai,
        "POST",
        "/v1/embeddings",
        json.dumps(
            {"model": "m", "input": "a b", "encoding_format": "base64", "dimensions": 4}
        ).encode(),
    )
    packed = base64.b64decode(body["data"][0]["embedding"])
    assert status == 200 and list(struct.unpack("<4f", packed)) == short.data[0].embedding


def test_models(client: openai.OpenAI) -> None:
    assert "gpt-4o-mini" in [m.id for m in client.models.list()]
    assert client.models.retrieve("gpt-4o").owned_by == "system"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-9")
    assert caught.value.code == "model_not_found"


def test_rate_limit_then_recovery(client: openai.OpenAI, oai: MockUpstream) -> None:
    oai.enqueue(Fault.rate_limit(retry_after=7))
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="m", messages=HELLO)
    headers = caught.value.response.headers
    assert headers["retry-after"] == "7" and headers["x-ratelimit-remaining-requests"] == "0"
    assert caught.value.code == "rate_limit_exceeded" and oai.pending_faults == 0
    recovered = client.chat.completions.create(model="m", messages=HELLO)
    assert recovered.choices[0].message.content == "echo: hello there"


def test_context_length_and_server_errors(client: openai.OpenAI, oai: MockUpstream) -> None:
    oai.enqueue(Fault.context_length())
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="m", messages=HELLO)
    assert bad.value.code == "context_length_exceeded" and bad.value.param == "messages"
    for fault, status in ((Fault.server_error(), 500), (Fault.overloaded(), 503)):
        oai.enqueue(fault)
        with pytest.raises(openai.InternalServerError) as failed:
            client.chat.completions.create(model="m", messages=HELLO)
        assert failed.value.status_code == status and failed.value.type == "server_error"


def test_fault_path_filter_and_clear(client: openai.OpenAI, oai: MockUpstream) -> None:
    oai.enqueue(Fault.server_error(path_contains="/embeddings"))
    client.chat.completions.create(model="m", messages=HELLO)
    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model="m", input="x")
    oai.enqueue(Fault.server_error())
    oai.clear()
    assert oai.requests == [] and oai.pending_faults == 0


def test_wrong_or_missing_key(oai: MockUpstream) -> None:
    wrong = "sk-wrong-key-0123456789"
    with (
        openai.OpenAI(base_url=oai.url + "/v1", api_key=wrong, max_retries=0) as sdk,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        sdk.chat.completions.create(model="m", messages=HELLO)
    message = str(caught.value.message)
    assert caught.value.code == "invalid_api_key" and wrong not in message and "sk-" in message
    status, body = raw(oai, "GET", "/v1/models", headers={})
    assert status == 401 and body["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        (b"{not json", None),
        (b'{"messages": []}', None),
        (b'{"model": "m"}', "messages"),
        (
            b'{"model": "m", "messages": [], "stream_options": {"include_usage": true}}',
            "stream_options",
        ),
    ],
)
def test_malformed_requests_are_rejected(
    oai: MockUpstream, payload: bytes, param: str | None
) -> None:
    status, body = raw(oai, "POST", "/v1/chat/completions", payload)
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["param"] == param


def test_unknown_route(oai: MockUpstream) -> None:
    status, body = raw(oai, "POST", "/v1/chat/complete", b"{}")
    assert status == 404 and body["error"]["message"] == "Invalid URL (POST /v1/chat/complete)"


def test_delay_and_stall(client: openai.OpenAI, oai: MockUpstream) -> None:
    oai.enqueue(Fault(delay_s=0.3))
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.1).chat.completions.create(model="m", messages=HELLO)
    oai.enqueue(Fault(stall_s=0.3))
    conn = http.client.HTTPConnection("127.0.0.1", int(oai.url.rsplit(":", 1)[1]), timeout=5)
    try:
        started = time.monotonic()
        conn.request("GET", "/v1/models", headers={"Authorization": f"Bearer {KEY}"})
        response = conn.getresponse()
        headers_at = time.monotonic() - started
        assert json.loads(response.read())["object"] == "list"
    finally:
        conn.close()
    assert response.status == 200 and headers_at < 0.2 and time.monotonic() - started >= 0.3


def test_disconnect_and_die_mid_stream(client: openai.OpenAI, oai: MockUpstream) -> None:
    oai.enqueue(Fault(disconnect=True))
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=HELLO)
    oai.enqueue(Fault(die_mid_stream=2))
    received: list[ChatCompletionChunk] = []
    with (
        pytest.raises(openai.APIConnectionError),
        client.chat.completions.create(model="m", messages=HELLO, stream=True) as stream,
    ):
        received.extend(stream)
    assert [c.choices[0].delta.content for c in received] == ["", "echo:"]


def test_explicit_start_stop() -> None:
    mock = MockUpstream("openai").start()
    url = mock.url
    mock.stop()
    with pytest.raises(RuntimeError):
        _ = mock.url
    assert url.startswith("http://127.0.0.1:")


def test_azure_chat_stream_and_embeddings(
    azure_client: openai.AzureOpenAI, azure: MockUpstream
) -> None:
    completion = azure_client.chat.completions.create(model="my-gpt4o", messages=HELLO)
    assert completion.model == "gpt-4o-2024-08-06"
    assert completion.choices[0].message.content == "echo: hello there"
    assert (completion.model_extra or {})["prompt_filter_results"][0]["prompt_index"] == 0
    assert (completion.choices[0].model_extra or {})["content_filter_results"]["hate"][
        "filtered"
    ] is False
    [seen] = azure.requests
    assert (
        seen.path == "/openai/deployments/my-gpt4o/chat/completions"
        and seen.deployment == "my-gpt4o"
    )
    assert seen.query == {"api-version": "2024-10-21"} and seen.headers["api-key"] == KEY

    with azure_client.chat.completions.create(
        model="my-gpt4o", messages=HELLO, stream=True, stream_options={"include_usage": True}
    ) as stream:
        chunks = list(stream)
    assert chunks[0].choices == [] and chunks[0].id == ""
    assert "prompt_filter_results" in (chunks[0].model_extra or {})
    assert chunks[1].choices[0].delta.role == "assistant"
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "echo: hello there"
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None

    vectors = azure_client.embeddings.create(model="my-embedder", input="a b")
    assert len(vectors.data[0].embedding) == 8
    assert azure.requests[-1].path == "/openai/deployments/my-embedder/embeddings"


def test_azure_api_version_and_v1_routes(azure: MockUpstream) -> None:
    headers = {"api-key": KEY, "Content-Type": "application/json"}
    payload = json.dumps({"messages": HELLO}).encode()
    path = "/openai/deployments/d/chat/completions"
    status, body = raw(azure, "POST", path, payload, headers)
    assert status == 404 and body == {"error": {"code": "404", "message": "Resource not found"}}
    status, body = raw(azure, "POST", path + "?api-version=latest", payload, headers)
    assert status == 400 and body["error"]["code"] == "BadRequest"
    with MockUpstream("azure", api_version_required=False) as lenient:
        assert raw(lenient, "POST", path, payload, headers)[0] == 200
    with openai.OpenAI(base_url=azure.url + "/openai/v1", api_key=KEY, max_retries=0) as sdk:
        completion = sdk.chat.completions.create(model="my-deployment", messages=HELLO)
    assert (
        completion.model == "gpt-4o-2024-08-06" and azure.requests[-1].deployment == "my-deployment"
    )


def test_azure_errors(azure: MockUpstream, azure_client: openai.AzureOpenAI) -> None:
    azure.enqueue(Fault.rate_limit(retry_after=3, profile="azure"))
    with pytest.raises(openai.RateLimitError) as limited:
        azure_client.chat.completions.create(model="d", messages=HELLO)
    assert (
        limited.value.code == "429" and limited.value.response.headers["retry-after-ms"] == "3000"
    )
    azure.enqueue(Fault.content_filter())
    with pytest.raises(openai.BadRequestError) as filtered:
        azure_client.chat.completions.create(model="d", messages=HELLO)
    assert filtered.value.code == "content_filter"
    with (
        openai.AzureOpenAI(
            azure_endpoint=azure.url,
            api_key="wrong-key-123456789",
            api_version="2024-10-21",
            max_retries=0,
        ) as sdk,
        pytest.raises(openai.AuthenticationError) as denied,
    ):
        sdk.chat.completions.create(model="d", messages=HELLO)
    assert "wrong-key-123456789" not in denied.value.response.text and denied.value.code == "401"


def test_groq_chat_and_stream(groq_client: openai.OpenAI, groq: MockUpstream) -> None:
    completion = groq_client.chat.completions.create(
        model="llama-3.3-70b-versatile", messages=HELLO
    )
    assert completion.choices[0].message.content == "echo: hello there"
    assert (completion.model_extra or {})["x_groq"]["id"].startswith("req_")
    assert completion.usage is not None and "queue_time" in (completion.usage.model_extra or {})
    assert groq.requests[0].path == "/openai/v1/chat/completions"

    chunks = chat_stream(
        groq_client, model="llama-3.3-70b-versatile", stream_options={"include_usage": True}
    )
    first, finish = chunks[0].model_extra or {}, chunks[-1].model_extra or {}
    assert chunks[-1].choices[0].finish_reason == "stop" and all(c.choices for c in chunks)
    assert first["x_groq"] == {"id": finish["x_groq"]["id"]}
    assert (
        finish["x_groq"]["usage"]["total_tokens"] == 5 and "total_time" in finish["x_groq"]["usage"]
    )
    assert [m.id for m in groq_client.models.list()] == ["llama-3.3-70b-versatile"]


@pytest.mark.parametrize(
    "extra",
    [
        {"logprobs": True},
        {"top_logprobs": 2},
        {"logit_bias": {"1": 5}},
        {"n": 2},
        {"messages": [{"role": "user", "content": "hi", "name": "bob"}]},
    ],
)
def test_groq_rejects_unsupported_fields(groq_client: openai.OpenAI, extra: dict[str, Any]) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        groq_client.chat.completions.create(**{"model": "m", "messages": HELLO, **extra})
    assert caught.value.type == "invalid_request_error"


def test_groq_faults(groq_client: openai.OpenAI, groq: MockUpstream) -> None:
    groq.enqueue(Fault.tool_use_failed())
    with pytest.raises(openai.BadRequestError) as failed:
        groq_client.chat.completions.create(model="m", messages=HELLO, tools=[WEATHER_TOOL])
    assert failed.value.code == "tool_use_failed"
    assert isinstance(failed.value.body, dict) and "failed_generation" in failed.value.body
    groq.enqueue(Fault.rate_limit(retry_after=2, profile="groq"))
    with pytest.raises(openai.RateLimitError) as limited:
        groq_client.chat.completions.create(model="m", messages=HELLO)
    assert limited.value.response.headers["retry-after"] == "2" and limited.value.type == "tokens"
    with (
        openai.OpenAI(base_url=groq.url + "/openai/v1", api_key="gsk_wrong", max_retries=0) as sdk,
        pytest.raises(openai.AuthenticationError) as denied,
    ):
        sdk.models.list()
    assert denied.value.code == "invalid_api_key"
