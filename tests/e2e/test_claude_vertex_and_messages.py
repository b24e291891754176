"""Claude on Vertex AI (rawPredict with Google OAuth) through the openai SDK, and pllm's
`/v1/messages` answered by Anthropic models, direct and on Vertex, through the anthropic SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import openai
import pytest
from mockups.anthropic_mock import AnthropicFault, AnthropicMock
from mockups.google_token import GoogleTokenServer
from server import PllmServer

pytestmark = pytest.mark.e2e

ANTHROPIC_KEY = "sk-ant-api03-upstream-0123456789abcdef"
MASTER = "sk-master-claude-0123456789"
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object", "properties": {
        "location": {"type": "string"}}, "required": ["location"]}}}]


@pytest.fixture(scope="module")
def tokens() -> Iterator[GoogleTokenServer]:
    with GoogleTokenServer() as server:
        yield server


@pytest.fixture(scope="module")
def claude(tokens: GoogleTokenServer) -> Iterator[AnthropicMock]:
    with AnthropicMock(api_key=ANTHROPIC_KEY, vertex_tokens=tokens) as mock:
        yield mock


@pytest.fixture(scope="module")
def gateway(claude: AnthropicMock, tokens: GoogleTokenServer,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[PllmServer]:
    tmp = tmp_path_factory.mktemp("gw")
    account = tokens.service_account()
    sa_file = tmp / "sa.json"
    sa_file.write_text(json.dumps(account))
    config = f"""
model_list:
  - model_name: claude-vertex
    litellm_params:
      model: vertex_ai/claude-3-5-haiku@20241022
      vertex_project: proj-1
      vertex_location: us-east5
      vertex_credentials: {sa_file}
      api_base: {claude.url}
  - model_name: claude
    litellm_params:
      model: anthropic/claude-3-5-haiku-20241022
      api_base: {claude.url}
      api_key: {ANTHROPIC_KEY}
router:
  retries: 0  # one attempt: the tests check how each answer is translated
general_settings:
  master_key: {MASTER}
"""
    server = PllmServer(tmp, config)
    with server:
        yield server
    logs = server.logs()
    for secret in (ANTHROPIC_KEY, MASTER, account["private_key"].splitlines()[1]):
        assert secret not in logs
    assert not any(token in logs for token in tokens.issued)


@pytest.fixture
def client(gateway: PllmServer, claude: AnthropicMock) -> Iterator[openai.OpenAI]:
    claude.clear()
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0) as c:
        yield c


def test_vertex_claude_raw_predict(client: openai.OpenAI, claude: AnthropicMock,
                                   tokens: GoogleTokenServer) -> None:
    resp = client.chat.completions.create(model="claude-vertex",
                                          messages=[{"role": "user", "content": "hi vertex"}])
    assert "hi vertex" in (resp.choices[0].message.content or "")
    seen = claude.requests[-1]
    assert seen.path == ("/v1/projects/proj-1/locations/us-east5/publishers/anthropic/models/"
                         "claude-3-5-haiku@20241022:rawPredict")
    assert seen.json["anthropic_version"] == "vertex-2023-10-16" and "model" not in seen.json
    assert tokens.valid(seen.headers["authorization"]) and "x-api-key" not in seen.headers


def test_vertex_claude_stream_and_tools(client: openai.OpenAI, claude: AnthropicMock,
                                        tokens: GoogleTokenServer) -> None:
    chunks = list(client.chat.completions.create(
        model="claude-vertex", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "stream it"}]))
    assert "stream it" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert claude.requests[-1].path.endswith(":streamRawPredict")
    resp = client.chat.completions.create(model="claude-vertex", tools=TOOLS,
                                          messages=[{"role": "user", "content": "weather?"}])
    assert resp.choices[0].finish_reason == "tool_calls"
    grants = tokens.grants
    client.chat.completions.create(model="claude-vertex",
                                   messages=[{"role": "user", "content": "again"}])
    assert tokens.grants == grants, "the access token is reused until it nears expiry"


def test_vertex_claude_rate_limit(client: openai.OpenAI, claude: AnthropicMock) -> None:
    claude.enqueue(AnthropicFault.rate_limit(retry_after=3))
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="claude-vertex",
                                       messages=[{"role": "user", "content": "x"}])
    assert e.value.response.headers["retry-after"] == "3"


@pytest.mark.parametrize("model", ["claude", "claude-vertex"])
def test_messages_endpoint_with_anthropic_models(gateway: PllmServer, claude: AnthropicMock,
                                                 model: str) -> None:
    claude.clear()
    with anthropic.Anthropic(base_url=gateway.url, api_key=MASTER, max_retries=0) as ac:
        msg = ac.messages.create(model=model, max_tokens=100, system="Be brief.",
                                 messages=[{"role": "user", "content": "hello claude"}])
        assert msg.model == model and msg.stop_reason == "end_turn"
        assert "hello claude" in msg.content[0].text  # type: ignore[union-attr]
        assert claude.requests[-1].json["system"] == "Be brief."
        with ac.messages.stream(model=model, max_tokens=100,
                                messages=[{"role": "user", "content": "stream claude"}]) as s:
            final = s.get_final_message()
        assert "stream claude" in final.content[0].text  # type: ignore[union-attr]
        assert final.usage.output_tokens > 0
        tool = [{"name": "get_weather", "input_schema": TOOLS[0]["function"]["parameters"]}]
        first = ac.messages.create(model=model, max_tokens=100, tools=tool,  # type: ignore[arg-type]
                                   messages=[{"role": "user", "content": "weather in Rome?"}])
        assert first.stop_reason == "tool_use"
        claude.enqueue(AnthropicFault.overloaded())
        with pytest.raises(anthropic.APIStatusError) as e:
            ac.messages.create(model=model, max_tokens=10,
                               messages=[{"role": "user", "content": "x"}])
        assert e.value.status_code == 503
        assert e.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_count_tokens_uses_anthropics_counter_for_anthropic_models(
        gateway: PllmServer, claude: AnthropicMock) -> None:
    claude.clear()
    with anthropic.Anthropic(base_url=gateway.url, api_key=MASTER, max_retries=0) as ac:
        count = ac.messages.count_tokens(model="claude", system="be terse",
                                         messages=[{"role": "user", "content": "one two three"}])
    assert count.input_tokens > 0
    seen = claude.requests[-1]
    assert seen.path == "/v1/messages/count_tokens"
    assert seen.json["model"] == "claude-3-5-haiku-20241022"
    assert seen.headers["x-api-key"] == ANTHROPIC_KEY
