"""The request as the gateway sees it: the client's OpenAI-format body plus what was read from it.

The body stays a plain dict on purpose: OpenAI adds request parameters often, and a gateway that
models every field drops the ones it does not know. Translators read the fields they need; the
OpenAI-compatible ones forward the rest untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = ["Endpoint", "GatewayRequest", "Headers"]


class Headers(Protocol):
    """Request headers, looked up by lower-case name (a dict, or a case-insensitive mapping)."""

    def get(self, key: str, /) -> str | None: ...

Endpoint = Literal["chat", "completions", "embeddings"]


@dataclass(slots=True)
class GatewayRequest:
    endpoint: Endpoint
    body: dict[str, Any]
    raw: bytes
    """The body exactly as received, forwarded unchanged when nothing needs rewriting."""
    model: str
    """The model name the client asked for (a model group, an alias or a wildcard match)."""
    stream: bool = False
    include_usage: bool = False
    """The client asked for a usage chunk (`stream_options.include_usage`)."""
    request_id: str = ""
    created: int = 0
    """Unix time the request arrived: the `created` of answers built from native responses."""
