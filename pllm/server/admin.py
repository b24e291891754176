"""Admin routes for operators (master key required): `GET /admin/health`, the live health of
every deployment as the router sees it."""

from __future__ import annotations

import orjson
from quart import Blueprint, Response, request

from pllm.router.health import group_medians, health_score
from pllm.server.state import gateway

__all__ = ["blueprint"]

blueprint = Blueprint("admin", __name__)


@blueprint.get("/admin/health")
async def deployments_health() -> Response:
    gw = gateway()
    (await gw.gate.authenticate(request.headers, request.remote_addr)).check_read()
    state = gw.dispatcher.state
    now = state.now()
    medians = group_medians(gw.settings.deployments, state)
    rows = []
    for dep in gw.settings.deployments:
        s = state.stats(dep.id)
        median = medians.get(dep.model_name)
        b = s.breaker
        rate = s.success_rate(now)
        rows.append({
            "id": dep.id, "model_name": dep.model_name, "provider": dep.provider,
            "model": dep.model, "health": health_score(s, now, median),
            "circuit": {"state": b.state, "consecutive_failures": b.failures,
                        "open_for_s": round(max(0.0, b.open_until - now), 3)
                        if b.state == "open" else 0.0},
            "in_flight": s.in_flight,
            "latency_ms": round(s.latency * 1000, 2) if s.latency else None,
            "ttft_ms": round(s.ttft * 1000, 2) if s.ttft else None,
            "success_rate": round(rate, 4) if rate is not None else None,
            "requests_last_minute": int(s.requests.used(now)),
            "tokens_last_minute": int(s.tokens.used(now)),
            "rpm": dep.rpm, "tpm": dep.tpm,
            "total_requests": s.total_requests, "total_failures": s.total_failures,
        })
    body = {"strategy": gw.settings.router.strategy, "deployments": rows}
    return Response(orjson.dumps(body), content_type="application/json")
