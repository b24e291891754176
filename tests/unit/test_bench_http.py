"""The bench's HTTP/1.1 client and mock upstream: responses fed in awkward pieces (byte by
byte, chunked, streamed), failures by kind, and a real load run over loopback against the mock
server in this process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest

from pllm.bench.histogram import Histogram
from pllm.bench.http import Connection, Exchange
from pllm.bench.load import Runner
from pllm.bench.mockserver import MockUpstream, answer
from pllm.bench.spec import Endpoint, Job, Target, Workload


class FakeTransport(asyncio.Transport):
    def __init__(self, proto: Connection) -> None:
        super().__init__()
        self.proto = proto
        self.written: list[bytes] = []
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def abort(self) -> None:
        self.aborted = True
        self.proto.connection_lost(None)

    def close(self) -> None:
        self.proto.connection_lost(None)


def exchange(pieces: list[bytes], *, timeout: float = 5.0, close: bool = False,
             itl: Histogram | None = None) -> Exchange:
    """Send one request over a fake transport, feed the pieces, return the exchange."""
    async def go() -> Exchange:
        conn = Connection(itl or Histogram(), timeout)
        conn.connection_made(FakeTransport(conn))
        fut = conn.send(b"POST / HTTP/1.1\r\n\r\n")
        for p in pieces:
            conn.data_received(p)
            await asyncio.sleep(0)
        if close:
            conn.connection_lost(None)
        return await asyncio.wait_for(fut, 5)
    return asyncio.run(go())


def bytewise(raw: bytes) -> list[bytes]:
    return [raw[i:i + 1] for i in range(len(raw))]


def chunked(body: bytes, size: int) -> bytes:
    parts = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\nX-T: 1\r\n\r\n"


COMPLETION = orjson.dumps({"choices": [{"message": {"content": "hi"}}],
                           "usage": {"prompt_tokens": 9, "completion_tokens": 24,
                                     "completion_tokens_details": {"reasoning_tokens": 0}}})


def test_content_length_answer_byte_by_byte() -> None:
    raw = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-PLLM-Overhead-Ms: 0.250\r\n"
           b"Content-Length: %d\r\n\r\n" % len(COMPLETION)) + COMPLETION
    ex = exchange(bytewise(raw))
    assert ex.ok and ex.status == 200 and not ex.stream
    assert (ex.usage, ex.prompt_tokens, ex.completion_tokens) == (True, 9, 24)
    assert ex.overhead_ms == 0.25 and ex.t_end >= ex.t0


def test_chunked_json_answer() -> None:
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(COMPLETION, 7)
    ex = exchange([raw[:10], raw[10:50], raw[50:]])
    assert ex.ok and ex.completion_tokens == 24


def sse(events: list[dict[str, Any]], done: bool = True, crlf: bool = False) -> bytes:
    nl = b"\r\n" if crlf else b"\n"
    out = b"".join(b"data: " + orjson.dumps(e) + nl + nl for e in events)
    return out + (b"data: [DONE]" + nl + nl if done else b"")


def delta(text: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": text}}], "usage": None}


STREAM_EVENTS = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
                 delta("Hel"), delta("lo"), delta(" \"you\""), delta("!"),
                 {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 4}}]


@pytest.mark.parametrize("crlf", [False, True])
def test_stream_counts_content_events_and_usage(crlf: bool) -> None:
    body = sse(STREAM_EVENTS, crlf=crlf)
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked" \
          b"\r\n\r\n" + chunked(body, 13)
    itl = Histogram()
    ex = exchange(bytewise(raw), itl=itl)
    assert ex.ok and ex.stream
    assert ex.content_events == 4 and ex.first > ex.t0
    assert itl.n == 3  # one gap after each content event but the first
    assert (ex.usage, ex.prompt_tokens, ex.completion_tokens) == (True, 5, 4)


def test_stream_without_usage_read_until_close() -> None:
    body = sse([delta("a"), delta("b"), delta("c")], done=False)
    raw = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n" + body
    ex = exchange([raw], close=True)
    assert ex.ok and ex.content_events == 3 and not ex.usage


def test_in_band_stream_error_is_a_failure() -> None:
    events = [delta("a"), {"error": {"message": "upstream died", "type": "server_error"}}]
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + sse(events)
    ex = exchange([raw], close=True)
    assert not ex.ok and ex.error == "stream_error" and ex.sample == "upstream died"


def test_error_status_keeps_the_message() -> None:
    err = orjson.dumps({"error": {"message": "Rate limit reached", "code": "rate_limit"}})
    raw = b"HTTP/1.1 429 Too Many\r\nContent-Length: %d\r\n\r\n" % len(err) + err
    ex = exchange([raw])
    assert not ex.ok and ex.status == 429 and ex.error is None
    assert ex.error_message() == "Rate limit reached"


def test_connection_closed_mid_answer_and_garbage() -> None:
    ex = exchange([b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"x\""], close=True)
    assert ex.error == "closed"
    assert exchange([b"garbage\r\n\r\n"]).error == "protocol"
    assert exchange([b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"]).error == "protocol"


def test_timeout() -> None:
    ex = exchange([b"HTTP/1.1 200 OK\r\n"], timeout=0.05)
    assert ex.error == "timeout"


def test_mock_answers() -> None:
    body, events = answer(False, False, False, 5, "m", 3)
    doc = orjson.loads(body)
    assert events is None and doc["usage"]["completion_tokens"] == 5
    assert doc["choices"][0]["message"]["content"] == "Hello there, this is"
    _, events = answer(False, True, True, 3, "m", 3)
    assert events is not None and len(events) == 1 + 3 + 1 + 1 + 1  # role, words, stop, usage
    assert events[-1] == b"data: [DONE]\n\n"
    _, events = answer(True, True, False, 2, "m", 3)
    assert events is not None and b'"text":"Hello"' in events[0]


async def with_mock(fn: Callable[[int], Awaitable[Any]], delay_ms: float = 0.0) -> Any:
    MockUpstream.token_delay_s = delay_ms / 1000
    server = await asyncio.get_running_loop().create_server(MockUpstream, "127.0.0.1", 0)
    try:
        return await fn(server.sockets[0].getsockname()[1])
    finally:
        MockUpstream.token_delay_s = 0.0
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(("stream", "delay_ms"), [(False, 0.0), (True, 0.0), (True, 1.0)])
def test_load_run_against_the_mock(stream: bool, delay_ms: float) -> None:
    async def go(port: int) -> Any:
        target = Target("target", Endpoint.parse(f"http://127.0.0.1:{port}"), "k", "m")
        runner = Runner(Job(target, Workload(stream=stream, max_tokens=5), 4, 60, None, 0))
        await runner.prepare()
        return await runner.run()
    s = asyncio.run(with_mock(go, delay_ms))
    assert (s.ok, s.failed, s.latency.n) == (60, 0, 60)
    assert s.completion_tokens == 300 and s.usage_answers == 60
    assert s.ttft.n == (60 if stream else 0)
    assert s.itl.n == (60 * 4 if stream else 0)
    if delay_ms:
        assert s.itl.percentile(50) >= 900  # paced: each token ~1 ms after the last
    assert s.elapsed > 0


def test_load_run_counts_refused_connections() -> None:
    async def go() -> Any:
        import socket
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]  # bound, not listening: connections are refused
            target = Target("target", Endpoint.parse(f"http://127.0.0.1:{port}"), None, "m")
            runner = Runner(Job(target, Workload(), 2, 6, None, 0))
            await runner.prepare()
            return await runner.run()
    s = asyncio.run(go())
    assert s.ok == 0 and s.errors == {"connect": 6} and "connect" in s.samples


class EchoKey(asyncio.Protocol):
    """Answers 401 with the caller's key in the message, as some providers do."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        key = data.split(b"Bearer ", 1)[1].split(b"\r\n", 1)[0]
        err = orjson.dumps({"error": {"message": "Incorrect API key provided: " + key.decode()}})
        self.transport.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: %d\r\n\r\n"
                             % len(err) + err)


def test_error_samples_are_redacted() -> None:
    key = "sk-secret-key-0123456789"

    async def go() -> Any:
        server = await asyncio.get_running_loop().create_server(EchoKey, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            target = Target("target", Endpoint.parse(f"http://127.0.0.1:{port}"), key, "m")
            runner = Runner(Job(target, Workload(), 1, 3, None, 0))
            await runner.prepare()
            return await runner.run()
        finally:
            server.close()
            await server.wait_closed()
    s = asyncio.run(go())
    assert s.errors == {"401": 3}
    assert s.samples["401"].startswith("Incorrect API key provided: ")
    assert key not in s.samples["401"] and "0123456789" not in s.samples["401"]

