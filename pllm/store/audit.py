"""Audit rows (one per request) and admin events: the SQL to write them in batches and to read
them back in id order."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import sqlite_utils

from pllm.store.records import AUDIT_FIELDS, AdminEvent, AuditRow

__all__ = [
    "AUDIT_INSERT",
    "EVENT_INSERT",
    "AuditTotals",
    "audit_params",
    "audit_totals",
    "event_params",
    "insert_event",
    "purge_audit",
    "read_admin_events",
    "read_audit",
]

_WRITTEN = tuple(f for f in AUDIT_FIELDS if f != "id")
AUDIT_INSERT = (f"INSERT INTO audit ({', '.join(_WRITTEN)}) "
                f"VALUES ({', '.join('?' for _ in _WRITTEN)})")
EVENT_INSERT = "INSERT INTO admin_events (ts, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)"

# attrgetter with several names returns the tuple executemany wants, without a Python loop.
audit_params = attrgetter(*_WRITTEN)


def event_params(event: AdminEvent) -> tuple[Any, ...]:
    return (event.ts, event.actor, event.action, event.target, _json(event.detail))


def insert_event(db: sqlite_utils.Database, event: AdminEvent) -> None:
    """Written in the same transaction as the change it records."""
    db.execute(EVENT_INSERT, event_params(event))


def read_audit(db: sqlite_utils.Database, *, since: float | None, after_id: int | None,
               limit: int | None) -> list[AuditRow]:
    return [_audit_row(r) for r in _page(db, "audit", since, after_id, limit)]


def read_admin_events(db: sqlite_utils.Database, *, since: float | None, after_id: int | None,
                      limit: int | None) -> list[AdminEvent]:
    return [AdminEvent(ts=r["ts"], actor=r["actor"], action=r["action"], target=r["target"],
                       detail=json.loads(r["detail"] or "{}"), id=r["id"])
            for r in _page(db, "admin_events", since, after_id, limit)]


@dataclass(frozen=True, slots=True)
class AuditTotals:
    """Sums over audit rows; `last_id` is the newest row counted (0 for none)."""

    last_id: int
    requests: int = 0
    failed: int = 0
    """Rows with a status of 400 or more."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


def audit_totals(db: sqlite_utils.Database, *, since: float, after_id: int) -> AuditTotals:
    """Sums over the rows with ts >= since and id > after_id: a caller keeping a running total
    asks only for the rows added since its last call (ids grow in commit order)."""
    row = db.execute(
        "SELECT MAX(id), COUNT(*), TOTAL(status >= 400), TOTAL(prompt_tokens), "
        "TOTAL(completion_tokens), TOTAL(cost_usd) FROM audit WHERE id > ? AND ts >= ?",
        [after_id, since]).fetchone()
    return AuditTotals(last_id=int(row[0] or after_id), requests=int(row[1]),
                       failed=int(row[2]), prompt_tokens=int(row[3]),
                       completion_tokens=int(row[4]), cost_usd=float(row[5]))


def purge_audit(db: sqlite_utils.Database, older_than: float) -> int:
    cursor = db.execute("DELETE FROM audit WHERE ts < ?", [older_than])
    return cursor.rowcount


def _page(db: sqlite_utils.Database, table: str, since: float | None, after_id: int | None,
          limit: int | None) -> list[dict[str, Any]]:
    """Rows in id order. With `after_id`, the first `limit` rows after it (a poller pages
    forward without gaps); without, the newest `limit` rows (a tail)."""
    where, params = ["1"], []
    if since is not None:
        where.append("ts >= ?")
        params.append(since)
    if after_id is not None:
        where.append("id > ?")
        params.append(after_id)
    sql = f"SELECT * FROM {table} WHERE {' AND '.join(where)}"
    if limit is None:
        return list(db.query(sql + " ORDER BY id", params))
    if after_id is not None:
        return list(db.query(sql + " ORDER BY id LIMIT ?", [*params, limit]))
    newest = list(db.query(sql + " ORDER BY id DESC LIMIT ?", [*params, limit]))
    return newest[::-1]


def _audit_row(r: Mapping[str, Any]) -> AuditRow:
    values = {f: r[f] for f in AUDIT_FIELDS}
    values["cache_hit"] = bool(values["cache_hit"])
    return AuditRow(**values)


def _json(detail: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(detail or {}), separators=(",", ":"), default=str)
