"""The translator contract: what every provider module implements, and the plain data it trades
with the upstream layer. Providers are pure: no I/O, no clock, no logging, no globals.

    prepare(dep)                      -> Target         once per deployment, at startup
    build_request(req, target, model) -> UpstreamRequest
    parse_response(req, resp)         -> Completion     (OpenAI-shaped)
    parse_error(resp)                 -> ProviderError  (OpenAI-shaped, status mapped)
    stream_relay(req, target)         -> StreamRelay    (native stream bytes -> OpenAI SSE bytes)

A StreamRelay is usually `EventRelay(framer, decoder)` (`relay.py`): the framer cuts the byte
stream into events (SSE, AWS event-stream), the StreamDecoder turns each native event into
OpenAI chunks. OpenAI-format providers relay the bytes themselves, nearly untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pllm.config.model import Deployment, Secret
from pllm.errors import ProviderError
from pllm.schema import Chunk, Completion, Endpoint, GatewayRequest, Usage

__all__ = [
    "AwsSigV4",
    "GoogleOAuth",
    "Provider",
    "Signer",
    "StreamDecoder",
    "StreamRelay",
    "Target",
    "UpstreamRequest",
    "UpstreamResponse",
]

StreamFormat = Literal["sse", "eventstream", "local"]


@dataclass(frozen=True, slots=True)
class AwsSigV4:
    """Sign with AWS Signature Version 4 (botocore). Without explicit keys, botocore's default
    chain finds credentials (environment, shared config/profile, container or instance role)."""

    region: str
    service: str = "bedrock"
    access_key_id: str | None = None
    secret_access_key: Secret | None = None
    session_token: Secret | None = None
    profile: str | None = None


@dataclass(frozen=True, slots=True)
class GoogleOAuth:
    """A Google OAuth2 access token as `Authorization: Bearer` (google-auth): from a
    service-account (or authorized-user) JSON given inline or as a file path, else Application
    Default Credentials. Tokens are cached and refreshed before they expire."""

    credentials: Secret | None = None
    scopes: tuple[str, ...] = ("https://www.googleapis.com/auth/cloud-platform",)


Signer = AwsSigV4 | GoogleOAuth


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    stream: bool = False
    stream_format: StreamFormat = "sse"
    signer: Signer | None = None
    """Authentication the upstream layer adds just before sending (it needs I/O or a clock)."""


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


class StreamRelay(Protocol):
    """Feed the upstream's raw bytes as they arrive; get the bytes of OpenAI `data:` events to
    send to the client (b"" when a piece completes nothing). Raises ProviderError for an
    in-band error. `flush()` at the end of the upstream body; `usage` is known after it."""

    @property
    def usage(self) -> Usage | None: ...

    def feed(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


class Provider(Protocol):
    name: str
    endpoints: frozenset[Endpoint]

    def prepare(self, dep: Deployment) -> Target: ...

    def build_request(self, req: GatewayRequest, target: Target, model: str) -> UpstreamRequest: ...

    def parse_response(self, req: GatewayRequest, resp: UpstreamResponse) -> Completion: ...

    def parse_error(self, resp: UpstreamResponse) -> ProviderError: ...

    def stream_relay(self, req: GatewayRequest, target: Target) -> StreamRelay: ...
