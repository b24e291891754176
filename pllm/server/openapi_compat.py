"""pllm's OpenAPI 3.1 document rewritten as OpenAPI 3.0.3, for Swagger UI 4 (what the
`swagger-ui-bundle` package ships), which renders only 3.0 documents.

The document is written in the part of JSON Schema both versions share, except for the ways
3.1 says "or null": `type: [T, "null"]` and `anyOf: [..., {type: null}]` become
`nullable: true`; `const` becomes a one-value `enum`; `examples` becomes `example`. Nothing
else differs in what pllm's document uses.
"""

from __future__ import annotations

from typing import Any

__all__ = ["to_openapi_30"]

_NULL = {"type": "null"}


def _schema(s: Any) -> Any:
    if not isinstance(s, dict):
        return s
    out: dict[str, Any] = {}
    nullable = False
    for key, value in s.items():
        if key == "properties":
            out[key] = {name: _schema(p) for name, p in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties"
                                         and isinstance(value, dict)):
            out[key] = _schema(value)
        elif key in ("anyOf", "oneOf", "allOf"):
            rest = [_schema(x) for x in value if x != _NULL]
            nullable = nullable or len(rest) < len(value)
            if len(rest) == 1 and key != "allOf":
                single = rest[0]
                # A lone $ref ignores its siblings in 3.0: wrap it so `nullable` applies.
                out.update({"allOf": [single]} if "$ref" in single else single)
            else:
                out[key] = rest
        elif key == "type" and isinstance(value, list):
            kinds = [t for t in value if t != "null"]
            nullable = nullable or len(kinds) < len(value)
            if len(kinds) == 1:
                out["type"] = kinds[0]
            else:
                out["anyOf"] = [{"type": t} for t in kinds]
        elif key == "const":
            out["enum"] = [value]
        elif key == "examples" and isinstance(value, list):
            if value:
                out["example"] = value[0]
        else:
            out[key] = value
    if nullable:
        out["nullable"] = True
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def _media(content: dict[str, Any]) -> dict[str, Any]:
    return {kind: {**media, "schema": _schema(media["schema"])} if "schema" in media else media
            for kind, media in content.items()}


def _with_schema(thing: dict[str, Any]) -> dict[str, Any]:
    """A parameter, header, request body or response: its schema and its content."""
    out = dict(thing)
    if "schema" in out:
        out["schema"] = _schema(out["schema"])
    if "content" in out:
        out["content"] = _media(out["content"])
    if "headers" in out:
        out["headers"] = {n: _with_schema(h) for n, h in out["headers"].items()}
    return out


def _operation(op: dict[str, Any]) -> dict[str, Any]:
    out = dict(op)
    if "parameters" in out:
        out["parameters"] = [_with_schema(p) for p in out["parameters"]]
    if "requestBody" in out:
        out["requestBody"] = _with_schema(out["requestBody"])
    out["responses"] = {s: _with_schema(r) for s, r in out.get("responses", {}).items()}
    return out


_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def to_openapi_30(doc: dict[str, Any]) -> dict[str, Any]:
    """A new document; `doc` is not modified."""
    out = {k: v for k, v in doc.items() if k not in ("jsonSchemaDialect", "webhooks")}
    out["openapi"] = "3.0.3"
    info = {k: v for k, v in doc.get("info", {}).items() if k != "summary"}
    if "license" in info:
        info["license"] = {k: v for k, v in info["license"].items() if k != "identifier"}
    out["info"] = info
    paths: dict[str, Any] = {}
    for path, item in doc.get("paths", {}).items():
        new = {k: (_operation(v) if k in _METHODS else v) for k, v in item.items()}
        if "parameters" in item:
            new["parameters"] = [_with_schema(p) for p in item["parameters"]]
        paths[path] = new
    out["paths"] = paths
    comp = dict(doc.get("components", {}))
    if "schemas" in comp:
        comp["schemas"] = {n: _schema(s) for n, s in comp["schemas"].items()}
    for part in ("parameters", "headers", "responses", "requestBodies"):
        if part in comp:
            comp[part] = {n: _with_schema(x) for n, x in comp[part].items()}
    out["components"] = comp
    return out
