"""The ledger: where admissions are decided and spend and audit rows are written.

`LocalLedger` holds the quota book in this process and hands writes to the store's writer
thread: what one worker uses. With several workers each one talks to a single `LedgerServer`
in the supervisor through `RemoteLedger` (see ledger_ipc.py), so limits and budgets stay exact
across processes and SQLite still has one writer for spend and audit rows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from pllm.limits.quota import Ask, BudgetLine, QuotaBook, Settlement, Ticket
from pllm.store import AuditRow, Store

__all__ = ["Grant", "Ledger", "LocalLedger", "apply_settlement", "retention_loop", "write_row"]

log = logging.getLogger("pllm.budgets")


@dataclass(frozen=True, slots=True)
class Grant:
    ticket: Any
    """The book's Ticket in process, or its number in the ledger server."""
    headers: dict[str, str]
    budget_remaining: float | None


class Ledger(Protocol):
    async def admit(self, ask: Ask) -> Grant: ...

    async def settle(self, grant: Grant, tokens: int, cost: float,
                     row: AuditRow) -> float | None:
        """The request ended: reconcile, persist its cost and audit row; the smallest budget
        remaining after it (None when no budget applies)."""
        ...

    def record(self, row: AuditRow) -> None:
        """An audit row for a request that was never admitted (refused, failed early)."""
        ...

    def sync_budgets(self, lines: Iterable[BudgetLine]) -> None: ...

    async def close(self) -> None: ...


def apply_settlement(store: Store, book: QuotaBook, s: Settlement, row: AuditRow) -> None:
    """Queue what a settlement changed, and the audit row, for the store's writer (one batch
    holds both, so spend and the audit trail agree after any crash)."""
    persist_rolls(store, book)  # first: spend tagged with a new period needs it stored
    for budget_id in s.soft_exceeded:
        log.warning("budget %s passed its soft limit", budget_id)
    # Spend is tagged with its period: spend still queued when an admin resets the budget
    # (from another process) is dropped instead of landing in the new period.
    store.record_settled(row, s.spend, touch=row.status < 400)


def write_row(store: Store, row: AuditRow) -> None:
    store.record_settled(row, touch=row.status < 400)


def persist_rolls(store: Store, book: QuotaBook) -> None:
    for budget_id, _epoch, start in book.drain_rolls():
        store.reset_period(budget_id, start)


class LocalLedger:
    def __init__(self, store: Store, book: QuotaBook) -> None:
        self.store = store
        self.book = book

    async def admit(self, ask: Ask) -> Grant:
        try:
            ticket = self.book.admit(ask)
        finally:
            persist_rolls(self.store, self.book)
        return Grant(ticket, ticket.headers, ticket.budget_remaining)

    async def settle(self, grant: Grant, tokens: int, cost: float,
                     row: AuditRow) -> float | None:
        ticket: Ticket = grant.ticket
        s = self.book.settle(ticket, tokens, cost)
        apply_settlement(self.store, self.book, s, row)
        return s.budget_remaining

    def record(self, row: AuditRow) -> None:
        write_row(self.store, row)

    def sync_budgets(self, lines: Iterable[BudgetLine]) -> None:
        self.book.sync_budgets(lines)

    async def close(self) -> None:
        return None


RETENTION_EVERY_S = 6 * 3600.0


async def retention_loop(store: Store, days: float | None) -> None:
    """Delete audit rows older than `audit.retention_days`, at start and every six hours
    (only where the ledger lives: one process does it)."""
    if days is None:
        return
    while True:
        try:
            removed = await asyncio.to_thread(store.purge_audit, time.time() - days * 86400.0)
            if removed:
                log.info("removed %d audit rows older than %g days", removed, days)
        except Exception:
            log.exception("could not purge old audit rows")
        await asyncio.sleep(RETENTION_EVERY_S)
