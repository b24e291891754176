"""Server-sent events: an incremental decoder (feed network pieces, get whole events) and encoders.

Pure and allocation-light because every streamed token of every request passes through here.
Follows the WHATWG event-stream rules that matter for LLM APIs: events end at a blank line, lines
end in LF, CRLF or CR, `data:` lines of one event join with LF, one optional space after the colon
is dropped, comment lines (starting with `:`) are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DONE", "SSEDecoder", "SSEEvent", "encode_data", "encode_event", "normalize_newlines"]

DONE = b"[DONE]"


@dataclass(frozen=True, slots=True)
class SSEEvent:
    data: bytes
    event: str | None = None
    id: str | None = None


class SSEDecoder:
    """Feed raw bytes as they arrive; `feed` returns the events completed by them."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[SSEEvent]:
        buf = self._buf + data if self._buf else data
        if b"\r" in buf:
            buf = normalize_newlines(buf)
        if b"\n\n" not in buf:
            self._buf = buf
            return []
        *blocks, self._buf = buf.split(b"\n\n")
        return [ev for ev in map(_parse_block, blocks) if ev is not None]

    def flush(self) -> list[SSEEvent]:
        """Events left when the stream ends without a final blank line."""
        rest, self._buf = self._buf.replace(b"\r", b"\n"), b""
        ev = _parse_block(rest.strip(b"\n")) if rest.strip() else None
        return [ev] if ev is not None else []


def normalize_newlines(buf: bytes) -> bytes:
    """CRLF and CR -> LF; a CR at the very end stays (its LF may be in the next piece)."""
    tail = buf.endswith(b"\r")
    body = buf[:-1] if tail else buf
    body = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return body + b"\r" if tail else body


def _parse_block(block: bytes) -> SSEEvent | None:
    # Fast path: the overwhelmingly common single `data: ...` line.
    if block.startswith(b"data: ") and b"\n" not in block:
        return SSEEvent(block[6:])
    data: list[bytes] = []
    event: str | None = None
    ev_id: str | None = None
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode("utf-8", "replace")
        elif name == b"id":
            ev_id = value.decode("utf-8", "replace")
    if not data and event is None:
        return None
    return SSEEvent(b"\n".join(data), event, ev_id)


def encode_data(payload: bytes) -> bytes:
    """One `data:` event (payload must not contain newlines: JSON from orjson never does)."""
    return b"data: " + payload + b"\n\n"


def encode_event(name: str, payload: bytes) -> bytes:
    """A named event, as Anthropic's and Cohere's streams use."""
    return b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n"
