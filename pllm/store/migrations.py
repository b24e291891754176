"""The schema as a list of versioned migrations (sqlite-migrate); never edit an applied one, add
the next. `apply()` upgrades a database of any earlier version in place, under one write lock
so that N server workers and a CLI starting at once cannot apply a migration twice.

- m001_initial: keys, budgets, limits, audit, admin_events.
- m002_indexes_and_admin_version: indexes for audit queries and key lookups by user/team, and
  `meta.admin_version`, bumped by triggers whenever keys, limits or budgets change other than
  by spend or `last_used_at` (`Store.version()`), so a server can tell "an admin changed
  something" from "requests were recorded" without reading the tables.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_migrate import Migrations

__all__ = ["MIGRATIONS", "apply"]

MIGRATIONS = Migrations("pllm")


@MIGRATIONS()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.table("keys").create(
        {"id": str, "name": str, "key_hash": str, "prefix": str, "user_id": str,
         "team_id": str, "role": str, "models": str, "rpm": int, "tpm": int,
         "expires_at": float, "created_at": float, "revoked_at": float,
         "last_used_at": float, "metadata": str, "grace_until": float, "rotated_to": str},
        pk="id", not_null={"name", "key_hash", "prefix", "role", "created_at", "metadata"},
        defaults={"role": "user", "metadata": "{}"},
        foreign_keys=[("rotated_to", "keys", "id")])
    db.table("keys").create_index(["key_hash"], unique=True)
    db.table("budgets").create(
        {"id": str, "scope": str, "subject": str, "max_usd": float, "soft_usd": float,
         "period": str, "spend_usd": float, "period_start": float, "epoch": int,
         "updated_at": float},
        pk="id", not_null={"scope", "max_usd", "period", "spend_usd", "period_start", "epoch",
                           "updated_at"},
        defaults={"period": "total", "spend_usd": 0.0, "epoch": 0})
    db.table("limits").create(
        {"scope": str, "subject": str, "rpm": int, "tpm": int, "updated_at": float},
        pk=("scope", "subject"), not_null={"scope", "subject", "updated_at"})
    # Raw SQL for AUTOINCREMENT (sqlite-utils' create() has no option for it): ids must never
    # be reused after a purge, because `audit tail --follow` pages by id.
    db.execute("""
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL, request_id TEXT NOT NULL, key_id TEXT, user_id TEXT,
            team_id TEXT, role TEXT, endpoint TEXT NOT NULL, model TEXT,
            deployment TEXT, status INTEGER NOT NULL, latency_ms REAL, prompt_tokens INTEGER,
            completion_tokens INTEGER, cost_usd REAL, cache_hit INTEGER NOT NULL DEFAULT 0,
            error TEXT, client TEXT, body TEXT)""")
    db.execute("""
        CREATE TABLE admin_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT,
            detail TEXT NOT NULL DEFAULT '{}')""")


_KEY_COLUMNS = ("name, key_hash, prefix, user_id, team_id, role, models, rpm, tpm, expires_at, "
                "revoked_at, metadata, grace_until, rotated_to")
_BUMP = "BEGIN UPDATE meta SET value = value + 1 WHERE name = 'admin_version'; END"


@MIGRATIONS()
def m002_indexes_and_admin_version(db: sqlite_utils.Database) -> None:
    db.table("audit").create_index(["ts"])
    db.table("admin_events").create_index(["ts"])
    db.table("keys").create_index(["user_id"])
    db.table("keys").create_index(["team_id"])
    db.table("meta").create({"name": str, "value": int}, pk="name",
                      not_null={"value"})
    db.table("meta").insert({"name": "admin_version", "value": 0})
    triggers = {
        "keys": ("INSERT", "DELETE", f"UPDATE OF {_KEY_COLUMNS}"),
        "limits": ("INSERT", "DELETE", "UPDATE"),
        # Resets change epoch; plain spend increments touch none of these columns.
        "budgets": ("INSERT", "DELETE", "UPDATE OF id, max_usd, soft_usd, period, epoch"),
    }
    for table, events in triggers.items():
        for event in events:
            name = f"{table}_{event.split()[0].lower()}_admin_version"
            db.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} {_BUMP}")


def apply(db: sqlite_utils.Database) -> None:
    """Apply every pending migration. BEGIN IMMEDIATE takes the write lock first (waiting up
    to the busy timeout); the migrations' own transactions nest inside as savepoints."""
    if not MIGRATIONS.pending(db):
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        MIGRATIONS.apply(db)  # re-reads what is applied, now under the lock
    except BaseException:
        db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")
