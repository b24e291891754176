"""Reading an OpenAI request body: the few fields the gateway itself needs, checked the way
OpenAI checks them, the rest left as sent."""

from __future__ import annotations

import os
import re
import time
from typing import Any

import orjson

from pllm.errors import InvalidRequest
from pllm.schema import Endpoint, GatewayRequest, Headers

__all__ = ["parse_request", "request_id"]

_REQUIRED: dict[Endpoint, tuple[str, ...]] = {
    "chat": ("messages",),
    "completions": ("prompt",),
    "embeddings": ("input",),
}
_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def request_id(headers: Headers) -> str:
    """The client's `x-request-id` when it is a sane token, else a new one."""
    given = headers.get("x-request-id")
    if given and _SAFE_ID.fullmatch(given):
        return given
    return "req_" + os.urandom(12).hex()


def parse_request(endpoint: Endpoint, raw: bytes, rid: str = "") -> GatewayRequest:
    if not raw:
        raise InvalidRequest("The request body is empty; send a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidRequest(f"The request body is not valid JSON ({e.msg} at position "
                             f"{e.pos})") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("you must provide a model parameter", param="model")
    for field in _REQUIRED[endpoint]:
        if field not in body:
            raise InvalidRequest(f"Missing required parameter: '{field}'", param=field)
    if endpoint == "chat":
        _check_messages(body["messages"])
    stream = body.get("stream") is True
    opts = body.get("stream_options")
    include_usage = stream and isinstance(opts, dict) and opts.get("include_usage") is True
    return GatewayRequest(endpoint, body, raw, model, stream, include_usage, rid,
                          int(time.time()))


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array", param="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise InvalidRequest(f"messages[{i}] must be an object with a 'role'",
                                 param=f"messages[{i}]")
