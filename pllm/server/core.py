"""The inference handler, independent of the web framework: headers and body in, a reply out.

Both the ASGI fast path (`fastpath.py`, what serves traffic) and the Quart routes
(`inference.py`, what tests and tools see in the route map) call `handle_inference`, so there is
one implementation of the hot path.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass

import orjson

from pllm.errors import ApiError
from pllm.router.dispatch import Outcome, StreamOutcome
from pllm.schema import Endpoint, Headers
from pllm.server.guard import Guard, admit, audit_refusal
from pllm.server.requests import parse_request, request_id
from pllm.server.state import Gateway

__all__ = ["BodyReply", "StreamReply", "handle_inference", "routing_headers", "spend_headers"]

_DONE = b"data: [DONE]\n\n"
JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream; charset=utf-8"


@dataclass(slots=True)
class BodyReply:
    body: bytes
    headers: dict[str, str]
    status: int = 200


@dataclass(slots=True)
class StreamReply:
    """A committed stream: iterate `body()` to the end (or close it) exactly once."""

    outcome: StreamOutcome
    headers: dict[str, str]
    guard: Guard
    status: int = 200

    async def body(self) -> AsyncGenerator[bytes, None]:
        """Chunks as they come; an upstream failure now ends the stream with an OpenAI-style
        error event (the SDKs raise on it) instead of a silent truncation. The request is
        settled from the usage the upstream reported, however the stream ended."""
        outcome = self.outcome
        complete = False
        error: ApiError | None = None
        try:
            self.guard.first_byte_s = time.perf_counter() - self.guard.started_perf
            yield outcome.first
            async for piece in outcome.rest():
                yield piece
            complete = True
            yield _DONE
        except ApiError as e:
            error = e
            yield b"data: " + orjson.dumps(e.body()) + b"\n\n"
        finally:
            await outcome.aclose(complete=complete)
            usage = outcome.relay.usage
            status = 200 if error is None else error.status
            code = None if error is None else (error.code or error.error_type)
            if not complete and error is None:
                code = "client_closed"  # nginx's 499: the client went away mid-stream
                status = 499
            await self.guard.finish(status, outcome, usage, code)


async def handle_inference(gw: Gateway, endpoint: Endpoint, headers: Headers,
                           body: bytes, started: float,
                           client: str | None = None) -> BodyReply | StreamReply:
    """Raises ApiError for anything answered with an error status (audited here)."""
    rid = request_id(headers)
    try:
        principal = await gw.gate.authenticate(headers, client)
        req = parse_request(endpoint, body, rid)
    except ApiError as e:
        audit_refusal(gw, e, endpoint, rid, client)
        raise
    guard = await admit(gw, principal, endpoint, req, client)
    if req.stream and endpoint != "embeddings":
        try:
            outcome = await gw.dispatcher.open_stream(req)
        except ApiError as e:
            await guard.fail(e)
            raise
        except BaseException:  # cancelled: the client left before the first byte
            await guard.finish(499, None, None, "client_closed")
            raise
        overhead_ms = (time.perf_counter() - started - outcome.upstream_s) * 1000.0
        out: dict[str, str] = {"content-type": SSE_TYPE, "cache-control": "no-cache",
                               "x-accel-buffering": "no"}
        return StreamReply(outcome, guard.headers(routing_headers(
            out, rid, outcome, overhead_ms)), guard)
    try:
        result = await gw.dispatcher.complete(req)
    except ApiError as e:
        await guard.fail(e)
        raise
    except BaseException:
        await guard.finish(499, None, None, "client_closed")
        raise
    cost, remaining = await guard.finish(200, result, result.completion.usage)
    overhead_ms = (time.perf_counter() - started - result.upstream_s) * 1000.0
    out = guard.headers(routing_headers({"content-type": JSON_TYPE}, rid, result, overhead_ms))
    spend_headers(out, cost, remaining)
    return BodyReply(result.completion.body(), out)


def spend_headers(headers: dict[str, str], cost: float, remaining: float | None) -> None:
    headers["x-pllm-cost"] = f"{cost:.8f}"
    if remaining is not None:
        headers["x-pllm-budget-remaining"] = f"{remaining:.6f}"


def routing_headers(headers: dict[str, str], rid: str, outcome: Outcome | StreamOutcome,
                    overhead_ms: float) -> dict[str, str]:
    """What the gateway did: the deployment that answered, how many attempts it took, the
    fallback model group if one served it, and pllm's own share of the latency."""
    headers["x-request-id"] = rid
    headers["x-pllm-model"] = outcome.target.deployment.id
    headers["x-pllm-attempts"] = str(outcome.attempts)
    if outcome.fallback:
        headers["x-pllm-fallback"] = outcome.fallback
    headers["x-pllm-overhead-ms"] = f"{overhead_ms:.3f}"
    return headers
