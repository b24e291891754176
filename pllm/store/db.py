"""Opening SQLite connections the one way pllm uses them, and the per-thread reader pool.

Every connection gets WAL (readers never block the writer, nor it them), `busy_timeout` 5000 ms
(a second process writing waits instead of failing), `synchronous=NORMAL` (in WAL mode a power
loss can drop the last commits but never corrupts the file; each commit skips an fsync) and
foreign keys. Readers are also `query_only`: only the writer thread writes.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import sqlite_utils

from pllm.errors import StoreClosed

__all__ = ["BUSY_TIMEOUT_MS", "ReaderPool", "connect"]

BUSY_TIMEOUT_MS = 5000


def connect(path: Path, *, readonly: bool = False) -> sqlite_utils.Database:
    """A configured connection. `check_same_thread=False` only so that `Store.close()` may close
    connections other threads made; each connection is still used by one thread only."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _enable_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        if readonly:
            conn.execute("PRAGMA query_only = ON")
        # Plugins are looked up through entry points: slow, and pllm registers none.
        return sqlite_utils.Database(conn, execute_plugins=False)
    except BaseException:
        conn.close()
        raise


def _enable_wal(conn: sqlite3.Connection) -> None:
    """WAL is a property of the file, so only the first connection to a new file switches it.
    The switch needs an exclusive lock and SQLite does not wait for that one (no busy
    handler): when several processes open a new file at once, the losers retry here."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class ReaderPool:
    """One read-only connection per thread, all closed together by `close()`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()
        self._all: list[sqlite_utils.Database] = []
        self._lock = threading.Lock()
        self._closed = False

    def get(self) -> sqlite_utils.Database:
        db: sqlite_utils.Database | None = getattr(self._local, "db", None)
        if db is not None and not self._closed:
            return db
        with self._lock:
            if self._closed:
                raise StoreClosed("the store is closed")
            db = connect(self._path, readonly=True)
            self._all.append(db)
        self._local.db = db
        return db

    def close(self) -> None:
        with self._lock:
            self._closed = True
            dbs, self._all = self._all, []
        for db in dbs:
            db.close()
