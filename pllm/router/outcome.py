"""What the dispatcher hands the server: a whole answer (`Outcome`) or a committed stream
(`StreamOutcome`), with the deployment that served it and how many attempts it took."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pllm.errors import ApiError
from pllm.providers.base import StreamRelay, Target
from pllm.redaction import redact_error
from pllm.router.state import AttemptResult
from pllm.schema import Completion
from pllm.upstream import UpstreamStream

__all__ = ["Outcome", "StreamOutcome", "first_success", "token_delta"]

T = TypeVar("T")


@dataclass(slots=True)
class Outcome:
    completion: Completion
    target: Target
    upstream_s: float
    attempts: int = 1
    fallback: str | None = None
    """The model group that answered when it was a fallback."""
    model: str = ""
    """The upstream model the deployment was asked for (a wildcard's substitution)."""


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
    _done: Callable[[AttemptResult], None] = field(default=lambda _: None)
    attempts: int = 1
    fallback: str | None = None
    model: str = ""
    _failed: bool = False

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
            self._failed = True
            raise redact_error(e, self.target.deployment.secrets()) from None

    async def aclose(self, *, complete: bool) -> None:
        await self._stream.aclose(complete=complete)
        self._done("success" if complete else "failure" if self._failed else "neutral")
        self._done = lambda _: None




def token_delta(completion: Completion, estimated: int) -> int:
    usage = completion.usage
    return (usage.total_tokens - estimated) if usage is not None else 0


async def first_success(tasks: list[asyncio.Future[T]]) -> T:
    """The first task to succeed; the others are cancelled. All failing: the first error."""
    pending = set(tasks)
    error: BaseException | None = None
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is None:
                    return task.result()
                error = error or task.exception()
        assert error is not None
        raise error
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
