"""Rate limits end to end: every level (key, user, team, model, key+model, endpoint; rpm and
tpm) through a real `pllm serve`, set from the CLI (`pllm keys create --rpm`, `pllm limits set`)
and from the config's `limits:` block, driven with the official `openai` and `anthropic` SDKs.

For each level a burst gets exactly the limit through, every success carries OpenAI's
`x-ratelimit-*` headers with `remaining` counting down, and the next request gets a 429
`rate_limit_exceeded` with `retry-after`. The window is 60 s, so recovery (the window sliding,
tokens reconciled) is proven with an injected clock in tests/unit/test_quota.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from server import PllmServer

from pllm.limits.tokens import estimate_prompt_tokens

pytestmark = pytest.mark.e2e

MASTER = "sk-master-ratelimits-0123456789"
HI = [{"role": "user", "content": "hi"}]
MODELS = ("plain", "other", "cfg-model", "cli-model", "cfg-over", "pair", "tpm-model")
CONFIG = "model_list:\n" + "".join(f"""
  - model_name: {name}
    litellm_params: {{model: mock/{name}, mock_response: ok}}
    model_info: {{input_cost_per_token: 0.000001, output_cost_per_token: 0.000002}}
""" for name in MODELS) + f"""
general_settings:
  master_key: {MASTER}
limits:
  models:
    cfg-model: {{rpm: 2}}
    cfg-over: {{rpm: 5}}
    tpm-model: {{tpm: 60}}
  endpoints:
    embeddings: {{rpm: 2}}
    messages: {{rpm: 2}}
"""


def pllm_cli(db: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLLM_")}
    done = subprocess.run([sys.executable, "-m", "pllm", *args], capture_output=True,
                          text=True, env={**env, "PLLM_DB": str(db)}, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@dataclass
class Gateway:
    server: PllmServer
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)

    def create_key(self, label: str, *args: str) -> None:
        out = pllm_cli(self.server.db_path, "keys", "create", "--name", label, "--json", *args)
        self.keys[label] = json.loads(out)

    def client(self, label: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.server.url + "/v1", max_retries=0,
                             api_key=self.keys[label]["key"])


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One server for the module; every test uses its own keys, users, teams and models, so
    their windows never meet. Keys and most limits exist before the server starts."""
    server = PllmServer(tmp_path_factory.mktemp("ratelimits"), CONFIG)
    g = Gateway(server)
    g.create_key("rpm3", "--rpm", "3")
    g.create_key("free")
    g.create_key("u1-a", "--user", "u1")
    g.create_key("u1-b", "--user", "u1")
    g.create_key("u2", "--user", "u2")
    g.create_key("t1-a", "--team", "t1", "--user", "ua")
    g.create_key("t1-b", "--team", "t1", "--user", "ub")
    g.create_key("t2", "--team", "t2", "--user", "ua")
    g.create_key("pair-a")
    g.create_key("pair-b")
    g.create_key("tpm100", "--tpm", "100")
    g.create_key("tm-a")
    g.create_key("tm-b")
    db = server.db_path
    pllm_cli(db, "limits", "set", "--team", "t1", "--rpm", "3")
    pllm_cli(db, "limits", "set", "--model", "cli-model", "--rpm", "3")
    pllm_cli(db, "limits", "set", "--model", "cfg-over", "--rpm", "2")  # beats the config's 5
    pllm_cli(db, "limits", "set", "--key", g.keys["pair-a"]["id"], "--model", "pair", "--rpm", "2")
    pllm_cli(db, "limits", "set", "--endpoint", "completions", "--rpm", "2")
    server.start()
    try:
        yield g
    finally:
        server.stop()


_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:([\d.]+)s)?(?:(\d+)ms)?")


def reset_seconds(text: str) -> float:
    """OpenAI's `x-ratelimit-reset-*` format: `20ms`, `1.5s`, `6m0s`, `1h2m3s`."""
    m = _DURATION.fullmatch(text)
    assert m is not None and text, f"not an OpenAI duration: {text!r}"
    h, mins, s, ms = m.groups()
    return int(h or 0) * 3600 + int(mins or 0) * 60 + float(s or 0) + int(ms or 0) / 1000


def assert_headers(headers: Any, limit: int, remaining: int, kind: str = "requests") -> None:
    assert headers.get(f"x-ratelimit-limit-{kind}") == str(limit), dict(headers)
    assert headers.get(f"x-ratelimit-remaining-{kind}") == str(remaining), dict(headers)
    assert 0 < reset_seconds(headers[f"x-ratelimit-reset-{kind}"]) <= 60


def chat(client: openai.OpenAI, model: str = "plain", **kw: Any) -> Any:
    """A successful chat request: its headers."""
    raw = client.chat.completions.with_raw_response.create(model=model, messages=HI, **kw)
    raw.parse()
    assert raw.status_code == 200
    return raw.headers


def refused(client: openai.OpenAI, model: str = "plain", *, limit: int, kind: str = "requests",
            remaining: int = 0, since: float | None = None, **kw: Any) -> openai.RateLimitError:
    """The request is refused with OpenAI's 429: code, retry-after and the limit headers.
    `since`: when the oldest request in the window was sent (retry-after is then at most 60 s
    after it, and no earlier than the window lets it be)."""
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model=model, messages=HI, **kw)
    err = caught.value
    assert err.status_code == 429 and err.code == "rate_limit_exceeded"
    assert err.type == kind, err.body
    h = err.response.headers
    assert_headers(h, limit, remaining, kind)
    retry = int(h["retry-after"])
    wait = reset_seconds(h[f"x-ratelimit-reset-{kind}"])
    assert 1 <= retry <= 60 and abs(retry - wait) <= 1, (retry, wait)
    if since is not None:
        assert retry >= 60 - (time.time() - since) - 1, "retry-after counts from the oldest"
    assert "try again in" in err.message
    return err


def burst(client: openai.OpenAI, limit: int, model: str = "plain", *, start: int = 0) -> None:
    """Requests `start+1..limit` of the window succeed, `remaining` counting down to 0."""
    for i in range(start + 1, limit + 1):
        assert_headers(chat(client, model), limit, limit - i)


def test_key_rpm_admits_exactly_the_limit_then_429(gw: Gateway) -> None:
    first = time.time()
    with gw.client("rpm3") as c, gw.client("free") as other:
        burst(c, 3)
        err = refused(c, limit=3, since=first)
        assert "this key" in err.message
        refused(c, limit=3, since=first)  # a refusal does not count, nor free anything
        h = chat(other)  # the limit is the key's: another key is not affected
        assert "x-ratelimit-limit-requests" not in h


def test_user_rpm_set_while_serving_is_shared_by_the_users_keys(gw: Gateway) -> None:
    with gw.client("u1-a") as a, gw.client("u1-b") as b, gw.client("u2") as u2:
        assert "x-ratelimit-limit-requests" not in chat(a)
        pllm_cli(gw.server.db_path, "limits", "set", "--user", "u1", "--rpm", "3")
        set_at = time.monotonic()
        while True:  # requests before the change are not counted; the first after it is #1
            h = chat(a)
            if "x-ratelimit-limit-requests" in h:
                break
            assert time.monotonic() - set_at < 1.0, "a CLI change takes effect within 1 s"
        assert_headers(h, 3, 2)
        assert_headers(chat(b), 3, 1)
        assert_headers(chat(a), 3, 0)
        assert "user 'u1'" in refused(b, limit=3).message
        refused(a, limit=3)
        chat(u2)


def test_team_rpm_is_shared_across_users_of_the_team(gw: Gateway) -> None:
    with gw.client("t1-a") as a, gw.client("t1-b") as b, gw.client("t2") as t2:
        assert_headers(chat(a), 3, 2)
        assert_headers(chat(b), 3, 1)
        assert_headers(chat(b), 3, 0)
        assert "team 't1'" in refused(a, limit=3).message
        # Same user as t1-a, other team: the user has no limit, the team t2 none either.
        assert "x-ratelimit-limit-requests" not in chat(t2)


def test_model_rpm_from_config_and_cli_counts_every_key(gw: Gateway) -> None:
    with gw.client("tm-a") as a, gw.client("tm-b") as b:
        assert_headers(chat(a, "cfg-model"), 2, 1)
        assert_headers(chat(b, "cfg-model"), 2, 0)
        assert "model 'cfg-model'" in refused(a, "cfg-model", limit=2).message
        burst(b, 3, "cli-model")
        refused(a, "cli-model", limit=3)
        # A limit set with the CLI replaces the config's default for that model (5 -> 2).
        burst(a, 2, "cfg-over")
        refused(b, "cfg-over", limit=2)
        assert "x-ratelimit-limit-requests" not in chat(a, "other")


def test_key_model_pair_limits_only_that_key_on_that_model(gw: Gateway) -> None:
    with gw.client("pair-a") as a, gw.client("pair-b") as b:
        burst(a, 2, "pair")
        assert "with this key" in refused(a, "pair", limit=2).message
        assert "x-ratelimit-limit-requests" not in chat(a, "other")
        assert "x-ratelimit-limit-requests" not in chat(b, "pair")


def test_endpoint_rpm_embeddings_completions_and_messages(gw: Gateway) -> None:
    key = gw.keys["free"]["key"]
    with gw.client("free") as c:
        for i in (1, 2):
            raw = c.embeddings.with_raw_response.create(model="plain", input="hi")
            assert_headers(raw.headers, 2, 2 - i)
        with pytest.raises(openai.RateLimitError) as caught:
            c.embeddings.create(model="plain", input="hi")
        assert "embeddings endpoint" in caught.value.message
        assert_headers(caught.value.response.headers, 2, 0)
        assert int(caught.value.response.headers["retry-after"]) <= 60
        for i in (1, 2):  # set with `pllm limits set --endpoint completions`
            raw = c.completions.with_raw_response.create(model="plain", prompt="hi")
            assert_headers(raw.headers, 2, 2 - i)
        with pytest.raises(openai.RateLimitError):
            c.completions.create(model="plain", prompt="hi")
        assert "x-ratelimit-limit-requests" not in chat(c)  # chat has no endpoint limit
    with anthropic.Anthropic(base_url=gw.server.url, api_key=key, max_retries=0) as ant:
        for i in (1, 2):
            msg = ant.messages.with_raw_response.create(model="plain", max_tokens=5,
                                                        messages=HI)  # type: ignore[arg-type]
            assert_headers(msg.headers, 2, 2 - i)
        with pytest.raises(anthropic.RateLimitError) as refusal:
            ant.messages.create(model="plain", max_tokens=5, messages=HI)  # type: ignore[arg-type]
        assert refusal.value.status_code == 429
        assert_headers(refusal.value.response.headers, 2, 0)
        assert 1 <= int(refusal.value.response.headers["retry-after"]) <= 60


def _asked(max_tokens: int) -> int:
    """What a chat request counts against tpm up front: its prompt estimate plus max_tokens."""
    body = {"model": "plain", "messages": HI, "max_tokens": max_tokens}
    return estimate_prompt_tokens(body, "chat", "mock") + max_tokens


def test_key_tpm_counts_max_tokens_up_front_and_reconciles_with_usage(gw: Gateway) -> None:
    prompt = _asked(0)
    with gw.client("tpm100") as c:
        raw = c.chat.completions.with_raw_response.create(model="plain", messages=HI,
                                                          max_tokens=30)
        used = raw.parse().usage.total_tokens  # type: ignore[union-attr]
        assert 0 < used < prompt + 30
        assert_headers(raw.headers, 100, 100 - (prompt + 30), "tokens")
        # The first request now counts its real usage, not its estimate: exactly the rest fits.
        room = 100 - used - prompt
        err = refused(c, limit=100, remaining=100 - used, kind="tokens", max_tokens=room + 1)
        assert "100 tokens per minute" in err.message
        raw = c.chat.completions.with_raw_response.create(model="plain", messages=HI,
                                                          max_tokens=room)
        assert_headers(raw.headers, 100, 0, "tokens")
        used += raw.parse().usage.total_tokens  # type: ignore[union-attr]
        refused(c, limit=100, remaining=100 - used, kind="tokens",
                max_tokens=100 - used - prompt + 1)
        assert_headers(chat(c, max_tokens=100 - used - prompt), 100, 0, "tokens")


def test_key_tpm_refuses_a_request_larger_than_the_limit_for_good(gw: Gateway) -> None:
    with gw.client("tpm100") as c, pytest.raises(openai.RateLimitError) as caught:
        c.chat.completions.create(model="plain", messages=HI, max_tokens=200)
    err = caught.value
    assert err.code == "rate_limit_exceeded" and "Request too large" in err.message
    assert "retry-after" not in err.response.headers, "waiting would never help"
    assert err.response.headers.get("x-ratelimit-limit-tokens") == "100", dict(err.response.headers)


def test_model_tpm_from_config_is_shared_and_reconciled(gw: Gateway) -> None:
    prompt = _asked(0)
    with gw.client("tm-a") as a, gw.client("tm-b") as b:
        raw = a.chat.completions.with_raw_response.create(model="tpm-model", messages=HI,
                                                          max_tokens=20)
        used = raw.parse().usage.total_tokens  # type: ignore[union-attr]
        assert_headers(raw.headers, 60, 60 - prompt - 20, "tokens")
        room = 60 - used - prompt
        refused(b, "tpm-model", limit=60, remaining=60 - used, kind="tokens",
                max_tokens=room + 1)
        assert_headers(chat(b, "tpm-model", max_tokens=room), 60, 0, "tokens")
