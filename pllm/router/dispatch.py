"""The orchestrator: resolve the model -> choose a deployment -> translate -> send -> translate.

For streams it reads until the first chunk before handing the stream to the server, so an
upstream that fails before producing anything is reported as a normal error response (and, with
the routing layer, can still fail over).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from pllm.config.model import Settings
from pllm.errors import (
    ApiError,
    ModelNotFound,
    NotImplementedByPllm,
    UpstreamError,
    UpstreamTimeout,
)
from pllm.providers.base import StreamRelay, Target, UpstreamResponse
from pllm.redaction import redact_error
from pllm.router.pick import Picker
from pllm.router.table import Match, ModelTable
from pllm.schema import Completion, GatewayRequest
from pllm.upstream import Upstream, UpstreamStream

__all__ = ["Dispatcher", "Outcome", "StreamOutcome"]


@dataclass(slots=True)
class Outcome:
    completion: Completion
    target: Target
    upstream_s: float


@dataclass(slots=True)
class StreamOutcome:
    target: Target
    first: bytes
    """Client bytes already produced: the stream is committed once these are sent."""
    relay: StreamRelay
    upstream_s: float
    """Time from sending the request to the first chunk."""
    _pieces: AsyncIterator[bytes]
    _stream: UpstreamStream

    async def rest(self) -> AsyncIterator[bytes]:
        """The client bytes after `first`, ending with the relay's `flush()` output."""
        feed = self.relay.feed
        try:
            async for data in self._pieces:
                out = feed(data)
                if out:
                    yield out
            tail = self.relay.flush()
            if tail:
                yield tail
        except ApiError as e:
            raise redact_error(e, self.target.deployment.secrets()) from None

    async def aclose(self, *, complete: bool) -> None:
        await self._stream.aclose(complete=complete)


class Dispatcher:
    def __init__(self, settings: Settings, table: ModelTable, upstream: Upstream,
                 picker: Picker | None = None) -> None:
        self.settings = settings
        self.table = table
        self.upstream = upstream
        self.picker = picker or Picker(settings.router.strategy)
        self._default_timeout = settings.router.timeout or settings.server.request_timeout

    def choose(self, req: GatewayRequest) -> tuple[Target, str]:
        """The target and the upstream model name for this request."""
        match = self.table.resolve(req.model)
        if match is None:
            raise ModelNotFound(f"The model '{req.model}' does not exist or is not served by "
                                "this gateway", param="model")
        return self._pick(match, req)

    def _pick(self, match: Match, req: GatewayRequest) -> tuple[Target, str]:
        if not match.targets:
            reason = match.unavailable[0].reason if match.unavailable else "no deployment"
            raise NotImplementedByPllm(f"model '{req.model}' cannot be served: {reason}")
        serving = [i for i, t in enumerate(match.targets) if req.endpoint in t.provider.endpoints]
        if not serving:
            raise NotImplementedByPllm(
                f"model '{req.model}' does not support the {req.endpoint} endpoint")
        if len(serving) == len(match.targets):
            i = self.picker.pick(match.group, match.targets)
        else:
            i = serving[self.picker.pick(match.group, [match.targets[j] for j in serving])]
        return match.targets[i], match.models[i]

    async def complete(self, req: GatewayRequest) -> Outcome:
        target, model = self.choose(req)
        provider, dep = target.provider, target.deployment
        try:
            up_req = provider.build_request(req, target, model)
            started = time.perf_counter()
            resp = await self.upstream.send(up_req, timeout=dep.timeout or self._default_timeout)
            upstream_s = time.perf_counter() - started
            if resp.status >= 400:
                raise provider.parse_error(resp)
            return Outcome(provider.parse_response(req, resp), target, upstream_s)
        except ApiError as e:
            raise redact_error(e, dep.secrets()) from None

    async def open_stream(self, req: GatewayRequest) -> StreamOutcome:
        target, model = self.choose(req)
        dep = target.deployment
        timeout = dep.timeout or self._default_timeout
        try:
            async with asyncio.timeout(timeout):
                return await self._open(req, target, model, dep.stream_timeout or timeout)
        except TimeoutError:
            raise UpstreamTimeout(f"no answer from the upstream within {timeout:g}s") from None
        except ApiError as e:
            raise redact_error(e, dep.secrets()) from None

    async def _open(self, req: GatewayRequest, target: Target, model: str,
                    read_timeout: float) -> StreamOutcome:
        provider = target.provider
        up_req = provider.build_request(req, target, model)
        started = time.perf_counter()
        stream = await self.upstream.open_stream(up_req, read_timeout=read_timeout)
        complete = False
        try:
            if stream.status >= 400:
                body = await stream.read_body()
                complete = True
                raise provider.parse_error(UpstreamResponse(stream.status, stream.headers, body))
            relay = provider.stream_relay(req, target)
            pieces = aiter(stream)
            first = b""
            while not first:
                data = await anext(pieces, None)
                if data is None:
                    first = relay.flush()
                    if not first:
                        raise UpstreamError("the upstream ended the stream without any data")
                    break
                first = relay.feed(data)
            outcome = StreamOutcome(target, first, relay, time.perf_counter() - started,
                                    pieces, stream)
            complete = True
            return outcome
        finally:
            if not complete:
                await stream.aclose(complete=False)
