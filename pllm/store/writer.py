"""The store's one writer thread: every write to the database goes through its queue.

Request-path writes (audit rows, admin events, spend increments, period resets, `last_used_at`)
are put on a queue and return at once. The thread collects them for up to `flush_interval`
seconds after the first one arrives (or until `max_batch`), then applies the batch in one
`BEGIN IMMEDIATE ... COMMIT`: audit rows with one `executemany`, spend increments to the same
budget summed into one UPDATE, `last_used_at` coalesced to one UPDATE per key. A synchronous
call (an admin change) or a `flush()` ends the current batch at once, so it waits only for one
commit, and it sees every write queued before it.

Durability: `flush()` returns once everything queued before it is committed; `close()` commits
everything and stops the thread, so a process that calls `close()` on SIGTERM loses nothing. A
process that dies without `close()` (SIGKILL, a crash) loses what was queued but not yet
committed: at most the last `flush_interval` of writes.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlite_utils

from pllm.errors import StoreClosed, StoreError
from pllm.store.audit import AUDIT_INSERT, EVENT_INSERT, audit_params, event_params
from pllm.store.records import AdminEvent, AuditRow

__all__ = ["Writer"]

log = logging.getLogger(__name__)
T = TypeVar("T")

SPEND_SQL = "UPDATE budgets SET spend_usd = spend_usd + ?, updated_at = ? WHERE id = ?"
# Spend tagged with the epoch it was counted in applies only to that epoch: spend of a period
# an admin has reset since is dropped, as the reset meant.
SPEND_EPOCH_SQL = ("UPDATE budgets SET spend_usd = spend_usd + ?, updated_at = ? "
                   "WHERE id = ? AND epoch = ?")
# Only a reset into a newer period applies, so several workers noticing the same new period
# reset it once, and spend counted after the first reset is kept.
RESET_SQL = ("UPDATE budgets SET spend_usd = 0, period_start = ?, epoch = epoch + 1, "
             "updated_at = ? WHERE id = ? AND period_start < ?")
ROLL_SQL = ("UPDATE budgets SET spend_usd = 0, period_start = ?, epoch = ?, updated_at = ? "
            "WHERE id = ? AND epoch < ?")
TOUCH_SQL = ("UPDATE keys SET last_used_at = ? WHERE id = ? "
             "AND (last_used_at IS NULL OR last_used_at < ?)")


@dataclass(slots=True)
class Spend:
    budget_id: str
    usd: float
    epoch: int | None = None


@dataclass(slots=True)
class Reset:
    budget_id: str
    period_start: float
    epoch: int | None = None
    """None: the next epoch, if period_start is newer. Set: that epoch, if newer."""


@dataclass(slots=True)
class Touch:
    key_id: str
    ts: float


@dataclass(slots=True)
class _Call:
    fn: Callable[[sqlite_utils.Database], Any]
    future: Future[Any]


@dataclass(slots=True)
class _Flush:
    future: Future[None]
    stop: bool = False


Write = AuditRow | AdminEvent | Spend | Reset | Touch
Op = Write | tuple[Write, ...] | _Call | _Flush
"""A tuple is one request's writes (its audit row, spend, last use): always in one batch, so
a crash keeps all of them or none."""


class Writer:
    """Owns the write connection; `start()` runs the thread, `close()` drains and stops it."""

    def __init__(self, db: sqlite_utils.Database, *, flush_interval: float = 0.5,
                 max_batch: int = 20_000, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._interval = flush_interval
        self._max_batch = max_batch
        self._clock = clock
        self._queue: queue.SimpleQueue[Op] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="pllm-store-writer", daemon=True)
        self._closed = False
        self.commits = 0
        """Transactions committed so far (tests count them)."""
        self.dropped = 0
        """Queued writes given up on after repeated failures (each is logged)."""

    def start(self) -> None:
        self._thread.start()

    def put(self, op: Write | tuple[Write, ...]) -> None:
        """Queue a write; never blocks."""
        if self._closed:
            raise StoreClosed("the store is closed")
        self._queue.put(op)

    def call(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        """Run `fn` on the writer connection inside the next transaction; return its result
        once committed (or raise what it raised; its changes are then rolled back alone)."""
        future: Future[T] = Future()
        self._submit(_Call(fn, future))
        return self._wait(future)

    def flush(self) -> None:
        """Block until every write queued before this call is committed."""
        future: Future[None] = Future()
        self._submit(_Flush(future))
        self._wait(future)

    def close(self) -> None:
        """Commit everything queued, stop the thread and close the connection. Idempotent."""
        if self._closed:
            return
        future: Future[None] = Future()
        # Closed first, so that a put racing with close() fails loudly instead of landing
        # behind the stop marker, where nothing would ever write it.
        self._closed = True
        self._queue.put(_Flush(future, stop=True))
        try:
            self._wait(future)
        finally:
            self._thread.join()
            self._db.close()

    def _submit(self, op: _Call | _Flush) -> None:
        if self._closed:
            raise StoreClosed("the store is closed")
        self._queue.put(op)

    def _wait(self, future: Future[T]) -> T:
        while True:
            try:
                return future.result(timeout=1.0)
            except TimeoutError:
                if not self._thread.is_alive() and not future.done():
                    raise StoreError("the store's writer thread has stopped") from None

    def _run(self) -> None:
        stop = False
        try:
            while not stop:
                stop = self._commit(self._collect())
        except Exception:
            # A bug, not a database error (those are handled per batch). Waiters notice the
            # thread is gone within a second and raise StoreError.
            log.exception("the store's writer thread failed; queued writes are lost")

    def _collect(self) -> list[Op]:
        """Block for one op, then gather more until the interval from it ends, a call or flush
        arrives, or the batch is full."""
        batch = [self._queue.get()]
        deadline = time.monotonic() + self._interval
        while len(batch) < self._max_batch and not isinstance(batch[-1], _Call | _Flush):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _commit(self, ops: list[Op]) -> bool:
        """Apply and commit `ops`, resolving calls and flushes; True when told to stop."""
        error: BaseException | None = None
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        for attempt in range(3):
            try:
                outcomes = self._transaction(ops)
                error = None
                break
            except sqlite3.OperationalError as exc:  # locked or busy past busy_timeout
                log.warning("store write failed (attempt %d of 3): %s", attempt + 1, exc)
                error = exc
            except sqlite3.Error:  # a bad row: commit the others one at a time
                outcomes = self._one_by_one(ops)
                error = None
                break
        if error is not None:
            self._drop(ops, error)
        for future, result, failure in outcomes:
            _resolve(future, result, failure)
        return any(isinstance(op, _Flush) and op.stop for op in ops)

    def _transaction(self, ops: list[Op]) -> list[tuple[Future[Any], Any, BaseException | None]]:
        conn = self._db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            batch = _Batch(self._db, self._clock())
            for op in ops:
                batch.add(op)
            batch.write()
            conn.execute("COMMIT")
            self.commits += 1
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return batch.outcomes

    def _one_by_one(self, ops: list[Op]) -> list[tuple[Future[Any], Any, BaseException | None]]:
        outcomes = []
        for op in ops:
            try:
                outcomes += self._transaction([op])
            except sqlite3.Error as exc:
                self._drop([op], exc)
        return outcomes

    def _drop(self, ops: list[Op], error: BaseException) -> None:
        writes = [op for op in ops if not isinstance(op, _Call | _Flush)]
        self.dropped += len(writes)
        if writes:
            log.error("the store dropped %d queued write(s): %s", len(writes), error)
        for op in ops:
            if isinstance(op, _Call | _Flush):
                failure = StoreError(f"the database write failed: {error}")
                _resolve(op.future, None, failure)


class _Batch:
    """Accumulates one transaction's writes, keeping the order that matters: a reset of a
    budget applies after the (untagged) spend queued before it, and a call sees every earlier
    write. Epoch-tagged spend is applied after the batch's resets, whatever the queue order:
    its epoch, not its position, says which period it belongs to."""

    def __init__(self, db: sqlite_utils.Database, now: float) -> None:
        self._db = db
        self._now = now
        self._audit: list[tuple[Any, ...]] = []
        self._events: list[tuple[Any, ...]] = []
        self._spend: dict[str, float] = {}
        self._tagged: dict[tuple[str, int], float] = {}
        self._touch: dict[str, float] = {}
        self.outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []

    def add(self, op: Op) -> None:
        if isinstance(op, tuple):
            for write in op:
                self.add(write)
        elif isinstance(op, AuditRow):
            self._audit.append(audit_params(op))
        elif isinstance(op, Spend):
            if op.epoch is None:
                self._spend[op.budget_id] = self._spend.get(op.budget_id, 0.0) + op.usd
            else:
                tag = (op.budget_id, op.epoch)
                self._tagged[tag] = self._tagged.get(tag, 0.0) + op.usd
        elif isinstance(op, Touch):
            self._touch[op.key_id] = max(op.ts, self._touch.get(op.key_id, op.ts))
        elif isinstance(op, AdminEvent):
            self._events.append(event_params(op))
        elif isinstance(op, Reset):
            self._write_spend(op.budget_id)
            if op.epoch is None:
                self._db.conn.execute(RESET_SQL, (op.period_start, self._now, op.budget_id,
                                                  op.period_start))
            else:
                self._db.conn.execute(ROLL_SQL, (op.period_start, op.epoch, self._now,
                                                 op.budget_id, op.epoch))
        elif isinstance(op, _Call):
            self.write()
            self.outcomes.append(self._run_call(op))
        else:
            self.outcomes.append((op.future, None, None))

    def write(self) -> None:
        conn = self._db.conn
        if self._audit:
            conn.executemany(AUDIT_INSERT, self._audit)
        if self._events:
            conn.executemany(EVENT_INSERT, self._events)
        if self._spend:
            conn.executemany(SPEND_SQL, [(usd, self._now, budget)
                                         for budget, usd in self._spend.items()])
        if self._tagged:
            conn.executemany(SPEND_EPOCH_SQL, [(usd, self._now, budget, epoch)
                                               for (budget, epoch), usd in self._tagged.items()])
        if self._touch:
            conn.executemany(TOUCH_SQL, [(ts, key, ts) for key, ts in self._touch.items()])
        self._audit, self._events, self._spend, self._touch = [], [], {}, {}
        self._tagged = {}

    def _write_spend(self, budget_id: str) -> None:
        usd = self._spend.pop(budget_id, None)
        if usd is not None:
            self._db.conn.execute(SPEND_SQL, (usd, self._now, budget_id))

    def _run_call(self, call: _Call) -> tuple[Future[Any], Any, BaseException | None]:
        # A savepoint: a call that raises (not found, invalid) undoes only its own changes.
        try:
            with self._db.atomic():
                return call.future, call.fn(self._db), None
        except sqlite3.OperationalError:
            raise  # busy/locked: the whole batch is retried
        except Exception as exc:  # handed to the waiting caller, who re-raises it
            return call.future, None, exc


def _resolve(future: Future[Any], result: Any, error: BaseException | None) -> None:
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
