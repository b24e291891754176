"""A mock AWS Bedrock Runtime for pllm's tests: Converse, ConverseStream and InvokeModel
(Titan and Cohere embeddings), on 127.0.0.1 in its own thread (aiohttp), like openai_family.py.

Wire format (sources in tests/fixtures/providers/bedrock/README.md and
/work/shared/providers/bedrock.md):
- paths `/model/{modelId}/converse|converse-stream|invoke`; the id may come percent-encoded
  (`%3A`, as botocore sends it) or raw.
- auth: SigV4 is checked for real: the signature is recomputed with botocore from the received
  method, raw path, signed headers and body and the mock's credentials (service `bedrock`, the
  mock's region). Failures answer like AWS: 403 `UnrecognizedClientException` (unknown key id),
  403 `InvalidSignatureException` (wrong signature, scope or token); a request without
  Authorization gets 403 `{"Message": "Authorization header is missing"}` (observed Bedrock
  answer, anthropics/claude-code#45000). A configured Bedrock API key is accepted as
  `Authorization: Bearer`.
- errors: status, `x-amzn-ErrorType: <Code>:<namespace>`, body `{"message": ...}`,
  `x-amzn-RequestId`.
- ConverseStream: binary event-stream messages encoded here (prelude + CRC32s, string headers
  `:event-type`, `:content-type`, `:message-type`), a random-length `"p"` padding member in
  every event, no contentBlockStart for text blocks, `metadata` after `messageStop`; faults can
  put an exception message (`:message-type: exception`) into the stream.

The mock checks requests the way Converse does and a little more strictly (fields Converse does
not define are refused, so translation mistakes surface): alternating roles starting with
`user`, one member per content block, no blank text, toolUse/toolResult only with a toolConfig,
known image formats with valid base64, JSON-schema strings that parse.

Answers are deterministic: a tool call of the chosen (or first) tool with arguments sampled
from its schema when tools are offered and the last turn is plain user text; "tool said:
<results>" after tool results; a JSON sample for a json_schema outputConfig; else
"echo: <last user text>". With `additionalModelRequestFields.thinking` a reasoning block comes
first. Tokens are whitespace-separated words; system text before a `cachePoint` is reported as
`cacheReadInputTokens` (and left out of `inputTokens`, as Bedrock does).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import math
import re
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import web

from .base import MockServer

__all__ = ["BedrockMock", "Fault", "Recorded", "encode_frame"]

Json = dict[str, Any]
_ROUTE = re.compile(r"/model/(?P<model>[^/]+)/(?P<op>converse|converse-stream|invoke)")
_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"
_PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_CONVERSE_KEYS = {"messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig",
                  "additionalModelRequestFields", "promptVariables", "requestMetadata",
                  "additionalModelResponseFieldPaths", "performanceConfig", "serviceTier",
                  "outputConfig"}
_BLOCK_KEYS = {"text", "image", "document", "video", "audio", "toolUse", "toolResult",
               "guardContent", "cachePoint", "reasoningContent", "citationsContent",
               "searchResult"}
_ARGUMENT_PIECE = 8  # characters of tool input per stream delta


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude (total length, headers length, CRC32 of both),
    string-typed (7) headers, payload, CRC32 of everything before it."""
    head = b"".join(
        bytes([len(n.encode())]) + n.encode() + b"\x07" + struct.pack(">H", len(v.encode()))
        + v.encode() for n, v in headers.items())
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    message = prelude + head + payload
    return message + struct.pack(">I", binascii.crc32(message))


@dataclass(frozen=True)
class Recorded:
    """One request as received. Header names are lower-cased; `model` is the decoded id."""

    method: str
    raw_path: str
    model: str | None
    op: str | None
    headers: dict[str, str]
    body: bytes
    json: Any
    auth: str | None  # "sigv4" | "bearer" | None (refused)


@dataclass(frozen=True)
class Fault:
    """Scripted behaviour for the next request whose path contains `path_contains`.

    `status`+`code`+`message`: an error answer. `stream_exception`: for ConverseStream, send
    `after_events` events of the normal answer, wait `pause_s` (so they reach the client in an
    earlier read), then an exception message of that type."""

    status: int | None = None
    code: str | None = None
    message: str = ""
    stream_exception: str | None = None
    after_events: int = 0
    pause_s: float = 0.0
    path_contains: str | None = None

    @classmethod
    def throttling(cls, path_contains: str | None = None) -> Fault:
        return cls(429, "ThrottlingException",
                   "Too many requests, please wait before trying again.",
                   path_contains=path_contains)

    @classmethod
    def context_length(cls, path_contains: str | None = None) -> Fault:
        return cls(400, "ValidationException", "Input is too long for requested model.",
                   path_contains=path_contains)

    @classmethod
    def unavailable(cls, path_contains: str | None = None) -> Fault:
        return cls(503, "ServiceUnavailableException",
                   "Bedrock is unable to process your request.", path_contains=path_contains)

    @classmethod
    def model_error(cls, path_contains: str | None = None) -> Fault:
        return cls(424, "ModelErrorException",
                   "The system encountered an unexpected error during processing. Try your "
                   "request again.", path_contains=path_contains)

    @classmethod
    def mid_stream(cls, kind: str = "throttlingException", after_events: int = 3,
                   message: str = "Too many tokens, please wait before trying again.",
                   pause_s: float = 0.0) -> Fault:
        return cls(stream_exception=kind, after_events=after_events, message=message,
                   pause_s=pause_s, path_contains="/converse-stream")


class Rejection(Exception):
    def __init__(self, status: int, code: str | None, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _invalid(message: str) -> Rejection:
    return Rejection(400, "ValidationException", message)


class BedrockMock(MockServer[Recorded, Fault]):
    """See the module docstring. Thread-safe; use as a context manager."""

    def __init__(self, *, access_key_id: str = "AKIAMOCKBEDROCK00001",
                 secret_access_key: str = "mock/Secret+Key/bedrock0000000000000000",
                 region: str = "us-east-1", session_token: str | None = None,
                 api_key: str | None = "ABSKbW9jay1iZWRyb2NrLWFwaS1rZXk=") -> None:
        super().__init__("mock-bedrock")
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.region = region
        self.session_token = session_token
        self.api_key = api_key

    # -- handling ---------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        raw_path = request.raw_path.split("?", 1)[0]
        route = _ROUTE.fullmatch(raw_path)
        model, op = (unquote(route["model"]), route["op"]) if route else (None, None)
        parsed = _json(raw)
        auth: str | None = None
        try:
            auth = self._authenticate(request, raw_path, raw)
        except Rejection as r:
            self._record(request, raw_path, model, op, raw, parsed, None)
            return _error(r)
        self._record(request, raw_path, model, op, raw, parsed, auth)
        try:
            if route is None or request.method != "POST" or model is None:
                raise Rejection(404, "UnknownOperationException", "")
            fault = self._pop_fault(raw_path)
            if fault is not None and fault.status is not None:
                raise Rejection(fault.status, fault.code, fault.message)
            if not isinstance(parsed, dict):
                raise _invalid("Malformed input request, please reformat your input and try "
                               "again.")
            if op == "invoke":
                return _embeddings(model, parsed)
            answer = _converse(parsed)
            if op == "converse":
                return web.json_response(answer.whole(), headers=_headers())
            return await _stream(request, answer, fault)
        except Rejection as r:
            return _error(r)

    def _record(self, request: web.Request, raw_path: str, model: str | None, op: str | None,
                raw: bytes, parsed: Any, auth: str | None) -> None:
        rec = Recorded(request.method, raw_path, model, op,
                       {k.lower(): v for k, v in request.headers.items()}, raw, parsed, auth)
        with self._lock:
            self._requests.append(rec)

    def _authenticate(self, request: web.Request, raw_path: str, body: bytes) -> str:
        auth = request.headers.get("Authorization")
        if not auth:
            raise Rejection(403, None, "Authorization header is missing")
        if auth.startswith("Bearer "):
            if self.api_key is not None and hmac.compare_digest(auth[7:], self.api_key):
                return "bearer"
            raise Rejection(403, "UnrecognizedClientException",
                            "The security token included in the request is invalid.")
        m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/"
                         r"aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})",
                         auth)
        if m is None:
            raise Rejection(403, "IncompleteSignatureException",
                            "Authorization header requires 'Credential', 'SignedHeaders' and "
                            "'Signature' parameters.")
        key_id, day, region, service, signed, signature = m.groups()
        if key_id != self.access_key_id:
            raise Rejection(403, "UnrecognizedClientException",
                            "The security token included in the request is invalid.")
        if region != self.region:
            raise Rejection(403, "InvalidSignatureException",
                            "Credential should be scoped to a valid region. ")
        if service != "bedrock":
            raise Rejection(403, "InvalidSignatureException",
                            "Credential should be scoped to correct service: 'bedrock'. ")
        names = signed.split(";")
        stamp = request.headers.get("X-Amz-Date", "")
        if "host" not in names or "x-amz-date" not in names or not stamp.startswith(day):
            raise Rejection(403, "InvalidSignatureException",
                            "Signature expired or date header missing.")
        token = request.headers.get("X-Amz-Security-Token")
        if self.session_token is not None and (token != self.session_token or
                                               "x-amz-security-token" not in names):
            raise Rejection(403, "UnrecognizedClientException",
                            "The security token included in the request is invalid.")
        expected = _sigv4(request.method, request.host, raw_path,
                          {n: request.headers.get(n, "") for n in names}, body, stamp,
                          key_id, self.secret_access_key, token, region)
        if not hmac.compare_digest(expected, signature):
            raise Rejection(403, "InvalidSignatureException",
                            "The request signature we calculated does not match the signature "
                            "you provided. Check your AWS Secret Access Key and signing method. "
                            "Consult the service documentation for details.")
        return "sigv4"


def _sigv4(method: str, host: str, raw_path: str, headers: dict[str, str], body: bytes,
           stamp: str, key_id: str, secret: str, token: str | None, region: str) -> str:
    """The signature botocore computes for this request (its own canonicalisation code)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method=method, url=f"http://{host}{raw_path}", data=body,
                     headers={k: v for k, v in headers.items() if k != "host"})
    req.headers["host"] = host
    req.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(key_id, secret, token), "bedrock", region)
    canonical = signer.canonical_request(req)
    return str(signer.signature(signer.string_to_sign(req, canonical), req))


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


def _headers(**extra: str) -> dict[str, str]:
    return {"x-amzn-RequestId": str(uuid.uuid4()), **extra}


def _error(r: Rejection) -> web.Response:
    headers = _headers()
    if r.code:
        headers["x-amzn-ErrorType"] = f"{r.code}:{_NAMESPACE}"
    key = "Message" if r.code is None else "message"
    return web.json_response({key: r.message}, status=r.status, headers=headers)


def words(text: str) -> int:
    return len(text.split())


# -- Converse --------------------------------------------------------------------------------
@dataclass
class _Answer:
    """One Converse answer, as content blocks; `whole()` and `events()` give its two forms."""

    blocks: list[Json] = field(default_factory=list)
    stop: str = "end_turn"
    input_tokens: int = 0
    cache_read: int = 0
    output_tokens: int = 0

    def usage(self) -> Json:
        out = {"inputTokens": self.input_tokens, "outputTokens": self.output_tokens,
               "totalTokens": self.input_tokens + self.cache_read + self.output_tokens}
        if self.cache_read:
            out |= {"cacheReadInputTokens": self.cache_read, "cacheWriteInputTokens": 0}
        return out

    def whole(self) -> Json:
        return {"output": {"message": {"role": "assistant", "content": self.blocks}},
                "stopReason": self.stop, "usage": self.usage(), "metrics": {"latencyMs": 42}}

    def events(self) -> list[tuple[str, Json]]:
        out: list[tuple[str, Json]] = [("messageStart", {"role": "assistant"})]
        for i, block in enumerate(self.blocks):
            if "text" in block:  # text blocks start directly with their deltas
                out += [("contentBlockDelta", {"contentBlockIndex": i, "delta": {"text": p}})
                        for p in re.findall(r"\s*\S+", block["text"])]
            elif "reasoningContent" in block:
                r = block["reasoningContent"]["reasoningText"]
                out += [("contentBlockDelta", {"contentBlockIndex": i, "delta": {
                    "reasoningContent": {"text": p}}}) for p in re.findall(r"\s*\S+", r["text"])]
                out.append(("contentBlockDelta", {"contentBlockIndex": i, "delta": {
                    "reasoningContent": {"signature": r["signature"]}}}))
            else:
                use = block["toolUse"]
                out.append(("contentBlockStart", {"contentBlockIndex": i, "start": {
                    "toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}}))
                text = orjson.dumps(use["input"]).decode()
                out += [("contentBlockDelta", {"contentBlockIndex": i, "delta": {
                    "toolUse": {"input": text[k:k + _ARGUMENT_PIECE]}}})
                    for k in range(0, len(text), _ARGUMENT_PIECE)]
            out.append(("contentBlockStop", {"contentBlockIndex": i}))
        out.append(("messageStop", {"stopReason": self.stop}))
        out.append(("metadata", {"usage": self.usage(), "metrics": {"latencyMs": 42}}))
        return out


def _converse(body: Json) -> _Answer:
    _check_converse(body)
    messages: list[Json] = body["messages"]
    answer = _Answer()
    system = body.get("system") or []
    cached = 0
    if any("cachePoint" in b for b in system):
        cut = next(i for i, b in enumerate(system) if "cachePoint" in b)
        cached = sum(words(b.get("text", "")) for b in system[:cut])
    prompt = sum(words(b.get("text", "")) for b in system) + sum(
        words(_block_text(b)) for m in messages for b in m["content"])
    answer.input_tokens, answer.cache_read = prompt - cached, cached
    extra = body.get("additionalModelRequestFields") or {}
    if isinstance(extra.get("thinking"), dict) and extra["thinking"].get("type") == "enabled":
        answer.blocks.append({"reasoningContent": {"reasoningText": {
            "text": "The user wants an answer.", "signature": "c2lnbmF0dXJl"}}})
    last = messages[-1]["content"]
    tools = (body.get("toolConfig") or {}).get("tools") or []
    results = [b["toolResult"] for b in last if "toolResult" in b]
    if results:
        text = "tool said: " + " | ".join(
            " ".join(_block_text(c) for c in r.get("content", [])) for r in results)
    elif tools and messages[-1]["role"] == "user" and "toolSpec" in tools[0]:
        choice = (body["toolConfig"].get("toolChoice") or {}).get("tool") or {}
        spec = next((t["toolSpec"] for t in tools if t.get("toolSpec", {}).get("name") ==
                     choice.get("name")), tools[0]["toolSpec"])
        args = _sample(spec["inputSchema"]["json"])
        call_id = "tooluse_" + hashlib.sha256(
            orjson.dumps(messages)).hexdigest()[:22]
        answer.blocks.append({"toolUse": {"toolUseId": call_id, "name": spec["name"],
                                          "input": args}})
        answer.stop = "tool_use"
        answer.output_tokens = words(orjson.dumps(args).decode())
        return answer
    else:
        fmt = ((body.get("outputConfig") or {}).get("textFormat") or {})
        schema = (fmt.get("structure") or {}).get("jsonSchema")
        text = orjson.dumps(_sample(orjson.loads(schema["schema"]))).decode() if schema else \
            "echo: " + " ".join(_block_text(b) for b in last if "text" in b)
    text, answer.stop = _limit(text, body.get("inferenceConfig") or {})
    answer.blocks.append({"text": text})
    answer.output_tokens = words(text)
    return answer


def _limit(text: str, config: Json) -> tuple[str, str]:
    for stop in config.get("stopSequences") or []:
        if stop in text:
            return text[:text.index(stop)], "stop_sequence"
    limit = config.get("maxTokens")
    pieces = re.findall(r"\s*\S+", text)
    if isinstance(limit, int) and len(pieces) > limit:
        return "".join(pieces[:limit]), "max_tokens"
    return text, "end_turn"


def _block_text(block: Json) -> str:
    return str(block.get("text", "")) if isinstance(block, dict) else ""


def _sample(schema: Any) -> Any:
    spec = schema if isinstance(schema, dict) else {}
    if spec.get("enum"):
        return spec["enum"][0]
    kind = spec.get("type")
    if kind == "object" or "properties" in spec:
        return {k: _sample(v) for k, v in (spec.get("properties") or {}).items()}
    return {"integer": 7, "number": 1.5, "boolean": True, "array": []}.get(str(kind), "Paris")


def _check_converse(body: Json) -> None:
    unknown = set(body) - _CONVERSE_KEYS
    if unknown:
        raise _invalid(f"Malformed input request: unknown field(s) {sorted(unknown)}, please "
                       "reformat your input and try again.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("A conversation must start with a user message. Try again with a "
                       "conversation that starts with a user message.")
    uses_tools = False
    for i, m in enumerate(messages):
        if m.get("role") != ("user" if i % 2 == 0 else "assistant"):
            if i == 0:
                raise _invalid("A conversation must start with a user message. Try again with "
                               "a conversation that starts with a user message.")
            raise _invalid("A conversation must alternate between user and assistant roles. "
                           "Make sure the conversation alternates between user and assistant "
                           "roles and try again.")
        if not isinstance(m.get("content"), list) or not m["content"]:
            raise _invalid(f"The content field in the Message object at messages.{i} is empty. "
                           "Add a ContentBlock object to the content field and try again.")
        for j, b in enumerate(m["content"]):
            _check_block(b, f"messages.{i}.content.{j}")
            uses_tools = uses_tools or "toolUse" in b or "toolResult" in b
    config = body.get("toolConfig")
    if uses_tools and not config:
        raise _invalid("The toolConfig field must be defined when using toolUse and toolResult "
                       "content blocks.")
    if config is not None:
        tools = config.get("tools")
        if not isinstance(tools, list) or not tools or set(config) - {"tools", "toolChoice"}:
            raise _invalid("toolConfig needs a non-empty tools list")
        for t in tools:
            spec = t.get("toolSpec") if isinstance(t, dict) else None
            if not isinstance(spec, dict) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}",
                                                              str(spec.get("name", ""))) \
                    or not isinstance((spec.get("inputSchema") or {}).get("json"), dict):
                raise _invalid("Each tool needs toolSpec.name and toolSpec.inputSchema.json")
        choice = config.get("toolChoice")
        if choice is not None and (not isinstance(choice, dict) or len(choice) != 1 or
                                   next(iter(choice)) not in ("auto", "any", "tool")):
            raise _invalid("toolChoice must have exactly one of auto, any, tool")
    inference = body.get("inferenceConfig") or {}
    if set(inference) - {"maxTokens", "temperature", "topP", "stopSequences"}:
        raise _invalid(f"Malformed inferenceConfig: {sorted(inference)}")
    for b in body.get("system") or []:
        if not isinstance(b, dict) or len(b) != 1 or next(iter(b)) not in (
                "text", "cachePoint", "guardContent") or ("text" in b and not b["text"].strip()):
            raise _invalid("Malformed system content block")
    schema = ((((body.get("outputConfig") or {}).get("textFormat") or {}).get("structure")
               or {}).get("jsonSchema") or {}).get("schema")
    if schema is not None:
        try:
            orjson.loads(schema)
        except (orjson.JSONDecodeError, TypeError):
            raise _invalid("outputConfig jsonSchema.schema must be a JSON string") from None


def _check_block(block: Any, where: str) -> None:
    if not isinstance(block, dict) or len(block) != 1 or next(iter(block)) not in _BLOCK_KEYS:
        raise _invalid(f"The ContentBlock object at {where} must set exactly one of its "
                       "members.")
    kind, value = next(iter(block.items()))
    if kind in ("image", "toolUse", "toolResult", "document") and not isinstance(value, dict):
        raise _invalid(f"The {kind} member at {where} must be an object")
    if kind == "text" and not str(value).strip():
        raise _invalid(f"The text field in the ContentBlock object at {where} is blank. Add "
                       "text to the text field, and try again.")
    if kind == "image":
        if value.get("format") not in ("png", "jpeg", "gif", "webp"):
            raise _invalid(f"Invalid image format at {where}")
        source = value.get("source") or {}
        if "bytes" in source:
            try:
                base64.b64decode(source["bytes"], validate=True)
            except (binascii.Error, TypeError):
                raise _invalid(f"Invalid base64 image bytes at {where}") from None
        elif "s3Location" not in source:
            raise _invalid(f"The image source at {where} needs bytes or s3Location")
    if kind == "toolUse" and (not isinstance(value.get("input"), dict) or not re.fullmatch(
            r"[a-zA-Z0-9_.:-]{1,64}", str(value.get("toolUseId", "")))):
        raise _invalid(f"Invalid toolUse block at {where}")
    if kind == "toolResult" and not isinstance(value.get("content"), list):
        raise _invalid(f"Invalid toolResult block at {where}")


async def _stream(request: web.Request, answer: _Answer, fault: Fault | None) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers=_headers(
        **{"Content-Type": "application/vnd.amazon.eventstream"}))
    await resp.prepare(request)
    for n, (name, payload) in enumerate(answer.events()):
        if fault is not None and fault.stream_exception and n == fault.after_events:
            await asyncio.sleep(fault.pause_s)
            await resp.write(encode_frame(
                {":exception-type": fault.stream_exception,
                 ":content-type": "application/json", ":message-type": "exception"},
                orjson.dumps({"message": fault.message})))
            break
        padded = {**payload, "p": _PAD[:(n * 7) % len(_PAD) + 1]}
        await resp.write(encode_frame(
            {":event-type": name, ":content-type": "application/json",
             ":message-type": "event"}, orjson.dumps(padded)))
    await resp.write_eof()
    return resp


# -- InvokeModel: embeddings -----------------------------------------------------------------
def vector(text: str, dims: int) -> list[float]:
    """A unit-length float32-exact vector derived from sha256 of the text."""
    blocks = math.ceil(dims * 2 / 32)
    raw = b"".join(hashlib.sha256(f"{b}:{text}".encode()).digest() for b in range(blocks))
    values = [int.from_bytes(raw[2 * i:2 * i + 2], "little") / 32767.5 - 1.0
              for i in range(dims)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return list(struct.unpack(f"<{dims}f", struct.pack(f"<{dims}f", *(v / norm for v in values))))


def _extraneous(body: Json, allowed: set[str]) -> None:
    for key in body:
        if key not in allowed:
            raise _invalid(f"Malformed input request: #: extraneous key [{key}] is not "
                           "permitted, please reformat your input and try again.")


def _embeddings(model: str, body: Json) -> web.Response:
    if re.search(r"amazon\.titan-embed-text-v2", model):
        _extraneous(body, {"inputText", "dimensions", "normalize", "embeddingTypes"})
        dims = body.get("dimensions", 1024)
        if dims not in (256, 512, 1024):
            raise _invalid("Malformed input request: #/dimensions: 8 is not a valid enum value, "
                           "please reformat your input and try again.")
    elif re.search(r"amazon\.titan-embed-(?:text-v1|g1-text)", model):
        _extraneous(body, {"inputText"})
        dims = 1536
    elif "cohere.embed-" in model:
        return _cohere(model, body)
    else:
        raise _invalid("The provided model identifier is invalid.")
    text = body.get("inputText")
    if not isinstance(text, str):
        raise _invalid("Malformed input request: #: required key [inputText] not found, please "
                       "reformat your input and try again.")
    vec = vector(text, dims)
    out: Json = {"embedding": vec, "inputTextTokenCount": words(text)}
    if "v2" in model:
        out["embeddingsByType"] = {"float": vec}
    return web.json_response(out, headers=_headers(**{
        "X-Amzn-Bedrock-Input-Token-Count": str(words(text))}))


def _cohere(model: str, body: Json) -> web.Response:
    allowed = {"texts", "input_type", "truncate", "embedding_types", "images"}
    if "embed-v4" in model:
        allowed |= {"output_dimension", "max_tokens", "inputs"}
    _extraneous(body, allowed)
    texts = body.get("texts")
    if body.get("input_type") not in ("search_document", "search_query", "classification",
                                      "clustering"):
        raise _invalid("Malformed input request: #: required key [input_type] not found, "
                       "please reformat your input and try again.")
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts) or \
            len(texts) > 96:
        raise _invalid("Malformed input request: #/texts: expected type: JSONArray, please "
                       "reformat your input and try again.")
    dims = int(body.get("output_dimension") or (1536 if "embed-v4" in model else 1024))
    vectors = [vector(t, dims) for t in texts]
    out: Json = {"id": str(uuid.uuid4()), "texts": texts}
    if body.get("embedding_types"):
        out |= {"embeddings": {"float": vectors}, "response_type": "embeddings_by_type"}
    else:
        out |= {"embeddings": vectors, "response_type": "embeddings_floats"}
    tokens = sum(words(t) for t in texts)
    return web.json_response(out, headers=_headers(**{
        "X-Amzn-Bedrock-Input-Token-Count": str(tokens)}))
