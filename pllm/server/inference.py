"""OpenAI inference routes: chat completions, legacy completions, embeddings; each also without
the `/v1` prefix, as LiteLLM serves them.

This is the hot path: every microsecond here is paid on every request (see benchmarks/), so
the handler does the minimum and passes bytes through wherever it can.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import orjson
from quart import Blueprint, Response, request

from pllm.errors import ApiError
from pllm.router.dispatch import StreamOutcome
from pllm.schema import Chunk, Endpoint
from pllm.server.requests import parse_request, request_id
from pllm.server.state import gateway

__all__ = ["blueprint"]

blueprint = Blueprint("inference", __name__)

_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_DONE = b"data: [DONE]\n\n"


@blueprint.post("/v1/chat/completions")
@blueprint.post("/chat/completions")
async def chat_completions() -> Response:
    return await _handle("chat")


@blueprint.post("/v1/completions")
@blueprint.post("/completions")
async def completions() -> Response:
    return await _handle("completions")


@blueprint.post("/v1/embeddings")
@blueprint.post("/embeddings")
async def embeddings() -> Response:
    return await _handle("embeddings")


async def _handle(endpoint: Endpoint) -> Response:
    started = time.perf_counter()
    gw = gateway()
    headers = request.headers
    gw.auth.check(headers)
    rid = request_id(headers)
    req = parse_request(endpoint, await request.get_data(cache=False), rid)
    if req.stream and endpoint != "embeddings":
        outcome = await gw.dispatcher.open_stream(req)
        return _stream_response(outcome, rid, started)
    result = await gw.dispatcher.complete(req)
    overhead_ms = (time.perf_counter() - started - result.upstream_s) * 1000.0
    return Response(result.completion.body(), status=200, content_type="application/json",
                    headers={"x-request-id": rid,
                             "x-pllm-model": result.target.deployment.id,
                             "x-pllm-overhead-ms": f"{overhead_ms:.3f}"})


def _encode(chunks: list[Chunk]) -> bytes:
    return b"".join([b"data: " + c.payload() + b"\n\n" for c in chunks])


def _stream_response(outcome: StreamOutcome, rid: str, started: float) -> Response:
    overhead_ms = (time.perf_counter() - started - outcome.upstream_s) * 1000.0
    response = Response(_stream_body(outcome), status=200,
                        content_type="text/event-stream; charset=utf-8",
                        headers={**_SSE_HEADERS, "x-request-id": rid,
                                 "x-pllm-model": outcome.target.deployment.id,
                                 "x-pllm-overhead-ms": f"{overhead_ms:.3f}"})
    response.timeout = None  # type: ignore[assignment]
    return response


async def _stream_body(outcome: StreamOutcome) -> AsyncIterator[bytes]:
    """Committed stream: chunks as they come; an upstream failure now ends the stream with an
    OpenAI-style error event (the SDKs raise on it) instead of a silent truncation."""
    complete = False
    try:
        yield _encode(outcome.first)
        async for chunks in outcome.chunks():
            yield _encode(chunks)
        complete = True
        yield _DONE
    except ApiError as e:
        yield b"data: " + orjson.dumps(e.body()) + b"\n\n"
    finally:
        await outcome.aclose(complete=complete)
