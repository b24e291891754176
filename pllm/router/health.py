"""The health score (0-100) of a deployment: live, decaying, and what every strategy uses to skip
unhealthy deployments.

    the success rate of recent requests, counted with a prior of two successes (decayed,
      half-life 60 s; 100 with no history), so one failure does not condemn a deployment
    - 10 per consecutive failure (at most 40) while the last failure is recent (30 s)
    - up to 30 when its latency is worse than its group's median (15 per multiple above it)
    capped at 50 while the breaker is half-open or due for a probe; 0 while it is open

A deployment that failed recently scores low and is skipped while healthier ones can serve;
as its failures age it scores high enough to be tried again, and its circuit breaker decides
from there.
"""

from __future__ import annotations

from collections.abc import Iterable

from pllm.config.model import Deployment
from pllm.router.state import DeploymentStats, RoutingState

__all__ = ["HEALTHY", "PRIOR_SUCCESSES", "RECENT_S", "group_medians", "health_score"]

HEALTHY = 30
"""Deployments scoring below this are skipped while a healthier one is available."""
PRIOR_SUCCESSES = 2.0
RECENT_S = 30.0


def health_score(stats: DeploymentStats, now: float, group_latency: float | None) -> int:
    breaker = stats.breaker
    if breaker.state == "open" and now < breaker.open_until:
        return 0
    stats.decay(now)
    ok, bad = stats.successes, stats.failures
    score = 100.0 * (ok + PRIOR_SUCCESSES) / (ok + bad + PRIOR_SUCCESSES)
    if now - stats.last_failure < RECENT_S:
        score -= min(40.0, 10.0 * breaker.failures)
    if group_latency and stats.latency and stats.latency > group_latency:
        score -= min(30.0, 15.0 * (stats.latency / group_latency - 1.0))
    if breaker.state != "closed":
        score = min(score, 50.0)
    return max(0, min(100, round(score)))


def group_medians(deployments: Iterable[Deployment], state: RoutingState) -> dict[str, float]:
    """Each model group's median latency over its deployments that have one: the
    `group_latency` a deployment's score compares it to, for views of every deployment (the
    admin API, metrics, the live feed)."""
    groups: dict[str, list[float]] = {}
    for dep in deployments:
        latency = state.stats(dep.id).latency
        if latency:
            groups.setdefault(dep.model_name, []).append(latency)
    return {name: sorted(values)[len(values) // 2] for name, values in groups.items()}
