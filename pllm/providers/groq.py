"""Groq: OpenAI's format, minus parameters it rejects with a 400 (`logprobs`, `logit_bias`,
`top_logprobs`, `n` other than 1, `name` on messages). With drop_params they are removed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson

from pllm.config.model import Deployment
from pllm.errors import UnsupportedParam
from pllm.providers.openai import OpenAICompatible
from pllm.schema import GatewayRequest

__all__ = ["Groq"]


class Groq(OpenAICompatible):
    def __init__(self) -> None:
        super().__init__(
            "groq", "https://api.groq.com/openai/v1",
            endpoints=frozenset({"chat"}),  # Groq serves no embeddings
            unsupported=frozenset({"logprobs", "logit_bias", "top_logprobs", "n"}),
        )

    def request_body(self, req: GatewayRequest, dep: Deployment, model: str, *,
                     stream_usage: bool | None = None) -> bytes:
        messages = req.body.get("messages")
        if not isinstance(messages, list) or not any(_named(m) for m in messages):
            return super().request_body(req, dep, model, stream_usage=stream_usage)
        if not dep.drop_params:
            raise UnsupportedParam(
                "groq does not support 'name' on messages; remove it, or set drop_params: true "
                "to have pllm drop it", param="messages")
        stripped = [{k: v for k, v in m.items() if k != "name"} if _named(m) else m
                    for m in messages]
        body = {**req.body, "messages": stripped}
        copy = replace(req, body=body, raw=orjson.dumps(body))
        out = super().request_body(copy, dep, model, stream_usage=stream_usage)
        return out


def _named(message: Any) -> bool:
    return isinstance(message, dict) and "name" in message
