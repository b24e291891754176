"""pllm's database: virtual keys, budgets, rate limits and the audit log in one SQLite file,
reached only through `Store` (nothing else in pllm touches SQL).

    store = Store.open(db_path(cli_db, settings.server.database_url))
    key, secret = store.create_key(name="ci", models=["gpt-4o"], actor="cli")
    store.record_request(AuditRow(ts=..., request_id=..., endpoint="chat", model=..., status=200))
    store.close()   # commits what is queued

Layout: `records` (the frozen values), `store` (the façade), `writer` (the one writer thread),
`keys`/`budgets`/`limits`/`audit` (validation and SQL per table), `migrations` (the schema),
`db` (connection settings), `paths` (where the file lives); its errors are in `pllm.errors`.
"""

from __future__ import annotations

from pllm.errors import InvalidRecord, RecordNotFound, StoreClosed, StoreError
from pllm.store.keys import hash_secret
from pllm.store.paths import db_path, default_db_path
from pllm.store.records import (
    AdminEvent,
    AuditRow,
    BudgetRecord,
    KeyRecord,
    KeyStatus,
    LimitRecord,
    Period,
    Role,
    budget_id_for,
    next_period_start,
    period_start,
)
from pllm.store.store import Store

__all__ = [
    "AdminEvent",
    "AuditRow",
    "BudgetRecord",
    "InvalidRecord",
    "KeyRecord",
    "KeyStatus",
    "LimitRecord",
    "Period",
    "RecordNotFound",
    "Role",
    "Store",
    "StoreClosed",
    "StoreError",
    "budget_id_for",
    "db_path",
    "default_db_path",
    "hash_secret",
    "next_period_start",
    "period_start",
]
