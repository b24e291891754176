"""Turning a provider's event stream into the OpenAI SSE bytes a client receives."""

from __future__ import annotations

from typing import Protocol

from pllm.errors import ProviderError
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
    """framer -> decoder -> `data:` events. The relay for providers with a native stream format.

    When the decoder raises for an in-band error, the chunks decoded before it in the same
    network read are still delivered; the error is raised on the next call, so a client always
    sees what the provider sent before it failed, and how the bytes were cut does not matter.
    """

    __slots__ = ("_decoder", "_framer", "_pending")

    def __init__(self, decoder: StreamDecoder, framer: Framer | None = None) -> None:
        self._decoder = decoder
        self._framer = framer or SSEDecoder()
        self._pending: ProviderError | None = None

    @property
    def usage(self) -> Usage | None:
        return self._decoder.usage

    def feed(self, data: bytes) -> bytes:
        self._raise_pending()
        return self._decode(self._framer.feed(data))

    def flush(self) -> bytes:
        self._raise_pending()
        out = self._decode(self._framer.flush())
        self._raise_pending()  # nothing follows a flush: an error now wins over `out`
        return out + encode_chunks(self._decoder.flush())

    def _raise_pending(self) -> None:
        if self._pending is not None:
            error, self._pending = self._pending, None
            raise error

    def _decode(self, events: list[SSEEvent]) -> bytes:
        if not events:
            return b""
        chunks: list[Chunk] = []
        for ev in events:
            try:
                chunks.extend(self._decoder.feed(ev.data, ev.event))
            except ProviderError as e:
                if not chunks:
                    raise
                self._pending = e
                break
        return encode_chunks(chunks)
