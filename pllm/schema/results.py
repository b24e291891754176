"""What comes back from a provider, already in OpenAI's shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["Chunk", "Completion", "Usage"]


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0
    """Prompt tokens written to the provider's prompt cache (Anthropic, Bedrock), part of
    `prompt_tokens`; priced at the cache-write rate. Not part of OpenAI's usage object."""

    @classmethod
    def from_openai(cls, usage: Any) -> Usage | None:
        """Read an OpenAI `usage` object; None when it is absent or not an object."""
        if not isinstance(usage, dict):
            return None
        prompt = _int(usage.get("prompt_tokens"))
        completion = _int(usage.get("completion_tokens"))
        ptd = usage.get("prompt_tokens_details")
        ctd = usage.get("completion_tokens_details")
        return cls(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=_int(usage.get("total_tokens")) or prompt + completion,
            cached_tokens=_int(ptd.get("cached_tokens")) if isinstance(ptd, dict) else 0,
            reasoning_tokens=_int(ctd.get("reasoning_tokens")) if isinstance(ctd, dict) else 0,
        )

    def to_openai(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.cached_tokens:
            out["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        if self.reasoning_tokens:
            out["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        return out


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


class Completion:
    """A whole (non-streamed) answer: either the provider's bytes passed through, or a dict built
    by a translator. Usage is parsed lazily, only when someone (metrics, spend) asks for it."""

    __slots__ = ("_data", "_raw", "_usage", "_usage_read")

    def __init__(self, *, raw: bytes | None = None, data: dict[str, Any] | None = None) -> None:
        if raw is None and data is None:
            raise ValueError("Completion needs raw bytes or data")
        self._raw = raw
        self._data = data
        self._usage: Usage | None = None
        self._usage_read = False

    def body(self) -> bytes:
        if self._raw is None:
            self._raw = orjson.dumps(self._data)
        return self._raw

    def data(self) -> dict[str, Any]:
        if self._data is None:
            parsed = orjson.loads(self._raw or b"{}")
            self._data = parsed if isinstance(parsed, dict) else {}
        return self._data

    @property
    def usage(self) -> Usage | None:
        if not self._usage_read:
            try:
                self._usage = Usage.from_openai(self.data().get("usage"))
            except orjson.JSONDecodeError:
                self._usage = None
            self._usage_read = True
        return self._usage


@dataclass(slots=True)
class Chunk:
    """One streamed event for the client: the JSON payload of a `data:` line.

    `raw` is the encoded payload when it can be passed through byte for byte; otherwise `data`
    is encoded on the way out.
    """

    raw: bytes | None = None
    data: dict[str, Any] | None = None

    def payload(self) -> bytes:
        if self.raw is None:
            self.raw = orjson.dumps(self.data)
        return self.raw
