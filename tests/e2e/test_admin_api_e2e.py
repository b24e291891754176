"""The admin REST API end to end (`/admin/keys`, `/admin/budgets`, `/admin/limits`,
`/admin/audit`) with the master key and with role-bearing virtual keys, checked by the effect
each change has on the very next request through the `openai` SDK. A secret is returned once,
by the call that made it; no later admin response carries it or its sha256."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from mockups import MockUpstream
from server import PllmServer

pytestmark = pytest.mark.e2e

UPSTREAM_KEY = "sk-upstream-admin-e2e-0123456789abcdef"
MASTER = "sk-master-admin-e2e-0123456789abcdef"
HELLO = [{"role": "user", "content": "hello"}]
IN_PRICE, OUT_PRICE = 0.000001, 0.000002
CONFIG = f"""
model_list:
  - model_name: m1
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {{url}}/v1
      api_key: os.environ/TEST_UPSTREAM_KEY
    model_info: {{{{input_cost_per_token: {IN_PRICE}, output_cost_per_token: {OUT_PRICE}}}}}
  - model_name: m2
    litellm_params:
      model: openai/gpt-4o
      api_base: {{url}}/v1
      api_key: os.environ/TEST_UPSTREAM_KEY
    model_info: {{{{input_cost_per_token: {IN_PRICE}, output_cost_per_token: {OUT_PRICE}}}}}
router:
  retries: 0
general_settings:
  master_key: os.environ/TEST_MASTER_KEY
"""


class Recorder:
    """Every admin response body, in order, and each secret with the index of the response
    that returned it."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.secrets: list[tuple[int, str]] = []

    def hook(self, response: httpx.Response) -> None:
        response.read()
        self.bodies.append(response.text)

    def secret_from(self, response: httpx.Response) -> str:
        secret: str = response.json()["key"]
        assert secret.startswith("sk-pllm-")
        self.secrets.append((len(self.bodies) - 1, secret))
        return secret


RECORDER = Recorder()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PllmServer]:
    with MockUpstream("openai", api_key=UPSTREAM_KEY) as up:
        server = PllmServer(tmp_path_factory.mktemp("admin"), CONFIG.format(url=up.url),
                            env={"TEST_UPSTREAM_KEY": UPSTREAM_KEY, "TEST_MASTER_KEY": MASTER},
                            args=("--log-level", "debug"))
        with server:
            yield server


@pytest.fixture
def api(gateway: PllmServer) -> Callable[[str], httpx.Client]:
    """httpx clients on the gateway for a given key; every response is recorded."""
    made: list[httpx.Client] = []

    def client(key: str) -> httpx.Client:
        c = httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {key}"},
                         event_hooks={"response": [RECORDER.hook]}, timeout=10)
        made.append(c)
        return c

    yield client  # type: ignore[misc]
    for c in made:
        c.close()


@pytest.fixture
def admin(api: Callable[[str], httpx.Client]) -> httpx.Client:
    return api(MASTER)


def sdk(gateway: PllmServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)


def call(gateway: PllmServer, key: str, model: str = "m1",
         rid: str | None = None) -> openai.APIStatusError | dict[str, str]:
    """The response headers of one chat request, or the SDK's error."""
    with sdk(gateway, key) as c:
        try:
            raw = c.chat.completions.with_raw_response.create(
                model=model, messages=HELLO,  # type: ignore[arg-type]
                extra_headers={"x-request-id": rid} if rid else None)
        except openai.APIStatusError as e:
            return e
        raw.parse()
        return {k.lower(): v for k, v in raw.headers.items()}


def new_key(admin: httpx.Client, **body: Any) -> dict[str, Any]:
    r = admin.post("/admin/keys", json={"name": "k", **body})
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    RECORDER.secret_from(r)
    assert "key_hash" not in created
    return created


def poll(check: Callable[[], Any], within: float = 5.0) -> Any:
    deadline = time.monotonic() + within
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


def test_key_crud_changes_apply_to_the_next_request(gateway: PllmServer,
                                                    admin: httpx.Client) -> None:
    created = new_key(admin, name="crud", models=["m1"], metadata={"app": "crud"})
    key, key_id = created["key"], created["id"]
    assert created["models"] == ["m1"] and created["metadata"] == {"app": "crud"}
    assert isinstance(call(gateway, key), dict), "usable as soon as it is created"
    assert isinstance(call(gateway, key, "m2"), openai.PermissionDeniedError)

    listed = admin.get("/admin/keys").json()["keys"]
    row = next(k for k in listed if k["id"] == key_id)
    assert row["name"] == "crud" and row["status"] == "active" and "key" not in row
    got = admin.get(f"/admin/keys/{key_id}")
    assert got.status_code == 200 and got.json()["prefix"] == key[:12] + "…"
    assert admin.get("/admin/keys/key_doesnotexist").status_code == 404

    r = admin.patch(f"/admin/keys/{key_id}", json={"models": ["m1", "m2"], "rpm": 2})
    assert r.status_code == 200 and r.json()["rpm"] == 2
    headers = call(gateway, key, "m2")
    assert isinstance(headers, dict), "the PATCHed model list applies at once"
    assert headers["x-ratelimit-limit-requests"] == "2", "so does the PATCHed rpm"
    assert isinstance(call(gateway, key, "m2"), dict)
    limited = call(gateway, key, "m2")
    assert isinstance(limited, openai.RateLimitError) and limited.code == "rate_limit_exceeded"
    assert int(limited.response.headers["retry-after"]) >= 1
    assert admin.patch(f"/admin/keys/{key_id}", json={"rpm": None}).status_code == 200
    assert isinstance(call(gateway, key), dict)

    r = admin.post(f"/admin/keys/{key_id}/rotate", json={})
    assert r.status_code == 201
    new = RECORDER.secret_from(r)
    rotated = r.json()
    assert rotated["id"] != key_id and rotated["models"] == ["m1", "m2"]
    assert isinstance(call(gateway, key), openai.AuthenticationError), "no grace: old is dead"
    assert isinstance(call(gateway, new), dict)

    r = admin.delete(f"/admin/keys/{rotated['id']}")
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    denied = call(gateway, new)
    assert isinstance(denied, openai.AuthenticationError) and denied.code == "invalid_api_key"


def test_budget_put_get_reset_delete(gateway: PllmServer, admin: httpx.Client) -> None:
    key_id, key = (created := new_key(admin, name="budgeted"))["id"], created["key"]
    r = admin.put("/admin/budgets", json={"scope": "key", "subject": key_id, "max_usd": 1.0})
    assert r.status_code == 200, r.text
    budget_id = r.json()["id"]
    assert budget_id == f"key:{key_id}" and r.json()["period"] == "total"

    with sdk(gateway, key) as c:
        raw = c.chat.completions.with_raw_response.create(model="m1", messages=HELLO)  # type: ignore[arg-type]
    usage = raw.parse().usage
    assert usage is not None
    cost = usage.prompt_tokens * IN_PRICE + usage.completion_tokens * OUT_PRICE
    assert float(raw.headers["x-pllm-cost"]) == pytest.approx(cost, abs=1e-8)
    assert float(raw.headers["x-pllm-budget-remaining"]) == pytest.approx(1.0 - cost, abs=1e-6)

    def spent() -> dict[str, Any] | None:
        rows = admin.get("/admin/budgets").json()["budgets"]
        row = next(b for b in rows if b["id"] == budget_id)
        return row if row["spend_usd"] > 0 else None

    row = poll(spent)
    assert row["spend_usd"] == pytest.approx(cost, rel=1e-6)
    assert row["remaining_usd"] == pytest.approx(1.0 - cost, rel=1e-6)

    r = admin.post(f"/admin/budgets/{budget_id}/reset")
    assert r.status_code == 200 and r.json()["spend_usd"] == 0
    r = admin.put("/admin/budgets",
                  json={"scope": "key", "subject": key_id, "max_usd": cost / 10})
    assert r.status_code == 200
    refused = call(gateway, key)
    assert isinstance(refused, openai.RateLimitError) and refused.code == "budget_exceeded"

    assert admin.delete(f"/admin/budgets/{budget_id}").status_code == 200
    assert budget_id not in [b["id"] for b in admin.get("/admin/budgets").json()["budgets"]]
    headers = call(gateway, key)
    assert isinstance(headers, dict) and "x-pllm-budget-remaining" not in headers


def test_limits_put_get_delete(gateway: PllmServer, admin: httpx.Client) -> None:
    key_id, key = (created := new_key(admin, name="limited"))["id"], created["key"]
    subject = f"{key_id}:m2"
    r = admin.put("/admin/limits", json={"scope": "key_model", "subject": subject, "rpm": 1})
    assert r.status_code == 200 and r.json()["rpm"] == 1
    rows = admin.get("/admin/limits").json()["limits"]
    assert {"scope": "key_model", "subject": subject, "rpm": 1, "tpm": None} in [
        {k: v for k, v in row.items() if k != "updated_at"} for row in rows]
    first = call(gateway, key, "m2")
    assert isinstance(first, dict) and first["x-ratelimit-limit-requests"] == "1"
    assert isinstance(call(gateway, key, "m2"), openai.RateLimitError)
    assert isinstance(call(gateway, key, "m1"), dict), "only the key-model pair"
    assert admin.delete(f"/admin/limits/key_model/{subject}").status_code == 200
    assert subject not in [row["subject"] for row in admin.get("/admin/limits").json()["limits"]]
    assert isinstance(call(gateway, key, "m2"), dict)


def test_audit_rows_and_admin_events(gateway: PllmServer, admin: httpx.Client) -> None:
    created = new_key(admin, name="audited", models=["m1"], user_id="alice", team_id="red")
    ok_rid, denied_rid = f"ok-{uuid.uuid4()}", f"denied-{uuid.uuid4()}"
    assert isinstance(call(gateway, created["key"], rid=ok_rid), dict)
    assert isinstance(call(gateway, created["key"], "m2", denied_rid), openai.APIStatusError)
    assert admin.delete(f"/admin/keys/{created['id']}").status_code == 200

    def rows() -> dict[str, dict[str, Any]] | None:
        found = {r["request_id"]: r
                 for r in admin.get("/admin/audit", params={"limit": 1000}).json()["rows"]}
        return found if ok_rid in found and denied_rid in found else None

    by_rid = poll(rows)
    ok, denied = by_rid[ok_rid], by_rid[denied_rid]
    assert (ok["key_id"], ok["user_id"], ok["team_id"], ok["role"]) == (
        created["id"], "alice", "red", "user")
    assert (ok["endpoint"], ok["model"], ok["status"], ok["client"]) == (
        "chat", "m1", 200, "127.0.0.1")
    assert ok["deployment"] and ok["prompt_tokens"] > 0 and ok["completion_tokens"] > 0
    assert ok["cost_usd"] == pytest.approx(
        ok["prompt_tokens"] * IN_PRICE + ok["completion_tokens"] * OUT_PRICE)
    assert ok["body"] is None, "bodies are off by default"
    assert (denied["status"], denied["error"], denied["model"]) == (
        403, "model_not_allowed", "m2")

    events = admin.get("/admin/audit/events", params={"limit": 1000}).json()["events"]
    mine = {e["action"]: e for e in events if e["target"] == created["id"]}
    assert mine["key.create"]["actor"] == "master"
    assert mine["key.create"]["detail"]["user_id"] == "alice"
    assert mine["key.revoke"]["actor"] == "master"


def test_viewer_reads_but_cannot_write_or_call_models(gateway: PllmServer, admin: httpx.Client,
                                                      api: Callable[[str], httpx.Client]) -> None:
    done = subprocess.run([sys.executable, "-m", "pllm", "keys", "create", "--name", "viewer",
                           "--role", "viewer", "--json"], env=gateway.env, cwd=gateway.tmp,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    viewer_key = json.loads(done.stdout)["key"]
    RECORDER.secrets.append((len(RECORDER.bodies) - 1, viewer_key))
    viewer = api(viewer_key)
    poll(lambda: viewer.get("/admin/keys/me").status_code == 200, within=2.0)
    refused = call(gateway, viewer_key)
    assert isinstance(refused, openai.PermissionDeniedError)
    assert refused.code == "insufficient_role"
    for path in ("/admin/keys", "/admin/budgets", "/admin/limits", "/admin/health",
                 "/admin/audit", "/admin/audit/events"):
        assert viewer.get(path).status_code == 200, path
    target = new_key(admin, name="target")["id"]
    writes = [viewer.post("/admin/keys", json={"name": "nope"}),
              viewer.patch(f"/admin/keys/{target}", json={"rpm": 1}),
              viewer.delete(f"/admin/keys/{target}"),
              viewer.post(f"/admin/keys/{target}/rotate", json={}),
              viewer.put("/admin/budgets", json={"scope": "global", "max_usd": 1}),
              viewer.put("/admin/limits", json={"scope": "model", "subject": "m1", "rpm": 1})]
    for r in writes:
        assert r.status_code == 403, r.request.url
        assert r.json()["error"]["code"] == "insufficient_role"
    assert admin.get(f"/admin/keys/{target}").json()["rpm"] is None, "nothing was written"


def test_user_key_sees_only_itself(gateway: PllmServer, admin: httpx.Client,
                                   api: Callable[[str], httpx.Client]) -> None:
    created = new_key(admin, name="plain-user", user_id="bob")
    user = api(created["key"])
    for path in ("/admin/keys", "/admin/budgets", "/admin/health", "/admin/audit"):
        r = user.get(path)
        assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error", path
    assert user.post("/admin/keys", json={"name": "nope"}).status_code == 403
    me = user.get("/admin/keys/me")
    assert me.status_code == 200
    assert (me.json()["id"], me.json()["user_id"], me.json()["role"]) == (
        created["id"], "bob", "user")
    assert isinstance(call(gateway, created["key"]), dict)


def test_admin_role_key_manages_keys(gateway: PllmServer, admin: httpx.Client,
                                     api: Callable[[str], httpx.Client]) -> None:
    boss = new_key(admin, name="ops", role="admin")
    made = new_key(api(boss["key"]), name="made-by-ops", models=["m2"])
    assert isinstance(call(gateway, made["key"], "m2"), dict)
    assert isinstance(call(gateway, made["key"], "m1"), openai.PermissionDeniedError)
    events = admin.get("/admin/audit/events", params={"limit": 1000}).json()["events"]
    create = next(e for e in events if e["target"] == made["id"] and e["action"] == "key.create")
    assert create["actor"] == f"key:{boss['id']}"


def test_zz_secrets_are_shown_once_and_never_logged(gateway: PllmServer,
                                                    admin: httpx.Client) -> None:
    """Last in the module: no admin response after the one that returned a secret carries it
    or its sha256 (admin reads, lists, audit rows, events), and the log holds none."""
    for path in ("/admin/keys", "/admin/budgets", "/admin/limits", "/admin/audit",
                 "/admin/audit/events"):
        assert admin.get(path, params={"limit": 1000} if "audit" in path else None).is_success
    assert RECORDER.secrets
    for index, secret in RECORDER.secrets:
        digest = hashlib.sha256(secret.encode()).hexdigest()
        for later in RECORDER.bodies[index + 1:]:
            assert secret not in later and digest not in later
    logs = gateway.logs()
    for secret in (MASTER, UPSTREAM_KEY, *(s for _, s in RECORDER.secrets)):
        assert secret not in logs, f"a secret ({secret[:12]}...) reached the server log"
