"""rpm/tpm limits beyond a key's own: per user, team, model group, key on one model, or
endpoint. Validation and the SQL behind set / delete (run on the writer thread)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlite_utils

from pllm.errors import InvalidRecord, RecordNotFound
from pllm.store.keys import check_positive_int, read_key
from pllm.store.records import ENDPOINTS, LIMIT_SCOPES, LimitRecord, LimitScope

__all__ = ["check_limit", "delete_limit", "read_limit", "record_from_row", "upsert_limit"]


def record_from_row(r: Mapping[str, Any]) -> LimitRecord:
    return LimitRecord(scope=r["scope"], subject=r["subject"], rpm=r["rpm"], tpm=r["tpm"],
                       updated_at=r["updated_at"])


def check_limit(scope: str, subject: str) -> LimitScope:
    known = next((s for s in LIMIT_SCOPES if s == scope), None)
    if known is None:
        raise InvalidRecord(f"unknown limit scope {scope!r}: use one of "
                            f"{', '.join(LIMIT_SCOPES)}")
    if not subject:
        raise InvalidRecord(f"a {scope} limit needs a subject")
    if known == "endpoint" and subject not in ENDPOINTS:
        raise InvalidRecord(f"unknown endpoint {subject!r}: use one of {', '.join(ENDPOINTS)}")
    if known == "key_model":
        key_id, sep, model = subject.partition(":")
        if not sep or not key_id or not model:
            raise InvalidRecord("a key_model limit's subject is '<key_id>:<model>'")
    return known


def read_limit(db: sqlite_utils.Database, scope: str, subject: str) -> LimitRecord:
    rows = list(db.query("SELECT * FROM limits WHERE scope = ? AND subject = ?",
                         [scope, subject]))
    if not rows:
        raise RecordNotFound(f"no {scope} limit for {subject!r}")
    return record_from_row(rows[0])


def upsert_limit(db: sqlite_utils.Database, scope: LimitScope, subject: str, *,
                 rpm: int | None, tpm: int | None, now: float) -> LimitRecord:
    rpm = check_positive_int("rpm", rpm)
    tpm = check_positive_int("tpm", tpm)
    if rpm is None and tpm is None:
        raise InvalidRecord("a limit needs rpm, tpm or both")
    if scope == "key_model":
        read_key(db, subject.partition(":")[0])  # raises RecordNotFound
    db.table("limits").upsert({"scope": scope, "subject": subject, "rpm": rpm, "tpm": tpm,
                               "updated_at": now}, pk=("scope", "subject"))
    return read_limit(db, scope, subject)


def delete_limit(db: sqlite_utils.Database, scope: str, subject: str) -> LimitRecord:
    limit = read_limit(db, scope, subject)
    db.execute("DELETE FROM limits WHERE scope = ? AND subject = ?", [scope, subject])
    return limit
