"""Virtual keys: making secrets, and the SQL behind create / revoke / rotate / update.

A secret is `sk-pllm-` + 32 url-safe characters (192 random bits); only its sha256 and a display
prefix are stored, so a leaked database does not leak usable keys. The functions taking a
`Database` run on the writer thread inside its transaction (see `writer.Writer.call`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from typing import Any

import sqlite_utils

from pllm.errors import InvalidRecord, RecordNotFound
from pllm.store.records import ROLES, KeyRecord, Role, budget_id_for

__all__ = [
    "KEY_FIELDS",
    "SECRET_PREFIX",
    "check_metadata",
    "check_models",
    "check_name",
    "check_optional_str",
    "check_positive_int",
    "check_role",
    "check_time",
    "display_prefix",
    "hash_secret",
    "insert_key",
    "key_row",
    "new_key_id",
    "new_secret",
    "read_key",
    "record_from_row",
    "rotate",
    "validated_changes",
]

SECRET_PREFIX = "sk-pllm-"
KEY_FIELDS = frozenset({"name", "models", "rpm", "tpm", "expires_at", "user_id", "team_id",
                        "role", "metadata"})
"""What `update_key` may change."""


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(24)


def new_key_id() -> str:
    return "key_" + secrets.token_hex(6)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    return secret[:len(SECRET_PREFIX) + 4] + "…"


def key_row(key: KeyRecord) -> dict[str, Any]:
    return {
        "id": key.id, "name": key.name, "key_hash": key.key_hash, "prefix": key.prefix,
        "user_id": key.user_id, "team_id": key.team_id, "role": key.role,
        "models": json.dumps(list(key.models)) if key.models is not None else None,
        "rpm": key.rpm, "tpm": key.tpm, "expires_at": key.expires_at,
        "created_at": key.created_at, "revoked_at": key.revoked_at,
        "last_used_at": key.last_used_at, "metadata": json.dumps(dict(key.metadata)),
        "grace_until": key.grace_until, "rotated_to": key.rotated_to,
    }


def record_from_row(r: Mapping[str, Any]) -> KeyRecord:
    return KeyRecord(
        id=r["id"], name=r["name"], key_hash=r["key_hash"], prefix=r["prefix"],
        created_at=r["created_at"], user_id=r["user_id"], team_id=r["team_id"], role=r["role"],
        models=tuple(json.loads(r["models"])) if r["models"] is not None else None,
        rpm=r["rpm"], tpm=r["tpm"], expires_at=r["expires_at"], revoked_at=r["revoked_at"],
        last_used_at=r["last_used_at"], metadata=json.loads(r["metadata"] or "{}"),
        grace_until=r["grace_until"], rotated_to=r["rotated_to"])


def read_key(db: sqlite_utils.Database, key_id: str) -> KeyRecord:
    rows = list(db.query("SELECT * FROM keys WHERE id = ?", [key_id]))
    if not rows:
        raise RecordNotFound(f"no key with id {key_id!r}")
    return record_from_row(rows[0])


def insert_key(db: sqlite_utils.Database, key: KeyRecord) -> KeyRecord:
    db.table("keys").insert(key_row(key))
    return read_key(db, key.id)


def rotate(db: sqlite_utils.Database, key_id: str, new: KeyRecord, now: float,
           grace_s: float) -> KeyRecord:
    """Insert `new`, retire `key_id` (now, or at now + grace_s), and move the old key's budget
    and per-model limits to the new id. Returns the new key."""
    old = read_key(db, key_id)
    if old.revoked_at is not None:
        raise InvalidRecord(f"key {key_id!r} is revoked"
                            + (f" (rotated to {old.rotated_to})" if old.rotated_to else ""))
    insert_key(db, new)
    db.execute("UPDATE keys SET revoked_at = ?, grace_until = ?, rotated_to = ? WHERE id = ?",
               [now, now + grace_s if grace_s > 0 else None, new.id, key_id])
    db.execute("UPDATE budgets SET id = ?, subject = ?, updated_at = ? WHERE id = ?",
               [budget_id_for("key", new.id), new.id, now, budget_id_for("key", key_id)])
    db.execute("UPDATE limits SET subject = ? || substr(subject, ?), updated_at = ? "
               "WHERE scope = 'key_model' AND subject LIKE ? ESCAPE '\\'",
               [new.id, len(key_id) + 1, now, _like_prefix(key_id + ":")])
    return read_key(db, new.id)


def validated_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Check `update_key` arguments; returns them as column values."""
    unknown = set(changes) - KEY_FIELDS
    if unknown:
        raise InvalidRecord(f"keys have no field(s) {', '.join(sorted(unknown))} to update; "
                            f"updatable: {', '.join(sorted(KEY_FIELDS))}")
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "name":
            out[name] = check_name(value)
        elif name == "role":
            out[name] = check_role(value)
        elif name in ("rpm", "tpm"):
            out[name] = check_positive_int(name, value)
        elif name == "models":
            models = check_models(value)
            out[name] = json.dumps(list(models)) if models is not None else None
        elif name == "metadata":
            out[name] = json.dumps(check_metadata(value))
        elif name == "expires_at":
            out[name] = check_time(name, value)
        else:
            out[name] = check_optional_str(name, value)
    return out


def check_time(what: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRecord(f"{what} must be a unix time in seconds, not {value!r}")
    return float(value)


def check_optional_str(what: str, value: object) -> str | None:
    if value is None or (isinstance(value, str) and value):
        return value
    raise InvalidRecord(f"{what} must be a non-empty string or null, not {value!r}")


def check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidRecord("a key needs a non-empty name")
    return name.strip()


def check_role(role: object) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise InvalidRecord(f"unknown role {role!r}: use one of {', '.join(ROLES)}")


def check_positive_int(what: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidRecord(f"{what} must be a positive whole number, not {value!r}")
    return value


def check_models(models: object) -> tuple[str, ...] | None:
    if models is None:
        return None
    if isinstance(models, list | tuple) and all(isinstance(m, str) and m for m in models):
        return tuple(models)
    raise InvalidRecord("models must be a list of model names")


def check_metadata(metadata: object) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidRecord("metadata must be an object of names to values")
    try:
        json.dumps(dict(metadata))
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"metadata must be JSON-serialisable: {exc}") from None
    return dict(metadata)


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
