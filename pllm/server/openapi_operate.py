"""The operating routes in pllm's OpenAPI document: `/metrics`, the live admin feed the
dashboard reads (`/admin/stats`, `/admin/events`, `/admin/requests`, `/admin/config`),
`POST /admin/reload`, and the documentation routes themselves. Each appears only when the app
registers it (`/metrics` may live on its own port).

A request row is described from `RequestDone` (the record every observer gets), a config issue
from `Issue`; the stats snapshot lists its fields as `stats_view` writes them (docs/tui.md
has the meaning of each) and stays open to new ones.
"""

from __future__ import annotations

from typing import Any

from pllm.errors import Issue
from pllm.server.events import RequestDone
from pllm.server.openapi_admin import READ, READ_ERRORS, WRITE, op, param, query
from pllm.server.openapi_types import Schema, arr, field_schemas, nullable, obj, ref

__all__ = ["operations", "schemas"]

STR, INT, NUM, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "number"}, \
    {"type": "boolean"}
ANY_OBJECT: Schema = {"type": "object", "additionalProperties": True}
_EVENT_FIELDS = ("request_id", "endpoint", "model", "model_group", "deployment", "provider",
                 "status", "stream", "attempts", "fallback", "prompt_tokens",
                 "completion_tokens", "key_name", "key_id", "user_id", "team_id", "error",
                 "cache_hit")


def _ms(text: str) -> Schema:
    return nullable({**NUM, "description": text + " (milliseconds)."})


def schemas() -> dict[str, Schema]:
    """The component schemas of this part, by name."""
    request_row = obj({
        "seq": {**INT, "description": "Position in this process's feed of ended requests."},
        "ts": {**NUM, "description": "Unix time the request arrived."},
        **field_schemas(RequestDone, _EVENT_FIELDS),
        "latency_ms": _ms("Arrival to the end of the answer"),
        "ttft_ms": _ms("Arrival to the first chunk (streams)"),
        "overhead_ms": _ms("pllm's own time, non-streamed answers"),
        "cost_usd": NUM,
    }, ["seq", "request_id", "endpoint", "status"], extra=True,
        description="One ended request (no prompts, no keys).")
    dep_row = obj({
        "id": STR, "model_group": STR, "provider": STR, "model": STR,
        "health": {**NUM, "minimum": 0, "maximum": 100},
        "circuit": STR, "consecutive_failures": INT, "open_for_s": NUM, "in_flight": INT,
        "rps": NUM, "requests_1m": INT, "p50_ms": nullable(NUM), "p95_ms": nullable(NUM),
        "error_rate": NUM, "rpm_used": INT, "rpm_limit": nullable(INT), "tpm_used": INT,
        "tpm_limit": nullable(INT), "attempts": INT, "failures": INT,
    }, ["id", "model_group", "health"], extra=True)
    stats = obj({
        "ts": NUM, "uptime_s": NUM, "pid": INT, "strategy": STR, "event_clients": INT,
        "in_flight": INT, "rps": NUM, "requests_1m": INT, "p50_ms": nullable(NUM),
        "p95_ms": nullable(NUM), "error_rate": NUM, "deployments": arr(dep_row),
        "totals": obj({"today": ANY_OBJECT, "since_start": ANY_OBJECT}, extra=True),
        "series": {**ANY_OBJECT, "description": "Per-second requests, errors and latency "
                   "over the last minutes (`step_s`, `end`, one array per measure)."},
    }, ["ts", "deployments"], extra=True,
        description="A snapshot of this process's traffic (see docs/tui.md).")
    issue = obj({**field_schemas(Issue, ["severity", "file", "line", "column", "path",
                                         "message"]),
                 "text": {**STR, "description": "`file:line:col: path: message`"}},
                ["severity", "message"], extra=True)
    reload = obj({"reloaded": BOOL, "errors": arr(ref("ConfigIssue")),
                  "warnings": arr(ref("ConfigIssue")),
                  "restart_required": arr(STR, "Settings that change only with a restart."),
                  "models": arr(STR, "The model groups served now.")},
                 ["reloaded", "errors", "warnings", "models"], extra=True)
    return {"Stats": stats, "RequestRow": request_row, "ConfigIssue": issue,
            "ReloadResult": reload}


def _operating() -> dict[tuple[str, str], dict[str, Any]]:
    events_doc = ("Server-sent events: a `stats` event (a `Stats` snapshot) every second and a "
                  "`requests` event (`{\"requests\": [RequestRow]}`) with the requests that "
                  "ended since the last one. Endless: it ends when the client leaves. " + READ)
    metrics = op("operations", "Prometheus metrics",
                 {**STR, "description": "Prometheus text exposition format (OpenMetrics when "
                  "the scraper asks for it)."}, content_type="text/plain",
                 role=READ + " With `server.metrics_port` it is served on that port instead, "
                 "without auth.")
    events = op("operations", "Live feed (SSE)", {**STR, "description": events_doc},
                content_type="text/event-stream")
    events["description"] = events_doc
    reload = op("operations", "Reload the configuration file", ref("ReloadResult"), role=WRITE,
                errors=(400, 401, 403, 429, 500))
    reload["responses"]["422"] = {
        "description": "The new configuration was refused (every error listed with "
                       "file:line:col); the running one stays.",
        "content": {"application/json": {"schema": ref("ReloadResult")}}}
    return {
        ("get", "/metrics"): metrics,
        ("get", "/admin/stats"): op(
            "operations", "Live statistics", ref("Stats"), errors=(400, *READ_ERRORS),
            params=[query("minutes", "Minutes of time series to include (default 5).", INT)]),
        ("get", "/admin/events"): events,
        ("get", "/admin/requests"): op(
            "operations", "Recent requests", obj({"requests": arr(ref("RequestRow")),
                                                  "seq": INT}, ["requests"]),
            errors=(400, *READ_ERRORS), params=[
                query("limit", "At most this many (1-1000, default 100).", INT),
                query("status", "`429`, a class (`5xx`), `ok` or `error`."),
                query("model", "A part of the model, model group or deployment."),
                query("key", "A part of the key's name or id.")]),
        ("get", "/admin/config"): op(
            "operations", "The loaded configuration (secrets masked)", ANY_OBJECT,
            role=READ),
        ("post", "/admin/reload"): reload,
    }


def _docs() -> dict[tuple[str, str], dict[str, Any]]:
    def plain(summary: str, schema: Schema, kind: str = "application/json") -> dict[str, Any]:
        return op("docs", summary, schema, role="", errors=(), secure=False,
                  content_type=kind)

    return {
        ("get", "/openapi.json"): plain("This OpenAPI 3.1 document", {"type": "object"}),
        ("get", "/swagger"): plain("Swagger UI", {**STR, "description": "An HTML page."},
                                   "text/html"),
        ("get", "/swagger/openapi-3.0.json"): plain(
            "This document as OpenAPI 3.0 (for the bundled Swagger UI 4)", {"type": "object"}),
        ("get", "/swagger/init.js"): plain("Swagger UI's start-up script", dict(STR),
                                           "text/javascript"),
        ("get", "/swagger/static/{filename}"): {**op(
            "docs", "Swagger UI's files (from the swagger-ui-bundle package)",
            {**STR, "format": "binary"}, role="", errors=(404,), secure=False,
            content_type="application/octet-stream"),
            "parameters": [param("filename", "A file name, e.g. `swagger-ui.css`.")]},
    }


def operations() -> dict[tuple[str, str], dict[str, Any]]:
    """Known operations by (method, OpenAPI path)."""
    return {**_operating(), **_docs()}
