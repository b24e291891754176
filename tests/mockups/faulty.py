"""A misbehaving OpenAI-format upstream for failover tests and benchmarks.

`FaultyUpstream` answers `POST /v1/chat/completions` (whole and streamed) like the OpenAI mock,
but with a persistent, changeable `Behavior`: fail with a status (optionally `retry-after`),
fail a fraction of requests at random (seeded), add latency, stall before the first byte, reset
the connection, die in the middle of a stream. `kill()` stops listening and drops open
connections; `revive()` listens again on the same port. It counts what it received, with
times, so a test can see where traffic went and when.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import orjson
from aiohttp import web

from . import openai_payloads as p

__all__ = ["Behavior", "FaultyUpstream"]


@dataclass(frozen=True)
class Behavior:
    status: int | None = None
    """Always answer this error status."""
    fail_rate: float = 0.0
    """Answer `fail_status` to this fraction of requests (seeded RNG)."""
    fail_status: int = 500
    retry_after: float | None = None
    latency_s: float = 0.0
    stall_s: float = 0.0
    """Hold the first body byte this long (headers are sent at once)."""
    reset: bool = False
    """Close the connection without answering."""
    die_after_chunks: int | None = None
    """For streams: send this many events, then drop the connection."""


class FaultyUpstream:
    def __init__(self, name: str, api_key: str = "sk-faulty", seed: int = 0) -> None:
        self.name = name
        self.api_key = api_key
        self.behavior = Behavior()
        self.port = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.received: list[float] = []
        self.answered_ok = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    # -- control --------------------------------------------------------------------------------
    def set(self, **changes: Any) -> None:
        self.behavior = replace(Behavior(), **changes)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def count(self, since: float = 0.0) -> int:
        with self._lock:
            return sum(1 for t in self.received if t >= since)

    def kill(self) -> None:
        """Stop listening and drop every open connection."""
        self._call(self._kill())

    def revive(self) -> None:
        self._call(self._listen())

    def __enter__(self) -> FaultyUpstream:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True,
                                        name=f"faulty-{self.name}")
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def _call(self, coro: Any) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    # -- server ---------------------------------------------------------------------------------
    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2,
                                     handle_signals=False)
        await self._runner.setup()
        await self._listen()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self._runner.cleanup()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()
        if not self.port:
            self.port = self._runner.addresses[-1][1]

    async def _kill(self) -> None:
        assert self._runner is not None
        if self._site is not None:
            await self._site.stop()
            self._site = None
        server = self._runner.server
        if server is not None:
            for handler in list(server.connections):
                handler.force_close()
                if handler.transport is not None:
                    handler.transport.close()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self.received.append(time.monotonic())
            fail = self._rng.random() < self.behavior.fail_rate
        b = self.behavior
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response(p.unauthorized("openai", None), status=401)
        body = orjson.loads(await request.read())
        if b.latency_s:
            await asyncio.sleep(b.latency_s)
        if b.reset:
            if request.transport is not None:
                request.transport.close()
            return web.Response()
        status = b.status or (b.fail_status if fail else None)
        if status is not None:
            headers = {"retry-after": f"{b.retry_after:g}"} if b.retry_after else {}
            err = p.error("openai", f"{self.name} failed on purpose", kind="server_error")
            return web.json_response(err, status=status, headers=headers)
        stamp = p.new_stamp("openai", body, "chat", "chatcmpl")
        if not body.get("stream"):
            if b.stall_s:
                await asyncio.sleep(b.stall_s)
            with self._lock:
                self.answered_ok += 1
            return web.json_response(p.chat_completion("openai", body, stamp),
                                     headers={"x-served-by": self.name})
        return await self._stream(request, body, stamp, b)

    async def _stream(self, request: web.Request, body: Any, stamp: Any,
                      b: Behavior) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        if b.stall_s:
            await asyncio.sleep(b.stall_s)
        chunks = p.chat_chunks("openai", body, stamp)
        try:
            for i, chunk in enumerate(chunks):
                if b.die_after_chunks is not None and i >= b.die_after_chunks:
                    if request.transport is not None:
                        request.transport.close()
                    return resp
                await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
        except ConnectionError:
            return resp
        with self._lock:
            self.answered_ok += 1
        return resp
