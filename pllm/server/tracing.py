"""Optional OpenTelemetry tracing (`pip install 'pllm[otel]'`): one span per request (kind
SERVER) and, as its children, one per upstream attempt (kind CLIENT), with the GenAI semantic
conventions' attributes (`gen_ai.operation.name`, `gen_ai.provider.name`,
`gen_ai.request.model`, `gen_ai.usage.input_tokens`/`output_tokens`) and pllm's own (`pllm.*`).

On when the SDK is importable and the standard environment asks for traces:
`OTEL_TRACES_EXPORTER` (`console`, `otlp`, or any installed exporter's name; comma-separated),
or `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` alone (`otlp`, which
needs `opentelemetry-exporter-otlp`). `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`
keep it off; `OTEL_SERVICE_NAME` defaults to `pllm`.

Spans are built when a request ends, from the times pllm measured (start and end given
explicitly), so nothing runs on the request path while tracing is off, and only a small record
per attempt while it is on; a request's attempts wait for it under its request id. No prompt,
answer or key goes into a span. Incoming `traceparent` headers are not joined (yet).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from pllm.config.model import Deployment
from pllm.errors import ApiError, ProviderError
from pllm.server.events import RequestDone
from pllm.server.metrics_series import genai_provider, operation_name

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

__all__ = ["Tracing", "build_tracing"]

log = logging.getLogger(__name__)

MAX_PENDING = 10_000
"""Requests whose attempts are held at once (a bound, should an end ever go missing)."""
@dataclass(frozen=True, slots=True)
class _Attempt:
    deployment: Deployment
    operation: str
    start_ns: int
    end_ns: int
    status: int | None
    error: str | None


class Tracing:
    def __init__(self, tracer: Tracer, provider: TracerProvider | None = None) -> None:
        from opentelemetry import trace

        self._trace = trace
        self.tracer = tracer
        self.provider = provider
        self._pending: dict[str, list[_Attempt]] = {}

    def attempt_done(self, request_id: str, endpoint: str, deployment: Deployment,
                     started_perf: float, error: ApiError | None, ended: bool) -> None:
        """An upstream attempt ended now; it started at `started_perf` (perf_counter)."""
        end_ns = time.time_ns()
        start_ns = end_ns - int((time.perf_counter() - started_perf) * 1e9)
        status: int | None = 200
        code = None
        if error is not None:
            status = error.upstream_status if isinstance(error, ProviderError) else error.status
            code = error.code or error.error_type
        elif not ended:
            status, code = None, "cancelled"
        pending = self._pending.get(request_id)
        if pending is None:
            if len(self._pending) >= MAX_PENDING:
                return
            pending = self._pending[request_id] = []
        pending.append(_Attempt(deployment, operation_name(endpoint), start_ns, end_ns, status,
                                code))

    def request_done(self, e: RequestDone) -> None:
        trace = self._trace
        attempts = self._pending.pop(e.request_id, ())
        start_ns = int(e.started * 1e9)
        operation = operation_name(e.endpoint)
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": operation, "http.request.method": "POST",
            "http.response.status_code": e.status, "pllm.request_id": e.request_id,
            "pllm.endpoint": e.endpoint, "pllm.stream": e.stream, "pllm.attempts": e.attempts,
        }
        if e.model is not None:
            attrs["gen_ai.request.model"] = e.model
        if e.provider is not None:
            attrs["gen_ai.provider.name"] = genai_provider(e.provider)
        if e.deployment is not None:
            attrs["pllm.deployment"] = e.deployment
            attrs["pllm.model_group"] = e.model_group or ""
            attrs["gen_ai.usage.input_tokens"] = e.prompt_tokens
            attrs["gen_ai.usage.output_tokens"] = e.completion_tokens
            attrs["pllm.cost_usd"] = e.cost_usd
        if e.fallback:
            attrs["pllm.fallback"] = e.fallback
        if e.ttft_s is not None:
            attrs["pllm.time_to_first_token_s"] = e.ttft_s
        if e.error is not None:
            attrs["error.type"] = e.error
        name = f"{operation} {e.model}" if e.model else operation
        span = self.tracer.start_span(name, kind=trace.SpanKind.SERVER, start_time=start_ns,
                                      attributes=attrs)
        if e.status >= 500:
            span.set_status(trace.StatusCode.ERROR, e.error)
        parent = trace.set_span_in_context(span)
        for a in attempts:
            self._attempt_span(a, parent)
        span.end(end_time=start_ns + int(e.duration_s * 1e9))

    def _attempt_span(self, a: _Attempt, parent: Any) -> None:
        trace = self._trace
        dep = a.deployment
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": a.operation, "gen_ai.provider.name": genai_provider(
                dep.provider), "gen_ai.request.model": dep.model, "pllm.deployment": dep.id,
            "pllm.model_group": dep.model_name,
        }
        if a.status is not None:
            attrs["http.response.status_code"] = a.status
        if a.error is not None:
            attrs["error.type"] = a.error
        span = self.tracer.start_span(f"{a.operation} {dep.model}", context=parent,
                                      kind=trace.SpanKind.CLIENT, start_time=a.start_ns,
                                      attributes=attrs)
        if a.error is not None:
            span.set_status(trace.StatusCode.ERROR, a.error)
        span.end(end_time=a.end_ns)

    def shutdown(self) -> None:
        """Export what is still batched (blocking: call it in a thread)."""
        if self.provider is not None:
            self.provider.shutdown()


def build_tracing(env: Mapping[str, str]) -> Tracing | None:
    """A `Tracing` when the environment asks for traces and the SDK is installed, else None."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    names = env.get("OTEL_TRACES_EXPORTER")
    if names is None and (env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                          or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        names = "otlp"
    wanted = [n.strip() for n in (names or "").split(",") if n.strip() and n.strip() != "none"]
    if not wanted:
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("tracing is asked for (OTEL_* variables) but opentelemetry-sdk is not "
                    "installed: pip install 'pllm[otel]'")
        return None
    provider = TracerProvider(resource=Resource.create(
        {"service.name": env.get("OTEL_SERVICE_NAME") or "pllm"}))
    exporters = 0
    for name in wanted:
        found = entry_points(group="opentelemetry_traces_exporter", name=name)
        if not found:
            log.warning("no OpenTelemetry trace exporter named '%s' is installed%s", name,
                        " (pip install opentelemetry-exporter-otlp)" if name == "otlp" else "")
            continue
        exporter = next(iter(found)).load()
        provider.add_span_processor(BatchSpanProcessor(exporter()))
        exporters += 1
    if not exporters:
        return None
    log.info("tracing: spans go to %s", ", ".join(wanted))
    return Tracing(provider.get_tracer("pllm"), provider)
