"""The store's records and admin operations: keys, budgets and their periods, limits, audit
reads, and where the database file lives. Real SQLite files in tmp dirs, a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pllm.errors import ConfigError
from pllm.store import (
    AuditRow,
    BudgetRecord,
    InvalidRecord,
    RecordNotFound,
    Store,
    StoreClosed,
    db_path,
    default_db_path,
    hash_secret,
)
from pllm.store.durations import parse_duration, parse_time
from pllm.store.records import next_period_start, period_start

T0 = datetime(2024, 2, 29, 13, 30, tzinfo=UTC).timestamp()  # a Thursday, in a leap February


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    with Store.open(tmp_path / "sub" / "dir" / "pllm.db", clock=clock) as s:
        yield s


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def row(i: int, **kw: object) -> AuditRow:
    fields: dict[str, object] = {"model": "gpt-4o", **kw}
    return AuditRow(ts=T0 + i, request_id=f"req-{i}", endpoint="chat", status=200,
                    **fields)  # type: ignore[arg-type]


# -- keys -------------------------------------------------------------------------------------

def test_create_key_returns_the_secret_once_and_stores_only_its_hash(tmp_path: Path,
                                                                     clock: Clock) -> None:
    path = tmp_path / "k.db"
    with Store.open(path, clock=clock) as store:
        key, secret = store.create_key(name="ci", models=["gpt-4o", "claude"], rpm=10, tpm=1000,
                                       user_id="u1", team_id="t1", role="viewer",
                                       metadata={"env": "prod"}, actor="test")
        assert secret.startswith("sk-pllm-") and len(secret) >= len("sk-pllm-") + 32
        assert key.id.startswith("key_") and len(key.id) == 16
        assert key.key_hash == hash_secret(secret)
        assert key.prefix == secret[:12] + "…"
        assert (key.name, key.models, key.rpm, key.tpm, key.role) == (
            "ci", ("gpt-4o", "claude"), 10, 1000, "viewer")
        assert key.metadata == {"env": "prod"} and key.created_at == T0
        assert secret not in repr(key) and key.key_hash not in repr(key)
        assert store.get_key(key.id) == key
        assert store.key_by_hash(hash_secret(secret)) == key
        assert store.list_keys() == [key]
        assert "key_hash" not in key.to_dict() and key.to_dict(T0)["status"] == "active"
    for file in tmp_path.iterdir():  # the db, and any WAL left behind
        assert secret.encode() not in file.read_bytes()


def test_key_validation(store: Store) -> None:
    with pytest.raises(InvalidRecord, match="name"):
        store.create_key(name=" ", actor="t")
    with pytest.raises(InvalidRecord, match="role"):
        store.create_key(name="a", role="root", actor="t")
    with pytest.raises(InvalidRecord, match="rpm"):
        store.create_key(name="a", rpm=0, actor="t")
    with pytest.raises(InvalidRecord, match="models"):
        store.create_key(name="a", models="gpt-4o", actor="t")  # type: ignore[arg-type]
    assert store.list_keys() == []


def test_revoke(store: Store, clock: Clock) -> None:
    key, _ = store.create_key(name="a", actor="t")
    clock.now += 5
    revoked = store.revoke_key(key.id, actor="t")
    assert revoked.revoked_at == T0 + 5 and revoked.status(clock.now) == "revoked"
    clock.now += 5
    assert store.revoke_key(key.id, actor="t").revoked_at == T0 + 5  # idempotent
    assert store.active_keys() == []
    with pytest.raises(RecordNotFound):
        store.revoke_key("key_missing", actor="t")


def test_rotate_with_grace_moves_budget_and_per_model_limits(store: Store, clock: Clock) -> None:
    old, old_secret = store.create_key(name="svc", models=["m"], rpm=5, user_id="u",
                                       metadata={"a": 1}, actor="t")
    store.set_budget("key", old.id, max_usd=10, period="monthly", actor="t")
    store.add_spend(f"key:{old.id}", 2.5)
    store.set_limit("key_model", f"{old.id}:m", rpm=3, actor="t")
    store.flush()
    new, new_secret = store.rotate_key(old.id, grace_s=60, actor="t")
    assert new.id != old.id and new_secret != old_secret
    assert (new.name, new.models, new.rpm, new.user_id, new.metadata) == (
        "svc", ("m",), 5, "u", {"a": 1})
    retired = store.get_key(old.id)
    assert retired is not None and retired.rotated_to == new.id
    assert retired.grace_until == T0 + 60 and retired.budget_id == f"key:{new.id}"
    clock.now = T0 + 30
    assert retired.status(clock.now) == "grace"
    assert {k.id for k in store.active_keys()} == {old.id, new.id}
    clock.now = T0 + 61
    assert retired.status(clock.now) == "revoked"
    assert [k.id for k in store.active_keys()] == [new.id]
    assert store.get_budget(f"key:{old.id}") is None
    moved = store.get_budget(f"key:{new.id}")
    assert moved is not None and moved.spend_usd == 2.5 and moved.subject == new.id
    assert [(lim.scope, lim.subject) for lim in store.list_limits()] == [
        ("key_model", f"{new.id}:m")]
    with pytest.raises(InvalidRecord, match="revoked"):
        store.rotate_key(old.id, actor="t")


def test_rotate_without_grace_revokes_at_once(store: Store) -> None:
    old, _ = store.create_key(name="a", actor="t")
    new, _ = store.rotate_key(old.id, actor="t")
    assert [k.id for k in store.active_keys()] == [new.id]
    with pytest.raises(RecordNotFound):
        store.rotate_key("key_nope", actor="t")


def test_update_key(store: Store, clock: Clock) -> None:
    key, _ = store.create_key(name="a", rpm=5, models=["x"], actor="t")
    updated = store.update_key(key.id, actor="t", name="b", rpm=None, tpm=99, models=None,
                               role="admin", metadata={"k": "v"}, expires_at=T0 + 10)
    assert (updated.name, updated.rpm, updated.tpm, updated.models, updated.role) == (
        "b", None, 99, None, "admin")
    assert updated.metadata == {"k": "v"} and updated.expires_at == T0 + 10
    with pytest.raises(InvalidRecord, match="key_hash"):
        store.update_key(key.id, actor="t", key_hash="x")
    with pytest.raises(InvalidRecord, match="role"):
        store.update_key(key.id, actor="t", role="god")
    with pytest.raises(RecordNotFound):
        store.update_key("key_nope", actor="t", name="x")
    clock.now = T0 + 11
    assert updated.status(clock.now) == "expired"
    assert [k.id for k in store.active_keys()] == [key.id]  # expired keys are still listed
    assert store.usable_keys(clock.now) == []


# -- budgets ----------------------------------------------------------------------------------

def test_calendar_periods_in_utc() -> None:
    now = T0  # Thursday 2024-02-29 13:30 UTC
    assert period_start("daily", now) == ts(2024, 2, 29)
    assert next_period_start("daily", now) == ts(2024, 3, 1)
    assert period_start("weekly", now) == ts(2024, 2, 26)  # Monday
    assert next_period_start("weekly", now) == ts(2024, 3, 4)
    assert period_start("monthly", now) == ts(2024, 2, 1)
    assert next_period_start("monthly", now) == ts(2024, 3, 1)
    assert next_period_start("monthly", ts(2024, 12, 31, 23, 59)) == ts(2025, 1, 1)
    assert period_start("weekly", ts(2024, 3, 4)) == ts(2024, 3, 4)  # Monday 00:00 itself
    assert period_start("weekly", ts(2024, 3, 3, 23, 59)) == ts(2024, 2, 26)
    assert period_start("total", now) == 0.0


def test_periods_in_a_time_zone_across_dst() -> None:
    # New York moved to daylight time at 02:00 on 2024-03-10: that day has 23 hours.
    noon = ts(2024, 3, 10, 16)  # 12:00 EDT
    assert period_start("daily", noon, "America/New_York") == ts(2024, 3, 10, 5)  # 00:00 EST
    assert next_period_start("daily", noon, "America/New_York") == ts(2024, 3, 11, 4)


def test_budget_record_helpers() -> None:
    b = BudgetRecord(id="global", scope="global", subject=None, max_usd=10.0, period="daily",
                     spend_usd=4.0, period_start=ts(2024, 2, 29), updated_at=T0)
    assert b.period_start_for(T0) == ts(2024, 2, 29)
    assert b.next_reset(T0) == ts(2024, 3, 1)
    assert not b.needs_reset(T0) and b.spend_at(T0) == 4.0 and b.remaining(T0) == 6.0
    tomorrow = ts(2024, 3, 1, 0, 0, 1)
    assert b.needs_reset(tomorrow) and b.spend_at(tomorrow) == 0.0
    assert b.remaining(tomorrow) == 10.0
    total = BudgetRecord(id="user:u", scope="user", subject="u", max_usd=1.0, period="total",
                         spend_usd=2.0, period_start=T0 - 1e6, updated_at=T0)
    assert total.next_reset(T0) is None and total.period_start_for(T0) == T0 - 1e6
    assert not total.needs_reset(T0 + 1e9) and total.remaining(T0) == 0.0


def test_set_get_list_reset_delete_budget(store: Store, clock: Clock) -> None:
    b = store.set_budget("global", None, max_usd=100, period="daily", soft_usd=80, actor="t")
    assert (b.id, b.scope, b.subject, b.max_usd, b.soft_usd) == ("global", "global", None,
                                                                  100.0, 80.0)
    assert b.period_start == ts(2024, 2, 29) and b.spend_usd == 0.0 and b.epoch == 0
    team = store.set_budget("team", "t1", max_usd=5, actor="t")
    assert team.id == "team:t1" and team.period == "total" and team.period_start == T0
    store.add_spend("global", 1.25)
    store.add_spend("global", 0.75)
    store.flush()
    got = store.get_budget("global")
    assert got is not None and got.spend_usd == 2.0
    # Changing the limits keeps the spend; changing the period starts afresh.
    assert store.set_budget("global", None, max_usd=50, period="daily",
                            actor="t").spend_usd == 2.0
    fresh = store.set_budget("global", None, max_usd=50, period="weekly", actor="t")
    assert fresh.spend_usd == 0.0 and fresh.period_start == ts(2024, 2, 26)
    assert fresh.epoch == 1
    store.add_spend("global", 3.0)
    clock.now += 60
    reset = store.reset_budget("global", actor="t")  # the queued spend is applied, then reset
    assert reset.spend_usd == 0.0 and reset.epoch == 2 and reset.updated_at == T0 + 60
    assert [x.id for x in store.list_budgets()] == ["global", "team:t1"]
    store.delete_budget("team:t1", actor="t")
    assert store.get_budget("team:t1") is None
    with pytest.raises(RecordNotFound):
        store.delete_budget("team:t1", actor="t")
    with pytest.raises(RecordNotFound):
        store.reset_budget("user:nobody", actor="t")


def test_budget_validation(store: Store) -> None:
    with pytest.raises(RecordNotFound):
        store.set_budget("key", "key_missing", max_usd=1, actor="t")
    with pytest.raises(InvalidRecord, match="soft"):
        store.set_budget("user", "u", max_usd=1, soft_usd=2, actor="t")
    with pytest.raises(InvalidRecord, match="period"):
        store.set_budget("user", "u", max_usd=1, period="yearly", actor="t")
    with pytest.raises(InvalidRecord, match="scope"):
        store.set_budget("org", "o", max_usd=1, actor="t")
    with pytest.raises(InvalidRecord, match="user id"):
        store.set_budget("user", None, max_usd=1, actor="t")
    with pytest.raises(InvalidRecord, match="dollar"):
        store.set_budget("user", "u", max_usd=-1, actor="t")
    assert store.list_budgets() == []


def test_reset_period_applies_once_per_new_period(store: Store) -> None:
    store.set_budget("user", "u", max_usd=10, period="daily", actor="t")
    store.add_spend("user:u", 4.0)
    tomorrow = ts(2024, 3, 1)
    store.reset_period("user:u", tomorrow)
    store.add_spend("user:u", 1.0)
    store.reset_period("user:u", tomorrow)  # a second worker noticing the same new period
    store.flush()
    b = store.get_budget("user:u")
    assert b is not None and (b.spend_usd, b.period_start, b.epoch) == (1.0, tomorrow, 1)
    store.reset_period("user:u", ts(2024, 2, 29))  # stale: ignored
    store.flush()
    assert store.get_budget("user:u") == b


def test_roll_period_with_epochs(store: Store) -> None:
    store.set_budget("user", "u", max_usd=10, period="daily", actor="t")
    store.add_spend("user:u", 4.0, epoch=0)
    store.add_spend("user:u", 1.0, epoch=1)  # counted in the new period, queued before its roll
    store.roll_period("user:u", 1, ts(2024, 3, 1))
    store.add_spend("user:u", 0.5, epoch=0)  # a straggler from the old period: dropped
    store.flush()
    b = store.get_budget("user:u")
    assert b is not None and (b.spend_usd, b.epoch) == (1.0, 1)
    store.roll_period("user:u", 1, ts(2024, 3, 1))  # already there: ignored
    store.flush()
    assert store.get_budget("user:u") == b


# -- limits -----------------------------------------------------------------------------------

def test_limits(store: Store) -> None:
    key, _ = store.create_key(name="a", actor="t")
    store.set_limit("user", "u1", rpm=10, actor="t")
    store.set_limit("user", "u1", tpm=500, actor="t")  # replaces
    store.set_limit("endpoint", "embeddings", rpm=100, actor="t")
    store.set_limit("key_model", f"{key.id}:gpt-4o", tpm=1000, actor="t")
    limits = {(x.scope, x.subject): (x.rpm, x.tpm) for x in store.list_limits()}
    assert limits == {("user", "u1"): (None, 500), ("endpoint", "embeddings"): (100, None),
                      ("key_model", f"{key.id}:gpt-4o"): (None, 1000)}
    store.delete_limit("user", "u1", actor="t")
    assert len(store.list_limits()) == 2
    with pytest.raises(RecordNotFound):
        store.delete_limit("user", "u1", actor="t")
    with pytest.raises(InvalidRecord, match="endpoint"):
        store.set_limit("endpoint", "images", rpm=1, actor="t")
    with pytest.raises(InvalidRecord, match="rpm, tpm"):
        store.set_limit("team", "t", actor="t")
    with pytest.raises(RecordNotFound):
        store.set_limit("key_model", "key_nope:gpt-4o", rpm=1, actor="t")
    with pytest.raises(InvalidRecord, match="key_id"):
        store.set_limit("key_model", "gpt-4o", rpm=1, actor="t")


# -- audit and admin events -------------------------------------------------------------------

def test_audit_rows_tail_page_since_and_purge(store: Store) -> None:
    for i in range(10):
        store.record_request(row(i, cost_usd=0.01, cache_hit=i % 2 == 0, key_id="key_x"))
    store.flush()
    rows = store.audit_rows()
    assert [r.id for r in rows] == list(range(1, 11))
    assert rows[0].cache_hit is True and rows[1].cache_hit is False
    assert rows[0].cost_usd == 0.01 and rows[0].key_id == "key_x" and rows[0].body is None
    assert [r.request_id for r in store.audit_rows(limit=3)] == ["req-7", "req-8", "req-9"]
    assert [r.id for r in store.audit_rows(after_id=4, limit=3)] == [5, 6, 7]
    assert [r.id for r in store.audit_rows(since=T0 + 8)] == [9, 10]
    assert store.purge_audit(T0 + 5) == 5
    assert [r.id for r in store.audit_rows()] == [6, 7, 8, 9, 10]
    store.record_request(row(11, model=None))  # refused before the body was read
    store.flush()
    last = store.audit_rows(limit=1)[0]
    assert last.id == 11 and last.model is None  # ids never go back after a purge


def test_admin_changes_are_recorded_as_events(store: Store, clock: Clock) -> None:
    key, secret = store.create_key(name="a", actor="cli:alice")
    store.set_budget("global", None, max_usd=1, actor="admin-api")
    store.revoke_key(key.id, actor="cli:alice")
    store.admin_event("server", "config.reload", None, {"file": "c.yaml"})
    store.flush()
    events = store.admin_events()
    assert [(e.actor, e.action, e.target) for e in events] == [
        ("cli:alice", "key.create", key.id), ("admin-api", "budget.set", "global"),
        ("cli:alice", "key.revoke", key.id), ("server", "config.reload", None)]
    assert events[0].detail["name"] == "a" and events[0].ts == T0
    assert all(secret not in str(e.to_dict()) for e in events)
    assert [e.action for e in store.admin_events(after_id=2, limit=1)] == ["key.revoke"]
    # A failed change leaves no event behind.
    with pytest.raises(RecordNotFound):
        store.revoke_key("key_missing", actor="x")
    assert len(store.admin_events()) == 4


def test_closed_store_refuses_writes(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "c.db")
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreClosed):
        store.record_request(row(1))
    with pytest.raises(StoreClosed):
        store.create_key(name="a", actor="t")
    with pytest.raises(StoreClosed):
        store.list_keys()


# -- paths and durations ----------------------------------------------------------------------

def test_db_path_precedence(tmp_path: Path) -> None:
    env = {"PLLM_DB": str(tmp_path / "env.db"), "HOME": "/home/u"}
    assert db_path(tmp_path / "cli.db", "sqlite:///x.db", env) == tmp_path / "cli.db"
    assert db_path(None, "sqlite:///rel/x.db", env) == Path("rel/x.db")
    assert db_path(None, "sqlite:////abs/x.db", env) == Path("/abs/x.db")
    assert db_path(None, None, env) == tmp_path / "env.db"
    assert db_path(None, None, {"HOME": "/home/u"}) == Path("/home/u/.local/share/pllm/pllm.db")
    with pytest.raises(ConfigError) as e:
        db_path(None, "postgresql://admin:hunter2@db/pllm", env)
    assert "postgresql" in str(e.value) and "hunter2" not in str(e.value)
    assert "sqlite:///" in str(e.value)
    with pytest.raises(ConfigError, match="in-memory"):
        db_path(None, "sqlite:///:memory:", env)


def test_default_db_path_per_platform() -> None:
    assert default_db_path({"HOME": "/h", "XDG_DATA_HOME": "/xdg"}, "linux") == Path(
        "/xdg/pllm/pllm.db")
    assert default_db_path({"HOME": "/h", "XDG_DATA_HOME": "rel"}, "linux") == Path(
        "/h/.local/share/pllm/pllm.db")  # a relative XDG_DATA_HOME is ignored
    assert default_db_path({"HOME": "/h"}, "darwin") == Path(
        "/h/Library/Application Support/pllm/pllm.db")
    assert default_db_path({"HOME": "/h", "LOCALAPPDATA": "C:/L"}, "win32") == Path(
        "C:/L/pllm/pllm.db")


def test_durations_and_times() -> None:
    assert parse_duration("90m") == 5400 and parse_duration("12h") == 43200
    assert parse_duration("30d") == 30 * 86400 and parse_duration("1.5h") == 5400
    with pytest.raises(InvalidRecord, match="duration"):
        parse_duration("soon")
    assert parse_time("1h", now=T0, direction="future") == T0 + 3600
    assert parse_time("24h", now=T0, direction="past") == T0 - 86400
    assert parse_time("2026-12-31", now=T0, direction="future") == ts(2026, 12, 31)
    assert parse_time("2026-12-31T18:00:00", now=T0, direction="future") == ts(2026, 12, 31, 18)
    assert parse_time("2026-12-31T18:00:00+02:00", now=T0,
                      direction="future") == ts(2026, 12, 31, 16)
    with pytest.raises(InvalidRecord, match="not a time"):
        parse_time("next tuesday", now=T0, direction="future")
