"""Virtual keys end to end: `pllm keys` (a real CLI subprocess on the server's database) while
`pllm serve` runs, checked through the official `openai` SDK. Creation and revocation take
effect within 1 s, rotation keeps the old secret for its grace period, expiry is exact, model
allow-lists answer 403 / filter /v1/models, failed authentications are rate limited per client
address, and no secret ever reaches the server's log."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from mockups import MockUpstream
from server import PllmServer

pytestmark = pytest.mark.e2e

UPSTREAM_KEY = "sk-upstream-keys-e2e-0123456789abcdef"
MASTER = "sk-master-keys-e2e-0123456789abcdef"
HELLO = [{"role": "user", "content": "hello"}]
CONFIG = """
model_list:
  - model_name: m1
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {url}/v1
      api_key: os.environ/TEST_UPSTREAM_KEY
    model_info: {{input_cost_per_token: 0.000001, output_cost_per_token: 0.000002}}
  - model_name: m2
    litellm_params:
      model: openai/gpt-4o
      api_base: {url}/v1
      api_key: os.environ/TEST_UPSTREAM_KEY
    model_info: {{input_cost_per_token: 0.000003, output_cost_per_token: 0.000004}}
router:
  retries: 0
general_settings:
  master_key: os.environ/TEST_MASTER_KEY
auth:
  # Polling a key that is not loaded yet fails its authentication; failures are tested apart.
  failed_auth_per_minute: 100000
"""

SECRETS: list[str] = []
"""Every virtual key secret the module's server saw: none may reach its log."""


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockUpstream]:
    with MockUpstream("openai", api_key=UPSTREAM_KEY) as up:
        yield up


@pytest.fixture(scope="module")
def gateway(upstream: MockUpstream,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[PllmServer]:
    server = PllmServer(tmp_path_factory.mktemp("keys"), CONFIG.format(url=upstream.url),
                        env={"TEST_UPSTREAM_KEY": UPSTREAM_KEY, "TEST_MASTER_KEY": MASTER},
                        args=("--log-level", "debug"))  # the most the log can say
    with server:
        yield server


def cli(server: PllmServer, *args: str) -> dict[str, Any]:
    """`pllm <args> --json` as a separate process on the server's database (`PLLM_DB`)."""
    done = subprocess.run([sys.executable, "-m", "pllm", *args, "--json"], env=server.env,
                          cwd=server.tmp, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    if "key" in out:
        SECRETS.append(out["key"])
    return out


def chat(server: PllmServer, key: str, model: str = "m1") -> str:
    with openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0) as client:
        reply = client.chat.completions.create(model=model, messages=HELLO)  # type: ignore[arg-type]
    return reply.choices[0].message.content or ""


def refusal(server: PllmServer, key: str, model: str = "m1") -> openai.APIStatusError | None:
    try:
        chat(server, key, model)
    except openai.APIStatusError as e:
        return e
    return None


def poll(check: Callable[[], bool], within: float) -> float:
    """Seconds until check() held; fails the test after `within` + a margin to report."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > within + 2.0:
            pytest.fail(f"still not true after {within + 2.0:.1f} s")
        time.sleep(0.02)


def works_within(server: PllmServer, key: str, within: float = 1.0) -> float:
    return poll(lambda: refusal(server, key) is None, within)


def refused_within(server: PllmServer, key: str,
                   within: float = 1.0) -> tuple[float, openai.APIStatusError]:
    seen: list[openai.APIStatusError] = []

    def refused() -> bool:
        e = refusal(server, key)
        if e is not None:
            seen.append(e)
        return e is not None

    return poll(refused, within), seen[-1]


def assert_unauthorized(e: BaseException | None) -> openai.AuthenticationError:
    assert isinstance(e, openai.AuthenticationError), e
    assert e.status_code == 401
    assert isinstance(e.body, dict) and set(e.body) >= {"message", "type", "param", "code"}
    assert e.code == "invalid_api_key"
    return e


def test_cli_created_key_works_within_1s_and_revoke_refuses_within_1s(
        gateway: PllmServer) -> None:
    created = cli(gateway, "keys", "create", "--name", "lifecycle")
    key = created["key"]
    assert key.startswith("sk-pllm-") and len(key) >= len("sk-pllm-") + 32
    assert created["id"].startswith("key_") and created["name"] == "lifecycle"
    took = works_within(gateway, key)
    assert took < 1.0, f"a key created by the CLI took {took:.2f} s to work"
    assert chat(gateway, key) == "echo: hello"

    cli(gateway, "keys", "revoke", created["id"])
    took, error = refused_within(gateway, key)
    assert took < 1.0, f"a key revoked by the CLI still worked {took:.2f} s later"
    assert_unauthorized(error)
    shown = cli(gateway, "keys", "show", created["id"])
    assert shown["status"] == "revoked" and "key" not in shown


def test_rotate_with_grace_keeps_the_old_secret_until_the_grace_ends(
        gateway: PllmServer) -> None:
    created = cli(gateway, "keys", "create", "--name", "rotating", "--models", "m1")
    old = created["key"]
    works_within(gateway, old)
    rotated = cli(gateway, "keys", "rotate", created["id"], "--grace", "3s")
    new, grace_until = rotated["key"], rotated["grace_until"]
    assert new != old and rotated["id"] != created["id"]
    assert rotated["old_id"] == created["id"] and rotated["models"] == ["m1"]
    assert grace_until == pytest.approx(time.time() + 3, abs=2.0)
    took = works_within(gateway, new)
    assert took < 1.0
    assert time.time() < grace_until - 0.5, "too slow to observe the grace period"
    assert refusal(gateway, old) is None, "the old secret must work during its grace period"
    # The settings moved with the secret: the new one keeps the model list.
    assert isinstance(refusal(gateway, new, "m2"), openai.PermissionDeniedError)

    time.sleep(max(0.0, grace_until - time.time()))
    took, error = refused_within(gateway, old, within=0.5)
    assert took < 0.5, f"the old secret still worked {took:.2f} s after its grace period"
    error = assert_unauthorized(error)
    assert "grace" in error.message
    assert refusal(gateway, new) is None
    assert cli(gateway, "keys", "show", created["id"])["status"] == "revoked"


def test_expired_key_is_refused_after_its_expiry(gateway: PllmServer) -> None:
    created = cli(gateway, "keys", "create", "--name", "short-lived", "--expires", "3s")
    expires_at = created["expires_at"]
    works_within(gateway, created["key"])
    assert time.time() < expires_at, "the key must have worked before it expired"
    time.sleep(max(0.0, expires_at - time.time()))
    took, error = refused_within(gateway, created["key"], within=0.5)
    assert took < 0.5, f"still accepted {took:.2f} s after its expiry"
    assert "expired" in assert_unauthorized(error).message
    assert cli(gateway, "keys", "show", created["id"])["status"] == "expired"


def test_unknown_missing_and_malformed_keys_get_401_in_openai_format(
        gateway: PllmServer) -> None:
    unknown = "sk-pllm-" + secrets.token_urlsafe(24)
    SECRETS.append(unknown)
    assert_unauthorized(refusal(gateway, unknown))
    assert_unauthorized(refusal(gateway, "not-a-pllm-key"))
    body = {"model": "m1", "messages": HELLO}
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"},
                    {"X-API-Key": unknown}):
        r = httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=headers)
        assert r.status_code == 401, headers
        error = r.json()["error"]
        assert error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error"
        assert unknown not in r.text, "the presented key must not be echoed"


def test_x_api_key_header_and_master_key_are_accepted(gateway: PllmServer) -> None:
    created = cli(gateway, "keys", "create", "--name", "header")
    works_within(gateway, created["key"])
    r = httpx.post(gateway.url + "/v1/chat/completions",
                   json={"model": "m1", "messages": HELLO}, headers={"X-API-Key": created["key"]})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "echo: hello"
    assert chat(gateway, MASTER, "m2") == "echo: hello"
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0) as c:
        assert sorted(m.id for m in c.models.list()) == ["m1", "m2"]


def test_model_allow_list_403_and_filtered_model_list(gateway: PllmServer) -> None:
    created = cli(gateway, "keys", "create", "--name", "only-m1", "--models", "m1")
    key = created["key"]
    works_within(gateway, key)
    error = refusal(gateway, key, "m2")
    assert isinstance(error, openai.PermissionDeniedError), error
    assert error.status_code == 403 and error.code == "model_not_allowed"
    assert isinstance(error.body, dict) and error.body["param"] == "model"
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0) as c:
        assert [m.id for m in c.models.list()] == ["m1"]
        assert c.models.retrieve("m1").id == "m1"
        with pytest.raises(openai.NotFoundError):
            c.models.retrieve("m2")


def test_failed_auths_are_rate_limited_per_address(
        make_server: Callable[..., PllmServer], tmp_path: Path) -> None:
    """After `auth.failed_auth_per_minute` failures from 127.0.0.1, everything from that
    address is answered 429 `too_many_auth_failures` for the rest of the minute: bad keys, and
    also good keys and the master key. pllm cannot tell a guess that happens to be right from
    a real client, so it blocks the address, not only its wrong guesses; a failure while
    blocked does not extend the block. /health needs no key and still answers."""
    master = "sk-master-failed-auth-0123456789"
    server = make_server(
        "model_list:\n  - model_name: m1\n    litellm_params: {model: mock/m1}\n"
        f"general_settings: {{master_key: {master}}}\nauth: {{failed_auth_per_minute: 3}}\n")
    admin = {"Authorization": f"Bearer {master}"}
    r = httpx.post(server.url + "/admin/keys", json={"name": "good"}, headers=admin)
    assert r.status_code == 201, r.text
    good = r.json()["key"]
    assert refusal(server, good) is None
    bad = ["sk-pllm-" + secrets.token_urlsafe(24) for _ in range(4)]
    for key in bad[:3]:
        assert_unauthorized(refusal(server, key))
    error = refusal(server, bad[3])
    assert isinstance(error, openai.RateLimitError), error
    assert error.code == "too_many_auth_failures"
    assert 1 <= int(error.response.headers["retry-after"]) <= 60
    for key in (good, master):
        blocked = refusal(server, key)
        assert isinstance(blocked, openai.RateLimitError), "the whole address is blocked"
        assert blocked.code == "too_many_auth_failures"
    assert httpx.get(server.url + "/admin/keys", headers=admin).status_code == 429
    assert httpx.get(server.url + "/health").status_code == 200
    logs = server.logs()
    for secret in (master, good, *bad):
        assert secret not in logs


def test_zz_no_secret_in_the_server_log(gateway: PllmServer) -> None:
    """Last in the module: after everything above, the log holds no secret at all."""
    logs = gateway.logs()
    assert logs.strip(), "the server logged nothing: this check would prove nothing"
    for secret in (MASTER, UPSTREAM_KEY, *SECRETS):
        assert secret not in logs, f"a secret ({secret[:12]}...) reached the server log"
