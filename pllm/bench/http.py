"""A minimal HTTP/1.1 keep-alive client on an asyncio Protocol, built to cost the load generator
as little as possible per request (no request objects, no header dicts, no per-request tasks).

One `Connection` carries one request at a time: `send` writes the prebuilt request bytes and
returns a future that resolves to the `Exchange` when the answer is complete (Content-Length,
chunked or read-until-close bodies). Streamed answers (`text/event-stream`) are read event by
event as they arrive: the first event carrying content gives the time to first token, later
ones the inter-token gaps, the usage event the token counts. Failures never raise: the exchange
carries an error kind ("timeout", "closed", "protocol", "stream_error") or the HTTP status.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import orjson

from pllm.bench.histogram import Histogram
from pllm.sse import SSEDecoder, normalize_newlines

__all__ = ["Connection", "Exchange"]

_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _UNTIL_CLOSE, _IDLE = range(8)
_MAX_HEAD = 65536
_MAX_BODY = 1 << 20
# A chat chunk carrying text ("content", "reasoning_content"), a legacy completion's "text".
# (Two patterns: each starts with a literal, which re scans for 10x faster than an alternation.)
_CONTENT = re.compile(rb'content"\s*:\s*"[^"]')
_TEXT = re.compile(rb'"text"\s*:\s*"[^"]')
_PROMPT = re.compile(rb'"prompt_tokens"\s*:\s*(\d+)')
_COMPLETION = re.compile(rb'"completion_tokens"\s*:\s*(\d+)')
_now = time.monotonic


class Exchange:
    """One request and what was measured of its answer."""

    __slots__ = ("body", "completion_tokens", "content_events", "error", "first", "last",
                 "overhead_ms", "pending", "prompt_tokens", "sample", "status", "stream", "t0",
                 "t_end", "usage")

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.t_end = 0.0
        self.status = 0
        self.error: str | None = None
        self.sample: str | None = None
        self.overhead_ms: float | None = None
        self.body: list[bytes] = []
        self.stream = False
        self.pending = b""
        self.first = 0.0
        self.last = 0.0
        self.content_events = 0
        self.usage = False
        self.prompt_tokens = 0
        self.completion_tokens = 0

    @property
    def ok(self) -> bool:
        return self.error is None and 200 <= self.status < 300

    def read_usage(self, data: bytes) -> None:
        """The last usage in `data` (some providers repeat a growing usage in every event)."""
        found = _COMPLETION.findall(data)
        if not found:
            return
        self.usage = True
        self.completion_tokens = int(found[-1])
        p = _PROMPT.findall(data)
        self.prompt_tokens = int(p[-1]) if p else 0

    def error_message(self) -> str:
        raw = b"".join(self.body)[:4096]
        try:
            doc: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw[:200].decode("utf-8", "replace").strip()
        err = doc.get("error") if isinstance(doc, dict) else None
        msg = err.get("message") if isinstance(err, dict) else err
        return str(msg if msg is not None else doc)[:200]


class Connection(asyncio.Protocol):
    """One keep-alive connection; `closed` once the peer or a timeout ended it."""

    def __init__(self, itl: Histogram, timeout_s: float, legacy: bool = False) -> None:
        self.itl = itl
        self._content = _TEXT if legacy else _CONTENT
        self.timeout_s = timeout_s
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.keep_alive = True
        self._loop = asyncio.get_running_loop()
        self._ex: Exchange | None = None
        self._fut: asyncio.Future[Exchange] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._state = _IDLE
        self._buf = b""
        self._left = 0

    # -- asyncio callbacks ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._state == _UNTIL_CLOSE:
            self._finish()
        elif self._fut is not None:
            self._fail("closed")

    def data_received(self, data: bytes) -> None:
        if self._ex is None:
            return  # nothing was asked: stray bytes are ignored
        now = _now()
        buf = self._buf + data if self._buf else data
        self._buf = b""
        while buf:
            state = self._state
            if state == _HEAD:
                i = buf.find(b"\r\n\r\n")
                if i < 0:
                    if len(buf) > _MAX_HEAD:
                        self._fail("protocol")
                        return
                    self._buf = buf
                    return
                head, buf = buf[:i], buf[i + 4:]
                self._head(head)
                if self._state == _IDLE:  # no body, or a protocol error
                    return
            elif state in (_LENGTH, _CHUNK_DATA):
                take = min(self._left, len(buf))
                self._body(buf[:take] if take < len(buf) else buf, now)
                buf = buf[take:]
                self._left -= take
                if self._left == 0:
                    if state == _LENGTH:
                        self._finish()
                        return
                    self._state = _CHUNK_END
            elif state == _CHUNK_SIZE:
                i = buf.find(b"\r\n")
                if i < 0:
                    self._buf = buf
                    return
                try:
                    size = int(buf[:i].split(b";", 1)[0], 16)
                except ValueError:
                    self._fail("protocol")
                    return
                buf = buf[i + 2:]
                self._left = size
                self._state = _CHUNK_DATA if size else _TRAILER
            elif state == _CHUNK_END:
                if len(buf) < 2:
                    self._buf = buf
                    return
                buf = buf[2:]
                self._state = _CHUNK_SIZE
            elif state == _TRAILER:
                i = buf.find(b"\r\n")
                if i < 0:
                    self._buf = buf
                    return
                line, buf = buf[:i], buf[i + 2:]
                if not line:
                    self._finish()
                    return
            elif state == _UNTIL_CLOSE:
                self._body(buf, now)
                return
            else:
                return

    # -- requests -------------------------------------------------------------------------------
    def send(self, data: bytes) -> asyncio.Future[Exchange]:
        """Write one request; the future resolves when its answer is complete or failed."""
        assert self.transport is not None
        ex = self._ex = Exchange(_now())
        fut = self._fut = self._loop.create_future()
        self._state = _HEAD
        self._timer = self._loop.call_at(ex.t0 + self.timeout_s, self._on_timeout)
        self.transport.write(data)
        return fut

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _on_timeout(self) -> None:
        self._timer = None
        self._fail("timeout")

    def _head(self, raw: bytes) -> None:
        ex = self._ex
        assert ex is not None
        lines = raw.lower().split(b"\r\n")
        first = lines[0]
        try:
            ex.status = int(first[9:12])
        except ValueError:
            self._fail("protocol")
            return
        keep = not first.startswith(b"http/1.0")
        length: int | None = None
        chunked = stream = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip()
            if name == b"content-length":
                if not value.strip().isdigit():
                    self._fail("protocol")
                    return
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value
            elif name == b"connection":
                keep = b"close" not in value if keep else b"keep-alive" in value
            elif name == b"content-type":
                stream = b"text/event-stream" in value
            elif name == b"x-pllm-overhead-ms":
                try:
                    ex.overhead_ms = float(value)
                except ValueError:
                    pass
        self.keep_alive = keep
        ex.stream = stream and 200 <= ex.status < 300
        if ex.status in (204, 304) or 100 <= ex.status < 200 or length == 0:
            self._finish()
        elif chunked:
            self._state = _CHUNK_SIZE
        elif length is not None:
            self._state, self._left = _LENGTH, length
        else:
            self._state, self.keep_alive = _UNTIL_CLOSE, False

    def _body(self, piece: bytes, now: float) -> None:
        ex = self._ex
        assert ex is not None
        if ex.stream:
            self._events(ex, piece, now)
        elif sum(map(len, ex.body)) < _MAX_BODY:
            ex.body.append(piece)

    def _events(self, ex: Exchange, piece: bytes, now: float, final: bool = False) -> None:
        """Account for the events completed by `piece`, all at once: events that arrive in one
        read arrive at the same instant, so one regex pass over them counts the content events
        (the first sets the time to first token, each later one adds an inter-token gap)."""
        buf = ex.pending + piece if ex.pending else piece
        if b"\r" in buf:
            buf = normalize_newlines(buf)
        cut = len(buf) if final else buf.rfind(b"\n\n") + 2
        if cut < 2:
            ex.pending = buf
            return
        done, ex.pending = buf[:cut], buf[cut:]
        k = len(self._content.findall(done))
        if k:
            itl = self.itl
            if ex.content_events:
                itl.record(int((now - ex.last) * 1_000_000))
            else:
                ex.first = now
            if k > 1:
                itl.record_n(0, k - 1)
            ex.last = now
            ex.content_events += k
        if b'"usage"' in done:
            ex.read_usage(done)
        if (b'"error"' in done or b"event: error" in done or b"event:error" in done) \
                and ex.error is None:
            for ev in SSEDecoder().feed(done + b"\n\n"):
                if b'"error"' in ev.data or ev.event == "error":
                    _stream_error(ex, ev.data, ev.event == "error")
                    if ex.error is not None:
                        break

    def _finish(self) -> None:
        ex, fut = self._ex, self._fut
        self._state = _IDLE
        self._ex = self._fut = None
        self._buf = b""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if ex is None or fut is None:
            return
        ex.t_end = _now()
        if ex.stream:
            if ex.pending.strip():
                self._events(ex, b"", ex.t_end, final=True)
        elif ex.status < 300 and ex.body:
            ex.read_usage(b"".join(ex.body))
        if not fut.done():
            fut.set_result(ex)

    def _fail(self, kind: str) -> None:
        if self._ex is not None:
            self._ex.error = kind
        self.keep_alive = False
        self._finish()
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()


def _stream_error(ex: Exchange, data: bytes, named: bool) -> None:
    try:
        doc: Any = orjson.loads(data)
    except orjson.JSONDecodeError:
        doc = None
    if named or (isinstance(doc, dict) and "error" in doc):
        err = doc.get("error") if isinstance(doc, dict) else None
        msg = err.get("message") if isinstance(err, dict) else err
        ex.error = "stream_error"
        ex.sample = str(msg if msg is not None else data[:200].decode("utf-8", "replace"))
