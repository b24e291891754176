"""Anthropic Messages answers -> OpenAI: whole messages, the SSE stream, and error bodies.

The request side and the `Anthropic` provider live in `anthropic.py`, which re-exports these;
Claude on Vertex AI answers in the same shapes (rawPredict / streamRawPredict) and reuses them.

The stream (every event's `event:` name equals the `type` inside its `data:`):

    message_start -> (content_block_start, content_block_delta*, content_block_stop)*
                  -> message_delta+ -> message_stop

`ping` may come anywhere and `error` in place of any event (HTTP status already 200: the SSE
analogue of 529 overloaded). Unknown event and block types are ignored, as Anthropic asks.
Usage: `message_start.message.usage` holds the input side (input, cache creation, cache read) and
a token or so of output; `message_delta.usage` counts are cumulative (output always; newer servers
repeat the input side), so the latest value of each field wins.

Mapping: text -> `content`, thinking -> `reasoning_content` (and, whole messages only, LiteLLM's
`thinking_blocks` with the signatures a client must send back for tool use with thinking),
tool_use -> `tool_calls` numbered in order of appearance (not by Anthropic's block index),
`stop_reason` -> `finish_reason` (refusal -> content_filter), usage -> OpenAI usage with
`prompt_tokens` = input + cache creation + cache read and `cached_tokens` = cache read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from pllm.errors import ProviderError
from pllm.providers.chunks import ChunkWriter, FinishReason, chat_completion, tool_call
from pllm.providers.errors import is_context_overflow, retry_after
from pllm.schema import Chunk, Completion, GatewayRequest, Usage

__all__ = [
    "FINISH_REASONS",
    "AnthropicStreamDecoder",
    "completion_from_anthropic",
    "error_from_anthropic",
    "finish_reason",
    "usage_from_anthropic",
]

_PROVIDER = "anthropic"

FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    # A server-tool turn paused for the client to resend: the answer so far is complete text.
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# The HTTP status each error type comes with (SDK `ErrorType`, API errors page), for error
# events inside a stream, which have no status of their own.
_STATUS_OF_TYPE = {
    "invalid_request_error": 400, "authentication_error": 401, "billing_error": 402,
    "permission_error": 403, "not_found_error": 404, "conflict_error": 409,
    "request_too_large": 413, "rate_limit_error": 429, "api_error": 500,
    "timeout_error": 504, "overloaded_error": 529,
}
# "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000" (Claude 3.7
# and 4.0 count max_tokens against the window) is a context overflow too.
_OVER_LIMIT = re.compile(r"exceed context limit", re.IGNORECASE)


def finish_reason(stop_reason: Any, has_tool_calls: bool) -> FinishReason:
    mapped = FINISH_REASONS.get(stop_reason) if isinstance(stop_reason, str) else None
    if mapped is None:
        return "tool_calls" if has_tool_calls else "stop"
    return mapped


def usage_from_anthropic(usage: Mapping[str, Any]) -> Usage:
    """Anthropic `usage` -> OpenAI's: cache writes and reads are prompt tokens too (Anthropic
    counts them apart from `input_tokens`); `cached_tokens` is what was read from the cache."""
    fresh = _int(usage.get("input_tokens"))
    written = _int(usage.get("cache_creation_input_tokens"))
    read = _int(usage.get("cache_read_input_tokens"))
    output = _int(usage.get("output_tokens"))
    details = usage.get("output_tokens_details")
    thinking = _int(details.get("thinking_tokens")) if isinstance(details, dict) else 0
    prompt = fresh + written + read
    return Usage(prompt_tokens=prompt, completion_tokens=output, total_tokens=prompt + output,
                 cached_tokens=read, reasoning_tokens=thinking, cache_write_tokens=written)


def completion_from_anthropic(req: GatewayRequest, data: dict[str, Any]) -> Completion:
    """A `Message` -> an OpenAI `chat.completion` (model and created from the request)."""
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    thinking_blocks: list[dict[str, Any]] = []
    for block in data.get("content") or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            text.append(_str(block.get("text")))
        elif kind == "tool_use":
            calls.append(tool_call(_str(block.get("id")), _str(block.get("name")),
                                   _arguments(block.get("input"))))
        elif kind == "thinking":
            reasoning.append(_str(block.get("thinking")))
            thinking_blocks.append(block)
        elif kind == "redacted_thinking":
            thinking_blocks.append(block)
        # server tool blocks (web search, code execution) have no OpenAI equivalent
    usage = data.get("usage")
    completion = chat_completion(
        req, id=_str(data.get("id")),
        content="".join(text) if text or not calls else None,
        finish_reason=finish_reason(data.get("stop_reason"), bool(calls)),
        usage=usage_from_anthropic(usage) if isinstance(usage, dict) else None,
        tool_calls=calls or None, reasoning="".join(reasoning) or None)
    if thinking_blocks:
        completion.data()["choices"][0]["message"]["thinking_blocks"] = thinking_blocks
    return completion


def error_from_anthropic(status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
    """An Anthropic error answer (`{"type": "error", "error": {"type", "message", "details"?},
    "request_id"}`, or whatever a proxy in front sent) -> ProviderError."""
    err = _error_object(body)
    message = _str(err.get("message")) or f"anthropic answered HTTP {status}"
    etype = err.get("type") if isinstance(err.get("type"), str) else None
    return _provider_error(status, etype, message, err.get("details"), headers)


def _provider_error(status: int, etype: str | None, message: str, details: Any,
                    headers: Mapping[str, str]) -> ProviderError:
    code: str | None = None
    error_type = etype or _type_of_status(status)
    retryable: bool | None = None
    if status in (400, 413) and (is_context_overflow(message) or _OVER_LIMIT.search(message)):
        code = "context_length_exceeded"
    elif status == 429:
        limit = details.get("error_code") if isinstance(details, dict) else None
        if isinstance(limit, str) and limit.endswith("spend_limit_reached"):
            # A spend cap, not a rate: waiting will not help (OpenAI calls it a quota).
            code = error_type = "insufficient_quota"
            retryable = False
        else:
            code = "rate_limit_exceeded"
    elif status == 401:
        error_type, code = "invalid_request_error", "invalid_api_key"  # as OpenAI answers
    elif status == 404 and message.startswith("model:"):
        code = "model_not_found"
    elif status == 413:
        code = "request_too_large"
    if headers.get("x-should-retry") == "false":
        retryable = False  # the SDKs obey this header over the status
    return ProviderError(message, upstream_status=status, provider=_PROVIDER,
                         error_type=error_type, code=code, retry_after=retry_after(headers),
                         retryable=retryable)


class AnthropicStreamDecoder:
    """Anthropic SSE events (`feed(data, event_name)`) -> OpenAI chunks via ChunkWriter."""

    __slots__ = ("_args", "_done", "_inputs", "_kinds", "_stop", "_usage", "_writer", "usage")

    def __init__(self, req: GatewayRequest) -> None:
        self._writer = ChunkWriter(req)
        self._kinds: dict[Any, str] = {}
        """Anthropic block index -> block type."""
        self._args: dict[Any, int] = {}
        """tool_use block index -> argument characters sent so far."""
        self._inputs: dict[Any, Any] = {}
        """tool_use block index -> the `input` its start event carried."""
        self._usage: dict[str, Any] = {}
        self._stop: str | None = None
        self._done = False
        self.usage: Usage | None = None

    def feed(self, event: bytes, name: str | None = None) -> list[Chunk]:
        if not event:
            return []
        try:
            data = orjson.loads(event)
        except orjson.JSONDecodeError:
            raise ProviderError("anthropic sent a stream event that is not JSON",
                                upstream_status=502, provider=_PROVIDER) from None
        if not isinstance(data, dict):
            return []
        kind = data.get("type") or name
        if kind == "content_block_delta":
            return self._delta(data.get("index"), data.get("delta"))
        if kind == "content_block_start":
            return self._block_start(data.get("index"), data.get("content_block"))
        if kind == "content_block_stop":
            return self._block_stop(data.get("index"))
        if kind == "message_start":
            message = data.get("message")
            message = message if isinstance(message, dict) else {}
            self._writer.set_id(_str(message.get("id")))
            self._read_usage(message.get("usage"))
            return self._writer.start()
        if kind == "message_delta":
            return self._message_delta(data)
        if kind == "message_stop":
            self._done = True
            return self._writer.end(self.usage)
        if kind == "error":
            raise _stream_error(data)
        return []  # ping, and event types added after this was written

    def flush(self) -> list[Chunk]:
        if self._done:
            return []
        if self._stop is not None:  # the answer was complete; only message_stop went missing
            self._done = True
            return self._writer.end(self.usage)
        raise ProviderError("the anthropic stream ended before the answer was complete",
                            upstream_status=502, provider=_PROVIDER)

    def _delta(self, index: Any, delta: Any) -> list[Chunk]:
        if not isinstance(delta, dict):
            return []
        kind = delta.get("type")
        if kind == "text_delta":
            return self._writer.text(_str(delta.get("text")))
        if kind == "input_json_delta":
            fragment = _str(delta.get("partial_json"))
            if not fragment or index not in self._args:
                return []  # the first fragment is often ""; server tools have no OpenAI side
            self._args[index] += len(fragment)
            return self._writer.tool_call(index, arguments=fragment)
        if kind == "thinking_delta":
            return self._writer.reasoning(_str(delta.get("thinking")))
        return []  # signature_delta, citations_delta

    def _block_start(self, index: Any, block: Any) -> list[Chunk]:
        if not isinstance(block, dict):
            return []
        kind = _str(block.get("type"))
        self._kinds[index] = kind
        if kind == "text":
            return self._writer.text(_str(block.get("text")))
        if kind == "tool_use":
            self._args[index] = 0
            self._inputs[index] = block.get("input")
            return self._writer.tool_call(index, id=_str(block.get("id")),
                                          name=_str(block.get("name")))
        if kind == "thinking":
            return self._writer.reasoning(_str(block.get("thinking")))
        return []

    def _block_stop(self, index: Any) -> list[Chunk]:
        if self._args.get(index) == 0:
            # No argument fragments (a tool without parameters): OpenAI clients parse the
            # arguments as JSON, so send the start event's input, "{}" at least.
            self._args[index] = 1
            return self._writer.tool_call(index, arguments=_arguments(self._inputs.get(index)))
        return []

    def _message_delta(self, data: dict[str, Any]) -> list[Chunk]:
        self._read_usage(data.get("usage"))
        delta = data.get("delta")
        stop = delta.get("stop_reason") if isinstance(delta, dict) else None
        if not isinstance(stop, str):
            return []
        self._stop = stop
        return self._writer.finish(finish_reason(stop, self._writer.has_tool_calls))

    def _read_usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        self._usage.update((k, v) for k, v in usage.items() if v is not None)
        self.usage = usage_from_anthropic(self._usage)


def _stream_error(data: dict[str, Any]) -> ProviderError:
    err = data.get("error")
    err = err if isinstance(err, dict) else {"message": _str(err)}
    etype = err.get("type") if isinstance(err.get("type"), str) else None
    message = _str(err.get("message")) or "the anthropic stream failed"
    return _provider_error(_STATUS_OF_TYPE.get(etype or "", 500), etype, message,
                           err.get("details"), {})


def _error_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return {"message": text[:500]} if text and not text.startswith("<") else {}
    if not isinstance(parsed, dict):
        return {}
    inner = parsed.get("error")
    if isinstance(inner, dict):
        return inner
    if isinstance(inner, str):
        return {"message": inner}
    return parsed


def _type_of_status(status: int) -> str:
    for etype, s in _STATUS_OF_TYPE.items():
        if s == status:
            return etype
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def _arguments(value: Any) -> str:
    return orjson.dumps(value if value is not None else {}).decode()


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
