"""Gemini's `streamGenerateContent?alt=sse` events -> OpenAI chunks (one StreamDecoder per answer).

Each `data:` event is a partial GenerateContentResponse whose parts hold only new text; there is
no [DONE] and no event name, and the stream ends with the body. Function calls arrive whole, so
each becomes one tool-call delta carrying its full arguments. The event with `finishReason`
gives the finish chunk (tool_calls when any functionCall part came, as Gemini says STOP); the
last `usageMetadata` with counts gives usage. Streams relay candidate 0 only (`n > 1` is refused
for streams in `gemini_format.py`). An `{"error": {...}}` event raises ProviderError at the next
`feed` or at `flush` (Gemini ends the stream right after it): raising at once would lose the
chunks of events that arrived in the same network read, so what a client receives would depend
on how the bytes were cut.
"""

from __future__ import annotations

from typing import Any

from pllm.errors import ProviderError
from pllm.providers.chunks import ChunkWriter
from pllm.providers.gemini_response import (
    answer_id,
    error_of,
    finish_of,
    function_call,
    loads,
    parts_text,
    usage_of,
)
from pllm.schema import Chunk, GatewayRequest, Usage

__all__ = ["GeminiStreamDecoder"]


class GeminiStreamDecoder:
    __slots__ = ("_calls", "_error", "_named", "_provider", "_req", "_writer", "usage")

    def __init__(self, req: GatewayRequest, provider: str = "gemini") -> None:
        self._req = req
        self._provider = provider
        self._writer = ChunkWriter(req, f"chatcmpl-{req.request_id}")
        self._named = False
        self._calls = 0
        self._error: ProviderError | None = None
        self.usage: Usage | None = None

    def feed(self, event: bytes, name: str | None = None) -> list[Chunk]:
        if self._error is not None:
            raise self._error
        data = loads(event)
        if isinstance(data, list):  # the array form, should a proxy drop alt=sse
            data = data[0] if len(data) == 1 else {"candidates": []}
        if not isinstance(data, dict):
            if not event.strip():
                return []
            raise ProviderError("Gemini sent a stream event that is not JSON",
                                upstream_status=502, provider=self._provider)
        if "error" in data:
            self._error = error_of(200, {}, event, self._provider)
            return []
        w = self._writer
        if not self._named:
            w.set_id(answer_id(data, self._req))
            self._named = True
        usage = usage_of(data.get("usageMetadata"))
        if usage is not None:
            self.usage = usage
        out: list[Chunk] = []
        candidates = data.get("candidates")
        if not candidates:
            feedback = data.get("promptFeedback")
            if isinstance(feedback, dict) and feedback.get("blockReason"):
                out += w.finish("content_filter")
            return out
        candidate = next((c for c in candidates
                          if isinstance(c, dict) and c.get("index", 0) == 0), None)
        if candidate is None:
            return out
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else []:
            if isinstance(part, dict):
                out += self._part(part)
        reason = candidate.get("finishReason")
        if reason:
            out += w.finish(finish_of(reason, w.has_tool_calls))
        return out

    def _part(self, part: dict[str, Any]) -> list[Chunk]:
        w = self._writer
        fc = part.get("functionCall")
        if isinstance(fc, dict):
            call = function_call(fc, self._calls, part.get("thoughtSignature"))
            key = self._calls
            self._calls += 1
            return w.tool_call(key, id=call["id"], name=call["function"]["name"],
                               arguments=call["function"]["arguments"])
        text = parts_text(part)
        if text is None:
            return w.start()
        if part.get("thought") is True:
            return w.reasoning(text)
        return w.text(text)

    def flush(self) -> list[Chunk]:
        if self._error is not None:
            raise self._error
        return self._writer.end(self.usage)
