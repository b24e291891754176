"""The in-process transport for `mock://` URLs: serves pllm's mock provider without a socket,
with its configured latency, so the demo and benchmarks exercise the real request path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlsplit

from pllm.providers.base import UpstreamRequest, UpstreamResponse
from pllm.providers.mock import MockAnswer, respond
from pllm.sse import encode_data

__all__ = ["LocalStream", "local_response", "local_stream"]

_JSON = {"content-type": "application/json"}


async def local_response(req: UpstreamRequest) -> UpstreamResponse:
    answer = _answer(req)
    if answer.latency_s:
        await asyncio.sleep(answer.latency_s)
    return UpstreamResponse(answer.status, _JSON, answer.body)


class LocalStream:
    """The mock's stream, shaped like an HTTP one (see `UpstreamStream`)."""

    def __init__(self, answer: MockAnswer) -> None:
        self.status = answer.status
        self.headers: Mapping[str, str] = _JSON
        self._answer = answer

    async def __aiter__(self) -> AsyncIterator[bytes]:
        delay = self._answer.token_delay_s
        if not delay:
            yield b"".join(encode_data(e) for e in self._answer.events)
            return
        for e in self._answer.events:
            yield encode_data(e)
            await asyncio.sleep(delay)

    async def read_body(self) -> bytes:
        return self._answer.body

    async def aclose(self, *, complete: bool = True) -> None:
        return None


async def local_stream(req: UpstreamRequest) -> LocalStream:
    answer = _answer(req)
    if answer.latency_s:
        await asyncio.sleep(answer.latency_s)
    return LocalStream(answer)


def _answer(req: UpstreamRequest) -> MockAnswer:
    return respond(urlsplit(req.url).path, req.headers, req.body or b"")
