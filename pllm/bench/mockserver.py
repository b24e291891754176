"""A fast OpenAI-compatible mock upstream for `pllm bench --mock`: raw asyncio, no framework.

`POST .../chat/completions` and `.../completions` answer at once with a fixed-shape completion
of `max_tokens` words (16 when not given; real usage counts), streamed when `"stream": true`
(one content event per word, the usage event when `stream_options.include_usage` asks for it,
then `[DONE]`). Answers are built once per distinct shape and cached as bytes, and the request
is read with a handful of byte searches, so one process answers tens of thousands of requests
a second: far more than the gateway in front of it, which is what a mock for measuring a
gateway's overhead must do. `--token-delay-ms` paces streams (chunked, one write per event).
`GET /health` answers 200. Run it alone with `python -m pllm.bench.mockserver --port 0`; it
prints `ready <port>` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
from typing import ClassVar

import orjson

__all__ = ["MockUpstream", "answer", "main"]

_WORDS = ("Hello", " there", ",", " this", " is", " a", " mock", " answer", " from", " the",
          " bench", " upstream", ".", " It", " says", " nothing")
_STREAM = re.compile(rb'"stream"\s*:\s*true')
_USAGE = re.compile(rb'"include_usage"\s*:\s*true')
_MAX = re.compile(rb'"max_(?:completion_)?tokens"\s*:\s*(\d+)')
_MODEL = re.compile(rb'"model"\s*:\s*"([^"\\]{0,200})"')
_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)")
_CREATED = 1_700_000_000
_CACHE_MAX = 512


def _chunk(model: str, legacy: bool, delta: object, finish: str | None = None,
           usage: object = None) -> bytes:
    if legacy:
        choice = {"index": 0, "text": delta if isinstance(delta, str) else "",
                  "logprobs": None, "finish_reason": finish}
        obj = "text_completion"
    else:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        obj = "chat.completion.chunk"
    doc: dict[str, object] = {"id": "chatcmpl-bench", "object": obj, "created": _CREATED,
                              "model": model, "choices": [choice] if usage is None else []}
    if usage is not None:
        doc["usage"] = usage
    return b"data: " + orjson.dumps(doc) + b"\n\n"


def shape(body: bytes, legacy: bool) -> tuple[bool, bool, bool, int, str, int]:
    """What an answer depends on: (legacy, stream, usage, words, model, prompt tokens)."""
    m = _MAX.search(body)
    mm = _MODEL.search(body)
    return (legacy, _STREAM.search(body) is not None, _USAGE.search(body) is not None,
            min(int(m.group(1)), 4096) if m else 16, mm.group(1).decode() if mm else "mock",
            body.count(b" ") + 1)


def answer(legacy: bool, stream: bool, with_usage: bool, n: int, model: str,
           prompt: int) -> tuple[bytes, list[bytes] | None]:
    """(JSON body, None), or (b"", SSE events) for a stream."""
    words = [_WORDS[i % len(_WORDS)] for i in range(n)]
    usage = {"prompt_tokens": prompt, "completion_tokens": n, "total_tokens": prompt + n}
    if not stream:
        text = "".join(words)
        if legacy:
            choice: dict[str, object] = {"index": 0, "text": text, "logprobs": None,
                                         "finish_reason": "length"}
        else:
            choice = {"index": 0, "message": {"role": "assistant", "content": text,
                                              "refusal": None},
                      "logprobs": None, "finish_reason": "length"}
        return orjson.dumps({
            "id": "chatcmpl-bench", "object": "text_completion" if legacy else "chat.completion",
            "created": _CREATED, "model": model, "choices": [choice], "usage": usage,
            "system_fingerprint": "fp_bench"}), None
    events = [] if legacy else [_chunk(model, legacy, {"role": "assistant", "content": ""})]
    events += [_chunk(model, legacy, w if legacy else {"content": w}) for w in words]
    events.append(_chunk(model, legacy, "" if legacy else {}, "length"))
    if with_usage:
        events.append(_chunk(model, legacy, None, usage=usage))
    events.append(b"data: [DONE]\n\n")
    return b"", events


def _response(status: int, ctype: bytes, body: bytes) -> bytes:
    return (b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
            % (status, b"OK" if status == 200 else b"Not Found", ctype, len(body)) + body)


_NOT_FOUND = _response(404, b"application/json", orjson.dumps(
    {"error": {"message": "no such route on the bench mock", "type": "invalid_request_error",
               "param": None, "code": "not_found"}}))
_HEALTH = _response(200, b"text/plain", b"ok")


class MockUpstream(asyncio.Protocol):
    """One client connection: HTTP/1.1 keep-alive, requests answered in order."""

    cache: ClassVar[dict[tuple[bool, bool, bool, int, str, int], bytes]] = {}
    token_delay_s: ClassVar[float] = 0.0

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.paced: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.paced is not None:
            self.paced.cancel()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.paced is None:
            self._serve()

    def _serve(self) -> None:
        buf = self.buf
        while True:
            i = buf.find(b"\r\n\r\n")
            if i < 0:
                break
            head = buf[:i].lower()
            m = _LENGTH.search(head)
            length = int(m.group(1)) if m else 0
            if len(buf) < i + 4 + length:
                break
            body, buf = buf[i + 4:i + 4 + length], buf[i + 4 + length:]
            self.buf = buf
            if not self._answer(head, body):
                return
        self.buf = buf

    def _answer(self, head: bytes, body: bytes) -> bool:
        """Answer one request; False when a paced stream took over the connection."""
        assert self.transport is not None
        line = head.split(b"\r\n", 1)[0]
        method, _, rest = line.partition(b" ")
        path = rest.rsplit(b" ", 1)[0].split(b"?")[0]
        if method == b"get" and path.endswith(b"/health"):
            self.transport.write(_HEALTH)
            return True
        if method != b"post" or not path.endswith(b"/completions"):
            self.transport.write(_NOT_FOUND)
            return True
        key = shape(body, not path.endswith(b"/chat/completions"))
        if self.token_delay_s and key[1]:
            self.paced = asyncio.get_running_loop().create_task(self._paced(key))
            return False
        out = self.cache.get(key)
        if out is None:
            raw, events = answer(*key)
            out = _response(200, b"text/event-stream" if events is not None
                            else b"application/json", raw if events is None
                            else b"".join(events))
            if len(self.cache) >= _CACHE_MAX:
                self.cache.clear()
            self.cache[key] = out
        self.transport.write(out)
        return True

    async def _paced(self, key: tuple[bool, bool, bool, int, str, int]) -> None:
        assert self.transport is not None
        _, events = answer(*key)
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")
        for ev in events or []:
            await asyncio.sleep(self.token_delay_s)
            self.transport.write(b"%x\r\n%s\r\n" % (len(ev), ev))
        self.transport.write(b"0\r\n\r\n")
        self.paced = None
        if self.buf:
            self._serve()


async def serve(host: str, port: int, token_delay_ms: float = 0.0) -> None:
    MockUpstream.token_delay_s = token_delay_ms / 1000.0
    loop = asyncio.get_running_loop()
    server = await loop.create_server(MockUpstream, host, port, backlog=4096)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="pllm bench's mock OpenAI-compatible upstream")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    ap.add_argument("--token-delay-ms", type=float, default=0.0)
    args = ap.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.token_delay_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
