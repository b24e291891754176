"""Choosing one deployment among those that can take a request: pure, with an injected RNG.

Every strategy works on the same candidates: deployments of the group whose circuit breaker
allows a request and that are under their rpm/tpm limits, the healthiest ones first (health
below `HEALTHY` is skipped while a healthier one exists), and only the top tier (pllm's
`priority`, higher first; else LiteLLM's `order`, lower first): a lower tier is used only when
every deployment above it is unavailable.

    round_robin    even rotation
    least_busy     fewest requests in flight
    weighted       random by `weight`, else rpm, else tpm (LiteLLM's simple-shuffle), else even
    priority       the top tier, weighted within it (tiers apply to every strategy)
    latency_based  lowest moving-average latency (time to first token for streams); 5% of picks
                   explore another deployment so a recovered one gets measured again
    usage_based    the most rpm/tpm headroom left in the last minute
    cost_based     the cheapest (model_info input_cost_per_token + output_cost_per_token)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pllm.config.model import Deployment, Strategy
from pllm.router.health import HEALTHY
from pllm.router.state import DeploymentStats

__all__ = ["EXPLORE", "Candidate", "Chooser"]

EXPLORE = 0.05


@dataclass(slots=True)
class Candidate:
    index: int
    """Position in the model group's target list."""
    dep: Deployment
    stats: DeploymentStats
    health: int
    headroom: float = 1.0
    """Share of the rpm/tpm limit still free in the last minute (1.0 without limits)."""


class Chooser:
    def __init__(self, strategy: Strategy, rng: random.Random | None = None) -> None:
        self.strategy = strategy
        self._rng = rng or random.Random()
        self._turns: dict[str, int] = {}

    def choose(self, group: str, candidates: Sequence[Candidate], *,
               stream: bool = False) -> Candidate:
        """One candidate (the sequence is never empty)."""
        if len(candidates) == 1:
            return candidates[0]
        pool = _top_tier(_healthiest(candidates))
        if len(pool) == 1:
            return pool[0]
        s = self.strategy
        if s == "round_robin":
            turn = self._turns.get(group, 0)
            self._turns[group] = turn + 1
            return pool[turn % len(pool)]
        if s == "least_busy":
            return self._best(pool, lambda c: -float(c.stats.in_flight))
        if s == "latency_based":
            return self._fastest(pool, stream)
        if s == "usage_based":
            return self._best(pool, lambda c: c.headroom)
        if s == "cost_based":
            return self._best(pool, lambda c: -_cost(c.dep))
        return self._weighted(pool)

    def _weighted(self, pool: Sequence[Candidate]) -> Candidate:
        weights = _weights([c.dep for c in pool])
        if weights is None:
            return pool[self._rng.randrange(len(pool))]
        return self._rng.choices(list(pool), weights=weights, k=1)[0]

    def _best(self, pool: Sequence[Candidate],
              score: Callable[[Candidate], float]) -> Candidate:
        """The highest-scoring candidate; ties broken at random."""
        top = max(score(c) for c in pool)
        best = [c for c in pool if score(c) == top]
        return best[self._rng.randrange(len(best))]

    def _fastest(self, pool: Sequence[Candidate], stream: bool) -> Candidate:
        unmeasured = [c for c in pool if _latency(c, stream) is None]
        if unmeasured:
            return unmeasured[self._rng.randrange(len(unmeasured))]
        if self._rng.random() < EXPLORE:
            return pool[self._rng.randrange(len(pool))]
        return self._best(pool, lambda c: -(_latency(c, stream) or 0.0))


def _latency(c: Candidate, stream: bool) -> float | None:
    if stream and c.stats.ttft is not None:
        return c.stats.ttft
    return c.stats.latency


def _healthiest(candidates: Sequence[Candidate]) -> Sequence[Candidate]:
    healthy = [c for c in candidates if c.health >= HEALTHY]
    return healthy or candidates


def _top_tier(candidates: Sequence[Candidate]) -> Sequence[Candidate]:
    deps = [c.dep for c in candidates]
    if any(d.priority is not None for d in deps):
        best = max(d.priority or 0 for d in deps)
        return [c for c in candidates if (c.dep.priority or 0) == best]
    if any(d.order is not None for d in deps):
        best_order = min(d.order if d.order is not None else 1_000_000 for d in deps)
        return [c for c in candidates if c.dep.order == best_order]
    return candidates


def _weights(deps: Sequence[Deployment]) -> list[float] | None:
    """`weight` when set (a missing one counts as 1); else rpm, else tpm when every deployment
    has it; else None (even)."""
    if any(d.weight is not None for d in deps):
        weights = [d.weight if d.weight is not None else 1.0 for d in deps]
        return weights if sum(weights) > 0 else None
    for attr in ("rpm", "tpm"):
        values = [getattr(d, attr) for d in deps]
        if all(v for v in values):
            return [float(v) for v in values]
    return None


def _cost(dep: Deployment) -> float:
    total = 0.0
    for key in ("input_cost_per_token", "output_cost_per_token"):
        value = dep.model_info.get(key, dep.params.get(key))
        if not isinstance(value, (int, float)):
            return float("inf")
        total += float(value)
    return total
