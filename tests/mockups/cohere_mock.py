"""A mock Cohere v2 upstream (`POST /v2/chat`, plain and SSE-streamed, and `POST /v2/embed`) for
pllm's tests: a real aiohttp server on 127.0.0.1 in its own thread.

It speaks Cohere's wire format as the cohere SDK reads it (see shared/providers/cohere.md):
`Authorization: Bearer <key>` required; errors as `{"message": ...}`; streams as SSE events with
`event: <type>` lines, `tool_calls` in `tool-call-start`/`-delta` as an object, usage only in
`message-end`, and a trailing `data: [DONE]`. It checks what it receives the way the API does,
and stricter where that catches translator mistakes: unknown top-level fields, OpenAI spellings
(`top_p`, `stop`, lower-case `tool_choice`) and malformed messages are answered 400.

Answers are deterministic and derived from the request:
- tools given, `tool_choice` not `NONE`, last message is user text -> a call to the first tool
  (arguments: the tool's first parameter set to the user's text), with a `tool_plan`;
- last message is a tool result -> "tool said: <result>";
- otherwise "echo: <last user text>" (plus " [N image(s)]" when images came along).
Usage counts words: `tokens` and `billed_units` both, so tests can tell them apart via +10
template tokens on `tokens.input_tokens`.

    with CohereMock(api_key="co-key") as mock:
        mock.enqueue(Fault.rate_limit())
        ...  # point a client at mock.url; inspect mock.requests
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from .base import MockServer

__all__ = ["CohereMock", "Fault", "Recorded"]

TEMPLATE_TOKENS = 10  # what `tokens.input_tokens` adds over `billed_units` (the chat template)
_CHAT_KEYS = frozenset({
    "model", "messages", "tools", "strict_tools", "documents", "citation_options",
    "response_format", "safety_mode", "max_tokens", "stop_sequences", "temperature", "seed",
    "frequency_penalty", "presence_penalty", "k", "p", "logprobs", "tool_choice", "thinking",
    "priority", "stream"})
_EMBED_KEYS = frozenset({"model", "input_type", "texts", "images", "inputs", "embedding_types",
                         "truncate", "output_dimension", "max_tokens", "priority"})
_INPUT_TYPES = frozenset({"search_document", "search_query", "classification", "clustering",
                          "image"})


@dataclass(frozen=True)
class Recorded:
    """One request as received; header names lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any


@dataclass(frozen=True)
class Fault:
    """Scripted behaviour for the next request whose path contains `path_contains`:
    `status` + `body` (+ `headers`) instead of the answer, or `stream_error`: a 200 stream that
    ends with `message-end` `finish_reason: "ERROR"`."""

    status: int | None = None
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    stream_error: str | None = None
    path_contains: str | None = None

    @classmethod
    def rate_limit(cls, retry_after: int | None = None) -> Fault:
        """Cohere documents no rate-limit headers; `retry_after` adds `retry-after` anyway."""
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        return cls(429, {"message": "You are past the per minute request limit, please wait "
                                    "and try again later."}, headers)

    @classmethod
    def too_many_tokens(cls) -> Fault:
        return cls(400, {"message": "too many tokens: total number of tokens in the prompt "
                                    "cannot exceed 4081 - received 4292. Try using a shorter "
                                    "prompt, or enabling prompt truncating. See "
                                    "https://docs.cohere.com/reference/generate for more "
                                    "details."})

    @classmethod
    def invalid_token(cls) -> Fault:
        return cls(498, {"message": "invalid api token"})

    @classmethod
    def unavailable(cls) -> Fault:
        return cls(503, {"message": "service unavailable, please try again later"})

    @classmethod
    def error_in_stream(cls, message: str = "internal server error, please try again later"
                        ) -> Fault:
        return cls(stream_error=message, path_contains="/v2/chat")


class _Rejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise _Rejected(400, message)


def _words(text: str) -> int:
    return len(text.split())


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content
                       if isinstance(p, dict) and p.get("type") == "text")
    return ""


class CohereMock(MockServer[Recorded, Fault]):
    """See the module docstring. Thread-safe."""

    def __init__(self, api_key: str = "co-upstream-test") -> None:
        super().__init__("mock-cohere")
        self.api_key = api_key
        self._counter = 0

    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    # -- handling -----------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        with self._lock:
            self._requests.append(Recorded(request.method, request.path, {
                k.lower(): v for k, v in request.headers.items()}, body))
        try:
            self._authorize(request)
            fault = self._pop_fault(request.path)
            if fault is not None and fault.status is not None:
                return web.json_response(fault.body, status=fault.status, headers=fault.headers)
            if request.method != "POST" or request.path not in ("/v2/chat", "/v2/embed"):
                raise _Rejected(404, f"Not Found: {request.method} {request.path}")
            _check(isinstance(body, dict), "invalid request: body must be a JSON object")
            if request.path == "/v2/embed":
                return web.json_response(self._embed(body))
            events = self._chat(body, fault.stream_error if fault else None)
            if body.get("stream") is True:
                return await self._sse(request, events)
            return web.json_response(self._whole(events))
        except _Rejected as r:
            return web.json_response({"message": r.message}, status=r.status)
        except (KeyError, TypeError, AttributeError, IndexError) as e:  # a malformed shape
            return web.json_response({"message": f"invalid request: {e!r}"}, status=400)

    def _authorize(self, request: web.Request) -> None:
        auth = request.headers.get("Authorization")
        if not auth:
            raise _Rejected(401, "no api key supplied")
        if auth != f"Bearer {self.api_key}":
            raise _Rejected(401, "invalid api token")

    def _chat(self, body: dict[str, Any], stream_error: str | None) -> list[dict[str, Any]]:
        """The answer as its stream events (a whole answer is assembled from them)."""
        unknown = sorted(set(body) - _CHAT_KEYS)
        _check(not unknown, f"invalid request: unknown field: parameter {unknown[:1]} is not "
                            "a valid field")
        _check(isinstance(body.get("model"), str), "invalid request: model must be provided")
        messages = body.get("messages")
        _check(isinstance(messages, list) and bool(messages),
               "invalid request: messages must not be empty")
        images = 0
        for m in messages:
            _check(isinstance(m, dict) and m.get("role") in ("system", "user", "assistant",
                                                             "tool"),
                   "invalid request: each message needs a role of system, user, assistant, tool")
            if m["role"] == "tool":
                _check(isinstance(m.get("tool_call_id"), str), "tool_call_id is required")
            for part in m.get("content") if isinstance(m.get("content"), list) else []:
                _check(part.get("type") in ("text", "image_url", "thinking", "document"),
                       f"invalid content type {part.get('type')!r}")
                if part["type"] == "image_url" and m is messages[-1]:
                    url = part["image_url"]["url"]
                    _check(url.startswith(("http://", "https://", "data:image/")),
                           "invalid image url")
                    images += 1
            for call in m.get("tool_calls") or []:
                _check(isinstance(call["function"]["arguments"], str),
                       "tool call arguments must be a string")
        tools = body.get("tools") or []
        for t in tools:
            _check(t.get("type") == "function" and isinstance(t["function"].get("parameters"),
                                                              dict),
                   "invalid request: tools need function.parameters")
        choice = body.get("tool_choice")
        _check(choice in (None, "REQUIRED", "NONE"), "invalid tool_choice: must be REQUIRED "
                                                     "or NONE")
        _check(choice != "REQUIRED" or bool(tools), "tool_choice REQUIRED needs tools")
        n = self._next_id()
        start = {"id": f"co-chat-{n}", "type": "message-start", "delta": {"message": {
            "role": "assistant", "content": [], "tool_plan": "", "tool_calls": [],
            "citations": []}}}
        last = messages[-1]
        prompt = sum(_words(_text(m.get("content"))) for m in messages)
        if stream_error is not None:
            return [start, _content_start(), _content_delta("Partial"),
                    {"type": "message-end", "delta": {"finish_reason": "ERROR",
                                                      "error": stream_error}}]
        if tools and choice != "NONE" and last["role"] == "user":
            fn = tools[0]["function"]
            props = list((fn["parameters"].get("properties") or {}).keys())
            args = orjson.dumps({props[0]: _text(last["content"])} if props else {}).decode()
            plan = f"I will use {fn['name']}."
            call_id = f"{fn['name']}_{n}"
            half = len(args) // 2
            events = [start, {"type": "tool-plan-delta", "delta": {"message": {
                "tool_plan": plan}}},
                {"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {
                    "id": call_id, "type": "function",
                    "function": {"name": fn["name"], "arguments": ""}}}}}]
            events += [{"type": "tool-call-delta", "index": 0, "delta": {"message": {
                "tool_calls": {"function": {"arguments": piece}}}}}
                for piece in (args[:half], args[half:]) if piece]
            events.append({"type": "tool-call-end", "index": 0})
            return [*events, _end("TOOL_CALL", prompt, _words(plan) + 1)]
        if last["role"] == "tool":
            reply = f"tool said: {_text(last.get('content'))}"
        else:
            reply = f"echo: {_text(last.get('content'))}"
            if images:
                reply += f" [{images} image(s)]"
        words = reply.split(" ")
        deltas = [_content_delta(w if i == 0 else " " + w) for i, w in enumerate(words)]
        return [start, _content_start(), *deltas, {"type": "content-end", "index": 0},
                _end("COMPLETE", prompt, len(words))]

    @staticmethod
    def _whole(events: list[dict[str, Any]]) -> dict[str, Any]:
        """A V2ChatResponse assembled from the answer's stream events."""
        text, plan, calls = "", "", []
        for ev in events:
            msg = ev.get("delta", {}).get("message", {})
            if ev["type"] == "content-delta":
                text += msg["content"]["text"]
            elif ev["type"] == "tool-plan-delta":
                plan += msg["tool_plan"]
            elif ev["type"] == "tool-call-start":
                calls.append(orjson.loads(orjson.dumps(msg["tool_calls"])))
            elif ev["type"] == "tool-call-delta":
                calls[-1]["function"]["arguments"] += msg["tool_calls"]["function"]["arguments"]
        end = events[-1]["delta"]
        message: dict[str, Any] = {"role": "assistant"}
        if calls:
            message |= {"tool_plan": plan, "tool_calls": calls}
        else:
            message["content"] = [{"type": "text", "text": text}]
        return {"id": events[0]["id"], "finish_reason": end["finish_reason"],
                "message": message, "usage": end.get("usage")}

    async def _sse(self, request: web.Request, events: list[dict[str, Any]]
                   ) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            for ev in events:
                await response.write(f"event: {ev['type']}\n".encode()
                                     + b"data: " + orjson.dumps(ev) + b"\n\n")
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionError:  # the client went away
            pass
        return response

    def _embed(self, body: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(body) - _EMBED_KEYS)
        _check(not unknown, f"invalid request: unknown field: parameter {unknown[:1]} is not "
                            "a valid field")
        _check(isinstance(body.get("model"), str), "invalid request: model must be provided")
        _check(body.get("input_type") in _INPUT_TYPES,
               "invalid request: valid input_type must be provided with the provided model")
        texts = body.get("texts")
        _check(isinstance(texts, list) and bool(texts) and all(isinstance(t, str)
                                                                 for t in texts),
               "invalid request: texts must be a non-empty list of strings")
        types = body.get("embedding_types") or ["float"]
        _check(set(types) <= {"float", "int8", "uint8", "binary", "ubinary", "base64"},
               "invalid embedding_types")
        dims = body.get("output_dimension") or 8
        floats = [[round(b / 255 - 0.5, 6) for b in
                   (hashlib.sha256(t.encode()).digest() * (dims // 32 + 1))[:dims]]
                  for t in texts]
        embeddings: dict[str, Any] = {}
        if "float" in types:
            embeddings["float"] = floats
        if "int8" in types:
            embeddings["int8"] = [[int(x * 254) for x in v] for v in floats]
        return {"id": f"co-embed-{self._next_id()}", "response_type": "embeddings_by_type",
                "embeddings": embeddings, "texts": texts,
                "meta": {"api_version": {"version": "2"},
                         "billed_units": {"input_tokens": sum(map(_words, texts))}}}


def _content_start() -> dict[str, Any]:
    return {"type": "content-start", "index": 0,
            "delta": {"message": {"content": {"type": "text", "text": ""}}}}


def _content_delta(text: str) -> dict[str, Any]:
    return {"type": "content-delta", "index": 0,
            "delta": {"message": {"content": {"text": text}}}}


def _end(reason: str, prompt: int, output: int) -> dict[str, Any]:
    return {"type": "message-end", "delta": {"finish_reason": reason, "usage": {
        "billed_units": {"input_tokens": prompt, "output_tokens": output},
        "tokens": {"input_tokens": prompt + TEMPLATE_TOKENS, "output_tokens": output}}}}
