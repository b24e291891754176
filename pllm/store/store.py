"""`Store`: the one object the server and the CLI use to reach the database.

Reads run on the calling thread's own connection. Every write goes through the one writer
thread (`writer.Writer`): the request path's writes are queued and return at once, admin
changes wait for their commit. All methods are blocking SQLite calls except the enqueue ones,
so an async server calls the others from a worker thread, never on its event loop.

Durability: see `writer`: `close()` loses nothing; a crash loses at most the last
`flush_interval` (default 0.5 s) of queued writes. Reads do not see queued writes until the
writer commits them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import sqlite_utils

from pllm.errors import InvalidRecord
from pllm.store import audit, budgets, keys, limits
from pllm.store.db import ReaderPool, connect
from pllm.store.migrations import apply as apply_migrations
from pllm.store.records import (
    AdminEvent,
    AuditRow,
    BudgetRecord,
    KeyRecord,
    LimitRecord,
    LimitScope,
    budget_id_for,
)
from pllm.store.writer import Reset, Spend, Touch, Writer

__all__ = ["Store"]

T = TypeVar("T")


class Store:
    """Keys, budgets, limits and the audit log in one SQLite file. Use `Store.open(path)`."""

    def __init__(self, path: Path, writer: Writer, *, clock: Callable[[], float]) -> None:
        self.path = path
        self._writer = writer
        self._readers = ReaderPool(path)
        self._clock = clock

    @classmethod
    def open(cls, path: Path, *, flush_interval: float = 0.5,
             clock: Callable[[], float] = time.time) -> Store:
        """Create the file (and its directories) if needed, upgrade its schema, start the
        writer thread."""
        path.parent.mkdir(parents=True, exist_ok=True)
        db = connect(path)
        try:
            apply_migrations(db)
        except BaseException:
            db.close()
            raise
        writer = Writer(db, flush_interval=flush_interval, clock=clock)
        writer.start()
        return cls(path, writer, clock=clock)

    def close(self) -> None:
        """Commit every queued write, stop the writer, close every connection. Idempotent."""
        try:
            self._writer.close()
        finally:
            self._readers.close()

    def flush(self) -> None:
        """Block until everything queued so far is committed."""
        self._writer.flush()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def writer(self) -> Writer:
        return self._writer

    # -- request path: queue and return -------------------------------------------------------

    def record_request(self, row: AuditRow) -> None:
        self._writer.put(row)

    def record_settled(self, row: AuditRow, spend: Iterable[tuple[str, int | None, float]] = (),
                       *, touch: bool = False) -> None:
        """A finished request's audit row, its spend (budget id, epoch, usd) and, with
        `touch`, its key's last use, queued as one unit: committed in the same transaction."""
        ops: list[AuditRow | Spend | Touch] = [Spend(b, usd, epoch) for b, epoch, usd in spend]
        ops.append(row)
        if touch and row.key_id is not None:
            ops.append(Touch(row.key_id, row.ts))
        self._writer.put(tuple(ops))

    def add_spend(self, budget_id: str, usd: float, *, epoch: int | None = None) -> None:
        """Add to a budget's spend. With `epoch`, only while the stored budget is at that
        epoch (spend of a period reset since is dropped); see `roll_period`."""
        self._writer.put(Spend(budget_id, usd, epoch))

    def reset_period(self, budget_id: str, period_start: float) -> None:
        """Start a new period at `period_start` (spend 0, epoch + 1); ignored unless newer than
        the stored one, so every worker noticing the same new period resets it once. Spend
        queued before this call counts to the old period, after it to the new one."""
        self._writer.put(Reset(budget_id, period_start))

    def roll_period(self, budget_id: str, epoch: int, period_start: float) -> None:
        """For a process that numbers periods itself: start period `epoch` at `period_start`
        (spend 0), unless the stored epoch is already that or later. In one batch, spend tagged
        with the new epoch counts whether it was queued before or after this; across batches
        queue this first."""
        self._writer.put(Reset(budget_id, period_start, epoch))

    def touch_key(self, key_id: str, ts: float) -> None:
        self._writer.put(Touch(key_id, ts))

    def admin_event(self, actor: str, action: str, target: str | None,
                    detail: Mapping[str, Any] | None = None) -> None:
        self._writer.put(AdminEvent(ts=self._clock(), actor=actor, action=action,
                                    target=target, detail=dict(detail or {})))

    # -- keys ---------------------------------------------------------------------------------

    def create_key(self, *, name: str, models: list[str] | tuple[str, ...] | None = None,
                   rpm: int | None = None, tpm: int | None = None,
                   expires_at: float | None = None, user_id: str | None = None,
                   team_id: str | None = None, role: str = "user",
                   metadata: Mapping[str, Any] | None = None,
                   actor: str = "cli") -> tuple[KeyRecord, str]:
        """A new key and its secret: the only time the secret exists outside a client."""
        secret = keys.new_secret()
        record = KeyRecord(
            id=keys.new_key_id(), name=keys.check_name(name), key_hash=keys.hash_secret(secret),
            prefix=keys.display_prefix(secret), created_at=self._clock(), user_id=user_id,
            team_id=team_id, role=keys.check_role(role), models=keys.check_models(models),
            rpm=keys.check_positive_int("rpm", rpm), tpm=keys.check_positive_int("tpm", tpm),
            expires_at=keys.check_time("expires_at", expires_at),
            metadata=keys.check_metadata(metadata))
        detail = {"name": record.name, "user_id": user_id, "team_id": team_id, "role": role}
        created = self._admin(actor, "key.create", record.id, detail,
                              lambda db: keys.insert_key(db, record))
        return created, secret

    def get_key(self, key_id: str) -> KeyRecord | None:
        rows = list(self._read().query("SELECT * FROM keys WHERE id = ?", [key_id]))
        return keys.record_from_row(rows[0]) if rows else None

    def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        """The key whose secret hashes to `key_hash` (`keys.hash_secret`), if any."""
        rows = list(self._read().query("SELECT * FROM keys WHERE key_hash = ?", [key_hash]))
        return keys.record_from_row(rows[0]) if rows else None

    def list_keys(self) -> list[KeyRecord]:
        return [keys.record_from_row(r)
                for r in self._read().query("SELECT * FROM keys ORDER BY created_at, id")]

    def active_keys(self) -> list[KeyRecord]:
        """Keys not revoked, or revoked but still in their grace period. Expired keys are
        included so the caller can answer "expired" rather than "invalid"."""
        return [keys.record_from_row(r) for r in self._read().query(
            "SELECT * FROM keys WHERE revoked_at IS NULL OR grace_until > ? "
            "ORDER BY created_at, id", [self._clock()])]

    def usable_keys(self, now: float) -> list[KeyRecord]:
        """`active_keys()` without the expired ones: what may authenticate at `now`."""
        return [k for k in self.active_keys() if k.is_usable(now)]

    def revoke_key(self, key_id: str, *, actor: str) -> KeyRecord:
        """Invalid at once, grace period included. Revoking a revoked key changes nothing."""
        now = self._clock()

        def revoke(db: sqlite_utils.Database) -> KeyRecord:
            keys.read_key(db, key_id)
            db.execute("UPDATE keys SET revoked_at = coalesce(revoked_at, ?), grace_until = NULL "
                       "WHERE id = ?", [now, key_id])
            return keys.read_key(db, key_id)

        return self._admin(actor, "key.revoke", key_id, {}, revoke)

    def rotate_key(self, key_id: str, *, grace_s: float = 0.0,
                   actor: str) -> tuple[KeyRecord, str]:
        """A new key (new id and secret, same settings); the old one is revoked now, or at
        now + grace_s. Its budget and per-model limits move to the new id."""
        if grace_s < 0:
            raise InvalidRecord("the grace period cannot be negative")
        now = self._clock()
        secret = keys.new_secret()
        new_id = keys.new_key_id()

        def rotate(db: sqlite_utils.Database) -> KeyRecord:
            old = keys.read_key(db, key_id)
            new = KeyRecord(
                id=new_id, name=old.name, key_hash=keys.hash_secret(secret),
                prefix=keys.display_prefix(secret), created_at=now, user_id=old.user_id,
                team_id=old.team_id, role=old.role, models=old.models, rpm=old.rpm,
                tpm=old.tpm, expires_at=old.expires_at, metadata=old.metadata)
            return keys.rotate(db, key_id, new, now, grace_s)

        detail = {"new_id": new_id, "grace_s": grace_s}
        return self._admin(actor, "key.rotate", key_id, detail, rotate), secret

    def update_key(self, key_id: str, *, actor: str, **changes: Any) -> KeyRecord:
        """Change name, models, rpm, tpm, expires_at, user_id, team_id, role or metadata;
        None clears a field."""
        values = keys.validated_changes(changes)

        def update(db: sqlite_utils.Database) -> KeyRecord:
            keys.read_key(db, key_id)
            if values:
                db.table("keys").update(key_id, values)
            return keys.read_key(db, key_id)

        return self._admin(actor, "key.update", key_id, {"changes": changes}, update)

    # -- budgets ------------------------------------------------------------------------------

    def set_budget(self, scope: str, subject: str | None, *, max_usd: float,
                   period: str = "total", soft_usd: float | None = None,
                   actor: str) -> BudgetRecord:
        known, subject, known_period = budgets.check_budget(scope, subject, max_usd, period,
                                                            soft_usd)
        now = self._clock()
        detail = {"max_usd": max_usd, "soft_usd": soft_usd, "period": period}
        return self._admin(actor, "budget.set", budget_id_for(known, subject), detail,
                           lambda db: budgets.upsert_budget(
                               db, known, subject, max_usd=max_usd, period=known_period,
                               soft_usd=soft_usd, now=now))

    def get_budget(self, budget_id: str) -> BudgetRecord | None:
        rows = list(self._read().query("SELECT * FROM budgets WHERE id = ?", [budget_id]))
        return budgets.record_from_row(rows[0]) if rows else None

    def list_budgets(self) -> list[BudgetRecord]:
        return [budgets.record_from_row(r)
                for r in self._read().query("SELECT * FROM budgets ORDER BY id")]

    def reset_budget(self, budget_id: str, *, actor: str) -> BudgetRecord:
        """Spend to 0 and a new period from now; spend queued before this call is applied
        first (the writer keeps order), so it is reset too."""
        now = self._clock()
        return self._admin(actor, "budget.reset", budget_id, {},
                           lambda db: budgets.reset_budget(db, budget_id, now))

    def delete_budget(self, budget_id: str, *, actor: str) -> None:
        self._admin(actor, "budget.delete", budget_id, {},
                    lambda db: budgets.delete_budget(db, budget_id))

    # -- limits -------------------------------------------------------------------------------

    def set_limit(self, scope: str, subject: str, *, rpm: int | None = None,
                  tpm: int | None = None, actor: str) -> LimitRecord:
        known: LimitScope = limits.check_limit(scope, subject)
        now = self._clock()
        return self._admin(actor, "limit.set", f"{scope}:{subject}", {"rpm": rpm, "tpm": tpm},
                           lambda db: limits.upsert_limit(db, known, subject, rpm=rpm, tpm=tpm,
                                                          now=now))

    def list_limits(self) -> list[LimitRecord]:
        return [limits.record_from_row(r)
                for r in self._read().query("SELECT * FROM limits ORDER BY scope, subject")]

    def delete_limit(self, scope: str, subject: str, *, actor: str) -> None:
        self._admin(actor, "limit.delete", f"{scope}:{subject}", {},
                    lambda db: limits.delete_limit(db, scope, subject))

    # -- audit --------------------------------------------------------------------------------

    def audit_rows(self, *, since: float | None = None, after_id: int | None = None,
                   limit: int | None = None) -> list[AuditRow]:
        """Rows in id order. With `after_id`: the first `limit` after it (to poll forward);
        without: the newest `limit` (a tail)."""
        return audit.read_audit(self._read(), since=since, after_id=after_id, limit=limit)

    def admin_events(self, *, since: float | None = None, after_id: int | None = None,
                     limit: int | None = None) -> list[AdminEvent]:
        """Like `audit_rows`, for admin events."""
        return audit.read_admin_events(self._read(), since=since, after_id=after_id,
                                       limit=limit)

    def audit_totals(self, *, since: float, after_id: int = 0) -> audit.AuditTotals:
        """Requests, failures, tokens and cost of the audit rows with ts >= since and
        id > after_id (a running total adds only the rows committed since its last call)."""
        return audit.audit_totals(self._read(), since=since, after_id=after_id)

    def purge_audit(self, older_than: float) -> int:
        """Delete audit rows with ts < older_than; returns how many."""
        return self._writer.call(lambda db: audit.purge_audit(db, older_than))

    # -- change detection ---------------------------------------------------------------------

    def data_version(self) -> int:
        """Changes whenever another connection (another process, or this store's writer)
        commits; cheap enough to poll every second."""
        return int(self._read().execute("PRAGMA data_version").fetchone()[0])

    def version(self) -> int:
        """A counter bumped (by triggers, so from any process) by every change to keys other
        than `last_used_at`, to limits, and to budgets other than spend: their definitions and
        resets. Reload those caches only when it moves; `data_version()` also moves on every
        audit and spend commit."""
        row = self._read().execute(
            "SELECT value FROM meta WHERE name = 'admin_version'").fetchone()
        return int(row[0])

    # -- internals ----------------------------------------------------------------------------

    def _read(self) -> sqlite_utils.Database:
        return self._readers.get()

    def _admin(self, actor: str, action: str, target: str, detail: Mapping[str, Any],
               change: Callable[[sqlite_utils.Database], T]) -> T:
        """Apply `change` and record it as an admin event in the same transaction."""

        def run(db: sqlite_utils.Database) -> T:
            result = change(db)
            audit.insert_event(db, AdminEvent(ts=self._clock(), actor=actor, action=action,
                                              target=target, detail=detail))
            return result

        return self._writer.call(run)
