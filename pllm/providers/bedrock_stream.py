"""Bedrock ConverseStream -> OpenAI chunks: the AWS event-stream framer and the event decoder.

The body of a ConverseStream answer is `application/vnd.amazon.eventstream`: binary messages
(prelude with lengths and CRC, typed headers, payload, message CRC). `EventStreamFramer` cuts
them with botocore's own parser (`botocore.eventstream.EventStreamBuffer`, pure parsing, no I/O)
and names each one: `event` messages by their `:event-type`, `exception` messages
`exception:<:exception-type>` (payload `{"message": ...}`), `error` messages
`error:<:error-code>` (the `:error-message` as payload).

`ConverseStreamDecoder` maps the events (sequence from the service model and observed streams):
messageStart -> (nothing yet: the role chunk goes out with the first content, so an exception
right at the start is still a clean error status); contentBlockDelta text -> content (text
blocks have no contentBlockStart); contentBlockStart toolUse -> a tool call's first fragment,
then its `toolUse.input` deltas -> argument fragments; reasoningContent text -> reasoning;
messageStop -> the finish chunk; metadata (after messageStop) -> usage and the end. Every
payload may carry a random padding member `"p"`; unknown members and events are ignored.
"""

from __future__ import annotations

from typing import Any

import orjson

from pllm.errors import ProviderError
from pllm.providers.bedrock_wire import PROVIDER, finish_reason, stream_error, usage_of
from pllm.providers.chunks import ChunkWriter
from pllm.schema import Chunk, GatewayRequest, Usage
from pllm.sse import SSEEvent

__all__ = ["ConverseStreamDecoder", "EventStreamFramer"]


class EventStreamFramer:
    """AWS event-stream bytes in, one named event per complete message out."""

    __slots__ = ("_buffer", "_errors", "_fed", "_used")

    def __init__(self) -> None:
        # Imported here: botocore costs ~25 ms to import, paid only once a stream is relayed.
        from botocore.eventstream import EventStreamBuffer, ParserError

        self._buffer: Any = EventStreamBuffer()
        self._errors: type[Exception] = ParserError
        self._fed = 0
        self._used = 0

    def feed(self, data: bytes) -> list[SSEEvent]:
        if not data:
            return []
        self._fed += len(data)
        self._buffer.add_data(data)
        out: list[SSEEvent] = []
        try:
            for message in self._buffer:
                self._used += message.prelude.total_length
                out.append(_named(message.headers, message.payload))
        except self._errors as e:
            raise ProviderError(f"Bedrock sent a malformed event stream ({type(e).__name__})",
                                upstream_status=502, provider=PROVIDER) from None
        return out

    def flush(self) -> list[SSEEvent]:
        if self._fed != self._used:
            raise ProviderError("the Bedrock event stream ended in the middle of a message",
                                upstream_status=502, provider=PROVIDER)
        return []


def _named(headers: dict[str, Any], payload: bytes) -> SSEEvent:
    kind = headers.get(":message-type")
    if kind == "event":
        return SSEEvent(data=payload, event=str(headers.get(":event-type", "")))
    if kind == "exception":
        return SSEEvent(data=payload, event=f"exception:{headers.get(':exception-type', '')}")
    if kind == "error":
        message = str(headers.get(":error-message", ""))
        return SSEEvent(data=message.encode(), event=f"error:{headers.get(':error-code', '')}")
    return SSEEvent(data=payload, event=f"unknown:{kind}")


class ConverseStreamDecoder:
    """ConverseStream events -> OpenAI chunks (see the module docstring)."""

    __slots__ = ("_ended", "_stopped", "_writer", "usage")

    def __init__(self, req: GatewayRequest) -> None:
        self._writer = ChunkWriter(req, f"chatcmpl-{req.request_id or 'bedrock'}")
        self._stopped = False
        self._ended = False
        self.usage: Usage | None = None

    def feed(self, event: bytes, name: str | None = None) -> list[Chunk]:
        if not name:
            return []
        if name.startswith(("exception:", "error:")):
            raise stream_error(name, event)
        if name == "contentBlockDelta":
            return self._delta(_payload(event, name))
        if name == "contentBlockStart":
            data = _payload(event, name)
            start = data.get("start")
            tool = start.get("toolUse") if isinstance(start, dict) else None
            if isinstance(tool, dict):
                return self._writer.tool_call(data.get("contentBlockIndex"),
                                              id=str(tool.get("toolUseId") or "") or None,
                                              name=str(tool.get("name") or ""))
            return []
        if name == "messageStop":
            data = _payload(event, name)
            self._stopped = True
            return self._writer.finish(finish_reason(data.get("stopReason"),
                                                     self._writer.has_tool_calls))
        if name == "metadata":
            self.usage = usage_of(_payload(event, name).get("usage")) or self.usage
            return self._end() if self._stopped else []
        return []  # messageStart, contentBlockStop, and events added later

    def flush(self) -> list[Chunk]:
        return self._end()

    def _end(self) -> list[Chunk]:
        if self._ended:
            return []
        self._ended = True
        return self._writer.end(self.usage)

    def _delta(self, data: dict[str, Any]) -> list[Chunk]:
        delta = data.get("delta")
        if not isinstance(delta, dict):
            return []
        if isinstance(delta.get("text"), str):
            return self._writer.text(delta["text"])
        tool = delta.get("toolUse")
        if isinstance(tool, dict):
            return self._writer.tool_call(data.get("contentBlockIndex"),
                                          arguments=str(tool.get("input") or ""))
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict) and isinstance(reasoning.get("text"), str):
            return self._writer.reasoning(reasoning["text"])
        return []  # reasoning signatures, redacted reasoning, citations, images


def _payload(event: bytes, name: str) -> dict[str, Any]:
    try:
        data = orjson.loads(event)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise ProviderError(f"Bedrock sent a {name} event that is not a JSON object",
                            upstream_status=502, provider=PROVIDER)
    return data
