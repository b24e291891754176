"""The official `openai` SDK through a real pllm server to a mock OpenAI upstream."""

from __future__ import annotations

import base64
import json
import struct
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from mockups import Fault, MockUpstream
from server import PllmServer, serving

pytestmark = pytest.mark.e2e

UPSTREAM_KEY = "sk-upstream-openai-0123456789abcdef"
MASTER = "sk-gateway-master-test-0123456789"
CONFIG = """
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {url}/v1
      api_key: os.environ/TEST_UPSTREAM_KEY
  - model_name: smart
    litellm_params:
      model: openai/gpt-4o
      api_base: {url}/v1
      api_key: os.environ/TEST_UPSTREAM_KEY
      temperature: 0.25
  - model_name: instruct
    litellm_params:
      model: openai/gpt-3.5-turbo-instruct
      api_base: {url}/v1
      api_key: os.environ/TEST_UPSTREAM_KEY
  - model_name: embed
    litellm_params:
      model: openai/text-embedding-3-small
      api_base: {url}/v1
      api_key: os.environ/TEST_UPSTREAM_KEY
  - model_name: "openai/*"
    litellm_params:
      model: "openai/*"
      api_base: {url}/v1
      api_key: os.environ/TEST_UPSTREAM_KEY
  - model_name: dead
    litellm_params:
      model: openai/gpt-4o
      api_base: http://127.0.0.1:{dead_port}/v1
      api_key: os.environ/TEST_UPSTREAM_KEY
# One attempt per request: these tests check how each upstream answer is translated
# (retries and failover have their own tests).
router:
  retries: 0
general_settings:
  master_key: os.environ/TEST_MASTER_KEY
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockUpstream]:
    with MockUpstream("openai", api_key=UPSTREAM_KEY) as up:
        yield up


@pytest.fixture(scope="module")
def gateway(upstream: MockUpstream,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[PllmServer]:
    from server import free_port

    config = CONFIG.format(url=upstream.url, dead_port=free_port())
    server = PllmServer(tmp_path_factory.mktemp("gw"), config,
                        env={"TEST_UPSTREAM_KEY": UPSTREAM_KEY, "TEST_MASTER_KEY": MASTER})
    with serving(server, (UPSTREAM_KEY, MASTER)):
        yield server


@pytest.fixture
def client(gateway: PllmServer, upstream: MockUpstream) -> Iterator[openai.OpenAI]:
    upstream.clear()
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0) as c:
        yield c


def last_request(upstream: MockUpstream):  # type: ignore[no-untyped-def]
    assert upstream.requests, "the upstream received nothing"
    return upstream.requests[-1]


def test_chat_reaches_upstream_with_its_key_and_model(client: openai.OpenAI,
                                                      upstream: MockUpstream) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}],
        extra_headers={"x-request-id": "trace-123"},
        extra_body={"brand_new_param": {"x": 1}})
    completion = raw.parse()
    assert completion.choices[0].message.content == "echo: hello there"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    seen = last_request(upstream)
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert seen.json["model"] == "gpt-4o-mini"
    assert seen.json["brand_new_param"] == {"x": 1}, "unknown parameters must pass through"
    assert raw.headers["x-request-id"] == "trace-123"
    assert raw.headers["x-pllm-model"].startswith("gpt-4o-mini.openai.")
    assert 0 <= float(raw.headers["x-pllm-overhead-ms"]) < 1000


def test_alias_maps_to_upstream_model_and_applies_defaults(client: openai.OpenAI,
                                                           upstream: MockUpstream) -> None:
    client.chat.completions.create(model="smart", messages=[{"role": "user", "content": "a"}])
    assert last_request(upstream).json["model"] == "gpt-4o"
    assert last_request(upstream).json["temperature"] == 0.25
    client.chat.completions.create(model="smart", temperature=0.9,
                                   messages=[{"role": "user", "content": "a"}])
    assert last_request(upstream).json["temperature"] == 0.9, "the client's value wins"


def test_wildcard_passes_the_model_through(client: openai.OpenAI, upstream: MockUpstream) -> None:
    client.chat.completions.create(model="openai/gpt-4.1-nano",
                                   messages=[{"role": "user", "content": "a"}])
    assert last_request(upstream).json["model"] == "gpt-4.1-nano"


def test_stream_with_usage(client: openai.OpenAI, upstream: MockUpstream) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "count to three"}],
        stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: count to three"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4


def test_stream_without_usage_still_asks_upstream_for_it(client: openai.OpenAI,
                                                         upstream: MockUpstream) -> None:
    chunks = list(client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert all(c.choices for c in chunks), "the gateway's own usage chunk leaked to the client"
    assert last_request(upstream).json["stream_options"] == {"include_usage": True}


TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                   "required": ["location"]}}}]


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_round_trip(client: openai.OpenAI, stream: bool) -> None:
    messages: list[dict[str, object]] = [{"role": "user", "content": "weather in Paris?"}]
    if stream:
        calls: dict[int, dict[str, str]] = {}
        finish = None
        for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=messages,
                                                    tools=TOOLS, stream=True):
            for choice in chunk.choices:
                finish = choice.finish_reason or finish
                for tc in choice.delta.tool_calls or []:
                    slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                    slot["id"] += tc.id or ""
                    slot["name"] += (tc.function.name or "") if tc.function else ""
                    slot["arguments"] += (tc.function.arguments or "") if tc.function else ""
        assert finish == "tool_calls"
        call = calls[0]
    else:
        resp = client.chat.completions.create(model="gpt-4o-mini", messages=messages,
                                              tools=TOOLS)
        assert resp.choices[0].finish_reason == "tool_calls"
        tc = resp.choices[0].message.tool_calls[0]  # type: ignore[index]
        call = {"id": tc.id, "name": tc.function.name, "arguments": tc.function.arguments}
    assert call["name"] == "get_weather"
    assert "location" in json.loads(call["arguments"])
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": call["id"], "type": "function",
            "function": {"name": call["name"], "arguments": call["arguments"]}}]},
        {"role": "tool", "tool_call_id": call["id"], "content": "22C and sunny"},
    ]
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
    assert answer.choices[0].message.content == "tool said: 22C and sunny"


def test_image_input_passes_through(client: openai.OpenAI, upstream: MockUpstream) -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png",
                                                "detail": "low"}}
    resp = client.chat.completions.create(model="gpt-4o-mini", messages=[
        {"role": "user", "content": [{"type": "text", "text": "what is this"}, image]}])
    assert resp.choices[0].message.content == "echo: what is this"
    assert last_request(upstream).json["messages"][0]["content"][1] == image


def test_n_and_json_mode(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(model="gpt-4o-mini", n=2,
                                          response_format={"type": "json_object"},
                                          messages=[{"role": "user", "content": "json please"}])
    assert len(resp.choices) == 2
    assert isinstance(json.loads(resp.choices[0].message.content or ""), dict)


def test_legacy_completions(client: openai.OpenAI, upstream: MockUpstream) -> None:
    resp = client.completions.create(model="instruct", prompt="Say this is a test")
    assert resp.object == "text_completion" and resp.choices[0].text
    assert last_request(upstream).path == "/v1/completions"
    pieces = list(client.completions.create(model="instruct", prompt="Say this", stream=True))
    assert "".join(p.choices[0].text for p in pieces if p.choices)


def test_embeddings_float_and_base64(client: openai.OpenAI, upstream: MockUpstream) -> None:
    floats = client.embeddings.create(model="embed", input=["a", "b"])
    assert len(floats.data) == 2 and len(floats.data[0].embedding) > 0
    assert last_request(upstream).path == "/v1/embeddings"
    raw = httpx.post(str(client.base_url) + "embeddings",
                     headers={"authorization": f"Bearer {MASTER}"},
                     json={"model": "embed", "input": "a", "encoding_format": "base64"})
    blob = base64.b64decode(raw.json()["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(blob) // 4}f", blob)) == pytest.approx(
        floats.data[0].embedding, rel=1e-6)


def test_models(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert {"gpt-4o-mini", "smart", "embed"} <= set(ids)
    assert client.models.retrieve("smart").id == "smart"
    assert client.models.retrieve("openai/gpt-4.1").id == "openai/gpt-4.1"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_client_errors(client: openai.OpenAI, gateway: PllmServer) -> None:
    with pytest.raises(openai.NotFoundError) as nf:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert nf.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert bad.value.param == "messages"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-wrong", max_retries=0) \
            .models.list()
    r = httpx.post(gateway.url + "/v1/chat/completions", content=b"{not json",
                   headers={"authorization": f"Bearer {MASTER}"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.get(gateway.url + "/v2/nothing", headers={"authorization": f"Bearer {MASTER}"})
    assert r.status_code == 404 and "error" in r.json()


def test_upstream_rate_limit_keeps_status_and_retry_after(client: openai.OpenAI,
                                                          upstream: MockUpstream) -> None:
    upstream.enqueue(Fault.rate_limit(retry_after=7))
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="gpt-4o-mini",
                                       messages=[{"role": "user", "content": "x"}])
    assert e.value.response.headers["retry-after"] == "7"
    assert e.value.code == "rate_limit_exceeded"


def test_upstream_context_length(client: openai.OpenAI, upstream: MockUpstream) -> None:
    upstream.enqueue(Fault.context_length())
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="gpt-4o-mini",
                                       messages=[{"role": "user", "content": "x"}])
    assert e.value.code == "context_length_exceeded"


def test_upstream_failures_are_gateway_errors(client: openai.OpenAI,
                                              upstream: MockUpstream) -> None:
    upstream.enqueue(Fault.server_error())
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model="gpt-4o-mini",
                                       messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 502
    assert "server had an error" in e.value.message
    upstream.enqueue(Fault.overloaded())
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model="gpt-4o-mini",
                                       messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 503
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model="dead", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 502
    assert UPSTREAM_KEY not in e.value.message


def test_stream_error_before_first_chunk_is_a_plain_error(client: openai.OpenAI,
                                                          upstream: MockUpstream) -> None:
    upstream.enqueue(Fault.rate_limit(retry_after=3))
    with pytest.raises(openai.RateLimitError):
        list(client.chat.completions.create(model="gpt-4o-mini", stream=True,
                                            messages=[{"role": "user", "content": "x"}]))


def test_stream_dying_midway_is_an_error_not_a_truncation(client: openai.OpenAI,
                                                          upstream: MockUpstream) -> None:
    upstream.enqueue(Fault(die_mid_stream=3))
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model="gpt-4o-mini", stream=True,
                                            messages=[{"role": "user", "content": "a b c d"}]))


def test_client_disconnect_cancels_the_upstream_stream(gateway: PllmServer,
                                                       upstream: MockUpstream) -> None:
    upstream.enqueue(Fault(chunk_delay_s=0.2))
    body = {"model": "gpt-4o-mini", "stream": True,
            "messages": [{"role": "user", "content": "one two three four five six seven"}]}
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body,
                      headers={"authorization": f"Bearer {MASTER}"}) as r:
        first = next(r.iter_raw())
        assert first.startswith(b"data: ")
    deadline = time.monotonic() + 5
    while upstream.aborted == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream.aborted == 1, "the upstream stream kept running after the client left"
