"""What the gateway tells its observers about every request when it ends: metrics, the access
log and the live stats the TUI reads all subscribe here, so the request path builds one small
record and each observer takes what it needs. Observers are plain callables run on the event
loop: they must be quick and must not raise."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Observer", "Observers", "RequestDone"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RequestDone:
    request_id: str
    endpoint: str
    """chat | completions | embeddings | messages"""
    model: str | None
    """The model the client asked for (None when refused before it was read)."""
    status: int
    """The HTTP status; 499 when the client went away first."""
    started: float
    """Unix time the request arrived."""
    duration_s: float
    """Arrival to the end of the answer (the last byte of a stream)."""
    deployment: str | None = None
    model_group: str | None = None
    provider: str | None = None
    stream: bool = False
    upstream_s: float | None = None
    """Upstream time: the whole answer, or to the first chunk of a stream."""
    ttft_s: float | None = None
    """Arrival to the first chunk sent to the client (streams)."""
    attempts: int = 0
    fallback: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    error: str | None = None
    """The error code or class, when the request failed."""
    key_id: str | None = None
    key_name: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    cache_hit: bool = False

    @property
    def overhead_s(self) -> float | None:
        """The gateway's own time: total minus upstream (non-streamed answers only)."""
        if self.stream or self.upstream_s is None:
            return None
        return max(0.0, self.duration_s - self.upstream_s)


Observer = Callable[[RequestDone], None]


class Observers:
    def __init__(self) -> None:
        self._list: list[Observer] = []

    def add(self, observer: Observer) -> None:
        self._list.append(observer)

    def __call__(self, event: RequestDone) -> None:
        for observer in self._list:
            try:
                observer(event)
            except Exception:  # an observer's bug must not fail the request it observes
                log.exception("request observer %r failed", observer)
