"""The JSON shapes of the live admin feed: one stats snapshot (per-deployment rows from the
router's state and the observer's rings, totals, a time series) and one request row.
Documented field by field in docs/tui.md."""

from __future__ import annotations

import os
from typing import Any

from pllm.router.health import group_medians, health_score
from pllm.server.events import RequestDone
from pllm.server.livestats import LiveStats
from pllm.server.state import Gateway

__all__ = ["RATE_WINDOW_S", "request_view", "snapshot"]

RATE_WINDOW_S = 5
"""Requests/s are averaged over this many complete seconds."""


def _ms(seconds: float | None) -> float | None:
    return round(seconds * 1000.0, 2) if seconds is not None else None


def deployment_rows(gw: Gateway, live: LiveStats, now: int) -> list[dict[str, Any]]:
    state = gw.dispatcher.state
    mono = state.now()
    deps = gw.settings.deployments
    medians = group_medians(deps, state)
    rows = []
    window = LiveStats.DEPLOYMENT_WINDOW_S
    for dep in deps:
        s = state.stats(dep.id)
        b = s.breaker
        ring = live.deployments.get(dep.id)
        requests, _, p50, p95 = ring.summary(now, window) if ring else (0, 0, None, None)
        rate = s.success_rate(mono)
        rows.append({
            "id": dep.id, "model_group": dep.model_name, "provider": dep.provider,
            "model": dep.model,
            "health": health_score(s, mono, medians.get(dep.model_name)),
            "circuit": b.state,
            "consecutive_failures": b.failures,
            "open_for_s": round(max(0.0, b.open_until - mono), 1) if b.state == "open" else 0.0,
            "in_flight": s.in_flight,
            "rps": round(ring.rate(now, RATE_WINDOW_S), 2) if ring else 0.0,
            "requests_1m": requests,
            "p50_ms": p50, "p95_ms": p95,
            "error_rate": round(1.0 - rate, 4) if rate is not None else 0.0,
            "rpm_used": int(s.requests.used(mono)), "rpm_limit": dep.rpm,
            "tpm_used": int(s.tokens.used(mono)), "tpm_limit": dep.tpm,
            "attempts": s.total_requests, "failures": s.total_failures,
        })
    return rows


def snapshot(gw: Gateway, live: LiveStats, today: dict[str, Any], *, minutes: int,
             clients: int) -> dict[str, Any]:
    now = live.now()
    rows = deployment_rows(gw, live, now)
    ring = live.gateway
    requests, failed, p50, p95 = ring.summary(now, 60)
    window = min(minutes * 60, live.window_s)
    series = ring.series(now, window)
    return {
        "ts": round(live.clock(), 3),
        "uptime_s": round(live.clock() - live.started, 1),
        "pid": os.getpid(),
        "strategy": gw.settings.router.strategy,
        "event_clients": clients,
        "in_flight": sum(r["in_flight"] for r in rows),
        "rps": round(ring.rate(now, RATE_WINDOW_S), 2),
        "requests_1m": requests,
        "p50_ms": p50, "p95_ms": p95,
        "error_rate": round(failed / requests, 4) if requests else 0.0,
        "deployments": rows,
        "totals": {"today": today, "since_start": live.totals.to_dict()},
        "series": {"step_s": 1, "end": now, **series},
    }


def request_view(seq: int, e: RequestDone) -> dict[str, Any]:
    return {
        "seq": seq, "request_id": e.request_id, "ts": round(e.started, 3),
        "endpoint": e.endpoint, "model": e.model, "model_group": e.model_group,
        "deployment": e.deployment, "provider": e.provider, "status": e.status,
        "latency_ms": _ms(e.duration_s), "ttft_ms": _ms(e.ttft_s),
        "overhead_ms": _ms(e.overhead_s), "stream": e.stream, "attempts": e.attempts,
        "fallback": e.fallback, "prompt_tokens": e.prompt_tokens,
        "completion_tokens": e.completion_tokens, "cost_usd": round(e.cost_usd, 8),
        "key_name": e.key_name, "key_id": e.key_id, "user_id": e.user_id,
        "team_id": e.team_id, "error": e.error, "cache_hit": e.cache_hit,
    }
