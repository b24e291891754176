"""The store's writer thread and its file: batching, flush and close semantics, two stores (a
server and a CLI) on one file, two processes writing at once, and migrations in place."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlite_utils

from pllm.store import AuditRow, RecordNotFound, Store
from pllm.store.migrations import MIGRATIONS

ROOT = Path(__file__).parent.parent.parent


def row(i: int) -> AuditRow:
    return AuditRow(ts=1e9 + i, request_id=f"req-{i}", endpoint="chat", model="m", status=200,
                    latency_ms=12.5, prompt_tokens=10, completion_tokens=20, cost_usd=0.001)


def count(path: Path, table: str = "audit") -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> float:
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(0.01)
    return time.monotonic() - start


def run_python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_many_rows_commit_in_few_transactions(tmp_path: Path) -> None:
    with Store.open(tmp_path / "a.db", flush_interval=5.0) as store:
        before = store.writer.commits
        for i in range(5000):
            store.record_request(row(i))
            store.touch_key("key_a", float(i))
        store.flush()
        assert store.writer.commits - before == 1
        assert len(store.audit_rows()) == 5000


def test_queued_writes_commit_within_the_flush_interval(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    with Store.open(path, flush_interval=0.2) as store:
        store.record_request(row(1))
        assert count(path) == 0  # queued, not yet committed
        waited = wait_for(lambda: count(path) == 1)
        assert 0.1 < waited < 2.0


def test_flush_blocks_until_everything_queued_is_committed(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    with Store.open(path, flush_interval=30.0) as store:
        for i in range(100):
            store.record_request(row(i))
        time.sleep(0.2)
        assert count(path) == 0
        store.flush()
        assert count(path) == 100


def test_spend_to_one_budget_is_summed_and_last_used_coalesced(tmp_path: Path) -> None:
    with Store.open(tmp_path / "a.db", flush_interval=30.0) as store:
        key, _ = store.create_key(name="a", actor="t")
        store.set_budget("global", None, max_usd=100, actor="t")
        statements: list[str] = []
        # The writer's own connection, traced: how many UPDATEs does one batch make?
        store.writer._db.conn.set_trace_callback(statements.append)
        for i in range(50):
            store.add_spend("global", 0.5)
            store.touch_key(key.id, 1000.0 + (i * 7) % 50)  # out of order: max wins
        store.flush()
        store.writer._db.conn.set_trace_callback(None)
        assert sum("spend_usd = spend_usd +" in s for s in statements) == 1
        assert sum("last_used_at = " in s for s in statements) == 1
        budget, touched = store.get_budget("global"), store.get_key(key.id)
        assert budget is not None and budget.spend_usd == 25.0
        assert touched is not None and touched.last_used_at == 1049.0


def test_a_reset_between_spends_keeps_their_order(tmp_path: Path) -> None:
    with Store.open(tmp_path / "a.db", flush_interval=30.0) as store:
        store.set_budget("user", "u", max_usd=10, period="daily", actor="t")
        store.add_spend("user:u", 1.0)
        store.reset_period("user:u", 4e9)
        store.add_spend("user:u", 2.0)
        store.flush()
        budget = store.get_budget("user:u")
        assert budget is not None and budget.spend_usd == 2.0


def test_a_failing_call_or_a_bad_row_does_not_lose_the_batch(tmp_path: Path) -> None:
    with Store.open(tmp_path / "a.db", flush_interval=30.0) as store:
        for i in range(10):
            store.record_request(row(i))
        store.record_request(AuditRow(ts=1.0, request_id=None, endpoint="chat",  # type: ignore[arg-type]
                                      model="m", status=200))  # NOT NULL: cannot be written
        with pytest.raises(RecordNotFound):  # the caller gets its error; the batch goes on
            store.revoke_key("key_missing", actor="t")
        store.flush()
        assert len(store.audit_rows()) == 10
        assert store.writer.dropped == 1


def test_close_commits_everything_queued(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store = Store.open(path, flush_interval=30.0)
    for i in range(20_000):
        store.record_request(row(i))
    store.close()
    assert count(path) == 20_000


def test_sigterm_then_close_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    child = run_python("""
        import signal, sys
        from pathlib import Path
        from pllm.store import AuditRow, Store
        store = Store.open(Path(sys.argv[1]), flush_interval=30.0)
        def stop(signum, frame):
            store.close()
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        for i in range(5000):
            store.record_request(AuditRow(ts=float(i), request_id=str(i), endpoint="chat",
                                          model="m", status=200))
        print("queued", flush=True)
        signal.pause()
    """, str(path))
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "queued"
    assert count(path) == 0
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert count(path) == 5000


def test_two_stores_on_one_file_see_each_others_commits(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    with Store.open(path) as server, Store.open(path) as cli:
        data, admin = server.data_version(), server.version()
        key, _ = cli.create_key(name="from-cli", actor="cli")
        assert server.data_version() != data and server.version() != admin
        assert server.get_key(key.id) == key
        data, admin = server.data_version(), server.version()
        cli.record_request(row(1))
        cli.touch_key(key.id, 5.0)
        cli.set_budget("global", None, max_usd=1, actor="cli")
        cli.flush()
        admin = server.version()
        cli.add_spend("global", 0.5)
        cli.flush()
        # Requests and spend change the data, not the admin version.
        assert server.data_version() != data and server.version() == admin
        assert [r.request_id for r in server.audit_rows()] == ["req-1"]
        cli.reset_budget("global", actor="cli")
        assert server.version() != admin


def test_two_processes_writing_at_once(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    Store.open(path).close()  # create it (schema) before the race
    code = """
        import sys, time
        from pathlib import Path
        from pllm.store import AuditRow, Store
        with Store.open(Path(sys.argv[1]), flush_interval=0.001) as store:
            time.sleep(max(0.0, float(sys.argv[3]) - time.time()))  # start together
            for i in range(150):
                store.create_key(name=f"{sys.argv[2]}-{i}", actor=sys.argv[2])
                store.record_request(AuditRow(ts=float(i), request_id=f"{sys.argv[2]}-{i}",
                                              endpoint="chat", model="m", status=200))
                store.add_spend("global", 1.0)
    """
    with Store.open(path) as store:
        store.set_budget("global", None, max_usd=1e9, actor="t")
    start = str(time.time() + 1.0)
    children = [run_python(code, str(path), name, start) for name in ("a", "b")]
    for child in children:
        _, err = child.communicate(timeout=90)
        assert child.returncode == 0, err
    assert count(path, "keys") == 300 and count(path) == 300
    with Store.open(path) as store:
        budget = store.get_budget("global")
        assert budget is not None and budget.spend_usd == 300.0


def test_processes_opening_a_new_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"  # what N server workers and a CLI starting together do
    code = """
        import sys, time
        from pathlib import Path
        from pllm.store import Store
        time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
        with Store.open(Path(sys.argv[1])) as store:
            store.create_key(name="k", actor="t")
    """
    start = str(time.time() + 1.0)
    children = [run_python(code, str(path), start) for _ in range(6)]
    for child in children:
        _, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
    assert count(path, "keys") == 6 and count(path, "_sqlite_migrations") == 2


def test_opening_a_new_file_sets_the_connection_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with Store.open(path) as store:
        db = store._read()
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_migrations_upgrade_an_older_database_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    MIGRATIONS.apply(db, stop_before="m002_indexes_and_admin_version")
    db.table("keys").insert({"id": "key_000000000001", "name": "old", "key_hash": "h",
                             "prefix": "sk-pllm-abcd…", "created_at": 1.0})
    db.table("audit").insert({"ts": 1.0, "request_id": "r", "endpoint": "chat", "model": "m",
                              "status": 200})
    assert "meta" not in db.table_names()
    db.close()
    with Store.open(path) as store:
        key = store.get_key("key_000000000001")
        assert key is not None and key.name == "old" and key.metadata == {}
        assert [r.request_id for r in store.audit_rows()] == ["r"]
        version = store.version()
        store.update_key(key.id, name="renamed", actor="t")
        assert store.version() == version + 1  # the trigger m002 added works on old rows
    upgraded = sqlite_utils.Database(path)
    try:
        applied = [m.name for m in MIGRATIONS.applied(upgraded)]
        assert applied == ["m001_initial", "m002_indexes_and_admin_version"]
        assert ["ts"] in [ix.columns for ix in upgraded.table("audit").indexes]
    finally:
        upgraded.close()
    Store.open(path).close()  # already current: nothing to do


def test_a_settled_request_is_never_split_across_transactions(tmp_path: Path) -> None:
    """Its audit row and spend commit together, so a crash keeps both or neither, even when
    the writer's batch is full in the middle of them."""
    with Store.open(tmp_path / "a.db") as store:
        key, _ = store.create_key(name="k", actor="test")
        budget = store.set_budget("key", key.id, max_usd=10.0, actor="test")
        store.writer._max_batch = 1  # every batch would otherwise hold a single write
        before = store.writer.commits
        for i in range(3):
            store.record_settled(row(i), [(budget.id, budget.epoch, 0.25)], touch=False)
        store.flush()
        assert store.writer.commits - before == 3 + 1  # one per request, then the flush
        assert len(store.audit_rows()) == 3
        stored = store.get_budget(budget.id)
        assert stored is not None and stored.spend_usd == 0.75
