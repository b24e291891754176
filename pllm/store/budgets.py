"""Budgets: validation and the SQL behind set / reset / delete (run on the writer thread).

Spend itself is added by the writer's batched `UPDATE ... spend_usd = spend_usd + ?`
(`writer.SPEND_SQL`); these functions handle the definitions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import sqlite_utils

from pllm.errors import InvalidRecord, RecordNotFound
from pllm.store.keys import read_key
from pllm.store.records import (
    BUDGET_SCOPES,
    PERIODS,
    BudgetRecord,
    BudgetScope,
    Period,
    budget_id_for,
    period_start,
)

__all__ = ["check_budget", "delete_budget", "read_budget", "record_from_row", "reset_budget",
           "upsert_budget"]


def record_from_row(r: Mapping[str, Any]) -> BudgetRecord:
    return BudgetRecord(id=r["id"], scope=r["scope"], subject=r["subject"],
                        max_usd=r["max_usd"], soft_usd=r["soft_usd"], period=r["period"],
                        spend_usd=r["spend_usd"], period_start=r["period_start"],
                        updated_at=r["updated_at"], epoch=r["epoch"])


def read_budget(db: sqlite_utils.Database, budget_id: str) -> BudgetRecord:
    rows = list(db.query("SELECT * FROM budgets WHERE id = ?", [budget_id]))
    if not rows:
        raise RecordNotFound(f"no budget {budget_id!r}")
    return record_from_row(rows[0])


def check_budget(scope: str, subject: str | None, max_usd: float, period: str,
                 soft_usd: float | None) -> tuple[BudgetScope, str | None, Period]:
    """Validated (scope, subject, period); raises InvalidRecord with what to do instead."""
    known_scope = next((s for s in BUDGET_SCOPES if s == scope), None)
    if known_scope is None:
        raise InvalidRecord(f"unknown budget scope {scope!r}: use one of "
                            f"{', '.join(BUDGET_SCOPES)}")
    if known_scope == "global":
        subject = None
    elif not subject:
        raise InvalidRecord(f"a {scope} budget needs the {scope} id")
    known_period = next((p for p in PERIODS if p == period), None)
    if known_period is None:
        raise InvalidRecord(f"unknown budget period {period!r}: use one of {', '.join(PERIODS)}")
    _check_usd("max", max_usd)
    if soft_usd is not None:
        _check_usd("soft", soft_usd)
        if soft_usd > max_usd:
            raise InvalidRecord(f"the soft budget ({soft_usd}) is above the maximum ({max_usd})")
    return known_scope, subject, known_period


def upsert_budget(db: sqlite_utils.Database, scope: BudgetScope, subject: str | None, *,
                  max_usd: float, period: Period, soft_usd: float | None,
                  now: float) -> BudgetRecord:
    """Create, or change the limits of, a budget. Spend is kept unless the period changes, in
    which case a fresh period starts now."""
    if scope == "key" and subject is not None:
        read_key(db, subject)  # raises RecordNotFound
    budget_id = budget_id_for(scope, subject)
    existing = list(db.query("SELECT period, epoch FROM budgets WHERE id = ?", [budget_id]))
    values = {"id": budget_id, "scope": scope, "subject": subject, "max_usd": float(max_usd),
              "soft_usd": None if soft_usd is None else float(soft_usd), "period": period,
              "updated_at": now}
    if not existing or existing[0]["period"] != period:
        values.update(spend_usd=0.0, period_start=_start(period, now),
                      epoch=existing[0]["epoch"] + 1 if existing else 0)
    if existing:
        db.table("budgets").update(budget_id, values)
    else:
        db.table("budgets").insert(values)
    return read_budget(db, budget_id)


def reset_budget(db: sqlite_utils.Database, budget_id: str, now: float) -> BudgetRecord:
    budget = read_budget(db, budget_id)
    db.execute("UPDATE budgets SET spend_usd = 0, period_start = ?, epoch = epoch + 1, "
               "updated_at = ? WHERE id = ?", [_start(budget.period, now), now, budget_id])
    return read_budget(db, budget_id)


def delete_budget(db: sqlite_utils.Database, budget_id: str) -> BudgetRecord:
    budget = read_budget(db, budget_id)
    db.execute("DELETE FROM budgets WHERE id = ?", [budget_id])
    return budget


def _start(period: Period, now: float) -> float:
    # A total budget counts from when it was set (or last reset).
    return now if period == "total" else period_start(period, now)


def _check_usd(what: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value < 0:
        raise InvalidRecord(f"the {what} budget must be a dollar amount of 0 or more, "
                            f"not {value!r}")
