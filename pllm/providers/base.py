"""The translator contract: what every provider module implements, and the plain data it trades
with the upstream layer. Providers are pure: no I/O, no clock, no logging, no globals.

    prepare(dep)                      -> Target         once per deployment, at startup
    build_request(req, target, model) -> UpstreamRequest
    parse_response(req, resp)         -> Completion     (OpenAI-shaped)
    parse_error(resp)                 -> ProviderError  (OpenAI-shaped, status mapped)
    stream_decoder(req, target)       -> StreamDecoder  (native events -> OpenAI chunks)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pllm.config.model import Deployment
from pllm.errors import ProviderError
from pllm.schema import Chunk, Completion, Endpoint, GatewayRequest, Usage

__all__ = [
    "Provider",
    "StreamDecoder",
    "Target",
    "UpstreamRequest",
    "UpstreamResponse",
]

StreamFormat = Literal["sse", "eventstream", "local"]


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    stream: bool = False
    stream_format: StreamFormat = "sse"


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    headers: Mapping[str, str]
    """Case-insensitive in practice (aiohttp's CIMultiDict); tests pass lower-case keys."""
    body: bytes


@dataclass(frozen=True, slots=True)
class Target:
    """A deployment made ready to call: URLs and static headers computed once."""

    deployment: Deployment
    provider: Provider
    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    query: str = ""
    """Query string appended to every URL (Azure's api-version), without the '?'."""


class StreamDecoder(Protocol):
    """Feed native stream events one at a time; get OpenAI chunks. `usage` is known at the end."""

    usage: Usage | None

    def feed(self, event: bytes, name: str | None = None) -> list[Chunk]: ...

    def flush(self) -> list[Chunk]: ...


class Provider(Protocol):
    name: str
    endpoints: frozenset[Endpoint]

    def prepare(self, dep: Deployment) -> Target: ...

    def build_request(self, req: GatewayRequest, target: Target, model: str) -> UpstreamRequest: ...

    def parse_response(self, req: GatewayRequest, resp: UpstreamResponse) -> Completion: ...

    def parse_error(self, resp: UpstreamResponse) -> ProviderError: ...

    def stream_decoder(self, req: GatewayRequest, target: Target) -> StreamDecoder: ...
