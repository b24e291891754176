"""Metrics, tracing and the access log, in process: the series a mixed set of requests leaves
(parsed back with prometheus-client's own parser), bounded label values whatever clients send,
router gauges from the routing state, `/metrics` behind the read role (and off the main port
with `server.metrics_port`), OpenTelemetry spans per request and per attempt (the SDK's
in-memory exporter), and the access log's text and JSON lines (no prompt, no key)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from quart import Quart

from pllm.config import demo_settings, read_settings
from pllm.errors import ProviderError
from pllm.logs import AccessLog, BatchingHandler, JsonFormatter, TextFormatter, setup_logging
from pllm.server.app import create_app
from pllm.server.events import RequestDone
from pllm.server.metrics import Metrics
from pllm.server.metrics_series import Series
from pllm.server.state import Gateway
from pllm.server.tracing import Tracing, build_tracing
from pllm.store import Store

MASTER = "sk-master-metrics-unit-0123456789"
SECRET_MODEL = "sk-proj-abcdefghijklmnopqrstuvwxyz012345"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample by (name, sorted labels); the parser rejects malformed exposition."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items()
               if n == name and all((k, val) in ls for k, val in labels.items()))


def event(**kw: Any) -> RequestDone:
    base: dict[str, Any] = dict(request_id="req_0123456789abcdef01234567", endpoint="chat",
                                model="gpt-4o", status=200, started=time.time(),
                                duration_s=0.02)
    if kw.get("status", 200) < 400 or kw.get("deployment"):
        base.update(deployment="gpt-4o.demo", model_group="gpt-4o", provider="mock",
                    upstream_s=0.015, attempts=1, prompt_tokens=10, completion_tokens=20,
                    cost_usd=0.001)
    base.update(kw)
    return RequestDone(**base)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Quart]:
    store = Store.open(tmp_path / "pllm.db")
    yield create_app(demo_settings({"PLLM_MASTER_KEY": MASTER}), store=store)
    store.close()


def gateway_of(app: Quart) -> Gateway:
    gw: Gateway = app.extensions["pllm"]
    return gw


def test_series_after_a_mixed_set_of_requests(app: Quart) -> None:
    metrics: Metrics = app.extensions["pllm.metrics"]
    m = metrics.series
    m.request_done(event())
    m.request_done(event(duration_s=0.03, upstream_s=0.01))
    m.request_done(event(stream=True, duration_s=0.5, upstream_s=0.05, ttft_s=0.06,
                         attempts=3, fallback="gpt-4o"))
    m.request_done(event(model="made-up", status=404, error="model_not_found"))
    m.request_done(event(status=429, error="rate_limit_exceeded"))
    m.request_done(event(status=429, error="budget_exceeded"))
    m.request_done(event(model=None, status=401, error="invalid_api_key", duration_s=0.0))
    s = parse(generate_latest(metrics.registry).decode())
    dep = {"model_group": "gpt-4o", "deployment": "gpt-4o.demo"}
    assert value(s, "pllm_requests_total", **dep, endpoint="chat", status="200") == 3
    assert value(s, "pllm_requests_total", model_group="other", deployment="none",
                 endpoint="chat", status="404") == 1
    assert value(s, "pllm_requests_total", model_group="gpt-4o", deployment="none",
                 endpoint="chat", status="429") == 2
    assert value(s, "pllm_requests_total", model_group="none", deployment="none",
                 endpoint="chat", status="401") == 1
    assert value(s, "pllm_rejected_requests_total", reason="rate_limit") == 1
    assert value(s, "pllm_rejected_requests_total", reason="budget") == 1
    assert value(s, "pllm_tokens_total", **dep, type="input") == 30
    assert value(s, "pllm_tokens_total", **dep, type="output") == 60
    assert value(s, "pllm_cost_usd_total", **dep) == pytest.approx(0.003)
    assert value(s, "pllm_request_duration_seconds_count", **dep, endpoint="chat") == 3
    assert value(s, "pllm_request_duration_seconds_sum", **dep,
                 endpoint="chat") == pytest.approx(0.55)
    # Overhead: total minus upstream (5 ms, 20 ms), and a stream's first byte minus the
    # upstream's first chunk (10 ms).
    assert value(s, "pllm_gateway_overhead_seconds_sum", **dep,
                 endpoint="chat") == pytest.approx(0.035)
    assert value(s, "pllm_gateway_overhead_seconds_bucket", **dep, endpoint="chat",
                 le="0.01") == 2
    assert value(s, "pllm_upstream_duration_seconds_count", **dep) == 2
    assert value(s, "pllm_time_to_first_token_seconds_sum", **dep) == pytest.approx(0.06)
    assert value(s, "pllm_retries_total", model_group="gpt-4o") == 2
    assert value(s, "pllm_fallbacks_total", model_group="gpt-4o", fallback="gpt-4o") == 1
    assert value(s, "pllm_cache_hits_total") == 0 and value(s, "pllm_cache_misses_total") == 0
    genai = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "mock",
             "gen_ai_request_model": "gpt-4o"}
    assert value(s, "gen_ai_client_token_usage_sum", **genai, gen_ai_token_type="input") == 30
    assert value(s, "gen_ai_client_token_usage_count", **genai,
                 gen_ai_token_type="output") == 3
    assert value(s, "gen_ai_client_token_usage_bucket", **genai, gen_ai_token_type="output",
                 le="16.0") == 0
    assert value(s, "gen_ai_client_operation_duration_seconds_count", **genai) == 3
    assert value(s, "gen_ai_server_time_to_first_token_seconds_count", **genai) == 1
    # Only the configured names and the two markers ever become label values.
    groups = {dict(ls).get("model_group") for (_, ls) in s} - {None}
    assert groups == {"gpt-4o", "other", "none"}


def test_label_values_stay_bounded_whatever_clients_send() -> None:
    registry = CollectorRegistry()
    series = Series(registry, lambda name: "gpt-4o" if name == "gpt-4o" else "other")
    for i in range(2000):
        series.request_done(event(model=f"client-invented-{i}", status=404,
                                  error=f"weird_code_{i}"))
    text = generate_latest(registry).decode()
    assert "client-invented" not in text and "weird_code" not in text
    assert value(parse(text), "pllm_requests_total", model_group="other", deployment="none",
                 endpoint="chat", status="404") == 2000
    assert len(series._cells) == 1


def test_router_gauges_follow_the_routing_state(app: Quart) -> None:
    metrics: Metrics = app.extensions["pllm.metrics"]
    state = gateway_of(app).dispatcher.state
    breaker = state.stats("gpt-4o.demo").breaker
    breaker.state, breaker.open_until = "open", state.now() + 30
    state.stats("claude-3-5-sonnet.demo").in_flight = 3
    metrics.refresh()
    s = parse(generate_latest(metrics.registry).decode())
    assert value(s, "pllm_deployment_circuit_state", model_group="gpt-4o",
                 deployment="gpt-4o.demo") == 2
    assert value(s, "pllm_deployment_health_score", model_group="gpt-4o",
                 deployment="gpt-4o.demo") == 0
    assert value(s, "pllm_deployment_health_score", model_group="gpt-4o-mini",
                 deployment="gpt-4o-mini.demo") == 100
    assert value(s, "pllm_in_flight_requests", model_group="claude-3-5-sonnet",
                 deployment="claude-3-5-sonnet.demo") == 3
    assert value(s, "pllm_deployment_info", model_group="gpt-4o", deployment="gpt-4o.demo",
                 provider="mock") == 1
    # A reload that drops a deployment drops its gauges.
    gw = gateway_of(app)
    gw.settings = replace(gw.settings, deployments=tuple(
        d for d in gw.settings.deployments if d.id != "gpt-4o.demo"))
    metrics.refresh()
    s = parse(generate_latest(metrics.registry).decode())
    assert not [k for k in s if ("deployment", "gpt-4o.demo") in k[1]
                and k[0].startswith("pllm_deployment")]


def _requests(app: Quart, *calls: tuple[str, str, dict[str, Any]]) -> list[tuple[int, str, str]]:
    """(status, content type, body) of each call, made in order against one serving app."""
    async def run() -> list[tuple[int, str, str]]:
        out = []
        async with app.test_app() as test_app:
            client = test_app.test_client()
            for method, path, kw in calls:
                r = await getattr(client, method)(path, **kw)
                out.append((r.status_code, r.content_type or "", (await r.get_data()).decode()))
        return out

    return asyncio.run(run())


def test_metrics_route_needs_a_read_key_and_counts_real_requests(app: Quart) -> None:
    auth = {"authorization": f"Bearer {MASTER}"}
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "PROMPT-7731"}]}
    refused, answered, (status, content_type, text) = _requests(
        app, ("get", "/metrics", {}),
        ("post", "/v1/chat/completions", {"headers": auth, "json": body}),
        ("get", "/metrics", {"headers": auth}))
    assert refused[0] == 401 and answered[0] == 200
    assert status == 200 and content_type.startswith("text/plain")
    s = parse(text)
    assert value(s, "pllm_requests_total", model_group="gpt-4o-mini",
                 deployment="gpt-4o-mini.demo", endpoint="chat", status="200") == 1
    assert value(s, "pllm_upstream_attempts_total", model_group="gpt-4o-mini",
                 deployment="gpt-4o-mini.demo", status="200") == 1
    assert MASTER not in text and "PROMPT-7731" not in text


def test_with_a_metrics_port_the_main_port_does_not_serve_metrics(tmp_path: Path) -> None:
    settings = demo_settings({})
    settings = replace(settings, server=replace(settings.server, metrics_port=9090))
    store = Store.open(tmp_path / "pllm.db")
    try:
        app = create_app(settings, store=store)
        assert _requests(app, ("get", "/metrics", {}))[0][0] == 404
    finally:
        store.close()


def test_attempt_status_counts_failed_attempts_too(app: Quart) -> None:
    metrics: Metrics = app.extensions["pllm.metrics"]
    gw = gateway_of(app)
    match = gw.table.resolve("gpt-4o")
    assert match is not None
    target = match.targets[0]
    req: Any = None
    metrics.attempt_done(req, target, time.perf_counter(),
                         ProviderError("boom", upstream_status=503, provider="mock"), True)
    metrics.attempt_done(req, target, time.perf_counter(), None, False)
    s = parse(generate_latest(metrics.registry).decode())
    dep = {"model_group": "gpt-4o", "deployment": "gpt-4o.demo"}
    assert value(s, "pllm_upstream_attempts_total", **dep, status="503") == 1
    assert value(s, "pllm_upstream_attempts_total", **dep, status="499") == 1


# -- tracing -----------------------------------------------------------------------------
def test_a_span_per_request_and_per_attempt(app: Quart) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider.get_tracer("test"), provider)
    gw = gateway_of(app)
    match = gw.table.resolve("gpt-4o")
    assert match is not None
    dep = match.targets[0].deployment
    rid = "req_trace0123456789abcdef0123"
    tracing.attempt_done(rid, "chat", dep, time.perf_counter() - 0.2,
                         ProviderError("overloaded", upstream_status=529, provider="mock"), True)
    tracing.attempt_done(rid, "chat", dep, time.perf_counter() - 0.1, None, True)
    started = time.time() - 0.35
    tracing.request_done(event(request_id=rid, started=started, duration_s=0.3, attempts=2))
    tracing.request_done(event(request_id="req_other", model="made-up", status=502,
                               error="upstream_error"))
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["chat gpt-4o", "chat gpt-4o", "chat gpt-4o",
                                       "chat made-up"]
    failed, ok, request, broken = spans
    assert request.kind == SpanKind.SERVER and failed.kind == ok.kind == SpanKind.CLIENT
    assert failed.parent is not None and ok.parent is not None
    assert failed.parent.span_id == ok.parent.span_id == request.context.span_id
    assert failed.context.trace_id == request.context.trace_id
    assert request.parent is None and broken.parent is None
    attrs = request.attributes or {}
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "gpt-4o"
    assert attrs["gen_ai.provider.name"] == "mock"
    assert attrs["gen_ai.usage.input_tokens"] == 10
    assert attrs["gen_ai.usage.output_tokens"] == 20
    assert attrs["pllm.request_id"] == rid and attrs["pllm.deployment"] == "gpt-4o.demo"
    assert request.start_time == int(started * 1e9)
    assert request.end_time == request.start_time + int(0.3 * 1e9)
    assert failed.status.status_code == StatusCode.ERROR
    assert (failed.attributes or {})["http.response.status_code"] == 529
    assert ok.status.status_code == StatusCode.UNSET
    assert failed.start_time is not None and ok.start_time is not None
    assert failed.start_time < ok.start_time
    assert broken.status.status_code == StatusCode.ERROR
    assert tracing._pending == {}


def test_tracing_is_on_only_when_the_environment_asks(
        caplog: pytest.LogCaptureFixture) -> None:
    assert build_tracing({}) is None
    assert build_tracing({"OTEL_TRACES_EXPORTER": "none"}) is None
    assert build_tracing({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}) is None
    with caplog.at_level(logging.WARNING):
        assert build_tracing({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}) is None
    assert "opentelemetry-exporter-otlp" in caplog.text
    tracing = build_tracing({"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "gw"})
    assert tracing is not None and tracing.provider is not None
    assert tracing.provider.resource.attributes["service.name"] == "gw"
    tracing.shutdown()


# -- the access log ----------------------------------------------------------------------
def capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    logger = logging.Logger("pllm.access.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger, out


def test_access_log_text_lines() -> None:
    logger, out = capture(TextFormatter())
    access = AccessLog(["sk-configured-provider-key-0123"], ["gpt-4o"], logger=logger)
    access(event())
    access(event(stream=True, ttft_s=0.0125, attempts=2, fallback="gpt-4o",
                 request_id="client id sk-configured-provider-key-0123"))
    access(event(model=SECRET_MODEL + ' "quoted"', status=404, error="model_not_found"))
    access.http("GET", "/admin/health", 200, 0.0015, None)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    first = lines[0].split(" INFO pllm.access.test: ", 1)[1]
    assert first == ("POST /v1/chat/completions 200 latency_ms=20.0 model=gpt-4o "
                     "deployment=gpt-4o.demo prompt_tokens=10 completion_tokens=20 "
                     "request_id=req_0123456789abcdef01234567 cost_usd=0.001")
    assert "stream=true ttft_ms=12.5 attempts=2 fallback=gpt-4o" in lines[1]
    assert 'request_id="client id [REDACTED]"' in lines[1]
    assert "model=\"sk-p…[REDACTED] \\\"quoted\\\"\"" in lines[2]
    assert "deployment=- " in lines[2] and "error=model_not_found" in lines[2]
    assert lines[3].endswith("GET /admin/health 200 latency_ms=1.5")
    text = out.getvalue()
    assert SECRET_MODEL not in text and "sk-configured-provider-key-0123" not in text


def test_access_log_json_lines() -> None:
    logger, out = capture(JsonFormatter())
    AccessLog((), ["gpt-4o"], logger=logger)(event(stream=True, ttft_s=0.01))
    record = json.loads(out.getvalue())
    assert record["logger"] == "pllm.access.test" and record["level"] == "INFO"
    assert record["message"] == "POST /v1/chat/completions 200"
    assert record["time"].endswith("Z") and "T" in record["time"]
    assert {k: record[k] for k in ("method", "path", "status", "model", "deployment",
                                   "prompt_tokens", "completion_tokens", "request_id",
                                   "stream", "ttft_ms")} == {
        "method": "POST", "path": "/v1/chat/completions", "status": 200, "model": "gpt-4o",
        "deployment": "gpt-4o.demo", "prompt_tokens": 10, "completion_tokens": 20,
        "request_id": "req_0123456789abcdef01234567", "stream": True, "ttft_ms": 10.0}
    assert record["latency_ms"] == 20.0


def test_access_log_below_its_level_does_nothing() -> None:
    logger, out = capture(TextFormatter())
    logger.setLevel(logging.WARNING)
    AccessLog(logger=logger)(event())
    assert out.getvalue() == ""


def test_access_lines_are_batched_and_other_records_written_at_once() -> None:
    out = io.StringIO()
    handler = BatchingHandler(out, interval=0.05)
    handler.setFormatter(TextFormatter())
    logger = logging.Logger("pllm.access.test")
    logger.addHandler(handler)
    access = AccessLog(logger=logger)
    try:
        access(event())
        access(event(status=404))
        assert out.getvalue() == ""  # waiting for the batch
        logger.info("config reloaded")  # not an access line: written now, after the two
        lines = out.getvalue().splitlines()
        assert [line.split(": ", 1)[1][:30] for line in lines] == [
            "POST /v1/chat/completions 200 ", "POST /v1/chat/completions 404 ", "config reloaded"]
        access(event())
        deadline = time.monotonic() + 5
        while out.getvalue().count("\n") < 4 and time.monotonic() < deadline:
            time.sleep(0.01)  # the writer thread's next batch
        assert out.getvalue().count("\n") == 4
    finally:
        handler.close()


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_json_format_applies_to_every_record_and_redacts(
        root_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    settings = demo_settings({"PLLM_MASTER_KEY": MASTER})
    settings = replace(settings, server=replace(settings.server, log_format="json",
                                                log_level="warning"))
    setup_logging(settings)
    logging.getLogger("some.library").warning("key is %s", MASTER)
    logging.getLogger("some.library").info("not shown")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("pllm.x").exception("failed")
    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["level"] for r in records] == ["WARNING", "ERROR"]
    assert records[0]["message"] == "key is [REDACTED]"
    assert "ValueError: boom" in records[1]["exc_info"]


def test_log_settings_in_the_config(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model_list: []\nserver: {metrics_port: 9090, log_format: json, "
                    "log_level: WARNING}\n")
    settings, issues = read_settings(path, environ={})
    assert settings is not None, [str(i) for i in issues]
    assert (settings.server.metrics_port, settings.server.log_format,
            settings.server.log_level) == (9090, "json", "warning")
    path.write_text("model_list: []\nserver: {port: 9000, metrics_port: 9000, "
                    "log_format: xml}\n")
    settings, issues = read_settings(path, environ={})
    errors = [str(i) for i in issues if i.severity == "error"]
    assert any("metrics_port" in e and ":2:" in e for e in errors), errors
    assert any("log_format must be one of text, json" in e for e in errors), errors


def test_the_grafana_dashboard_queries_only_exported_series(app: Quart) -> None:
    metrics: Metrics = app.extensions["pllm.metrics"]
    for e in (event(), event(stream=True, ttft_s=0.01, attempts=2, fallback="gpt-4o")):
        metrics.series.request_done(e)
    match = gateway_of(app).table.resolve("gpt-4o")
    assert match is not None
    no_request: Any = None  # read only by tracing, which is off
    metrics.attempt_done(no_request, match.targets[0], time.perf_counter(), None, True)
    metrics.refresh()
    samples = parse(generate_latest(metrics.registry).decode())
    exported = {name for (name, _) in samples}
    labels = {k for (_, ls) in samples for k, _ in ls}
    dashboard = json.loads((Path(__file__).parents[2] / "packaging" /
                            "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", ())]
    assert len(exprs) >= 25
    used = {n for e in exprs for n in re.findall(r"\b(?:pllm|gen_ai)_[a-z_]+", e)} - labels
    assert used - exported == set()
    assert {"pllm_requests_total", "pllm_deployment_health_score", "pllm_cost_usd_total",
            "pllm_gateway_overhead_seconds_bucket"} <= used
    for e in exprs:
        assert e.count("(") == e.count(")") and e.count("{") == e.count("}"), e
