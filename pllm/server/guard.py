"""One request's passage through access control: authenticated, allowed the model, admitted
by the ledger (rate limits and a budget reservation) on the way in; priced, settled and
written to the audit trail on the way out, whatever the outcome."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from pllm.access.ledger import Grant
from pllm.access.principal import Principal
from pllm.config.model import Deployment
from pllm.errors import ApiError
from pllm.redaction import redact
from pllm.router.outcome import Outcome, StreamOutcome
from pllm.schema import GatewayRequest, Usage
from pllm.server.events import RequestDone
from pllm.server.state import Gateway
from pllm.store import AuditRow

__all__ = ["Guard", "admit", "audit_refusal"]

log = logging.getLogger("pllm.spend")


@dataclass(slots=True)
class Guard:
    gw: Gateway
    principal: Principal
    endpoint: str
    model: str
    request_id: str
    client: str | None
    grant: Grant | None
    body: bytes | None = None
    started: float = field(default_factory=time.time)
    started_perf: float = field(default_factory=time.perf_counter)
    first_byte_s: float | None = None
    """Arrival to the first chunk sent (streams), set by the server when it sends it."""
    done: bool = False

    def headers(self, out: dict[str, str]) -> dict[str, str]:
        """Rate-limit headers as OpenAI sends them, where a limit applies."""
        if self.grant is not None:
            out.update(self.grant.headers)
            if self.grant.budget_remaining is not None:
                out["x-pllm-budget-remaining"] = f"{self.grant.budget_remaining:.6f}"
        return out

    async def finish(self, status: int, served: Outcome | StreamOutcome | None,
                     usage: Usage | None, error: str | None = None) -> tuple[float, float | None]:
        """Settle and audit once; the request's cost and the budget remaining after it."""
        if self.done:
            return 0.0, None
        self.done = True
        gw = self.gw
        dep = served.target.deployment if served is not None else None
        cost = 0.0
        if served is not None and usage is not None:
            pricing = gw.gate.pricing
            cost = pricing.cost(served.target.deployment, served.model, usage,
                                cache_write_tokens=usage.cache_write_tokens) or 0.0
            for provider, model in pricing.new_unknown():
                log.warning("no price is known for %s model '%s': its requests are counted "
                            "at $0 (set model_info.input_cost_per_token and "
                            "output_cost_per_token to price it)", provider, model)
        tokens = usage.total_tokens if usage is not None else 0
        row = self._row(status, dep, usage, cost, error)
        gw.observers(self._event(row, served))
        if self.grant is None:
            gw.ledger.record(row)
            return cost, None
        return cost, await gw.ledger.settle(self.grant, tokens, cost, row)

    async def fail(self, error: ApiError) -> None:
        await self.finish(error.status, None, None, error.code or error.error_type)

    def _row(self, status: int, dep: Deployment | None, usage: Usage | None, cost: float,
             error: str | None) -> AuditRow:
        p = self.principal
        return AuditRow(
            ts=self.started, request_id=self.request_id, key_id=p.key_id, user_id=p.user_id,
            team_id=p.team_id, role=p.role, endpoint=self.endpoint, model=self.model,
            deployment=dep.id if dep is not None else None, status=status,
            latency_ms=round((time.time() - self.started) * 1000.0, 3),
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            cost_usd=cost, cache_hit=False, error=error, client=self.client,
            body=self._body())

    def _event(self, row: AuditRow, served: Outcome | StreamOutcome | None) -> RequestDone:
        dep = served.target.deployment if served is not None else None
        stream = isinstance(served, StreamOutcome)
        return RequestDone(
            request_id=row.request_id, endpoint=row.endpoint, model=row.model,
            status=row.status, started=row.ts,
            duration_s=time.perf_counter() - self.started_perf,
            deployment=row.deployment, model_group=dep.model_name if dep else None,
            provider=dep.provider if dep else None, stream=stream,
            upstream_s=served.upstream_s if served is not None else None,
            ttft_s=(self.first_byte_s if stream else None),
            attempts=served.attempts if served is not None else 0,
            fallback=served.fallback if served is not None else None,
            prompt_tokens=row.prompt_tokens or 0, completion_tokens=row.completion_tokens or 0,
            cost_usd=row.cost_usd or 0.0, error=row.error, key_id=row.key_id,
            key_name=self.principal.key_name, user_id=row.user_id, team_id=row.team_id,
            cache_hit=row.cache_hit)

    def _body(self) -> str | None:
        if self.body is None:
            return None
        return redact(self.body.decode("utf-8", "replace"),
                           self.gw.settings.secrets())


async def admit(gw: Gateway, principal: Principal, endpoint: str, req: GatewayRequest,
                client: str | None) -> Guard:
    """Raises PermissionDenied, RateLimited or BudgetExceeded (audited first)."""
    guard = Guard(gw, principal, endpoint, req.model, req.request_id, client, None,
                  req.raw if gw.settings.access.audit.log_bodies else None)
    try:
        principal.check_inference(req.model)
        ask = gw.gate.ask(principal, endpoint, req.model, req.body)
        if ask is not None:
            guard.grant = await gw.ledger.admit(ask)
    except ApiError as e:
        await guard.fail(e)
        raise
    return guard


def audit_refusal(gw: Gateway, error: ApiError, endpoint: str, rid: str,
                  client: str | None, principal: Principal | None = None) -> None:
    """An audit row (and an event) for a request refused before admission (bad key, bad
    body)."""
    p = principal
    row = AuditRow(
        ts=time.time(), request_id=rid, key_id=p.key_id if p else None,
        user_id=p.user_id if p else None, team_id=p.team_id if p else None,
        role=p.role if p else None, endpoint=endpoint, model=None, deployment=None,
        status=error.status, latency_ms=0.0, prompt_tokens=0, completion_tokens=0,
        cost_usd=0.0, cache_hit=False, error=error.code or error.error_type, client=client)
    gw.ledger.record(row)
    gw.observers(RequestDone(request_id=rid, endpoint=endpoint, model=None,
                             status=error.status, started=row.ts, duration_s=0.0,
                             error=row.error, key_id=row.key_id, user_id=row.user_id,
                             team_id=row.team_id))
