"""`build_document(app, gw)`: pllm's OpenAPI 3.1 document, from the routes the app has.

Every rule in the app's URL map becomes an operation (so a route added by any module appears
without touching this file): the ones pllm knows (`openapi_openai`, `openapi_admin`) are
described precisely; an alias without `/v1` gets its `/v1` twin's description; any other route
gets a generic entry from its view function's docstring. The inference paths the ASGI fast
path serves (`inference.ROUTES`) are always included.
"""

from __future__ import annotations

import copy
import inspect
import re
from typing import Any

from quart import Quart

import pllm
from pllm.server import openapi_admin, openapi_openai, openapi_operate
from pllm.server.inference import ROUTES
from pllm.server.openapi_openai import ALIASES
from pllm.server.openapi_types import error_responses, json_content
from pllm.server.state import Gateway

__all__ = ["build_document", "openapi_path"]

_RULE_ARG = re.compile(r"<(?:(?P<conv>[^:<>]+):)?(?P<name>[^<>:]+)>")
_SKIP_METHODS = {"HEAD", "OPTIONS"}
_TAGS = [
    ("inference", "OpenAI-compatible inference: chat completions, completions, embeddings "
     "(each also without `/v1`)."),
    ("anthropic", "Anthropic's Messages API in front of every configured model."),
    ("models", "The model groups this gateway serves."),
    ("health", "Liveness and readiness probes (no auth)."),
    ("admin", "Operators' view of the deployments."),
    ("keys", "Virtual keys."), ("budgets", "Spend limits in USD."),
    ("limits", "Rate limits (rpm/tpm)."), ("audit", "The audit trail."),
    ("litellm", "LiteLLM's key management routes, with LiteLLM's field names."),
    ("operations", "Metrics, live statistics and configuration reload."),
    ("docs", "This document and Swagger UI."),
    ("other", "Routes without a detailed description."),
    ("aliases", "The same routes under other names: without `/v1`, and LiteLLM's health "
     "probe names."),
]
_AUTH_DOC = ("Authenticate with `Authorization: Bearer <key>` or `X-API-Key: <key>`: the master "
             "key, a virtual key (`sk-pllm-...`) or, when configured, a JWT. Errors are "
             "OpenAI's `{\"error\": {message, type, param, code}}` (Anthropic's shape on "
             "`/v1/messages`).")


def openapi_path(rule: str) -> str:
    """`/admin/keys/<key_id>` -> `/admin/keys/{key_id}` (converters dropped)."""
    return _RULE_ARG.sub(lambda m: "{" + m.group("name") + "}", rule)


def _rule_params(rule: str) -> list[dict[str, Any]]:
    out = []
    for m in _RULE_ARG.finditer(rule):
        conv = m.group("conv") or "string"
        schema = {"type": "integer"} if conv == "int" else {"type": "string"}
        param: dict[str, Any] = {"name": m.group("name"), "in": "path", "required": True,
                                 "schema": schema}
        if conv == "path":
            param["description"] = "May contain `/`."
        out.append(param)
    return out


def _operation_id(method: str, path: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "root"
    return f"{method}_{slug}"


def _tag_for(path: str) -> str:
    if path.startswith("/admin/"):
        return "admin"
    if path.startswith("/key/"):
        return "litellm"
    return "other"


def _generic(method: str, path: str, doc: str) -> dict[str, Any]:
    summary, _, rest = (doc or f"{method.upper()} {path}").partition("\n")
    op: dict[str, Any] = {
        "tags": [_tag_for(path)], "summary": summary.strip().rstrip("."),
        "description": (rest.strip() + "\n\n" if rest.strip() else "")
        + "(Generic entry: pllm's OpenAPI document has no detailed description of this "
          "route.)",
        "responses": {"200": {"description": "OK", "content": json_content({})},
                      **error_responses((400, 401, 403, 404, 429, 500))},
    }
    return op


def _alias_of(known: dict[tuple[str, str], dict[str, Any]], method: str,
              path: str) -> str | None:
    """The path this one repeats: its `/v1` twin, or a health probe's LiteLLM name."""
    twin = ALIASES.get(path) or "/v1" + path
    return twin if (method, twin) in known else None


def _describe(known: dict[tuple[str, str], dict[str, Any]], method: str, path: str,
              doc: str) -> dict[str, Any]:
    twin = _alias_of(known, method, path)
    if twin is None:
        if (method, path) in known:
            return copy.deepcopy(known[(method, path)])
        return _generic(method, path, doc)
    op = copy.deepcopy(known[(method, twin)])
    op["summary"] = f"{op.get('summary', '')} (same as {twin})".strip()
    op["tags"] = ["aliases"]
    return op


def _ensure_params(op: dict[str, Any], rule: str) -> None:
    have = {p.get("name") for p in op.get("parameters", []) if "name" in p}
    missing = [p for p in _rule_params(rule) if p["name"] not in have]
    if missing:
        op["parameters"] = [*op.get("parameters", []), *missing]


def _routes(app: Quart) -> list[tuple[str, str, str]]:
    """(method, werkzeug rule, view docstring) for every route, fast-path ones included."""
    out: list[tuple[str, str, str]] = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        doc = (inspect.getdoc(view) or "") if view is not None else ""
        for method in sorted(rule.methods or ()):
            if method not in _SKIP_METHODS:
                out.append((method.lower(), rule.rule, doc))
    seen = {(m, r) for m, r, _ in out}
    out += [("post", path, "") for path in ROUTES if ("post", path) not in seen]
    return out


def _example_model(gw: Gateway) -> str:
    """A served model for the examples "try it out" sends, when the model list is public
    anyway (an open gateway); else a common name: the document itself needs no key, so it
    tells nothing of the configuration that `/v1/models` would not tell without one."""
    names = [n for n in gw.settings.model_names() if "*" not in n]
    return names[0] if names and gw.gate.open else "gpt-4o-mini"


def build_document(app: Quart, gw: Gateway) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route `app` serves, as a JSON-ready dict."""
    known = {**openapi_openai.operations(_example_model(gw)), **openapi_admin.operations(),
             **openapi_operate.operations()}
    paths: dict[str, dict[str, Any]] = {}
    for method, rule, doc in _routes(app):
        path = openapi_path(rule)
        op = _describe(known, method, path, doc)
        op["operationId"] = _operation_id(method, path)
        _ensure_params(op, rule)
        paths.setdefault(path, {})[method] = op
    used = {t for item in paths.values() for op in item.values() for t in op.get("tags", [])}
    security: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyHeader": []}]
    description = "pllm, an LLM gateway. " + _AUTH_DOC
    if gw.gate.open:
        security.append({})
        description += (" This gateway runs without a master key or JWT: any key, or none, "
                        "is accepted.")
        models = ", ".join(f"`{n}`" for n in gw.settings.model_names()[:20])
        if models:
            description += f" Models served: {models}."
    return {
        "openapi": "3.1.0",
        "info": {"title": "pllm", "version": pllm.__version__, "description": description},
        "servers": [{"url": "/", "description": "This gateway"}],
        "tags": [{"name": n, "description": d} for n, d in _TAGS if n in used],
        "paths": dict(sorted(paths.items(), key=lambda kv: (kv[0].startswith("/v1/") is False,
                                                            kv[0]))),
        "components": {
            "schemas": {**openapi_openai.schemas(), **openapi_admin.schemas(),
                        **openapi_operate.schemas()},
            "headers": openapi_openai.HEADERS,
            "parameters": {"RequestIdHeader": {
                "name": "x-request-id", "in": "header", "required": False,
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:\\-]{1,128}$"},
                "description": "Your request id, echoed back and kept in the audit trail."}},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description":
                               "The master key, a virtual key (`sk-pllm-...`) or a JWT."},
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                                 "description": "The same keys, as Anthropic's SDK sends "
                                 "them (Azure's `api-key` header works too)."},
            },
        },
        "security": security,
    }
