"""Building blocks of pllm's OpenAPI document: JSON Schema helpers, schemas derived from the
dataclasses the handlers return (`KeyRecord`, `BudgetRecord`, ... with their attribute
docstrings as descriptions), and error responses derived from the exception tree in
`pllm/errors.py` (every `ApiError` subclass with its status, type and code, plus the codes the
code base raises them with, found by reading pllm's own source once).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import textwrap
import types
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import pllm
from pllm import errors
from pllm.errors import ApiError

__all__ = ["Schema", "arr", "dataclass_schema", "error_catalog", "error_responses",
           "field_schemas", "json_content", "nullable", "obj", "ref", "string_enum", "type_schema"]

Schema = dict[str, Any]
_NONE = type(None)
_SCALARS: dict[Any, Schema] = {str: {"type": "string"}, int: {"type": "integer"},
                               float: {"type": "number"}, bool: {"type": "boolean"}}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """The schema or JSON null (3.1 style; `openapi_compat` turns it into `nullable: true`)."""
    kind = schema.get("type")
    if isinstance(kind, str) and "$ref" not in schema and "anyOf" not in schema:
        out = {**schema, "type": [kind, "null"]}
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: Mapping[str, Schema], required: Iterable[str] = (), *,
        extra: bool | Schema = False, description: str | None = None) -> Schema:
    out: Schema = {"type": "object", "properties": dict(properties)}
    req = [r for r in required if r in properties]
    if req:
        out["required"] = req
    if extra is not False:
        out["additionalProperties"] = extra
    if description:
        out["description"] = description
    return out


def arr(items: Schema, description: str | None = None) -> Schema:
    out: Schema = {"type": "array", "items": items}
    if description:
        out["description"] = description
    return out


def string_enum(values: Iterable[str], description: str | None = None) -> Schema:
    out: Schema = {"type": "string", "enum": list(values)}
    if description:
        out["description"] = description
    return out


def json_content(schema: Schema, example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


# -- schemas from Python types ---------------------------------------------------------------
def type_schema(tp: Any) -> Schema:
    """JSON Schema for a type annotation of the kinds pllm's records use."""
    if tp is Any:
        return {}
    if tp in _SCALARS:
        return dict(_SCALARS[tp])
    if tp is _NONE:
        return {"type": "null"}
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        return string_enum([str(a) for a in args])
    if origin in (Union, types.UnionType):
        present = [a for a in args if a is not _NONE]
        inner = type_schema(present[0]) if len(present) == 1 else {
            "anyOf": [type_schema(a) for a in present]}
        return nullable(inner) if _NONE in args else inner
    if origin in (tuple, list, Sequence) or origin is Iterable:
        return arr(type_schema(args[0]) if args else {})
    if origin in (dict, Mapping):
        value = type_schema(args[1]) if len(args) == 2 else {}
        return {"type": "object", "additionalProperties": value or True}
    raise TypeError(f"no JSON Schema for {tp!r}")


@functools.lru_cache(maxsize=64)
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


@functools.lru_cache(maxsize=64)
def _field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (a string right after a field) and `#` comments of a dataclass."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    docs: dict[str, str] = {}
    lines = source.splitlines()
    for node, after in zip(body.body, [*body.body[1:], None], strict=True):
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        name = node.target.id
        if (isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            docs[name] = " ".join(after.value.value.split())
        elif "#" in lines[node.lineno - 1]:
            docs[name] = lines[node.lineno - 1].split("#", 1)[1].strip()
    return docs


def field_schemas(cls: type, names: Iterable[str]) -> dict[str, Schema]:
    """Each named field of a dataclass: its annotated type and its attribute docstring."""
    hints, docs = _hints(cls), _field_docs(cls)  # both cached: read, never changed
    out: dict[str, Schema] = {}
    for name in names:
        schema = type_schema(hints[name])
        if name in docs:
            schema["description"] = docs[name]
        out[name] = schema
    return out


def dataclass_schema(cls: type, *, omit: Iterable[str] = (), only: Sequence[str] | None = None,
                     extra: Mapping[str, Schema] | None = None,
                     description: str | None = None) -> Schema:
    """The JSON object a record's `to_dict()` makes: every field (in `only`'s order when
    given) with its annotated type and attribute docstring, plus `extra` computed fields.
    Every property is always present in the answers, so all are required."""
    names = list(only) if only is not None else [f.name for f in dataclasses.fields(cls)]
    dropped = set(omit)
    props = field_schemas(cls, [n for n in names if n not in dropped])
    props.update(extra or {})
    doc = description or " ".join((inspect.getdoc(cls) or "").split())
    return obj(props, props, description=doc or None)


# -- errors ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class ErrorKind:
    """One (status, type, code) a client can see, and the class that answers it."""

    status: int
    error_type: str
    code: str | None
    cls: str
    doc: str = ""
    scope: str = ""
    """`upstream`: a provider's failure (only on routes that call one); `store`: the
    database's (only on admin routes); empty: any route."""


def _subclasses(cls: type[ApiError]) -> list[type[ApiError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out += _subclasses(sub)
    return out


def _consts(call: ast.Call) -> dict[str, Any]:
    return {k.arg: k.value.value for k in call.keywords
            if k.arg and isinstance(k.value, ast.Constant)}


@functools.lru_cache(maxsize=1)
def error_catalog() -> tuple[ErrorKind, ...]:
    """Every kind of error pllm answers with: each class's own status/type/code, plus the
    `code=`/`status=` its raisers pass (read from pllm's source; skipped if it is absent)."""
    classes = {c.__name__: c for c in _subclasses(ApiError) if c.__module__ == errors.__name__}
    kinds: dict[tuple[int, str, str | None], ErrorKind] = {}

    def add(cls: type[ApiError], status: int, etype: str, code: str | None) -> None:
        doc = " ".join((cls.__doc__ or "").split()).split(". ")[0].rstrip(".")
        scope = ("upstream" if issubclass(cls, errors.UpstreamError) else
                 "store" if issubclass(cls, _STORE_ERRORS) else "")
        kinds.setdefault((status, etype, code),
                         ErrorKind(status, etype, code, cls.__name__, doc, scope))

    for cls in classes.values():
        if cls is not ApiError:  # the base: only as raised with a status and code
            add(cls, cls.status, cls.error_type, cls.code)
    for path in sorted(Path(pllm.__file__).parent.rglob("*.py")):
        try:
            text = path.read_text()
            tree = ast.parse(text) if "code=" in text else None
        except (OSError, SyntaxError):
            continue
        if tree is None:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            raised = classes.get(node.func.id)
            given = _consts(node)
            if raised is None or not isinstance(given.get("code"), str):
                continue
            status = given.get("status", raised.status)
            if any(k.arg == "upstream_status" for k in node.keywords):  # a ProviderError
                upstream = given.get("upstream_status")
                status = given.get("status", errors.client_status(upstream)
                                   if isinstance(upstream, int) else None)
            if isinstance(status, int):
                add(raised, status, str(given.get("error_type", raised.error_type)),
                    given["code"])
    return tuple(sorted(kinds.values(), key=lambda k: (k.status, k.code or "", k.cls)))


_STORE_ERRORS = (errors.InvalidRecord, errors.RecordNotFound, errors.StoreError)
_REASONS = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
            405: "Method not allowed", 413: "Request body too large", 429: "Too many requests",
            500: "Internal error", 501: "Not implemented", 502: "Bad gateway",
            503: "Unavailable", 504: "Upstream timeout"}
UPSTREAM_NOTE = ("An upstream provider's 4xx is passed on with its own status and message "
                 "(`ProviderError`).")


def _kinds(status: int, scopes: set[str]) -> list[ErrorKind]:
    return [k for k in error_catalog() if k.status == status and k.scope in scopes]


def _describe(status: int, scopes: set[str]) -> str:
    lines = [_REASONS.get(status, "Error") + "."]
    for k in _kinds(status, scopes):
        code = f"`{k.code}`" if k.code else "no code"
        doc = f": {k.doc}" if k.doc else ""
        lines.append(f"- {code} (type `{k.error_type}`, {k.cls}){doc}")
    text = "\n".join(lines)
    if "upstream" in scopes and 400 <= status < 500 and status != 413:
        text += "\n\n" + UPSTREAM_NOTE
    return text


def _example(status: int, scopes: set[str]) -> dict[str, Any] | None:
    for k in _kinds(status, scopes - {"upstream"}) or _kinds(status, scopes):
        return {"error": {"message": _REASONS.get(status, "Error"), "type": k.error_type,
                          "param": None, "code": k.code}}
    return None


def error_responses(statuses: Iterable[int], *, schema: str = "Error",
                    upstream: bool = False, store: bool = False) -> dict[str, Any]:
    """Responses for the given statuses, each listing the codes pllm can answer with there:
    provider failures only where `upstream`, database failures only where `store`."""
    scopes = {""} | ({"upstream"} if upstream else set()) | ({"store"} if store else set())
    out: dict[str, Any] = {}
    for status in statuses:
        response: dict[str, Any] = {
            "description": _describe(status, scopes),
            "headers": {"x-request-id": {"$ref": "#/components/headers/RequestId"}},
            "content": json_content(ref(schema),
                                    _example(status, scopes) if schema == "Error" else None),
        }
        if status in (429, 503):
            response["headers"]["retry-after"] = {"$ref": "#/components/headers/RetryAfter"}
        if status == 429:
            response["headers"]["x-should-retry"] = {"$ref": "#/components/headers/ShouldRetry"}
        out[str(status)] = response
    return out
