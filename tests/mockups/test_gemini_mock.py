"""Proves the Gemini mock speaks Google's wire formats: the official google-genai SDK, pointed at it
as the Gemini Developer API (API key) and as Vertex AI (service-account OAuth through a local
token server), parses everything it sends, and faults surface as the SDK's own exceptions."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from google.genai import Client, errors, types
from google.oauth2 import service_account

from .gemini_mock import SIGNATURE, Fault, GeminiMock, mock_vector
from .google_token import SCOPE, GoogleTokenServer

KEY = "gemini-mock-key-0123456789"
WEATHER = types.Tool(function_declarations=[types.FunctionDeclaration(
    name="get_weather", description="Current weather",
    parameters_json_schema={"type": "object", "properties": {"location": {"type": "string"}},
                            "required": ["location"]})])


@pytest.fixture(scope="module")
def tokens() -> Iterator[GoogleTokenServer]:
    with GoogleTokenServer() as server:
        yield server


@pytest.fixture(scope="module")
def mock(tokens: GoogleTokenServer) -> Iterator[GeminiMock]:
    with GeminiMock(api_key=KEY, tokens=tokens) as m:
        yield m


@pytest.fixture
def gemini(mock: GeminiMock) -> Iterator[Client]:
    mock.clear()
    with Client(api_key=KEY, http_options=types.HttpOptions(base_url=mock.url)) as client:
        yield client


@pytest.fixture
def vertex(mock: GeminiMock, tokens: GoogleTokenServer) -> Iterator[Client]:
    mock.clear()
    creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        tokens.service_account(), scopes=[SCOPE])
    with Client(vertexai=True, project="proj-1", location="us-central1", credentials=creds,
                http_options=types.HttpOptions(base_url=mock.url)) as client:
        yield client


def raw_post(mock: GeminiMock, path: str, body: dict[str, Any],
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", int(mock.url.rsplit(":", 1)[1]), timeout=10)
    try:
        conn.request("POST", path, orjson.dumps(body),
                     {"content-type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# -- Gemini Developer API ---------------------------------------------------------------------
def test_generate_content(gemini: Client, mock: GeminiMock) -> None:
    resp = gemini.models.generate_content(
        model="gemini-2.0-flash", contents="hello there",
        config=types.GenerateContentConfig(system_instruction="be brief", temperature=0.2))
    assert resp.text == "echo: hello there"
    assert resp.candidates and resp.candidates[0].finish_reason == types.FinishReason.STOP
    assert resp.usage_metadata and resp.usage_metadata.prompt_token_count == 4
    assert resp.usage_metadata.candidates_token_count == 3
    seen = mock.requests[-1]
    assert seen.path == "/v1/models/gemini-2.0-flash:generateContent"  # google-genai 3.x: v1
    assert seen.headers["x-goog-api-key"] == KEY and "key" not in seen.query
    assert seen.json["systemInstruction"]["parts"] == [{"text": "be brief"}]
    assert seen.json["generationConfig"] == {"temperature": 0.2}


def test_stream_uses_sse_with_crlf(gemini: Client, mock: GeminiMock) -> None:
    chunks = list(gemini.models.generate_content_stream(
        model="gemini-2.0-flash", contents="one two three four five"))
    assert "".join(c.text or "" for c in chunks) == "echo: one two three four five"
    assert len(chunks) > 2
    last = chunks[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata and last.usage_metadata.candidates_token_count == 6
    assert mock.requests[-1].query == {"alt": "sse"}
    status, raw = raw_post(mock, "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
                           {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
                           {"x-goog-api-key": KEY})
    assert status == 200 and raw.startswith(b"data: {") and raw.endswith(b"\r\n\r\n")
    assert b"[DONE]" not in raw
    status, raw = raw_post(mock, "/v1beta/models/gemini-2.0-flash:streamGenerateContent",
                           {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
                           {"x-goog-api-key": KEY})
    assert status == 200 and isinstance(orjson.loads(raw), list)


def test_function_calling_round_trip(gemini: Client) -> None:
    config = types.GenerateContentConfig(
        tools=[WEATHER],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))
    question = types.Content(role="user", parts=[types.Part(text="Paris")])
    resp = gemini.models.generate_content(model="gemini-2.0-flash", contents=[question],
                                          config=config)
    calls = resp.function_calls or []
    assert [(c.name, c.args, c.id) for c in calls] == [("get_weather", {"location": "Paris"}, None)]
    assert resp.candidates and resp.candidates[0].finish_reason == types.FinishReason.STOP
    answer = types.Content(role="user", parts=[types.Part.from_function_response(
        name="get_weather", response={"content": "sunny, 21C"})])
    assert resp.candidates[0].content is not None
    final = gemini.models.generate_content(
        model="gemini-2.0-flash", contents=[question, resp.candidates[0].content, answer],
        config=config)
    assert final.text == "tool said: sunny, 21C"


def test_gemini_3_requires_thought_signatures(gemini: Client) -> None:
    config = types.GenerateContentConfig(
        tools=[WEATHER],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))
    question = types.Content(role="user", parts=[types.Part(text="Oslo")])
    resp = gemini.models.generate_content(model="gemini-3-pro-preview", contents=[question],
                                          config=config)
    assert resp.candidates and resp.candidates[0].content and resp.candidates[0].content.parts
    part = resp.candidates[0].content.parts[0]
    assert part.function_call and part.function_call.id
    assert part.thought_signature == b"signature-of-the-mock" and SIGNATURE
    answer = types.Content(role="user", parts=[types.Part.from_function_response(
        name="get_weather", response={"content": "snow"})])
    final = gemini.models.generate_content(
        model="gemini-3-pro-preview", contents=[question, resp.candidates[0].content, answer],
        config=config)
    assert final.text == "tool said: snow"
    unsigned = types.Content(role="model", parts=[types.Part(function_call=part.function_call)])
    with pytest.raises(errors.ClientError) as info:
        gemini.models.generate_content(model="gemini-3-pro-preview",
                                       contents=[question, unsigned, answer], config=config)
    assert info.value.code == 400 and "thought_signature" in (info.value.message or "")


def test_thoughts_and_candidates(gemini: Client) -> None:
    resp = gemini.models.generate_content(
        model="gemini-2.5-flash", contents="why",
        config=types.GenerateContentConfig(
            candidate_count=2, thinking_config=types.ThinkingConfig(include_thoughts=True)))
    assert resp.candidates and len(resp.candidates) == 2
    parts = resp.candidates[0].content.parts if resp.candidates[0].content else None
    assert parts and parts[0].thought is True and parts[0].text == "Thinking about: why"
    assert resp.usage_metadata and resp.usage_metadata.thoughts_token_count == 6


def test_embed_content(gemini: Client, mock: GeminiMock) -> None:
    resp = gemini.models.embed_content(model="text-embedding-004", contents=["alpha", "beta"],
                                       config=types.EmbedContentConfig(output_dimensionality=4))
    assert resp.embeddings and [e.values for e in resp.embeddings] == \
        [mock_vector("alpha", 4), mock_vector("beta", 4)]
    seen = mock.requests[-1]
    assert seen.path == "/v1/models/text-embedding-004:batchEmbedContents"
    assert seen.json["requests"][0]["model"] == "models/text-embedding-004"


@pytest.mark.parametrize(("fault", "error", "code", "status"), [
    (Fault.rate_limit(), errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
    (Fault.context_length(), errors.ClientError, 400, "INVALID_ARGUMENT"),
    (Fault.unavailable(), errors.ServerError, 503, "UNAVAILABLE"),
])
def test_faults_raise_the_sdk_errors(gemini: Client, mock: GeminiMock, fault: Fault,
                                     error: type[errors.APIError], code: int,
                                     status: str) -> None:
    mock.enqueue(fault)
    with pytest.raises(error) as info:
        gemini.models.generate_content(model="gemini-2.0-flash", contents="hi")
    assert (info.value.code, info.value.status) == (code, status)
    if code == 429:
        details = info.value.details["error"]["details"]
        assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"} in details


def test_bad_key_and_unknown_model(mock: GeminiMock) -> None:
    with Client(api_key="wrong-key", http_options=types.HttpOptions(base_url=mock.url)) as bad, \
            pytest.raises(errors.ClientError) as info:
        bad.models.generate_content(model="gemini-2.0-flash", contents="hi")
    assert info.value.code == 400 and "API key not valid" in (info.value.message or "")
    with Client(api_key=KEY, http_options=types.HttpOptions(base_url=mock.url)) as good, \
            pytest.raises(errors.ClientError) as info:
        good.models.generate_content(model="unknown-model", contents="hi")
    assert (info.value.code, info.value.status) == (404, "NOT_FOUND")


def test_safety_block_and_mid_stream_error(gemini: Client, mock: GeminiMock) -> None:
    mock.enqueue(Fault.safety_block())
    resp = gemini.models.generate_content(model="gemini-2.0-flash", contents="bad things")
    assert resp.candidates is None
    assert resp.prompt_feedback and resp.prompt_feedback.block_reason == types.BlockedReason.SAFETY
    mock.enqueue(Fault.safety_block("answer"))
    resp = gemini.models.generate_content(model="gemini-2.0-flash", contents="bad things")
    assert resp.candidates and resp.candidates[0].finish_reason == types.FinishReason.SAFETY
    mock.enqueue(Fault.error_mid_stream(after=1))
    seen = []
    with pytest.raises(errors.ServerError) as info:
        for chunk in gemini.models.generate_content_stream(model="gemini-2.0-flash",
                                                           contents="one two three four"):
            seen.append(chunk.text)
    assert seen == ["echo: one "] and info.value.code == 500


def test_request_checks(mock: GeminiMock) -> None:
    def post(body: dict[str, Any]) -> tuple[int, Any]:
        status, raw = raw_post(mock, "/v1beta/models/gemini-2.0-flash:generateContent", body,
                               {"x-goog-api-key": KEY})
        return status, orjson.loads(raw)

    status, body = post({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]})
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    assert post({"contents": [{"role": "user", "parts": []}]})[0] == 400
    assert post({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "labels": {}})[0] == 400
    fr = {"functionResponse": {"name": "f", "response": "plain text"}}
    assert post({"contents": [{"role": "user", "parts": [fr]}]})[0] == 400
    assert post({"contents": [{"role": "user", "parts": [{"text": "x"}]}],
                 "generationConfig": {"max_tokens": 3}})[0] == 400
    status, _ = raw_post(mock, "/v1beta/models/gemini-2.0-flash:generateContent",
                         {"contents": [{"role": "user", "parts": [{"text": "x"}]}]})
    assert status == 403  # no key at all


# -- Vertex AI --------------------------------------------------------------------------------
def test_vertex_generate_stream_and_embed(vertex: Client, mock: GeminiMock,
                                          tokens: GoogleTokenServer) -> None:
    resp = vertex.models.generate_content(model="gemini-2.0-flash", contents="hello vertex")
    assert resp.text == "echo: hello vertex"
    seen = mock.requests[-1]
    assert seen.api == "vertex" and (seen.project, seen.location) == ("proj-1", "us-central1")
    assert seen.path == ("/v1beta1/projects/proj-1/locations/us-central1/publishers/google/"
                         "models/gemini-2.0-flash:generateContent")
    assert tokens.valid(seen.headers["authorization"])
    chunks = list(vertex.models.generate_content_stream(model="gemini-2.0-flash",
                                                        contents="a b c"))
    assert "".join(c.text or "" for c in chunks) == "echo: a b c"
    assert chunks[-1].usage_metadata and chunks[-1].usage_metadata.total_token_count == 7
    emb = vertex.models.embed_content(model="text-embedding-004", contents=["x y"],
                                      config=types.EmbedContentConfig(output_dimensionality=3))
    assert emb.embeddings and emb.embeddings[0].values == mock_vector("x y", 3)
    stats = emb.embeddings[0].statistics
    assert stats is not None and stats.token_count == 2
    assert mock.requests[-1].path.endswith("/models/text-embedding-004:predict")


def test_vertex_errors(vertex: Client, mock: GeminiMock) -> None:
    mock.enqueue(Fault.rate_limit())
    with pytest.raises(errors.ClientError) as info:
        vertex.models.generate_content(model="gemini-2.0-flash", contents="hi")
    assert (info.value.code, info.value.status) == (429, "RESOURCE_EXHAUSTED")
    mock.enqueue(Fault.unavailable())
    with pytest.raises(errors.ServerError) as server:
        vertex.models.generate_content(model="gemini-2.0-flash", contents="hi")
    assert server.value.code == 503
    mock.enqueue(Fault.safety_block())
    blocked = vertex.models.generate_content(model="gemini-2.0-flash", contents="hi")
    assert blocked.prompt_feedback and blocked.prompt_feedback.block_reason == \
        types.BlockedReason.SAFETY


def test_vertex_function_call_and_bad_token(vertex: Client, mock: GeminiMock) -> None:
    resp = vertex.models.generate_content(
        model="gemini-2.0-flash", contents="Rome",
        config=types.GenerateContentConfig(
            tools=[WEATHER],
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)))
    assert resp.function_calls and resp.function_calls[0].args == {"location": "Rome"}
    status, raw = raw_post(
        mock, "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:"
        "generateContent", {"contents": [{"role": "user", "parts": [{"text": "x"}]}]},
        {"authorization": "Bearer ya29.forged"})
    assert status == 401 and orjson.loads(raw)["error"]["status"] == "UNAUTHENTICATED"
