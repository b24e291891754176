"""LiteLLM's key management routes (`/key/generate`, `/key/info`, `/key/update`, `/key/list`,
`/key/delete`) against a real pllm, with LiteLLM's field names, and the keys they make used
through the `openai` SDK: existing LiteLLM tooling keeps working."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import openai
import pytest
from server import PllmServer

pytestmark = pytest.mark.e2e

MASTER = "sk-master-litellm-e2e-0123456789abcdef"
HELLO = [{"role": "user", "content": "hello"}]
CONFIG = """
model_list:
  - model_name: m1
    litellm_params: {model: mock/m1}
    model_info: {input_cost_per_token: 0.000001, output_cost_per_token: 0.000002}
  - model_name: m2
    litellm_params: {model: mock/m2}
    model_info: {input_cost_per_token: 0.000001, output_cost_per_token: 0.000002}
general_settings:
  master_key: os.environ/TEST_MASTER_KEY
"""
SECRETS: list[str] = []


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PllmServer]:
    with PllmServer(tmp_path_factory.mktemp("litellm"), CONFIG, env={"TEST_MASTER_KEY": MASTER},
                    args=("--log-level", "debug")) as server:
        yield server


@pytest.fixture
def admin(gateway: PllmServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {MASTER}"},
                      timeout=10) as c:
        yield c


def generate(admin: httpx.Client, **body: Any) -> dict[str, Any]:
    r = admin.post("/key/generate", json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    SECRETS.append(out["key"])
    return out


def call(gateway: PllmServer, key: str,
         model: str = "m1") -> openai.APIStatusError | dict[str, str]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0) as c:
        try:
            raw = c.chat.completions.with_raw_response.create(model=model, messages=HELLO)  # type: ignore[arg-type]
        except openai.APIStatusError as e:
            return e
        raw.parse()
        return {k.lower(): v for k, v in raw.headers.items()}


def test_generate_info_update_list_delete(gateway: PllmServer, admin: httpx.Client) -> None:
    made = generate(admin, models=["m1"], max_budget=5.0, budget_duration="30d", duration="1h",
                    key_alias="litellm-app", metadata={"team": "search"}, rpm_limit=100)
    key = made["key"]
    assert key.startswith("sk-pllm-")
    assert made["token"] == hashlib.sha256(key.encode()).hexdigest()
    expires = datetime.fromisoformat(made["expires"]).timestamp()
    assert expires == pytest.approx(time.time() + 3600, abs=60)
    assert (made["key_alias"], made["models"], made["max_budget"], made["rpm_limit"],
            made["metadata"]) == ("litellm-app", ["m1"], 5.0, 100, {"team": "search"})

    headers = call(gateway, key)
    assert isinstance(headers, dict), headers
    assert headers["x-ratelimit-limit-requests"] == "100"
    assert float(headers["x-pllm-budget-remaining"]) < 5.0
    denied = call(gateway, key, "m2")
    assert isinstance(denied, openai.PermissionDeniedError) and denied.code == "model_not_allowed"

    cost = float(headers["x-pllm-cost"])
    assert cost > 0
    deadline = time.monotonic() + 5
    while True:  # spend reaches the store with the writer's next flush (<= 0.5 s)
        info = admin.get("/key/info", params={"key": key})
        assert info.status_code == 200
        body = info.json()["info"]
        if body["spend"] > 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert body["spend"] == pytest.approx(cost, rel=1e-6)
    assert (body["key_alias"], body["models"], body["max_budget"], body["rpm_limit"]) == (
        "litellm-app", ["m1"], 5.0, 100)
    assert body["metadata"] == {"team": "search"} and body["token"] == made["token"]
    # pllm names the calendar period it applies (budgets reset on the 1st of the month, UTC).
    assert body["budget_duration"] == "monthly"
    assert body["expires"] is not None and body["blocked"] is False
    by_token = admin.get("/key/info", params={"key": made["token"]})
    assert by_token.json()["info"]["id"] == body["id"]

    r = admin.post("/key/update", json={"key": key, "rpm_limit": 3})
    assert r.status_code == 200 and r.json()["rpm_limit"] == 3
    outcomes = [call(gateway, key) for _ in range(4)]
    ok = [o for o in outcomes if isinstance(o, dict)]
    assert ok and all(o["x-ratelimit-limit-requests"] == "3" for o in ok), "update applies now"
    limited = outcomes[-1]
    assert isinstance(limited, openai.RateLimitError) and limited.code == "rate_limit_exceeded"

    listed = admin.get("/key/list").json()
    assert made["token"] in listed["keys"] and listed["total_count"] == len(listed["keys"])
    full = admin.get("/key/list", params={"return_full_object": "true"}).json()["keys"]
    assert "litellm-app" in [k["key_alias"] for k in full]

    other = generate(admin, key_alias="second")
    assert isinstance(call(gateway, other["key"], "m2"), dict), "no models = every model"
    r = admin.post("/key/delete", json={"keys": [key, other["token"]]})
    assert r.status_code == 200 and r.json()["deleted_keys"] == [key, other["token"]]
    for secret in (key, other["key"]):
        refused = call(gateway, secret)
        assert isinstance(refused, openai.AuthenticationError), "deleted means 401 at once"
        assert refused.code == "invalid_api_key"
    assert made["token"] not in admin.get("/key/list").json()["keys"]
    assert admin.get("/key/info", params={"key": key}).json()["info"]["blocked"] is True


def test_key_holders_see_their_own_info_but_cannot_manage(gateway: PllmServer,
                                                          admin: httpx.Client) -> None:
    made = generate(admin, key_alias="holder", user_id="carol")
    other = generate(admin, key_alias="someone-else")
    with httpx.Client(base_url=gateway.url,
                      headers={"Authorization": f"Bearer {made['key']}"}) as mine:
        own = mine.get("/key/info")
        assert own.status_code == 200
        assert (own.json()["info"]["key_alias"], own.json()["info"]["user_id"]) == (
            "holder", "carol")
        assert mine.get("/key/info", params={"key": other["key"]}).status_code == 403
        for r in (mine.post("/key/generate", json={"key_alias": "x"}),
                  mine.post("/key/update", json={"key": made["key"], "rpm_limit": 1}),
                  mine.post("/key/delete", json={"keys": [other["key"]]}),
                  mine.get("/key/list")):
            assert r.status_code == 403, r.request.url
            assert r.json()["error"]["code"] == "insufficient_role"
    assert isinstance(call(gateway, other["key"]), dict), "the refused delete did nothing"
    missing = "sk-pllm-" + "x" * 32
    r = admin.get("/key/info", params={"key": missing})
    assert r.status_code == 404 and missing not in r.text, "a looked-up secret is not echoed"
    assert admin.post("/key/generate", json={"max_budget": 1, "budget_duration": "90d"}
                      ).status_code == 400
    no_auth = httpx.post(gateway.url + "/key/generate", json={"key_alias": "x"})
    assert no_auth.status_code == 401 and no_auth.json()["error"]["code"] == "invalid_api_key"


def test_zz_no_secret_in_the_server_log(gateway: PllmServer) -> None:
    logs = gateway.logs()
    assert logs.strip()
    for secret in (MASTER, *SECRETS):
        assert secret not in logs, f"a secret ({secret[:12]}...) reached the server log"
