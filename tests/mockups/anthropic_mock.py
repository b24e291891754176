"""A mock Anthropic Messages API (`POST /v1/messages`) for pllm's tests.

`AnthropicMock` is a real HTTP server (aiohttp, own thread and event loop, 127.0.0.1, free port)
speaking Anthropic's wire format: it checks the key (`x-api-key`, or `Authorization: Bearer` as
anthropic SDK 2.x sends it; `x-api-key` wins when both come, as the API does) and the
`anthropic-version` header, rejects what the real API rejects with its real 400 bodies (no
`max_tokens`, `role: "system"` in messages, temperature above 1, `max_tokens` not above the
thinking budget, tool results without their tool_use, sampling fields under API version
2026-10-21, ...), and records every request.

Answers are derived from the request, so tests can predict them:
- the last user turn holds tool results -> text "tool said: <their text>";
- tools are given (tool_choice not none) and the last turn is user text -> a call of the first
  tool (the named one for tool_choice tool; every tool when the text says "use all tools" and
  parallel use is allowed) with arguments filled from its schema (strings get the user text);
  with tool_choice auto a short text block comes first, as Claude does;
- `output_config.format` json_schema -> a JSON object filled from the schema;
- otherwise "echo: <user text>" plus " [image ...]"/" [document ...]" for attachments.
`thinking` enabled/adaptive adds a thinking block "Thinking about: <user text>" with a signature.
`stop_sequences` and `max_tokens` (counted in words) cut the text with the right stop_reason.
Usage counts words; a `cache_control` marker makes the prefix up to it (tools, system, messages)
a cache write the first time and a cache read afterwards, as Anthropic's prompt cache does.

Streams use Anthropic's SSE exactly: `event:` names, a `ping` after the first block start,
usage in message_start and cumulative in message_delta. `AnthropicFault` scripts the next
request: an error status with the real body and headers (429 + retry-after, spend limit, 529,
"prompt is too long", 500), an `event: error` after N events, a hang-up after N events, delays.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from .base import MockServer
from .openai_family import Recorded

__all__ = ["AnthropicFault", "AnthropicMock", "error_body"]

VERSIONS = ("2023-06-01", "2023-01-01", "2026-10-21")
_SAMPLING = ("temperature", "top_p", "top_k")
_MEDIA = ("image/jpeg", "image/png", "image/gif", "image/webp")
Json = dict[str, Any]


def error_body(etype: str, message: str, request_id: str = "req_mock0000000000000000001",
               **extra: Any) -> Json:
    """Anthropic's error body (`ErrorResponse`)."""
    return {"type": "error", "error": {"type": etype, "message": message, **extra},
            "request_id": request_id}


_VERTEX = re.compile(r"/v1/projects/[^/]+/locations/[^/]+/publishers/anthropic/models/"
                     r"(?P<model>[^/:]+):(?P<verb>rawPredict|streamRawPredict)")


class Reject(Exception):
    def __init__(self, status: int, etype: str, message: str) -> None:
        super().__init__(message)
        self.status, self.body = status, error_body(etype, message)


def _bad(message: str) -> Reject:
    return Reject(400, "invalid_request_error", message)


@dataclass(frozen=True)
class AnthropicFault:
    """Scripted behaviour for the next request (first queued, first used)."""

    status: int | None = None
    body: Json | bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    error_after: int | None = None
    """Stream the normal answer's first N events, then `event: error` with `error_event`."""
    error_event: Json | None = None
    hang_up_after: int | None = None
    """Send the first N events (a JSON body is one), then close the connection."""
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0

    @classmethod
    def rate_limit(cls, retry_after: int = 7) -> AnthropicFault:
        """429 rate_limit_error with retry-after and the rate-limit headers (body as captured
        in OpenHands#9259)."""
        message = ("This request would exceed the rate limit for your organization "
                   "(0dccdde6-f924-4f1b-bb3b-92ef846e0a5b) of 20,000 input tokens per minute. "
                   "For details, refer to: https://docs.anthropic.com/en/api/rate-limits. You "
                   "can see the response headers for current usage. Please reduce the prompt "
                   "length or the maximum tokens requested, or try again later. You may also "
                   "contact sales at https://www.anthropic.com/contact-sales to discuss your "
                   "options for a rate limit increase.")
        headers = {"retry-after": str(retry_after), "x-should-retry": "true",
                   "anthropic-ratelimit-input-tokens-limit": "20000",
                   "anthropic-ratelimit-input-tokens-remaining": "0",
                   "anthropic-ratelimit-input-tokens-reset": "2026-08-07T12:00:07Z"}
        return cls(status=429, body=error_body("rate_limit_error", message), headers=headers)

    @classmethod
    def spend_limit(cls) -> AnthropicFault:
        """429 whose `details.error_code` says the monthly spend cap is reached (no retry-after:
        waiting does not help)."""
        body = error_body("rate_limit_error", "You have reached your specified API usage "
                          "limits. You will regain access on 2026-09-01 at 00:00 UTC.",
                          details={"error_code": "enforced_spend_limit_reached"})
        return cls(status=429, body=body, headers={"x-should-retry": "false"})

    @classmethod
    def overloaded(cls) -> AnthropicFault:
        """529 overloaded_error (headers as in anthropic-sdk-typescript#616)."""
        return cls(status=529, body=error_body("overloaded_error", "Overloaded"),
                   headers={"x-should-retry": "true"})

    @classmethod
    def context_length(cls) -> AnthropicFault:
        """400 "prompt is too long" (as captured in onlook-dev/onlook#1354)."""
        return cls(status=400, body=error_body(
            "invalid_request_error", "prompt is too long: 210266 tokens > 200000 maximum"))

    @classmethod
    def server_error(cls) -> AnthropicFault:
        return cls(status=500, body=error_body("api_error", "Internal server error"))

    @classmethod
    def stream_overloaded(cls, after: int = 4, chunk_delay_s: float = 0.0) -> AnthropicFault:
        """A stream that fails after `after` events with `event: error` overloaded_error (the
        shape captured in anthropic-sdk-python#688: `details: null`)."""
        return cls(error_after=after, chunk_delay_s=chunk_delay_s, error_event={
            "type": "error", "error": {"details": None, "type": "overloaded_error",
                                       "message": "Overloaded"}})


_NO_FAULT = AnthropicFault()


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: dict[str, str]
    parts: list[bytes]
    stream: bool


class AnthropicMock(MockServer[Recorded, AnthropicFault]):
    """See the module docstring. Thread-safe; use as a context manager."""

    def __init__(self, api_key: str = "sk-ant-api03-mock-0123456789abcdef",
                 vertex_tokens: Any = None) -> None:
        super().__init__("mock-anthropic")
        self.api_key = api_key
        # With a GoogleTokenServer, also serve Claude on Vertex AI (rawPredict routes).
        self.vertex_tokens = vertex_tokens
        self._cache: set[str] = set()
        self._count = 0

    def clear(self) -> None:
        """Forget recorded requests, queued faults and the prompt cache."""
        super().clear()
        with self._lock:
            self._cache.clear()

    # -- handling -----------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            parsed = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            parsed = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            self._requests.append(Recorded(request.method, request.path, dict(request.query),
                                           headers, raw, parsed, None))
            fault = self._faults.popleft() if self._faults else _NO_FAULT
        try:
            vertex = _VERTEX.fullmatch(request.path) if self.vertex_tokens else None
            if vertex is not None:
                parsed, version = self._vertex(vertex, headers, parsed)
            else:
                self._authorize(headers)
                if request.method == "POST" and request.path == "/v1/messages/count_tokens":
                    return _count_tokens(parsed)
                if request.method != "POST" or request.path != "/v1/messages":
                    raise Reject(404, "not_found_error", "Not Found")
                version = headers.get("anthropic-version") or ""
                if not version:
                    raise _bad("anthropic-version: header is required")
                if version not in VERSIONS:
                    raise _bad(f"anthropic-version: invalid version '{version}'")
            await asyncio.sleep(fault.delay_s)
            if fault.status is not None:
                body = fault.body if isinstance(fault.body, bytes) else orjson.dumps(fault.body)
                reply = _Reply(fault.status, {**_headers("application/json"), **fault.headers},
                               [body], stream=False)
            else:
                reply = self._answer(_check(parsed, version), fault)
        except Reject as r:
            reply = _Reply(r.status, _headers("application/json"), [orjson.dumps(r.body)], False)
        return await _emit(request, reply, fault)

    def _vertex(self, match: re.Match[str], headers: dict[str, str],
                parsed: Any) -> tuple[Any, str]:
        """Vertex's rawPredict: a Google bearer token, the model in the URL and
        `anthropic_version: vertex-2023-10-16` in the body instead of headers."""
        if not self.vertex_tokens.valid(headers.get("authorization")):
            raise Reject(401, "authentication_error", "invalid Google access token")
        if not isinstance(parsed, dict) or parsed.get("anthropic_version") != "vertex-2023-10-16":
            raise _bad("anthropic_version: vertex-2023-10-16 is required")
        if "model" in parsed:
            raise _bad("model: Extra inputs are not permitted")
        body = {k: v for k, v in parsed.items() if k != "anthropic_version"}
        body["model"] = match["model"]
        if match["verb"] == "streamRawPredict":
            body["stream"] = True
        return body, "2023-06-01"

    def _authorize(self, headers: dict[str, str]) -> None:
        key = headers.get("x-api-key")
        if key is None:
            auth = headers.get("authorization", "")
            key = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        if key is None:
            raise Reject(401, "authentication_error", "x-api-key header is required")
        if key != self.api_key:
            raise Reject(401, "authentication_error", "invalid x-api-key")

    def _answer(self, body: Json, fault: AnthropicFault) -> _Reply:
        with self._lock:
            self._count += 1
            n = self._count
        message = self._message(body, n)
        if body.get("stream") is not True:
            return _Reply(200, _headers("application/json"), [orjson.dumps(message)], False)
        events = _events(message)
        if fault.error_after is not None:
            error = fault.error_event or error_body("api_error", "Internal server error")
            events = [*events[:fault.error_after], ("error", error)]
        parts = [b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
                 for name, data in events]
        return _Reply(200, _headers("text/event-stream; charset=utf-8"), parts, stream=True)

    def _message(self, body: Json, n: int) -> Json:
        messages = body["messages"]
        last = messages[-1]
        blocks = _blocks(last)
        user_text = " ".join(b["text"] for b in blocks if b.get("type") == "text")
        results = [b for b in blocks if b.get("type") == "tool_result"]
        tools = [t for t in body.get("tools") or () if "input_schema" in t]
        choice = body.get("tool_choice") or {"type": "auto"}
        thinking = (body.get("thinking") or {}).get("type") in ("enabled", "adaptive")
        content: list[Json] = []
        if thinking:
            content.append({"type": "thinking", "thinking": f"Thinking about: {user_text}",
                            "signature": "EqMB" + hashlib.sha256(user_text.encode()).hexdigest()})
        calls: list[Json] = []
        if results:
            text: str | None = "tool said: " + "; ".join(_text_of(r.get("content"))
                                                         for r in results)
        elif tools and choice["type"] != "none" and last["role"] == "user" and user_text:
            calls = _calls(tools, choice, user_text, n)
            text = f"Let me use {calls[0]['name']}." if choice["type"] == "auto" else None
        elif isinstance((body.get("output_config") or {}).get("format"), dict):
            text = orjson.dumps(_fill(body["output_config"]["format"]["schema"],
                                      user_text)).decode()
        else:
            text = "echo: " + user_text + "".join(_attachment(b) for b in blocks)
        stop_reason, stop_sequence = ("tool_use" if calls else "end_turn"), None
        if text is not None:
            for seq in body.get("stop_sequences") or ():
                if seq in text:
                    text, stop_reason, stop_sequence = text[:text.index(seq)], "stop_sequence", seq
                    calls = []
                    break
            words = text.split(" ")
            if len(words) > body["max_tokens"]:
                text, stop_reason, calls = " ".join(words[:body["max_tokens"]]), "max_tokens", []
            content.append({"type": "text", "text": text})
        content += calls
        output = sum(_count(b.get("text") or b.get("thinking") or orjson.dumps(b.get("input")))
                     for b in content)
        return {"id": f"msg_01Mock{n:018d}", "type": "message", "role": "assistant",
                "model": body["model"], "content": content, "stop_reason": stop_reason,
                "stop_sequence": stop_sequence,
                "usage": {**self._input_usage(body), "output_tokens": output,
                          "service_tier": "standard"}}

    def _input_usage(self, body: Json) -> Json:
        """Input tokens, split Anthropic's way between fresh input and the cached prefix."""
        units: list[tuple[bytes, int, bool]] = []
        for tool in body.get("tools") or ():
            units.append((orjson.dumps(tool), 10 + _count(str(tool.get("description", ""))),
                          "cache_control" in tool))
        system = body.get("system")
        for block in [{"type": "text", "text": system}] if isinstance(system, str) else \
                system or ():
            units.append((orjson.dumps(block), _count(block.get("text", "")),
                          "cache_control" in block))
        for m in body["messages"]:
            for block in _blocks(m):
                text = block.get("text") or _text_of(block.get("content")) or ""
                units.append((orjson.dumps(block), 3 + _count(text), "cache_control" in block))
        if body.get("cache_control") and units:  # automatic caching marks the last block
            units[-1] = (units[-1][0], units[-1][1], True)
        total = sum(u[1] for u in units)
        marked = [i for i, u in enumerate(units) if u[2]]
        usage = {"input_tokens": total, "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": 0}
        if marked:
            prefix = units[:marked[-1] + 1]
            key = hashlib.sha256(b"".join(u[0] for u in prefix)).hexdigest()
            cached = sum(u[1] for u in prefix)
            with self._lock:
                hit = key in self._cache
                self._cache.add(key)
            usage["input_tokens"] = total - cached
            usage["cache_read_input_tokens" if hit else "cache_creation_input_tokens"] = cached
        return usage


# -- request checks (the real API's 400s) -----------------------------------------------------
def _count_tokens(body: Any) -> web.Response:
    """Anthropic's token counter: words of the system prompt and messages (the mock's rule)."""
    if not isinstance(body, dict) or "model" not in body or "max_tokens" in body:
        raise _bad("count_tokens takes model, messages, system, tools (no max_tokens)")
    text = orjson.dumps([body.get("system"), body.get("messages"), body.get("tools")]).decode()
    return web.json_response({"input_tokens": len(text.split())})


def _check(body: Any, version: str) -> Json:
    if not isinstance(body, dict):
        raise _bad("There was an error parsing the body of your request")
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            raise _bad(f"{key}: Field required")
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 0:
        raise _bad("max_tokens: Input should be a valid integer")
    if version >= "2026-10-21":
        for key in _SAMPLING:
            if key in body:
                raise _bad(f"{key}: Extra inputs are not permitted")
    if isinstance(body.get("temperature"), (int, float)) and body["temperature"] > 1:
        raise _bad("temperature: Input should be less than or equal to 1")
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise _bad("thinking.enabled.budget_tokens: Input should be greater than or equal "
                       "to 1024")
        if body["max_tokens"] <= budget:
            raise _bad("`max_tokens` must be greater than `thinking.budget_tokens`. Please "
                       "consult our documentation at https://docs.claude.com/en/docs/"
                       "build-with-claude/extended-thinking#max-tokens-and-context-window-size")
    for i, tool in enumerate(body.get("tools") or ()):
        if isinstance(tool, dict) and "input_schema" in tool and tool["input_schema"].get("type") != "object":
            raise _bad(f"tools.{i}.custom.input_schema.type: Input should be 'object'")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") not in ("auto", "any", "tool", "none"):
        raise _bad("tool_choice: Input tag does not match any of the expected tags")
    _check_messages(body["messages"])
    return body


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise _bad("messages: at least one message is required")
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role == "system":
            raise _bad('messages: Unexpected role "system". The Messages API accepts a '
                       'top-level `system` parameter, not "system" as an input message role.')
        if role not in ("user", "assistant"):
            raise _bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        blocks = _blocks(m)
        for j, b in enumerate(blocks):
            if b.get("type") == "text" and not b.get("text"):
                raise _bad("messages: text content blocks must be non-empty")
            if b.get("type") == "image":
                source = b.get("source") or {}
                if source.get("type") == "base64" and source.get("media_type") not in _MEDIA:
                    raise _bad(f"messages.{i}.content.{j}.image.source.base64.media_type: Input "
                               "should be 'image/jpeg', 'image/png', 'image/gif' or "
                               "'image/webp'")
                if source.get("type") == "url" and not str(source.get("url")).startswith(
                        ("http://", "https://")):
                    raise _bad(f"messages.{i}.content.{j}.image.source.url: invalid URL")
            if b.get("type") == "tool_result":
                before = _blocks(messages[i - 1]) if i else []
                ids = {u.get("id") for u in before if u.get("type") == "tool_use"}
                if b.get("tool_use_id") not in ids:
                    raise _bad(f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                               f"`tool_result` blocks: {b.get('tool_use_id')}. Each "
                               "`tool_result` block must have a corresponding `tool_use` block "
                               "in the previous message.")
        uses = [str(b.get("id")) for b in blocks if b.get("type") == "tool_use"]
        if uses and i + 1 < len(messages):
            answered = {b.get("tool_use_id") for b in _blocks(messages[i + 1])
                        if b.get("type") == "tool_result"}
            missing = [u for u in uses if u not in answered]
            if missing:
                raise _bad(f"messages.{i + 1}: `tool_use` ids were found without `tool_result` "
                           f"blocks immediately after: {', '.join(missing)}. Each `tool_use` "
                           "block must have a corresponding `tool_result` block in the next "
                           "message.")


# -- answer pieces ----------------------------------------------------------------------------
def _blocks(message: Json) -> list[Json]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or () if isinstance(b, dict)]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(b.get("text", "") for b in content or () if isinstance(b, dict)
                    and b.get("type") == "text")


def _count(text: str | bytes) -> int:
    return len(text.split()) if text else 0


def _attachment(block: Json) -> str:
    source = block.get("source") or {}
    if block.get("type") == "image":
        if source.get("type") == "url":
            return f" [image {source.get('url')}]"
        return f" [image {source.get('media_type')}, {len(source.get('data', ''))} base64 chars]"
    if block.get("type") == "document":
        return f" [document {block.get('title', source.get('media_type'))}]"
    return ""


def _calls(tools: list[Json], choice: Json, text: str, n: int) -> list[Json]:
    if choice["type"] == "tool":
        chosen = [t for t in tools if t["name"] == choice.get("name")][:1] or tools[:1]
    elif "use all tools" in text and not choice.get("disable_parallel_tool_use"):
        chosen = tools
    else:
        chosen = tools[:1]
    return [{"type": "tool_use", "id": f"toolu_01Mock{n:012d}{k:02d}", "name": t["name"],
             "input": _fill(t["input_schema"], text)} for k, t in enumerate(chosen)]


def _fill(schema: Any, text: str) -> Any:
    """A value matching a JSON schema, strings taken from the user's text."""
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    if schema.get("enum"):
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties") or {}
        keys = schema.get("required") or list(props)
        return {k: _fill(props.get(k), text) for k in keys}
    if kind == "array":
        return [_fill(schema.get("items"), text)]
    return {"string": text, "integer": 1, "number": 1.5, "boolean": True}.get(str(kind))


def _events(message: Json) -> list[tuple[str, Json]]:
    """The SSE events Anthropic sends for `message`, in order."""
    usage = message["usage"]
    start_usage = {k: v for k, v in usage.items() if k != "output_tokens"} | {"output_tokens": 1}
    head = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": start_usage}
    events: list[tuple[str, Json]] = [("message_start", {"type": "message_start",
                                                         "message": head})]
    for i, block in enumerate(message["content"]):
        kind = block["type"]
        empty = {"text": {"type": "text", "text": ""},
                 "thinking": {"type": "thinking", "thinking": "", "signature": ""},
                 "tool_use": {"type": "tool_use", "id": block.get("id"),
                              "name": block.get("name"), "input": {}}}[kind]
        events.append(("content_block_start", {"type": "content_block_start", "index": i,
                                               "content_block": empty}))
        if i == 0:
            events.append(("ping", {"type": "ping"}))
        if kind == "text":
            deltas = [{"type": "text_delta", "text": p} for p in _pieces(block["text"])]
        elif kind == "thinking":
            deltas = [{"type": "thinking_delta", "thinking": p}
                      for p in _pieces(block["thinking"])]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            raw = orjson.dumps(block["input"]).decode()
            deltas = [{"type": "input_json_delta", "partial_json": p}
                      for p in ["", *(raw[k:k + 7] for k in range(0, len(raw), 7))]]
        events += [("content_block_delta", {"type": "content_block_delta", "index": i,
                                            "delta": d}) for d in deltas]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    if not message["content"]:
        events.append(("ping", {"type": "ping"}))
    events.append(("message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"],
                  "stop_sequence": message["stop_sequence"]},
        "usage": {k: v for k, v in usage.items() if k != "service_tier"}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _pieces(text: str) -> list[str]:
    """Text in deltas of two words (with their spaces), as a model streams it."""
    words = text.split(" ")
    return [" ".join(words[k:k + 2]) + (" " if k + 2 < len(words) else "")
            for k in range(0, len(words), 2)] or [""]


def _headers(content_type: str) -> dict[str, str]:
    return {"Content-Type": content_type, "request-id": "req_mock0000000000000000001",
            "anthropic-organization-id": "0dccdde6-f924-4f1b-bb3b-92ef846e0a5b",
            "anthropic-ratelimit-requests-limit": "4000",
            "anthropic-ratelimit-requests-remaining": "3999",
            "anthropic-ratelimit-requests-reset": "2026-08-07T12:00:01Z"}


async def _emit(request: web.Request, reply: _Reply,
                fault: AnthropicFault) -> web.StreamResponse:
    response = web.StreamResponse(status=reply.status, headers=reply.headers)
    if not reply.stream:
        response.content_length = sum(map(len, reply.parts))
    try:
        await response.prepare(request)
        for index, part in enumerate(reply.parts):
            if index == fault.hang_up_after:
                if request.transport is not None:
                    request.transport.close()
                return response
            if index and fault.chunk_delay_s:
                await asyncio.sleep(fault.chunk_delay_s)
            await response.write(part)
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away
    return response
