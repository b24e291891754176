"""The orchestrator: choose a deployment -> send -> on a retryable failure try another -> when the
group is exhausted, fall back to other groups. One readable loop (`_failover`); the pieces it
uses are small and pure (`strategies`, `breaker`, `health`, `limits`) plus the routing state.

- Retryable failures (connection errors, timeouts, 408/409/429/5xx/529) move to another
  deployment of the group after a jittered exponential backoff, up to `router.retries` more
  attempts; a deployment that failed is not tried again for the same request unless it is the
  only one. Client errors (400/404/422 ...) are answered at once.
- Then `fallbacks` (or `context_window_fallbacks` for a context-length error,
  `content_policy_fallbacks` for a content-filter refusal), then `default_fallbacks`.
- A 429 with retry-after keeps its deployment out for exactly that long; a rejected key (401 or
  403 from the provider) opens the breaker and is logged by deployment id, never by key.
- The whole request has one deadline (`timeout`): no client waits longer.
- Streams fail over the same way until their first chunk; after it, a failure ends the stream
  with an error event (the server's job).
- With `router.hedge_after_ms`, a non-streamed request that has not answered in that time
  starts a second attempt on another deployment; the first success wins, the other is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pllm.config.model import Settings
from pllm.errors import (
    ApiError,
    ModelNotFound,
    NotImplementedByPllm,
    ProviderError,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from pllm.providers.base import Target, UpstreamResponse
from pllm.redaction import redact_error
from pllm.router.health import health_score
from pllm.router.limits import estimate_tokens, headroom, over_limit
from pllm.router.outcome import Outcome, StreamOutcome, first_success, token_delta
from pllm.router.state import AttemptResult, LocalState, RoutingState
from pllm.router.strategies import Candidate, Chooser
from pllm.router.table import Match, ModelTable
from pllm.schema import GatewayRequest
from pllm.upstream import Upstream, UpstreamStream

__all__ = ["Dispatcher", "Outcome", "StreamOutcome"]

log = logging.getLogger(__name__)

_PAUSED = "\x00paused:"  # marks, in a request's failed set, deployments that sent retry-after
BACKOFF_BASE_S = 0.05
BACKOFF_MAX_S = 2.0
T = TypeVar("T", "Outcome", "StreamOutcome")
Attempt = Callable[[GatewayRequest, Target, str, float], Awaitable[T]]
AttemptHook = Callable[[GatewayRequest, Target, float, ApiError | None, bool], None]
"""Told as each upstream attempt ends (metrics, tracing): the request, the target, when the
attempt started (perf_counter), its error, and whether it ended (False: cancelled). A stream's
attempt ends at its first chunk."""


class _GroupExhausted(Exception):
    """No deployment of the group can take the request (all broken, or all at their limits)."""

    def __init__(self, error: ApiError) -> None:
        self.error = error


class Dispatcher:
    def __init__(self, settings: Settings, table: ModelTable, upstream: Upstream, *,
                 state: RoutingState | None = None, chooser: Chooser | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: random.Random | None = None) -> None:
        router = settings.router
        self.settings = settings
        self.table = table
        self.upstream = upstream
        self._rng = rng or random.Random()
        self.state = state or LocalState(router.circuit_breaker, clock)
        self.chooser = chooser or Chooser(router.strategy, self._rng)
        self._sleep = sleep
        self._timeout = router.timeout or settings.server.request_timeout
        # A deployment alone in its group has nowhere to be routed around: its failures are
        # counted, but neither its breaker nor a retry-after takes it out (the provider's own
        # answer reaches the client instead of a gateway 503), as LiteLLM does.
        sizes: dict[str, int] = {}
        for d in settings.deployments:
            sizes[d.model_name] = sizes.get(d.model_name, 0) + 1
        self._solo = frozenset(d.id for d in settings.deployments if sizes[d.model_name] == 1)
        self._hedge_s = router.hedge_after_ms / 1000.0 if router.hedge_after_ms else None
        self.on_attempt: AttemptHook | None = None

    # -- entry points -----------------------------------------------------------------------
    async def complete(self, req: GatewayRequest) -> Outcome:
        return await self._failover(req, self._complete_attempt)

    async def open_stream(self, req: GatewayRequest) -> StreamOutcome:
        return await self._failover(req, self._stream_attempt)

    def _expired(self) -> UpstreamTimeout:
        return UpstreamTimeout(f"no answer within the request timeout of {self._timeout:g}s")

    # -- the loop ---------------------------------------------------------------------------
    async def _failover(self, req: GatewayRequest, attempt: Attempt[T]) -> T:
        """The deadline is kept by giving each attempt what is left of it (cheaper than a
        timeout around the whole loop, which would cost every request a timer)."""
        deadline = time.monotonic() + self._timeout
        queue = [req.model]
        seen: set[str] = set()
        attempts = 0
        last: ApiError | None = None
        position = -1
        while queue:
            model = queue.pop(0)
            if model in seen:
                continue
            seen.add(model)
            position += 1
            match = self.table.resolve(model)
            if match is None:
                if position == 0:
                    raise ModelNotFound(f"The model '{model}' does not exist or is not served "
                                        "by this gateway", param="model")
                continue
            failed: set[str] = set()
            for n in range(self.settings.router.retries + 1):
                try:
                    target, upstream_model = self._choose(match, req, failed)
                except _GroupExhausted as e:
                    last = last or e.error  # an upstream's own error says more
                    break
                budget = deadline - time.monotonic()
                if budget <= 0:
                    raise self._expired()
                attempts += 1
                try:
                    if self._hedge_s is None or req.stream or len(match.targets) < 2:
                        result = await attempt(req, target, upstream_model, budget)
                    else:
                        result = await self._hedged(req, match, failed, target,
                                                    upstream_model, attempt, budget)
                except ApiError as e:
                    last = e
                    failed.add(target.deployment.id)
                    if e.retry_after:
                        # It asked for a pause: not again for this request, even if alone.
                        failed.add(_PAUSED + target.deployment.id)
                    if not e.retryable:
                        break
                    if n < self.settings.router.retries:
                        pause = min(self._backoff(n), deadline - time.monotonic())
                        if pause > 0:
                            await self._sleep(pause)
                    continue
                result.attempts = attempts
                result.fallback = model if position else None
                return result
            if last is not None and not last.retryable and not _fallback_worthy(last):
                raise last
            queue.extend(self._fallbacks(model, last))
        if last is None:
            raise NotImplementedByPllm(f"model '{req.model}' has no deployment that can serve "
                                       "this request")
        raise last

    def _fallbacks(self, model: str, error: ApiError | None) -> list[str]:
        router = self.settings.router
        if error is not None and error.code == "context_length_exceeded":
            specific = router.context_window_fallbacks.get(model, ())
        elif error is not None and error.code == "content_filter":
            specific = router.content_policy_fallbacks.get(model, ())
        else:
            specific = router.fallbacks.get(model, ())
        return [*specific, *router.default_fallbacks]

    def _backoff(self, n: int) -> float:
        base = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2.0 ** n)
        return base * (0.5 + self._rng.random())

    # -- choosing ---------------------------------------------------------------------------
    def choose(self, req: GatewayRequest) -> tuple[Target, str]:
        """The deployment the router would pick for `req` now (no attempt is made)."""
        match = self.table.resolve(req.model)
        if match is None:
            raise ModelNotFound(f"The model '{req.model}' does not exist or is not served by "
                                "this gateway", param="model")
        try:
            return self._choose(match, req, set())
        except _GroupExhausted as e:
            raise e.error from None

    def _choose(self, match: Match, req: GatewayRequest,
                failed: set[str]) -> tuple[Target, str]:
        if not match.targets:
            reason = match.unavailable[0].reason if match.unavailable else "no deployment"
            raise NotImplementedByPllm(f"model '{req.model}' cannot be served: {reason}")
        state = self.state
        now = state.now()
        if len(match.targets) == 1 and not failed:  # the common case, kept cheap
            only = match.targets[0]
            dep = only.deployment
            if req.endpoint in only.provider.endpoints and \
                    state.stats(dep.id).breaker.available(now) and \
                    (dep.rpm is None and dep.tpm is None):
                return only, match.models[0]
        tokens = estimate_tokens(req) if match.has_tpm else 0
        candidates: list[Candidate] = []
        limited: list[float] = []
        retry_failed = bool(failed) and all(t.deployment.id in failed for t in match.targets)
        for i, target in enumerate(match.targets):
            dep = target.deployment
            if req.endpoint not in target.provider.endpoints:
                continue
            if dep.id in failed and (not retry_failed or _PAUSED + dep.id in failed):
                continue
            stats = state.stats(dep.id)
            if not stats.breaker.available(now):
                continue
            free_at = over_limit(dep, stats, now, tokens)
            if free_at is not None:
                limited.append(free_at - now)
                continue
            candidates.append(Candidate(i, dep, stats, 100, headroom(dep, stats, now)))
        if not candidates:
            raise _GroupExhausted(self._exhausted(match, req, limited))
        if len(candidates) > 1:
            latencies = sorted(c.stats.latency for c in candidates if c.stats.latency)
            median = latencies[len(latencies) // 2] if latencies else None
            for c in candidates:
                c.health = health_score(c.stats, now, median)
        chosen = self.chooser.choose(match.group, candidates, stream=req.stream)
        return match.targets[chosen.index], match.models[chosen.index]

    @staticmethod
    def _exhausted(match: Match, req: GatewayRequest, limited: list[float]) -> ApiError:
        if not any(req.endpoint in t.provider.endpoints for t in match.targets):
            return NotImplementedByPllm(
                f"model '{req.model}' does not support the {req.endpoint} endpoint")
        if limited:
            wait = max(0.0, min(limited))
            return RateLimited(f"every deployment of '{match.group}' is at its rpm/tpm limit; "
                               f"retry in {wait:.1f}s", retry_after=wait)
        return UpstreamError(f"no healthy deployment of '{match.group}' is available: their "
                             "circuit breakers are open", status=503, code="no_healthy_deployment")

    # -- attempts ---------------------------------------------------------------------------
    async def _hedged(self, req: GatewayRequest, match: Match, failed: set[str],
                      target: Target, model: str, attempt: Attempt[T], budget: float) -> T:
        assert self._hedge_s is not None
        first = asyncio.ensure_future(attempt(req, target, model, budget))
        done, _ = await asyncio.wait({first}, timeout=self._hedge_s)
        if done:
            return first.result()
        try:
            other, other_model = self._choose(match, req, failed | {target.deployment.id})
        except _GroupExhausted:
            return await first
        if other.deployment.id == target.deployment.id:
            return await first
        second = asyncio.ensure_future(attempt(req, other, other_model,
                                               budget - self._hedge_s))
        return await first_success([first, second])

    def _begin(self, req: GatewayRequest, target: Target) -> tuple[str, int]:
        dep = target.deployment
        tokens = estimate_tokens(req) if dep.tpm else 0
        if not self.state.begin(dep.id, tokens):
            raise UpstreamError(f"deployment {dep.id} is being probed", status=503)
        return dep.id, tokens

    async def _complete_attempt(self, req: GatewayRequest, target: Target, model: str,
                                budget: float) -> Outcome:
        provider, dep = target.provider, target.deployment
        dep_id, tokens = self._begin(req, target)
        started = time.perf_counter()
        recorded = False
        error: ApiError | None = None
        try:
            up_req = provider.build_request(req, target, model)
            resp = await self.upstream.send(up_req, timeout=min(dep.timeout or budget, budget))
            upstream_s = time.perf_counter() - started
            if resp.status >= 400:
                raise provider.parse_error(resp)
            completion = provider.parse_response(req, resp)
            delta = token_delta(completion, tokens) if dep.tpm else 0
            recorded = True
            self.state.finish(dep_id, "success", latency=upstream_s, tokens_delta=delta)
            return Outcome(completion, target, upstream_s, model=model)
        except ApiError as e:
            recorded, error = True, e
            self._failed(dep_id, e, time.perf_counter() - started)
            raise redact_error(e, dep.secrets()) from None
        finally:
            if not recorded:  # cancelled (client gone, hedge lost, deadline): no verdict
                self.state.finish(dep_id, "neutral")
            if self.on_attempt is not None:
                self.on_attempt(req, target, started, error, recorded)

    async def _stream_attempt(self, req: GatewayRequest, target: Target, model: str,
                              budget: float) -> StreamOutcome:
        """Until the first chunk, every wait for data is bounded by what is left of the
        request's deadline (and by the deployment's stream_timeout)."""
        provider, dep = target.provider, target.deployment
        dep_id, _tokens = self._begin(req, target)
        started = time.perf_counter()
        stream: UpstreamStream | None = None
        ended = False
        recorded = False
        error: ApiError | None = None
        try:
            up_req = provider.build_request(req, target, model)
            wait = min(dep.stream_timeout or dep.timeout or budget, budget)
            stream = await self.upstream.open_stream(up_req, read_timeout=wait)
            if stream.status >= 400:
                body = await stream.read_body()
                ended = True
                raise provider.parse_error(UpstreamResponse(stream.status, stream.headers, body))
            relay = provider.stream_relay(req, target)
            pieces = aiter(stream)
            first = b""
            while not first:
                data = await anext(pieces, None)
                if data is None:
                    first = relay.flush()
                    if not first:
                        raise UpstreamError("the upstream ended the stream without any data")
                    break
                first = relay.feed(data)
            ttft = time.perf_counter() - started

            def done(result: AttemptResult) -> None:
                latency = time.perf_counter() - started
                self.state.finish(dep_id, result, latency=latency if result == "success"
                                  else None, ttft=ttft if result == "success" else None,
                                  breaker=dep_id not in self._solo)

            outcome = StreamOutcome(target, first, relay, ttft, pieces, stream, done,
                                    model=model)
            stream = None  # the outcome owns it now, and records its end
            recorded = True
            return outcome
        except ApiError as e:
            recorded, error = True, e
            self._failed(dep_id, e, time.perf_counter() - started)
            raise redact_error(e, dep.secrets()) from None
        finally:
            if stream is not None and not ended:
                await stream.aclose(complete=False)
            if not recorded:
                self.state.finish(dep_id, "neutral")
            if self.on_attempt is not None:
                self.on_attempt(req, target, started, error, recorded)

    def _failed(self, dep_id: str, error: ApiError, elapsed: float) -> None:
        """Record a failed attempt: against the deployment's health when it was the
        deployment's fault, neutrally when the client's request was at fault."""
        status = error.upstream_status if isinstance(error, ProviderError) else error.status
        routable = dep_id not in self._solo
        if status in (401, 403) and isinstance(error, ProviderError):
            self.state.finish(dep_id, "failure", breaker=routable)
            if routable:
                self.state.cool_down(dep_id, self.settings.router.circuit_breaker.timeout)
            log.warning("deployment %s: the provider rejected its credentials (HTTP %d)%s",
                        dep_id, status, "; its circuit breaker is open" if routable else "")
            return
        if not error.retryable:
            self.state.finish(dep_id, "neutral")
            return
        self.state.finish(dep_id, "failure", latency=elapsed, breaker=routable)
        if routable and status == 429 and error.retry_after:
            self.state.cool_down(dep_id, error.retry_after)


def _fallback_worthy(error: ApiError) -> bool:
    return error.code in ("context_length_exceeded", "content_filter")
