"""`GET /openapi.json` and `GET /swagger` on a real `pllm serve`: the document validates as
OpenAPI 3.1, lists every route the app registers, and describes what the server really answers
(SDK answers, streamed chunks, errors and admin records checked against its schemas); Swagger
UI's page and assets are served by pllm from local paths only; and, where Chromium is
installed, the page renders headless, "try it out" works with a bearer key, and the page
requests nothing outside the gateway."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import openai
import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator
from server import PllmServer

from pllm.config import demo_settings
from pllm.server.app import create_app
from pllm.server.inference import ROUTES
from pllm.server.openapi_spec import openapi_path
from pllm.store import Store

sys.path.insert(0, str(Path(__file__).parents[2] / "scripts"))
import swagger_screenshot

pytestmark = pytest.mark.e2e

MASTER = "sk-master-openapi-e2e-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {MASTER}"}
HELLO = [{"role": "user", "content": "hello openapi"}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PllmServer]:
    with PllmServer(tmp_path_factory.mktemp("openapi"), demo=True,
                    env={"PLLM_MASTER_KEY": MASTER}) as s:
        yield s


@pytest.fixture(scope="module")
def doc(server: PllmServer) -> dict[str, Any]:
    r = httpx.get(server.url + "/openapi.json")  # no key needed
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    return r.json()  # type: ignore[no-any-return]


def conforms(doc: dict[str, Any], name: str, value: Any) -> None:
    """`value` is valid against components/schemas/`name` (refs resolved in `doc`)."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    errors = [e.message for e in OAS31Validator(schema).iter_errors(value)]
    assert errors == [], (name, errors, value)


def test_the_document_validates_in_both_forms(server: PllmServer, doc: dict[str, Any]) -> None:
    validate(doc, cls=OpenAPIV31SpecValidator)
    r = httpx.get(server.url + "/swagger/openapi-3.0.json")
    assert r.status_code == 200
    validate(r.json(), cls=OpenAPIV30SpecValidator)
    assert r.json()["paths"].keys() == doc["paths"].keys()


def test_every_route_the_app_registers_is_documented(tmp_path: Path,
                                                     doc: dict[str, Any]) -> None:
    """The same app the server runs (demo settings, a master key), built here to read its
    route map; plus the paths the ASGI fast path answers before Quart."""
    app = create_app(demo_settings({"PLLM_MASTER_KEY": MASTER}),
                     store=Store.open(tmp_path / "pllm.db"))
    routes = {(m.lower(), openapi_path(rule.rule)) for rule in app.url_map.iter_rules()
              for m in rule.methods or () if m not in ("HEAD", "OPTIONS")}
    routes |= {("post", path) for path in ROUTES}
    documented = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert routes - documented == set()
    assert {("get", "/metrics"), ("get", "/admin/stats"), ("post", "/admin/reload"),
            ("post", "/v1/messages"), ("post", "/key/generate")} <= documented


def test_openai_answers_match_their_schemas(server: PllmServer, doc: dict[str, Any]) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=MASTER, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini",
                                                           messages=HELLO)
    conforms(doc, "ChatCompletion", json.loads(raw.http_response.text))
    headers = doc["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["headers"]
    assert {"x-request-id", "x-pllm-model", "x-pllm-cost"} <= set(headers)
    assert all(h in raw.headers for h in ("x-request-id", "x-pllm-model", "x-pllm-cost"))
    with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=HELLO, stream=True,
            stream_options={"include_usage": True}) as stream:
        events = [line[6:] for line in stream.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]" and len(events) > 2
    for event in events[:-1]:
        conforms(doc, "ChatCompletionChunk", json.loads(event))
    emb = client.embeddings.with_raw_response.create(model="text-embedding-3-small",
                                                     input="x")
    conforms(doc, "Embeddings", json.loads(emb.http_response.text))
    legacy = client.completions.with_raw_response.create(model="gpt-4o-mini", prompt="hi")
    conforms(doc, "Completion", json.loads(legacy.http_response.text))
    models = client.models.with_raw_response.list()
    conforms(doc, "ModelList", json.loads(models.http_response.text))
    request = doc["components"]["schemas"]["ChatCompletionRequest"]
    assert request["required"] == ["model", "messages"]
    example = doc["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"][
        "application/json"]["example"]
    conforms(doc, "ChatCompletionRequest", example)
    assert example["model"] in {m.id for m in client.models.list()}  # "try it out" works


def test_anthropic_answers_match_their_schemas(server: PllmServer,
                                              doc: dict[str, Any]) -> None:
    import anthropic

    client = anthropic.Anthropic(base_url=server.url, api_key=MASTER, max_retries=0)
    raw = client.messages.with_raw_response.create(model="gpt-4o-mini", max_tokens=64,
                                                   messages=HELLO)  # type: ignore[arg-type]
    conforms(doc, "AnthropicMessage", json.loads(raw.http_response.text))
    count = client.messages.with_raw_response.count_tokens(model="gpt-4o-mini",
                                                           messages=HELLO)  # type: ignore[arg-type]
    conforms(doc, "AnthropicTokenCount", json.loads(count.http_response.text))
    bad = httpx.post(server.url + "/v1/messages", headers={"x-api-key": "sk-wrong"},
                     json={"model": "gpt-4o-mini"})
    assert bad.status_code == 401
    conforms(doc, "AnthropicError", bad.json())


@pytest.mark.parametrize(("path", "headers", "body", "status"), [
    ("/v1/chat/completions", {"Authorization": "Bearer sk-wrong"}, {}, 401),
    ("/v1/chat/completions", AUTH, {"model": "no-such-model", "messages": HELLO}, 404),
    ("/v1/chat/completions", AUTH, {"model": "gpt-4o-mini"}, 400),
    ("/admin/keys", AUTH, {"role": "user"}, 400),
])
def test_errors_are_documented_with_their_status_and_shape(
        server: PllmServer, doc: dict[str, Any], path: str, headers: dict[str, str],
        body: dict[str, Any], status: int) -> None:
    r = httpx.post(server.url + path, headers=headers, json=body, timeout=30)
    assert r.status_code == status, r.text
    response = doc["paths"][path]["post"]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    conforms(doc, schema, r.json())
    assert r.json()["error"]["code"] is None or f"`{r.json()['error']['code']}`" in \
        response["description"]


def test_admin_records_match_their_schemas(server: PllmServer, doc: dict[str, Any]) -> None:
    def call(method: str, path: str, **kw: Any) -> Any:
        r = httpx.request(method, server.url + path, headers=AUTH, timeout=10, **kw)
        assert r.status_code < 300, r.text
        return r.json()

    created = call("POST", "/admin/keys", json={"name": "doc", "models": ["gpt-4o-mini"],
                                                "rpm": 10, "budget": 5})
    conforms(doc, "CreatedKey", created)
    conforms(doc, "Key", call("GET", f"/admin/keys/{created['id']}"))
    for key in call("GET", "/admin/keys")["keys"]:
        conforms(doc, "Key", key)
    for budget in call("GET", "/admin/budgets")["budgets"]:
        conforms(doc, "Budget", budget)
    conforms(doc, "Limit", call("PUT", "/admin/limits", json={"scope": "model",
                                                              "subject": "gpt-4o", "rpm": 5}))
    conforms(doc, "DeploymentsHealth", call("GET", "/admin/health"))
    for row in call("GET", "/admin/audit")["rows"]:
        conforms(doc, "AuditRow", row)
    for event in call("GET", "/admin/audit/events")["events"]:
        conforms(doc, "AdminEvent", event)
    conforms(doc, "LiteLLMGeneratedKey", call("POST", "/key/generate",
                                              json={"key_alias": "lite", "max_budget": 1}))
    conforms(doc, "Stats", call("GET", "/admin/stats"))
    for row in call("GET", "/admin/requests")["requests"]:
        conforms(doc, "RequestRow", row)


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.refs.append(value)
        self._in_script = tag == "script" and not dict(attrs).get("src")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


def test_swagger_page_and_its_assets_are_served_locally(server: PllmServer) -> None:
    page = httpx.get(server.url + "/swagger")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "http" not in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    parser = _Refs()
    parser.feed(page.text)
    assert parser.inline_scripts == 0  # CSP allows none
    assert len(parser.refs) >= 4
    for ref in parser.refs:
        assert not urlsplit(ref).scheme and not urlsplit(ref).netloc, ref
        r = httpx.get(urljoin(server.url + "/swagger", ref))
        assert r.status_code == 200 and r.content, ref
    init = httpx.get(server.url + "/swagger/init.js").text
    assert "persistAuthorization: true" in init and "validatorUrl: null" in init
    assert "http" not in init and "//" not in init
    spec_url = init.split("url: ")[1].split(",")[0].strip('"')
    assert httpx.get(urljoin(server.url + "/swagger", spec_url)).json()["openapi"] == "3.0.3"
    for refused in ("index.html", "swagger-initializer.js", "..%2Fopenapi.json"):
        assert httpx.get(f"{server.url}/swagger/static/{refused}").status_code == 404


@pytest.mark.skipif(swagger_screenshot.find_chromium() is None,
                    reason="Chromium is not installed (apt-get install chromium)")
def test_swagger_renders_in_headless_chromium(server: PllmServer, doc: dict[str, Any],
                                              tmp_path: Path) -> None:
    import asyncio

    report = asyncio.run(swagger_screenshot.inspect_swagger(
        server.url, tmp_path / "swagger.png", key=MASTER,
        chromium=swagger_screenshot.find_chromium() or ""))
    assert report.problems() == []
    assert report.operations >= sum(len(item) for item in doc["paths"].values())
    assert report.try_status == "200" and report.persisted is True
    assert report.external == [] and report.requests  # it did load things, all local
    assert (tmp_path / "swagger-try.png").stat().st_size > 20_000


def test_the_screenshot_script_skips_without_chromium(capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path) -> None:
    code = swagger_screenshot.main(["--chromium", str(tmp_path / "no-chromium"),
                                    "--out", str(tmp_path / "x.png")])
    assert code == 0 and "skipped: Chromium is not installed" in capsys.readouterr().out
    assert not (tmp_path / "x.png").exists()
