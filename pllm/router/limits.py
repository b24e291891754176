"""Per-deployment rpm/tpm limits, enforced by the router: pure arithmetic on the routing state.

A deployment at its limit is skipped, never exceeded. Token counts are estimated before the
call (a quarter of the request's bytes for the prompt, plus its `max_tokens` or a default for
the answer) and corrected with the real usage after it.
"""

from __future__ import annotations

from pllm.config.model import Deployment
from pllm.router.state import DeploymentStats
from pllm.schema import GatewayRequest

__all__ = ["ANSWER_TOKENS_GUESS", "estimate_tokens", "headroom", "over_limit"]

ANSWER_TOKENS_GUESS = 256
"""Answer tokens assumed when a request sets no max_tokens (corrected after the call)."""


def estimate_tokens(req: GatewayRequest) -> int:
    body = req.body
    answer = body.get("max_completion_tokens") or body.get("max_tokens")
    if not isinstance(answer, int) or isinstance(answer, bool):
        answer = ANSWER_TOKENS_GUESS
    return len(req.raw) // 4 + answer


def over_limit(dep: Deployment, stats: DeploymentStats, now: float, tokens: int) -> float | None:
    """None when the deployment can take this request now; else when it will be able to."""
    if dep.rpm is not None and stats.requests.used(now) + 1 > dep.rpm:
        return stats.requests.free_at(now, 1, dep.rpm)
    if dep.tpm is not None and stats.tokens.used(now) + tokens > dep.tpm:
        # A request bigger than the whole limit waits for an empty window, not forever.
        return stats.tokens.free_at(now, min(tokens, dep.tpm), dep.tpm)
    return None


def headroom(dep: Deployment, stats: DeploymentStats, now: float) -> float:
    """The share of the tighter limit still free in the last minute (1.0 without limits)."""
    free = 1.0
    if dep.rpm:
        free = min(free, 1.0 - stats.requests.used(now) / dep.rpm)
    if dep.tpm:
        free = min(free, 1.0 - stats.tokens.used(now) / dep.tpm)
    return free
