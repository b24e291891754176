"""Turning a provider's event stream into the OpenAI SSE bytes a client receives."""

from __future__ import annotations

from typing import Protocol

from pllm.providers.base import StreamDecoder
from pllm.schema import Chunk, Usage
from pllm.sse import SSEDecoder, SSEEvent

__all__ = ["EventRelay", "Framer", "encode_chunks"]


class Framer(Protocol):
    """Cuts a byte stream into events (SSE here; AWS event-stream for Bedrock)."""

    def feed(self, data: bytes) -> list[SSEEvent]: ...

    def flush(self) -> list[SSEEvent]: ...


def encode_chunks(chunks: list[Chunk]) -> bytes:
    return b"".join([b"data: " + c.payload() + b"\n\n" for c in chunks])


class EventRelay:
    """framer -> decoder -> `data:` events. The relay for providers with a native stream format."""

    __slots__ = ("_decoder", "_framer")

    def __init__(self, decoder: StreamDecoder, framer: Framer | None = None) -> None:
        self._decoder = decoder
        self._framer = framer or SSEDecoder()

    @property
    def usage(self) -> Usage | None:
        return self._decoder.usage

    def feed(self, data: bytes) -> bytes:
        return self._decode(self._framer.feed(data))

    def flush(self) -> bytes:
        out = self._decode(self._framer.flush())
        return out + encode_chunks(self._decoder.flush())

    def _decode(self, events: list[SSEEvent]) -> bytes:
        if not events:
            return b""
        chunks: list[Chunk] = []
        for ev in events:
            chunks.extend(self._decoder.feed(ev.data, ev.event))
        return encode_chunks(chunks)
