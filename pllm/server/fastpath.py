"""The ASGI fast path for the inference routes, in front of the Quart app.

Quart costs about 120 µs per request on this stack (a request object, a context push, two tasks
and a `wait_for` per request; see benchmarks/README.md): at ~350 µs for a whole proxied request
that is a third of the gateway's throughput. So `POST` to the six inference paths is served here
with plain ASGI calls around the shared handler (`core.handle_inference`); every other request
goes to Quart unchanged.

A client that goes away is noticed by a watcher on `receive()`, which cancels the request:
the upstream request is closed with it, so an abandoned stream stops costing tokens.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pllm.errors import ApiError, RequestTooLarge
from pllm.server.core import JSON_TYPE, BodyReply, StreamReply, handle_inference
from pllm.server.inference import ROUTES
from pllm.server.requests import request_id
from pllm.server.state import Gateway

__all__ = ["FastPath"]

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class FastPath:
    def __init__(self, app: ASGIApp, gw: Gateway) -> None:
        self.app = app
        self.live = gw.live  # a config reload swaps live.current; each request reads it once

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        endpoint = ROUTES.get(scope["path"])
        if endpoint is None:
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        task = asyncio.current_task()
        gw = self.live.current
        try:
            body = await self._read_body(receive, headers, gw.settings.server.max_request_bytes)
            watcher = asyncio.ensure_future(_watch_disconnect(receive, task))  # type: ignore[arg-type]
            try:
                client = scope.get("client")
                reply = await handle_inference(gw, endpoint, headers, body, started,
                                               client[0] if client else None)
                if isinstance(reply, BodyReply):
                    await _send_body(send, reply.status, reply.headers, reply.body)
                else:
                    await _send_stream(send, reply)
            finally:
                watcher.cancel()
        except ApiError as e:
            await _send_error(send, e, headers)
        except _ClientGone:
            return
        except asyncio.CancelledError:
            if task is not None and _disconnected(task):
                task.uncancel()  # our own watcher: the client left, nothing to answer
                return
            raise
        except Exception:
            log.exception("unhandled error on POST %s", scope["path"])
            await _send_error(send, ApiError("The gateway hit an internal error", status=500,
                                             code="internal_error"), headers)

    async def _read_body(self, receive: Receive, headers: dict[str, str],
                         max_body: int) -> bytes:
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body:
            raise _too_large(max_body)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            piece = message.get("body", b"")
            if piece:
                size += len(piece)
                if size > max_body:
                    raise _too_large(max_body)
                chunks.append(piece)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class _ClientGone(Exception):
    """The client disconnected before sending its whole request."""


def _too_large(limit: int) -> RequestTooLarge:
    return RequestTooLarge(f"The request body is larger than the limit of {limit} bytes "
                           "(server.max_request_size_mb)")


_DISCONNECTED = "pllm_client_disconnected"


def _disconnected(task: asyncio.Task[Any]) -> bool:
    return bool(getattr(task, _DISCONNECTED, False))


async def _watch_disconnect(receive: Receive, task: asyncio.Task[Any]) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            setattr(task, _DISCONNECTED, True)
            task.cancel()
            return


def _encode_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


async def _send_body(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = _encode_headers(headers)
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_stream(send: Send, reply: StreamReply) -> None:
    await send({"type": "http.response.start", "status": reply.status,
                "headers": _encode_headers(reply.headers)})
    body = reply.body()
    try:
        async for piece in body:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        await body.aclose()


async def _send_error(send: Send, error: ApiError, headers: dict[str, str]) -> None:
    if error.status >= 500:
        log.warning("POST -> %d %s", error.status, error.message)
    out = error.response_headers()
    out["content-type"] = JSON_TYPE
    out["x-request-id"] = request_id(headers)
    await _send_body(send, error.status, out, error.body_bytes())
