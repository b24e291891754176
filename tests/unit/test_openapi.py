"""pllm's OpenAPI document, built in process: it validates as OpenAPI 3.1 (and its 3.0 form
as 3.0), it lists every route of the app (a route added later included), its schemas come from
the records and errors the handlers use, and the 3.1 -> 3.0 rewrite keeps what a schema
accepts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator
from quart import Quart

from pllm import errors
from pllm.config import demo_settings
from pllm.server.app import create_app
from pllm.server.inference import ROUTES
from pllm.server.openapi_compat import to_openapi_30
from pllm.server.openapi_spec import openapi_path
from pllm.server.openapi_types import dataclass_schema, error_catalog, type_schema
from pllm.store import KeyRecord, Store
from pllm.store.records import ROLES

MASTER = "sk-master-openapi-unit-0123456789"


def _app(tmp_path: Path, master: bool = True) -> Quart:
    env = {"PLLM_MASTER_KEY": MASTER} if master else {}
    return create_app(demo_settings(env), store=Store.open(tmp_path / "pllm.db"))


def _get(app: Quart, *paths: str) -> list[tuple[int, Any]]:
    async def run() -> list[tuple[int, Any]]:
        out = []
        async with app.test_app() as test_app:
            client = test_app.test_client()
            for path in paths:
                r = await client.get(path)
                out.append((r.status_code, json.loads(await r.get_data())))
        return out

    return asyncio.run(run())


@pytest.fixture
def docs(tmp_path: Path) -> Iterator[tuple[Quart, dict[str, Any], dict[str, Any]]]:
    app = _app(tmp_path)
    (s31, doc), (s30, doc30) = _get(app, "/openapi.json", "/swagger/openapi-3.0.json")
    assert (s31, s30) == (200, 200)
    yield app, doc, doc30


def test_both_forms_validate(docs: tuple[Quart, dict[str, Any], dict[str, Any]]) -> None:
    _, doc, doc30 = docs
    assert doc["openapi"] == "3.1.0" and doc30["openapi"] == "3.0.3"
    validate(doc, cls=OpenAPIV31SpecValidator)
    validate(doc30, cls=OpenAPIV30SpecValidator)
    text = json.dumps(doc30)
    assert '"type": "null"' not in text and '"type": [' not in text  # 3.1's ways only


def test_every_route_of_the_app_is_in_the_document(
        docs: tuple[Quart, dict[str, Any], dict[str, Any]]) -> None:
    app, doc, _ = docs
    expected = {(m.lower(), openapi_path(r.rule)) for r in app.url_map.iter_rules()
                for m in r.methods or () if m not in ("HEAD", "OPTIONS")}
    expected |= {("post", path) for path in ROUTES}
    listed = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert expected - listed == set()
    assert listed - expected == set()  # nothing described that the app does not serve
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_a_route_added_later_gets_a_generic_entry_from_its_docstring(tmp_path: Path) -> None:
    app = _app(tmp_path)

    async def custom(thing: str) -> str:
        """Report on a thing.

        Made up for this test."""
        return thing

    app.add_url_rule("/admin/things/<thing>", "custom", custom, methods=["GET", "DELETE"])
    [(status, doc)] = _get(app, "/openapi.json")
    assert status == 200
    op = doc["paths"]["/admin/things/{thing}"]["get"]
    assert op["summary"] == "Report on a thing"
    assert "Made up for this test." in op["description"]
    assert op["parameters"][0]["name"] == "thing" and op["parameters"][0]["in"] == "path"
    assert "delete" in doc["paths"]["/admin/things/{thing}"]
    validate(doc, cls=OpenAPIV31SpecValidator)


def test_security_is_optional_only_on_an_open_gateway(tmp_path: Path) -> None:
    [(_, closed)] = _get(_app(tmp_path / "a"), "/openapi.json")
    [(_, open_)] = _get(_app(tmp_path / "b", master=False), "/openapi.json")
    assert {} not in closed["security"] and {} in open_["security"]
    # Needing no key, the document tells no more of the config than /v1/models would.
    assert "claude-3-5-sonnet" in json.dumps(open_)
    assert "claude-3-5-sonnet" not in json.dumps(closed)
    schemes = closed["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http",
                                     "scheme": "bearer"}
    assert schemes["apiKeyHeader"]["name"] == "X-API-Key"
    assert closed["paths"]["/health"]["get"]["security"] == []
    assert "security" not in closed["paths"]["/v1/chat/completions"]["post"]  # the default


def test_inference_lists_the_error_statuses_pllm_answers(
        docs: tuple[Quart, dict[str, Any], dict[str, Any]]) -> None:
    _, doc, _ = docs
    responses = doc["paths"]["/v1/chat/completions"]["post"]["responses"]
    for status in ("400", "401", "403", "404", "413", "429", "500", "502", "503", "504"):
        assert responses[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"}, status
    assert "`budget_exceeded`" in responses["429"]["description"]
    assert "`model_not_allowed`" in responses["403"]["description"]
    assert "ProviderError" in responses["400"]["description"]  # upstream 4xx pass through
    assert "InvalidRecord" not in responses["400"]["description"]  # a store error
    admin = doc["paths"]["/admin/keys"]["post"]["responses"]
    assert "InvalidRecord" in admin["400"]["description"]
    assert "ProviderError" not in admin["400"]["description"]
    assert "`store_unavailable`" in admin["503"]["description"]
    assert set(responses["200"]["content"]) == {"application/json", "text/event-stream"}
    assert "x-pllm-overhead-ms" in responses["200"]["headers"]
    anthropic = doc["paths"]["/v1/messages"]["post"]["responses"]["401"]
    assert anthropic["content"]["application/json"]["schema"]["$ref"].endswith(
        "/AnthropicError")


def test_error_catalog_comes_from_the_error_tree_and_its_raisers() -> None:
    kinds = error_catalog()
    names = {k.cls for k in kinds}
    for cls in vars(errors).values():
        if isinstance(cls, type) and issubclass(cls, errors.ApiError) \
                and cls is not errors.ApiError:
            assert cls.__name__ in names
    codes = {(k.status, k.code) for k in kinds}
    # codes only passed where raised, not set on the class
    assert {(403, "insufficient_role"), (429, "too_many_auth_failures"),
            (405, "method_not_allowed"), (500, "internal_error")} <= codes


def test_record_schemas_follow_the_dataclasses() -> None:
    schema = dataclass_schema(KeyRecord, omit=["key_hash"])
    props = schema["properties"]
    assert "key_hash" not in props and set(schema["required"]) == set(props)
    assert props["role"]["enum"] == list(ROLES)
    assert props["models"]["type"] == ["array", "null"]
    assert "every model" in props["models"]["description"]  # the attribute's docstring
    assert type_schema(int | None) == {"type": ["integer", "null"]}


def _check(schema: dict[str, Any], value: Any) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(value)


def _check30(schema: dict[str, Any], value: Any) -> bool:
    """A 3.0 schema's meaning, for jsonschema: `nullable` adds null."""
    from openapi_schema_validator import OAS30Validator

    return bool(OAS30Validator(schema).is_valid(value))


@pytest.mark.parametrize("schema", [
    {"type": ["string", "null"]},
    {"type": ["string", "null"], "enum": ["a", None]},
    {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    {"type": "object", "properties": {"x": {"anyOf": [{"type": "array", "items": {
        "type": "string"}}, {"type": "null"}]}}},
    {"const": "a"},
])
def test_the_30_rewrite_accepts_what_the_31_schema_accepts(schema: dict[str, Any]) -> None:
    doc = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {},
           "components": {"schemas": {"S": schema}}}
    rewritten = to_openapi_30(doc)["components"]["schemas"]["S"]
    for value in ("a", "b", None, 3, {"x": None}, {"x": ["a"]}, {"x": [1]}):
        assert _check(schema, value) == _check30(rewritten, value), (schema, rewritten, value)


def test_a_nullable_reference_keeps_its_null_in_30() -> None:
    doc = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {},
           "components": {"schemas": {"A": {"type": "string"}, "S": {
               "anyOf": [{"$ref": "#/components/schemas/A"}, {"type": "null"}]}}}}
    out = to_openapi_30(doc)
    assert out["components"]["schemas"]["S"] == {
        "allOf": [{"$ref": "#/components/schemas/A"}], "nullable": True}
    validate(out, cls=OpenAPIV30SpecValidator)


def test_rule_paths() -> None:
    assert openapi_path("/admin/keys/<key_id>") == "/admin/keys/{key_id}"
    assert openapi_path("/v1/models/<path:model_id>") == "/v1/models/{model_id}"
    assert openapi_path("/a/<int(min=1):n>/b") == "/a/{n}/b"
