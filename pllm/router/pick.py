"""Choosing one deployment of a model group. Pure: the RNG and counters are injected state.

This is the minimal picker the core gateway needs (LiteLLM's default `simple-shuffle`: random by
`weight`, else by rpm/tpm, else uniform; plus `round_robin` and the `priority`/`order` tiers).
Health-aware strategies, breakers and retries belong to the routing layer built on top of it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

from pllm.config.model import Deployment, Strategy
from pllm.providers.base import Target

__all__ = ["Picker"]


class Picker:
    def __init__(self, strategy: Strategy, rng: random.Random | None = None) -> None:
        self.strategy = strategy
        self._rng = rng or random.Random()
        self._counters: dict[str, itertools.count[int]] = {}

    def pick(self, group: str, targets: Sequence[Target]) -> int:
        """Index of the chosen target (targets is never empty)."""
        n = len(targets)
        if n == 1:
            return 0
        indexes = _top_tier([t.deployment for t in targets])
        if len(indexes) == 1:
            return indexes[0]
        # Strategies that need live load or latency data arrive with the adaptive routing
        # layer; until then they pick like `weighted` (config validation says so).
        if self.strategy == "round_robin":
            counter = self._counters.setdefault(group, itertools.count())
            return indexes[next(counter) % len(indexes)]
        weights = _weights([targets[i].deployment for i in indexes])
        if weights is None:
            return indexes[self._rng.randrange(len(indexes))]
        return self._rng.choices(indexes, weights=weights, k=1)[0]


def _top_tier(deps: Sequence[Deployment]) -> list[int]:
    """pllm's `priority` (higher first), else LiteLLM's `order` (lower first), else all."""
    if any(d.priority is not None for d in deps):
        best = max(d.priority or 0 for d in deps)
        return [i for i, d in enumerate(deps) if (d.priority or 0) == best]
    if any(d.order is not None for d in deps):
        best = min(d.order if d.order is not None else 1_000_000 for d in deps)
        return [i for i, d in enumerate(deps) if d.order == best]
    return list(range(len(deps)))


def _weights(deps: Sequence[Deployment]) -> list[float] | None:
    """`weight` when set; else rpm, else tpm when every deployment has it (LiteLLM's
    simple-shuffle); else None (uniform). A missing weight counts as 1."""
    if any(d.weight is not None for d in deps):
        weights = [d.weight if d.weight is not None else 1.0 for d in deps]
        return weights if sum(weights) > 0 else None
    for attr in ("rpm", "tpm"):
        values = [getattr(d, attr) for d in deps]
        if all(v for v in values):
            return [float(v) for v in values]
    return None
