"""Proves the Bedrock mock speaks Bedrock Runtime's wire format: boto3's `bedrock-runtime` client
(SigV4 with explicit keys, or a Bedrock API key) parses everything it sends, including the
binary ConverseStream body, and its faults surface as the botocore errors a real service causes.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import ClientError, EventStreamError

from .bedrock_mock import BedrockMock, Fault, encode_frame

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
KEY_ID = "AKIAMOCKBEDROCK00001"
SECRET = "mock/Secret+Key/bedrock0000000000000000"
API_KEY = "ABSKbW9jay1iZWRyb2NrLWFwaS1rZXk="
WEATHER: Any = {"toolSpec": {"name": "get_weather", "description": "Current weather",
                             "inputSchema": {"json": {"type": "object",
                                                      "properties": {"city": {"type": "string"}},
                                                      "required": ["city"]}}}}
# A 1x1 transparent PNG.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
                       "60e6kgAAAABJRU5ErkJggg==")


@pytest.fixture(scope="module")
def mock() -> Iterator[BedrockMock]:
    with BedrockMock(access_key_id=KEY_ID, secret_access_key=SECRET, api_key=API_KEY) as m:
        yield m


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Explicit keys only: nothing from the machine's AWS setup, no metadata-service lookups."""
    for name in ("AWS_BEARER_TOKEN_BEDROCK", "AWS_PROFILE", "AWS_ACCESS_KEY_ID",
                 "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


_OPEN: list[Any] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()  # boto3 keeps pooled sockets open until closed


def client(mock: BedrockMock, *, key_id: str | None = KEY_ID, secret: str | None = SECRET) -> Any:
    c = boto3.client("bedrock-runtime", endpoint_url=mock.url, region_name="us-east-1",
                     aws_access_key_id=key_id, aws_secret_access_key=secret,
                     config=Config(retries={"total_max_attempts": 1}))
    _OPEN.append(c)
    return c


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": [{"text": text}]}]


def test_converse_text_signed_with_sigv4(mock: BedrockMock) -> None:
    out = client(mock).converse(modelId=HAIKU, messages=user("hello bedrock"),
                                system=[{"text": "be brief"}],
                                inferenceConfig={"maxTokens": 50, "temperature": 0.2})
    assert out["output"]["message"]["content"] == [{"text": "echo: hello bedrock"}]
    assert out["stopReason"] == "end_turn"
    assert out["usage"] == {"inputTokens": 4, "outputTokens": 3, "totalTokens": 7}
    seen = mock.requests[-1]
    assert seen.raw_path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    assert seen.model == HAIKU and seen.auth == "sigv4"
    assert seen.headers["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={KEY_ID}/")
    assert "/us-east-1/bedrock/aws4_request" in seen.headers["authorization"]


def test_converse_stream_frames_parse_in_botocore(mock: BedrockMock) -> None:
    out = client(mock).converse_stream(modelId=HAIKU, messages=user("stream these words"))
    events = list(out["stream"])
    names = [next(iter(e)) for e in events]
    assert names[0] == "messageStart" and names[-2:] == ["messageStop", "metadata"]
    assert "contentBlockStart" not in names  # text blocks start with their deltas
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events
                   if "contentBlockDelta" in e)
    assert text == "echo: stream these words"
    assert events[-1]["metadata"]["usage"]["totalTokens"] == 3 + 4


def test_stream_bytes_have_padding_and_valid_crcs(mock: BedrockMock) -> None:
    out = client(mock).converse_stream(modelId=HAIKU, messages=user("pad me"))
    raw = out["ResponseMetadata"]["HTTPHeaders"]
    assert raw["content-type"] == "application/vnd.amazon.eventstream"
    for _ in out["stream"]:
        pass
    # Decode the same answer's bytes with botocore's parser directly (CRCs checked there).
    body = _raw_stream(mock, user("pad me"))
    buf = EventStreamBuffer()
    buf.add_data(body)
    messages = list(buf)
    assert all(json.loads(m.payload)["p"] for m in messages)
    assert {m.headers[":message-type"] for m in messages} == {"event"}


def _raw_stream(mock: BedrockMock, messages: list[Any]) -> bytes:
    """POST with a Bedrock API key via urllib and return the raw event-stream bytes."""
    req = urllib.request.Request(
        f"{mock.url}/model/{HAIKU}/converse-stream", method="POST",
        data=json.dumps({"messages": messages}).encode(),
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return bytes(resp.read())


def test_encode_frame_matches_the_reference_bytes() -> None:
    """The frame from the wire notes (computed with botocore 1.43.11): messageStart."""
    frame = encode_frame({":event-type": "messageStart", ":content-type": "application/json",
                          ":message-type": "event"}, b'{"role":"assistant"}')
    assert len(frame) == 118
    assert frame[8:12] == bytes.fromhex("96d5fade") and frame[-4:] == bytes.fromhex("6fa8c599")
    assert struct.unpack(">I", frame[-4:])[0] == binascii.crc32(frame[:-4])


def test_tool_round_trip(mock: BedrockMock) -> None:
    c = client(mock)
    first = c.converse(modelId=HAIKU, messages=user("weather in Paris?"),
                       toolConfig={"tools": [WEATHER], "toolChoice": {"any": {}}})
    assert first["stopReason"] == "tool_use"
    use = first["output"]["message"]["content"][0]["toolUse"]
    assert use["name"] == "get_weather" and use["input"] == {"city": "Paris"}
    history = [
        *user("weather in Paris?"), first["output"]["message"],
        {"role": "user", "content": [{"toolResult": {"toolUseId": use["toolUseId"],
                                                     "content": [{"text": "sunny, 21C"}]}}]}]
    second = c.converse(modelId=HAIKU, messages=history, toolConfig={"tools": [WEATHER]})
    assert second["output"]["message"]["content"][0]["text"] == "tool said: sunny, 21C"


def test_tool_stream_has_block_start_and_input_fragments(mock: BedrockMock) -> None:
    out = client(mock).converse_stream(modelId=HAIKU, messages=user("weather?"),
                                       toolConfig={"tools": [WEATHER]})
    events = list(out["stream"])
    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    assert start["start"]["toolUse"]["name"] == "get_weather"
    args = "".join(e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events
                   if "contentBlockDelta" in e)
    assert json.loads(args) == {"city": "Paris"}
    assert next(e for e in events if "messageStop" in e)["messageStop"]["stopReason"] == \
        "tool_use"


def test_tool_history_without_tool_config_is_refused(mock: BedrockMock) -> None:
    history = [
        *user("hi"), {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "x",
                                                       "input": {}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t1",
                                                     "content": [{"text": "ok"}]}}]}]
    with pytest.raises(ClientError) as e:
        client(mock).converse(modelId=HAIKU, messages=history)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "toolConfig field must be defined" in e.value.response["Error"]["Message"]


def test_image_bytes(mock: BedrockMock) -> None:
    msg = [{"role": "user", "content": [{"text": "what is this"},
                                        {"image": {"format": "png", "source": {"bytes": PNG}}}]}]
    client(mock).converse(modelId=HAIKU, messages=msg)
    sent = mock.requests[-1].json["messages"][0]["content"][1]["image"]
    assert base64.b64decode(sent["source"]["bytes"]) == PNG  # boto3 base64-encodes blobs


def test_invoke_model_titan_and_cohere_embeddings(mock: BedrockMock) -> None:
    c = client(mock)
    titan = c.invoke_model(modelId="amazon.titan-embed-text-v2:0",
                           body=json.dumps({"inputText": "hello world", "dimensions": 256}))
    data = json.loads(titan["body"].read())
    assert len(data["embedding"]) == 256 and data["inputTextTokenCount"] == 2
    assert titan["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-input-token-count"] == "2"
    cohere = c.invoke_model(modelId="cohere.embed-english-v3", body=json.dumps(
        {"texts": ["a b", "c"], "input_type": "search_document"}))
    data = json.loads(cohere["body"].read())
    assert data["response_type"] == "embeddings_floats" and len(data["embeddings"]) == 2
    with pytest.raises(ClientError) as e:
        c.invoke_model(modelId="amazon.titan-embed-text-v1",
                       body=json.dumps({"inputText": "x", "dimensions": 256}))
    assert "extraneous key [dimensions]" in e.value.response["Error"]["Message"]


@pytest.mark.parametrize(("fault", "code", "status"), [
    (Fault.throttling(), "ThrottlingException", 429),
    (Fault.context_length(), "ValidationException", 400),
    (Fault.unavailable(), "ServiceUnavailableException", 503),
    (Fault.model_error(), "ModelErrorException", 424),
])
def test_error_faults_are_botocore_client_errors(mock: BedrockMock, fault: Fault, code: str,
                                                 status: int) -> None:
    mock.enqueue(fault)
    with pytest.raises(ClientError) as e:
        client(mock).converse(modelId=HAIKU, messages=user("hi"))
    assert e.value.response["Error"]["Code"] == code
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert e.value.response["Error"]["Message"] == fault.message


def test_mid_stream_exception_frame(mock: BedrockMock) -> None:
    mock.enqueue(Fault.mid_stream("throttlingException", after_events=2))
    out = client(mock).converse_stream(modelId=HAIKU, messages=user("one two three"))
    seen = []
    with pytest.raises(EventStreamError) as e:
        try:
            for event in out["stream"]:
                seen.append(event)
        finally:
            out["stream"].close()
    assert len(seen) == 2
    assert e.value.response["Error"]["Code"] == "throttlingException"


def test_wrong_secret_and_unknown_key_are_refused_like_aws(mock: BedrockMock) -> None:
    with pytest.raises(ClientError) as e:
        client(mock, secret="not-the-secret").converse(modelId=HAIKU, messages=user("hi"))
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as e:
        client(mock, key_id="AKIAUNKNOWN000000000").converse(modelId=HAIKU, messages=user("x"))
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_missing_auth_is_refused(mock: BedrockMock) -> None:
    req = urllib.request.Request(f"{mock.url}/model/{HAIKU}/converse", method="POST",
                                 data=json.dumps({"messages": user("hi")}).encode())
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    with e.value as resp:
        assert resp.code == 403
        assert json.loads(resp.read()) == {"Message": "Authorization header is missing"}
    assert mock.requests[-1].auth is None


def test_bedrock_api_key(mock: BedrockMock, monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 reads AWS_BEARER_TOKEN_BEDROCK but refuses to send a bearer token over plain
    HTTP (botocore.auth.BearerAuth), so the mock's bearer path is exercised directly; the
    wrong key is refused like an unknown access key."""
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", API_KEY)
    with pytest.raises(Exception, match="Bearer authorization requires an HTTPS endpoint"):
        client(mock, key_id=None, secret=None).converse(modelId=HAIKU, messages=user("x"))
    body = _raw_stream(mock, user("bearer please"))
    assert b"bearer" in body and mock.requests[-1].auth == "bearer"
    req = urllib.request.Request(f"{mock.url}/model/{HAIKU}/converse", method="POST",
                                 data=json.dumps({"messages": user("hi")}).encode(),
                                 headers={"Authorization": "Bearer wrong-key"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    with e.value as resp:
        assert resp.code == 403
        assert resp.headers["x-amzn-ErrorType"].split(":")[0] == "UnrecognizedClientException"


def test_raw_model_id_is_accepted(mock: BedrockMock) -> None:
    body = _raw_stream(mock, user("raw id"))
    assert body and mock.requests[-1].raw_path == f"/model/{HAIKU}/converse-stream"
    assert mock.requests[-1].model == HAIKU
