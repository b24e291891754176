"""`POST /v1/messages` and `/v1/messages/count_tokens`: Anthropic's Messages API in front of
every configured model. Requests are translated to the OpenAI form the router speaks, and the
answers (streams included, with Anthropic's exact event sequence) translated back. Errors on
these routes use Anthropic's error shape, since the clients are Anthropic SDKs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import orjson
from quart import Blueprint, Response, request

from pllm.errors import ApiError, InvalidRequest
from pllm.inbound.anthropic import (
    anthropic_error_body,
    anthropic_message,
    estimate_input_tokens,
    openai_request,
)
from pllm.inbound.anthropic_stream import AnthropicEventEncoder
from pllm.redaction import redact_error
from pllm.router.dispatch import StreamOutcome
from pllm.schema import GatewayRequest
from pllm.server.core import routing_headers, spend_headers
from pllm.server.guard import Guard, admit, audit_refusal
from pllm.server.requests import request_id
from pllm.server.state import gateway
from pllm.sse import SSEDecoder

__all__ = ["blueprint"]

blueprint = Blueprint("messages", __name__)
_JSON = "application/json"


async def _raw() -> bytes:
    """Read first, before any refusal: a body left unread makes Hypercorn drop the
    keep-alive connection after the response."""
    raw = await request.get_data(cache=False, as_text=False)
    assert isinstance(raw, bytes)
    return raw


def _json(raw: bytes) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON") from None


@blueprint.post("/v1/messages")
async def messages() -> Response:
    gw = gateway()
    rid = request_id(request.headers)
    client = request.remote_addr
    try:
        raw = await _raw()
        principal = await gw.gate.authenticate(request.headers, client)
        body = openai_request(_json(raw))
    except ApiError as e:
        audit_refusal(gw, e, "messages", rid, client)
        raise
    model = str(body["model"])
    stream = body.get("stream") is True
    req = GatewayRequest("chat", body, orjson.dumps(body), model, stream, stream, rid,
                         int(time.time()))
    started = time.perf_counter()
    guard = await admit(gw, principal, "messages", req, client)
    headers = guard.headers({"request-id": rid})
    if not stream:
        try:
            result = await gw.dispatcher.complete(req)
        except ApiError as e:
            await guard.fail(e)
            raise
        cost, remaining = await guard.finish(200, result, result.completion.usage)
        overhead = (time.perf_counter() - started - result.upstream_s) * 1000.0
        data = anthropic_message(result.completion.data(), model)
        headers = routing_headers(headers, rid, result, overhead)
        spend_headers(headers, cost, remaining)
        return Response(orjson.dumps(data), content_type=_JSON, headers=headers)
    try:
        outcome = await gw.dispatcher.open_stream(req)
    except ApiError as e:
        await guard.fail(e)
        raise
    overhead = (time.perf_counter() - started - outcome.upstream_s) * 1000.0
    headers = routing_headers({**headers, "cache-control": "no-cache"}, rid, outcome, overhead)
    response = Response(_events(outcome, model, guard),
                        content_type="text/event-stream; charset=utf-8", headers=headers)
    response.timeout = None
    return response


async def _events(outcome: StreamOutcome, model: str, guard: Guard) -> AsyncIterator[bytes]:
    encoder = AnthropicEventEncoder(model)
    frames = SSEDecoder()
    complete = False
    error: ApiError | None = None

    def convert(data: bytes) -> bytes:
        out = []
        for ev in frames.feed(data):
            if ev.data != b"[DONE]":
                out.append(encoder.feed(orjson.loads(ev.data)))
        return b"".join(out)

    try:
        guard.first_byte_s = time.perf_counter() - guard.started_perf
        yield convert(outcome.first)
        async for piece in outcome.rest():
            converted = convert(piece)
            if converted:
                yield converted
        complete = True
        yield encoder.finish()
    except ApiError as e:
        error = e
        yield encoder.error(anthropic_error_body(e)["error"]["type"], e.message)
    finally:
        await outcome.aclose(complete=complete)
        status, code = (200, None) if complete else (
            (error.status, error.code or error.error_type) if error else (499, "client_closed"))
        await guard.finish(status, outcome, outcome.relay.usage, code)


@blueprint.post("/v1/messages/count_tokens")
async def count_tokens() -> Response:
    """The upstream's own counter when the model is served by Anthropic's API, else an
    estimate (no upstream call)."""
    gw = gateway()
    raw = await _raw()
    principal = await gw.gate.authenticate(request.headers, request.remote_addr)
    body = _json(raw)
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise InvalidRequest("model: Field required", param="model")
    principal.check_inference(body["model"])
    probe = GatewayRequest("chat", {}, b"", body["model"])
    target, model = gw.dispatcher.choose(probe)
    counter = getattr(target.provider, "count_tokens_request", None)
    if counter is None:
        tokens = estimate_input_tokens(body)
        return Response(orjson.dumps({"input_tokens": tokens}), content_type=_JSON)
    resp = await gw.upstream.send(counter(body, target, model),
                                  timeout=gw.settings.server.request_timeout)
    if resp.status >= 400:
        raise redact_error(target.provider.parse_error(resp), target.deployment.secrets())
    return Response(resp.body, content_type=_JSON)


@blueprint.errorhandler(ApiError)
async def _error(error: ApiError) -> Response:
    headers = error.response_headers()
    headers["x-request-id"] = request_id(request.headers)
    return Response(orjson.dumps(anthropic_error_body(error)), status=error.status,
                    headers=headers, content_type=_JSON)
