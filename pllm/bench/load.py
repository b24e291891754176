"""One process's share of a round: `concurrency` connections, each a loop of request -> wait ->
record, until the shared request count runs out, the deadline passes or a stop is asked.

Connections are opened before the start signal so connecting is not timed (a connection the
server closes is reopened inside the next request's time, as a real client would). Latency is
from writing the request to the last byte of the answer, for successful answers only; failures
are counted by status or kind with one redacted sample message each.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import ssl
import time
from collections.abc import Callable

from pllm.bench.http import Connection, Exchange
from pllm.bench.spec import Job, RequestTemplate
from pllm.bench.stats import Stats
from pllm.redaction import redact

__all__ = ["Runner"]

CONNECT_TIMEOUT_S = 10.0


class Runner:
    """Runs one `Job` in the current event loop."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.stats = Stats()
        self.template = RequestTemplate(job)
        self.left = job.requests
        self.deadline = 0.0
        self.stopping = False
        ep = job.target.endpoint
        self._ssl = ssl.create_default_context() if ep.scheme == "https" else None
        self._conns: list[Connection | None] = [None] * job.concurrency
        self._secrets = [job.target.key] if job.target.key else []

    async def prepare(self) -> None:
        """Open every connection (failures are left for the load loop to count)."""
        opened = await asyncio.gather(*(self._connect() for _ in self._conns),
                                      return_exceptions=True)
        self._conns = [c if isinstance(c, Connection) else None for c in opened]

    async def run(self, deadline: float | None = None,
                  tick: Callable[[Stats], None] | None = None) -> Stats:
        """Run until done; `tick` sees the live stats about four times a second."""
        if deadline is not None:
            self.deadline = deadline
        ticker = asyncio.get_running_loop().create_task(self._tick(tick)) if tick else None
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        start = time.monotonic()
        try:
            await asyncio.gather(*(self._slot(i) for i in range(len(self._conns))))
        finally:
            end = time.monotonic()
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            self.close()
        self.stats.mark(start, end, cpu.ru_utime - cpu0.ru_utime, cpu.ru_stime - cpu0.ru_stime)
        return self.stats

    def close(self) -> None:
        for c in self._conns:
            if c is not None:
                c.close()
        self._conns = [None] * len(self._conns)

    async def _tick(self, tick: Callable[[Stats], None]) -> None:
        while True:
            await asyncio.sleep(0.25)
            tick(self.stats)

    def _take(self) -> bool:
        if self.stopping:
            return False
        if self.left is not None:
            if self.left <= 0:
                return False
            self.left -= 1
            return True
        return time.monotonic() < self.deadline

    async def _connect(self) -> Connection:
        ep = self.job.target.endpoint
        loop = asyncio.get_running_loop()
        factory = lambda: Connection(self.stats.itl, self.job.workload.timeout_s,  # noqa: E731
                                     ep.legacy)
        _, conn = await asyncio.wait_for(
            loop.create_connection(factory, ep.host, ep.port, ssl=self._ssl,
                                   server_hostname=ep.host if self._ssl else None),
            CONNECT_TIMEOUT_S)
        return conn

    async def _slot(self, i: int) -> None:
        conn = self._conns[i]
        template, record = self.template, self._record
        while self._take():
            if conn is None or conn.closed:
                try:
                    conn = self._conns[i] = await self._connect()
                except (OSError, TimeoutError, ssl.SSLError) as e:
                    conn = self._conns[i] = None
                    self.stats.record_error("connect", type(e).__name__ + ": " + str(e))
                    await asyncio.sleep(0.01)  # a refused port must not spin the loop
                    continue
            record(await conn.send(template.next()))
            if not conn.keep_alive:
                conn.close()
                conn = self._conns[i] = None

    def _record(self, ex: Exchange) -> None:
        s = self.stats
        if ex.ok:
            s.ok += 1
            s.latency.record(int((ex.t_end - ex.t0) * 1_000_000))
            if ex.first:
                s.ttft.record(int((ex.first - ex.t0) * 1_000_000))
            if ex.overhead_ms is not None:
                s.overhead.record(int(ex.overhead_ms * 1000))
            if ex.usage:
                s.usage_answers += 1
                s.prompt_tokens += ex.prompt_tokens
                s.completion_tokens += ex.completion_tokens
            elif ex.stream:
                s.counted_answers += 1
                s.completion_tokens += ex.content_events
            return
        key = ex.error or str(ex.status)
        if key not in s.samples:
            sample = ex.sample if ex.sample is not None else (
                ex.error_message() if ex.body else None)
            s.record_error(key, redact(sample, self._secrets) if sample else None)
        else:
            s.errors[key] += 1
