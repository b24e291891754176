"""What every provider mock shares: an aiohttp server on 127.0.0.1 (a free port) in a thread of
its own with its own event loop, the requests it recorded, and the faults queued for the next
ones. A mock subclasses `MockServer`, implements `_handle`, and records and answers in its
provider's wire format."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from types import TracebackType
from typing import Generic, Self, TypeVar

from aiohttp import web

__all__ = ["MockServer"]

RecordT = TypeVar("RecordT")
FaultT = TypeVar("FaultT")
START_TIMEOUT_S = 10.0


class MockServer(Generic[RecordT, FaultT]):
    """Start with `start()` or `with`; thread-safe: tests read `requests` and `enqueue` faults
    from their own thread while the server runs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._requests: list[RecordT] = []
        self._faults: deque[FaultT] = deque()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._port: int | None = None
        self._error: BaseException | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Self:
        """Start serving; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} already started")
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError(f"{self.name} did not start")
        if self._error is not None:
            raise RuntimeError(f"{self.name} failed to start") from self._error
        return self

    def stop(self) -> None:
        """Close the server (in-flight handlers get 0.5 s) and join its thread."""
        if self._thread is None:
            return
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join()
        self._thread = self._loop = self._stopping = self._port = None
        self._ready.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self._port = runner.addresses[0][1]
            self._ready.set()
            await self._stopping.wait()
        finally:
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    # -- what tests use -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:54321 (the provider SDK's base URL)."""
        if self._port is None:
            raise RuntimeError(f"{self.name} is not running")
        return f"http://127.0.0.1:{self._port}"

    @property
    def requests(self) -> list[RecordT]:
        """Snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def enqueue(self, fault: FaultT) -> None:
        """Queue `fault` for the next matching request (first queued, first used)."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Forget recorded requests and queued faults."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()

    def _pop_fault(self, path: str) -> FaultT | None:
        """The first queued fault for `path` (its `path_contains`, when it has one), taken."""
        with self._lock:
            for fault in self._faults:
                wanted = getattr(fault, "path_contains", None)
                if wanted is None or wanted in path:
                    self._faults.remove(fault)
                    return fault
        return None
