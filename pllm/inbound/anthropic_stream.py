"""OpenAI chat chunks -> Anthropic's streaming event sequence, exactly as Anthropic sends it:

    message_start, ping, then per content block content_block_start / content_block_delta... /
    content_block_stop, then message_delta (stop_reason, cumulative usage), message_stop.

Reasoning deltas become a `thinking` block, text a `text` block, each tool call a `tool_use`
block whose arguments stream as `input_json_delta`. Usage arrives in OpenAI's last chunk, so
`message_start` reports 0 input tokens and `message_delta` carries the real counts (as current
Anthropic streams also repeat them there).
"""

from __future__ import annotations

from typing import Any

import orjson

from pllm.inbound.anthropic import anthropic_usage, stop_reason
from pllm.sse import encode_event

__all__ = ["AnthropicEventEncoder"]


class AnthropicEventEncoder:
    def __init__(self, model: str) -> None:
        self._model = model
        self._started = False
        self._index = -1
        self._open: str | None = None  # "text" | "thinking" | "tool:<openai index>"
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None

    def feed(self, chunk: dict[str, Any]) -> bytes:
        out: list[bytes] = []
        if not self._started:
            self._started = True
            out.append(self._event("message_start", {"type": "message_start", "message": {
                "id": "msg_" + str(chunk.get("id", "")), "type": "message",
                "role": "assistant", "model": self._model, "content": [],
                "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": 0, "output_tokens": 0}}}))
            out.append(self._event("ping", {"type": "ping"}))
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue  # Anthropic has one answer per request
            out.extend(self._delta(choice.get("delta") or {}))
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return b"".join(out)

    def finish(self) -> bytes:
        out = [self._close()] if self._open else []
        usage = anthropic_usage(self._usage)
        out.append(self._event("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(self._finish), "stop_sequence": None},
            "usage": usage}))
        out.append(self._event("message_stop", {"type": "message_stop"}))
        return b"".join(out)

    def error(self, kind: str, message: str) -> bytes:
        return self._event("error", {"type": "error",
                                     "error": {"type": kind, "message": message}})

    def _delta(self, delta: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        if delta.get("reasoning_content"):
            out += self._ensure("thinking", {"type": "thinking", "thinking": "",
                                             "signature": ""})
            out.append(self._block_delta({"type": "thinking_delta",
                                          "thinking": delta["reasoning_content"]}))
        if delta.get("content"):
            out += self._ensure("text", {"type": "text", "text": ""})
            out.append(self._block_delta({"type": "text_delta", "text": delta["content"]}))
        for call in delta.get("tool_calls") or []:
            fn = call.get("function") or {}
            key = f"tool:{call.get('index', 0)}"
            if call.get("id") or self._open != key:
                out += self._ensure(key, {"type": "tool_use", "id": call.get("id", ""),
                                          "name": fn.get("name", ""), "input": {}})
            if fn.get("arguments"):
                out.append(self._block_delta({"type": "input_json_delta",
                                              "partial_json": fn["arguments"]}))
        return out

    def _ensure(self, kind: str, block: dict[str, Any]) -> list[bytes]:
        if self._open == kind:
            return []
        out = [self._close()] if self._open else []
        self._index += 1
        self._open = kind
        out.append(self._event("content_block_start", {
            "type": "content_block_start", "index": self._index, "content_block": block}))
        return out

    def _close(self) -> bytes:
        self._open = None
        return self._event("content_block_stop", {"type": "content_block_stop",
                                                  "index": self._index})

    def _block_delta(self, delta: dict[str, Any]) -> bytes:
        return self._event("content_block_delta", {"type": "content_block_delta",
                                                   "index": self._index, "delta": delta})

    @staticmethod
    def _event(name: str, data: dict[str, Any]) -> bytes:
        return encode_event(name, orjson.dumps(data))
