"""Load processes and their coordinator.

`Pool(n)` spawns n processes once; `run(jobs)` gives each its job, waits until every one has its
connections open, starts them together at one monotonic instant (CLOCK_MONOTONIC is shared by
the processes of a machine), gathers their progress snapshots about four times a second and
merges their final `Stats`. Ctrl-C in the terminal reaches every process of the group: the load
processes ignore it and the coordinator asks them to stop, so what was measured is still
reported; a second Ctrl-C abandons the run.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from typing import Any

from pllm.bench.load import Runner
from pllm.bench.spec import Job, nonce_base
from pllm.bench.stats import Stats

__all__ = ["BenchError", "Pool"]

Progress = Callable[[Stats, float], None]
READY_TIMEOUT_S = 60.0


class BenchError(RuntimeError):
    """The benchmark itself could not run (not an error of the endpoint under load)."""


class Pool:
    def __init__(self, processes: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        self.interrupted = False
        self._run = secrets.randbelow(10_000)
        self._batch = 0
        for i in range(processes):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(child,), daemon=True,
                               name=f"pllm-bench-{i}")
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)

    @property
    def size(self) -> int:
        return len(self._conns)

    def run(self, jobs: list[Job], progress: Progress | None = None) -> Stats:
        """Run one round (one job per process) and return the merged measurements."""
        conns = self._conns[:len(jobs)]
        self._batch += 1
        for conn, job in zip(conns, jobs, strict=True):
            conn.send(("job", replace(job, nonce=nonce_base(self._run, self._batch, job.index))))
        for conn in conns:
            self._expect(conn, "ready")
        start = time.monotonic() + 0.01
        duration = jobs[0].duration_s
        for conn in conns:
            conn.send(("go", start, start + duration if duration else None))
        latest = [Stats() for _ in conns]
        final: dict[int, Stats] = {}
        while len(final) < len(conns):
            try:
                pending = [c for i, c in enumerate(conns) if i not in final]
                for ready in wait(pending, timeout=0.25):
                    i = next(k for k, c in enumerate(conns) if c is ready)
                    tag, stats = self._recv(conns[i])
                    latest[i] = stats
                    if tag == "done":
                        final[i] = stats
                if progress is not None:
                    progress(Stats.combine(latest, parallel=True), time.monotonic() - start)
            except KeyboardInterrupt:
                if self.interrupted:
                    raise
                self.interrupted = True
                for i, conn in enumerate(conns):
                    if i not in final:
                        conn.send(("stop",))
        return Stats.combine([final[i] for i in range(len(conns))], parallel=True)

    def close(self) -> None:
        for conn in self._conns:
            try:
                conn.send(("exit",))
            except OSError:
                pass
        for proc in self._procs:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        for conn in self._conns:
            conn.close()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _recv(self, conn: Connection) -> tuple[str, Any]:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            raise BenchError("a load process exited unexpectedly") from None
        if msg[0] == "failed":
            raise BenchError(f"a load process failed: {msg[1]}")
        return msg[0], msg[1] if len(msg) > 1 else None

    def _expect(self, conn: Connection, tag: str) -> None:
        if not conn.poll(READY_TIMEOUT_S):
            raise BenchError(f"a load process did not answer within {READY_TIMEOUT_S:g} s")
        got, _ = self._recv(conn)
        if got != tag:
            raise BenchError(f"a load process said {got!r}, expected {tag!r}")


# ----------------------------------------------------------------------------- in the process
def worker_main(conn: Connection) -> None:
    """A load process: run jobs until told to exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "exit":
            return
        if msg[0] == "job":
            try:
                asyncio.run(_serve_job(conn, msg[1]))
            except Exception as e:  # reported to the coordinator, which raises
                conn.send(("failed", f"{type(e).__name__}: {e}"))


async def _serve_job(conn: Connection, job: Job) -> None:
    runner = Runner(job)
    await runner.prepare()
    conn.send(("ready",))
    msg = conn.recv()  # blocking is fine: nothing runs before the start
    if msg[0] != "go":  # the coordinator gave up on this round ("exit") or the run ("stop")
        runner.close()
        if msg[0] == "exit":
            raise SystemExit(0)
        conn.send(("done", Stats()))
        return
    _, start, deadline = msg
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    loop = asyncio.get_running_loop()

    def on_message() -> None:
        try:
            if conn.recv()[0] == "stop":
                runner.stopping = True
        except (EOFError, OSError):
            runner.stopping = True

    loop.add_reader(conn.fileno(), on_message)
    try:
        stats = await runner.run(deadline, tick=lambda s: conn.send(("progress", s)))
    finally:
        loop.remove_reader(conn.fileno())
    conn.send(("done", stats))
