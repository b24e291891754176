"""What operators see of a running gateway: Prometheus metrics (`GET /metrics`), the access log
and, when asked for, OpenTelemetry traces. All three are fed by the request observers
(`events.py`) and the dispatcher's per-attempt hook; nothing else on the request path.

`/metrics` is served on the main port with the admin API's auth (an admin or viewer key; open
when the gateway has no master key), or, with `server.metrics_port`, only on that port, without
auth (bind it where only the scraper reaches; `metrics_export.py`). With `--workers N` the
values are prometheus-client's multiprocess files in a directory the supervisor owns, so any
worker's answer (or the metrics port's) sums every worker. Router gauges (health score,
circuit, in-flight) are each worker's own view, refreshed every second and at each scrape; the
series list is in `metrics_series.py` and docs/operations.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time

from prometheus_client import CollectorRegistry, disable_created_metrics
from prometheus_client.exposition import choose_encoder
from quart import Quart, Response, g, request

from pllm.errors import ApiError, ProviderError
from pllm.logs import AccessLog
from pllm.providers.base import Target
from pllm.router.health import group_medians, health_score
from pllm.schema import GatewayRequest
from pllm.server.events import RequestDone
from pllm.server.inference import ROUTES
from pllm.server.metrics_export import MULTIPROC_ENV
from pllm.server.metrics_series import OTHER, DeploymentRow, Series
from pllm.server.state import Gateway, gateway
from pllm.server.tracing import Tracing, build_tracing

__all__ = ["Metrics", "install"]

log = logging.getLogger(__name__)

REFRESH_S = 1.0
_OBSERVED = frozenset({*ROUTES, "/v1/messages"})
"""POST paths whose requests reach the observers (the access log has them already)."""
_QUIET = frozenset({"/health", "/ready", "/metrics"})
"""Probes and scrapes: logged at DEBUG."""


class Metrics:
    """The series, the registry `/metrics` shows, and the hooks that feed them."""

    def __init__(self, gw: Gateway, multiprocess_dir: str | None = None,
                 tracing: Tracing | None = None) -> None:
        self.gw = gw
        self.tracing = tracing
        self.multiprocess_dir = multiprocess_dir
        disable_created_metrics()  # type: ignore[no-untyped-call]  # `_created`: noise
        self.registry = CollectorRegistry()
        if multiprocess_dir is not None:
            from prometheus_client.multiprocess import MultiProcessCollector

            MultiProcessCollector(self.registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
            self.series = Series(None, self._group_of)
        else:
            self.series = Series(self.registry, self._group_of)

    def request_done(self, e: RequestDone) -> None:
        self.series.request_done(e)
        if self.tracing is not None:
            self.tracing.request_done(e)
        dispatcher = self.gw.latest().dispatcher
        if dispatcher.on_attempt is None:  # a reload built a new one
            dispatcher.on_attempt = self.attempt_done

    def attempt_done(self, req: GatewayRequest, target: Target, started: float,
                     error: ApiError | None, ended: bool) -> None:
        try:
            dep = target.deployment
            status = 200 if ended else 499
            if error is not None:
                status = error.upstream_status if isinstance(error, ProviderError) \
                    else error.status
            self.series.attempt_done(dep.model_name, dep.id, status)
            if self.tracing is not None:
                self.tracing.attempt_done(req.request_id, req.endpoint, dep, started, error,
                                          ended)
        except Exception:  # observing must never fail the request
            log.exception("attempt observer failed")

    def refresh(self) -> None:
        """Router gauges from this process's routing state."""
        gw = self.gw.latest()
        state = gw.dispatcher.state
        now = state.now()
        medians = group_medians(gw.settings.deployments, state)
        rows = []
        for dep in gw.settings.deployments:
            s = state.stats(dep.id)
            rows.append(DeploymentRow(dep, s.in_flight,
                                      health_score(s, now, medians.get(dep.model_name)),
                                      s.breaker.state))
        self.series.show_deployments(rows)

    def exposition(self, accept: str) -> tuple[bytes, str]:
        """The text (or OpenMetrics) page; blocking: reads files in multiprocess mode."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    def _group_of(self, model: str) -> str:
        """The configured model group a requested name resolves to (bounded: never the
        client's own string)."""
        match = self.gw.latest().table.resolve(model)
        if match is None:
            return OTHER
        entries = match.targets or match.unavailable
        return entries[0].deployment.model_name if entries else OTHER


def install(app: Quart, gw: Gateway) -> None:
    """Register `/metrics`, the access log, tracing, and their serving hooks on `app`."""
    settings = gw.settings
    metrics = Metrics(gw, os.environ.get(MULTIPROC_ENV) or None, build_tracing(os.environ))
    app.extensions["pllm.metrics"] = metrics
    gw.observers.add(metrics.request_done)
    gw.dispatcher.on_attempt = metrics.attempt_done
    access = AccessLog(settings.secrets(), settings.model_names())
    gw.observers.add(access)
    background: list[asyncio.Task[None]] = []

    if settings.server.metrics_port is None:
        @app.get("/metrics")
        async def prometheus_metrics() -> Response:
            live = gateway()
            (await live.gate.authenticate(request.headers, request.remote_addr)).check_read()
            metrics.refresh()
            body, content_type = await asyncio.to_thread(
                metrics.exposition, request.headers.get("accept", ""))
            return Response(body, content_type=content_type)

    @app.before_request
    async def _arrived() -> None:
        g.pllm_arrived = time.perf_counter()

    @app.after_request
    async def _log_request(response: Response) -> Response:
        path = request.path
        if not (request.method == "POST" and path in _OBSERVED):
            arrived = g.get("pllm_arrived")
            access.http(request.method, path, response.status_code,
                        time.perf_counter() - arrived if arrived else 0.0,
                        response.headers.get("x-request-id"),
                        logging.DEBUG if path in _QUIET else logging.INFO)
        return response

    @app.before_serving
    async def _start() -> None:
        background.append(asyncio.create_task(_refresh_loop(metrics)))

    @app.after_serving
    async def _stop() -> None:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        background.clear()
        if metrics.multiprocess_dir is not None:
            from prometheus_client.multiprocess import mark_process_dead

            # This worker's live gauges leave the sums; its counters stay (they only grow).
            with contextlib.suppress(OSError):
                mark_process_dead(os.getpid(), metrics.multiprocess_dir)  # type: ignore[no-untyped-call]
        if metrics.tracing is not None:
            await asyncio.to_thread(metrics.tracing.shutdown)


async def _refresh_loop(metrics: Metrics) -> None:
    """Keep the router gauges current for scrapes this worker does not answer (the metrics
    port, the other workers)."""
    while True:
        await asyncio.sleep(REFRESH_S)
        try:
            metrics.refresh()
        except Exception:
            log.exception("refreshing the router gauges failed")
