"""The in-memory view of the store that the request path reads: usable keys by hash, rate
limits by scope, budgets. Requests never touch SQLite; a background task polls the store's
version (a counter every management write bumps, from any process) every 250 ms and reloads
in a worker thread when it moved, so a key created or revoked by `pllm keys` takes effect
within half a second."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pllm.limits.quota import BudgetLine
from pllm.store import KeyRecord, Store

__all__ = ["Directory", "Snapshot"]

log = logging.getLogger(__name__)

POLL_S = 0.25
RELOAD_S = 30.0
"""Also reload this often regardless, so an expiry or a missed poll heals itself."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    keys: dict[str, KeyRecord] = field(default_factory=dict)
    """key hash -> record (usable keys only: active, or rotated and inside their grace)."""
    limits: dict[tuple[str, str], tuple[int | None, int | None]] = field(default_factory=dict)
    """(scope, subject) -> (rpm, tpm)"""
    budgets: tuple[BudgetLine, ...] = ()
    budget_ids: frozenset[str] = frozenset()
    version: int = -1


def load_snapshot(store: Store, now: float) -> Snapshot:
    version = store.version()
    keys = {k.key_hash: k for k in store.usable_keys(now)}
    limits: dict[tuple[str, str], tuple[int | None, int | None]] = {
        (lim.scope, lim.subject): (lim.rpm, lim.tpm) for lim in store.list_limits()}
    budgets = tuple(BudgetLine(b.id, b.max_usd, b.period, b.spend_usd, b.period_start, b.epoch,
                               b.soft_usd) for b in store.list_budgets())
    return Snapshot(keys, limits, budgets, frozenset(b.id for b in budgets), version)


class Directory:
    def __init__(self, store: Store, *, on_change: Callable[[Snapshot], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock
        self._on_change = on_change
        self.snapshot = Snapshot()
        self._task: asyncio.Task[None] | None = None

    def load(self) -> None:
        """Synchronously, at startup (before serving)."""
        self._install(load_snapshot(self.store, self._clock()))

    async def refresh(self) -> None:
        """Reload now (after this process changed the store itself)."""
        self._install(await asyncio.to_thread(load_snapshot, self.store, self._clock()))

    def _install(self, snap: Snapshot) -> None:
        self.snapshot = snap
        if self._on_change is not None:
            self._on_change(snap)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._poll(), name="pllm-directory")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _poll(self) -> None:
        last_full = time.monotonic()
        while True:
            await asyncio.sleep(POLL_S)
            try:
                version = await asyncio.to_thread(self.store.version)
                if version != self.snapshot.version or time.monotonic() - last_full > RELOAD_S:
                    await self.refresh()
                    last_full = time.monotonic()
            except Exception:  # keep serving from the last snapshot; say why once per poll
                log.exception("could not refresh keys and budgets from %s", self.store.path)
