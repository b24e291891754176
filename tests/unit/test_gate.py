"""The Gate: who is calling (open mode, master key, virtual keys, JWTs), which rate limits and
budgets apply, what a request may cost at most, and the failed-auth limiter. Settings come from
a real config file, keys and limits from a real Store in a tmp dir mirrored by a Directory; the
clock is injected."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pllm.access.directory import Directory
from pllm.access.gate import Gate, presented_key
from pllm.access.jwt_claims import JwtIdentity
from pllm.access.principal import MASTER, OPEN, Principal
from pllm.config import load_settings
from pllm.config.model import Settings
from pllm.errors import AuthenticationFailed, RateLimited
from pllm.limits.pricing import Pricing
from pllm.limits.quota import Rule
from pllm.limits.tokens import estimate_prompt_tokens
from pllm.providers.registry import default_registry
from pllm.router.table import build_table
from pllm.server.wiring import build_access, deployments_lookup
from pllm.store import Store
from pllm.upstream import Upstream

T0 = 1_800_000_000.0
MASTER_KEY = "sk-master-gate-0123456789"
MODELS = """
model_list:
  - model_name: m
    litellm_params: {model: mock/cheap}
    model_info: {input_cost_per_token: 0.000001, output_cost_per_token: 0.000002,
                 max_output_tokens: 1000}
  - model_name: m
    litellm_params: {model: mock/mid}
    model_info: {input_cost_per_token: 0.000002, output_cost_per_token: 0.000004,
                 max_output_tokens: 500}
  - model_name: dear
    litellm_params: {model: mock/dear}
    model_info: {input_cost_per_token: 0.00001, output_cost_per_token: 0.00003,
                 max_output_tokens: 100}
  - model_name: free
    litellm_params: {model: mock/free}
  - model_name: plain
    litellm_params: {model: mock/plain}
    model_info: {input_cost_per_token: 0.000001, output_cost_per_token: 0.000002}
router_settings:
  fallbacks: [{m: [dear]}]
"""
BODY: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeJwt:
    """Stands in for JwtVerifier: tokens starting `eyJ` are JWTs naming `identity`."""

    def __init__(self, identity: JwtIdentity) -> None:
        self.identity = identity
        self.verified: list[str] = []

    def looks_like_jwt(self, token: str) -> bool:
        return token.startswith("eyJ")

    async def verify_refreshing(self, token: str) -> JwtIdentity:
        self.verified.append(token)
        if token.endswith("bad"):
            raise AuthenticationFailed("Invalid JWT: signature invalid")
        return self.identity


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    with Store.open(tmp_path / "pllm.db", clock=clock) as s:
        yield s


def settings(tmp_path: Path, extra: str = "", *, master: bool = True) -> Settings:
    text = MODELS + (f"general_settings:\n  master_key: {MASTER_KEY}\n" if master else "")
    path = tmp_path / "config.yaml"
    path.write_text(text + textwrap.dedent(extra))
    return load_settings(path, environ={})


def gate(s: Settings, store: Store, clock: Clock, jwt: FakeJwt | None = None) -> Gate:
    directory = Directory(store, clock=clock)
    directory.load()
    table, issues = build_table(s, default_registry())
    assert not [i for i in issues if i.severity == "error"]
    pricing = Pricing(clock, default_output_cap=s.access.default_output_tokens)
    return Gate(s, directory, pricing=pricing, deployments_for=deployments_lookup(s, table),
                jwt=jwt, clock=clock)


def reload(g: Gate) -> None:
    assert g.directory is not None
    g.directory.load()


def auth(g: Gate, key: str | None, client: str = "10.0.0.1",
         header: str = "authorization") -> Principal:
    headers: dict[str, str] = {}
    if key is not None:
        headers[header] = f"Bearer {key}" if header == "authorization" else key
    return asyncio.run(g.authenticate(headers, client))


def refused(g: Gate, key: str | None, match: str | None = None,
            client: str = "10.0.0.1") -> None:
    with pytest.raises(AuthenticationFailed, match=match):
        auth(g, key, client)


# -- who --------------------------------------------------------------------------------------

def test_presented_key_reads_bearer_x_api_key_and_api_key() -> None:
    assert presented_key({"authorization": "Bearer  sk-1 "}) == "sk-1"
    assert presented_key({"authorization": "bearer sk-2"}) == "sk-2"
    assert presented_key({"authorization": "Basic abc"}) is None
    assert presented_key({"authorization": "Bearer "}) is None
    assert (presented_key({"x-api-key": "sk-3"}), presented_key({"api-key": "sk-4"})) == (
        "sk-3", "sk-4")
    assert presented_key({}) is None


def test_open_mode_lets_anyone_in_but_not_a_bad_virtual_key(
        tmp_path: Path, store: Store, clock: Clock) -> None:
    g = gate(settings(tmp_path, master=False), store, clock)
    assert g.open
    assert auth(g, None) is OPEN
    assert auth(g, "sk-anything-the-sdk-wants") is OPEN
    refused(g, "sk-pllm-" + "x" * 40, "Incorrect API key")
    record, secret = store.create_key(name="k", user_id="u1")
    reload(g)
    found = auth(g, secret)
    assert (found.kind, found.key_id, found.user_id) == ("key", record.id, "u1")
    store.revoke_key(record.id, actor="test")
    reload(g)
    refused(g, secret, "Incorrect API key")


def test_master_key_is_admin_and_anything_else_is_401(
        tmp_path: Path, store: Store, clock: Clock) -> None:
    g = gate(settings(tmp_path), store, clock)
    assert not g.open
    assert auth(g, MASTER_KEY) is MASTER
    assert auth(g, MASTER_KEY, header="x-api-key") is MASTER
    for wrong in (MASTER_KEY[:-1], MASTER_KEY + "0", MASTER_KEY.upper(), "sk-other"):
        refused(g, wrong, "Incorrect API key", client=wrong)
    refused(g, None, "Missing API key")
    assert g.failures.per_minute == 20  # the default; each wrong key above came from elsewhere


def test_virtual_key_lookup_carries_the_keys_settings(
        tmp_path: Path, store: Store, clock: Clock) -> None:
    g = gate(settings(tmp_path), store, clock)
    record, secret = store.create_key(name="ci", models=["m", "gpt-*"], rpm=7, tpm=700,
                                      user_id="u", team_id="t", role="viewer")
    refused(g, secret)  # not in the snapshot yet: the directory has not reloaded
    reload(g)
    p = auth(g, secret, header="x-api-key")
    assert p == Principal("key", "viewer", key_id=record.id, key_name="ci", user_id="u",
                          team_id="t", models=("m", "gpt-*"), rpm=7, tpm=700,
                          key_budget=f"key:{record.id}")
    assert p.allows("gpt-4o") and not p.allows("dear")
    refused(g, secret[:-1] + ("A" if secret[-1] != "A" else "B"))


def test_expired_key_is_401_even_when_cached(tmp_path: Path, store: Store,
                                              clock: Clock) -> None:
    g = gate(settings(tmp_path), store, clock)
    _, secret = store.create_key(name="short", expires_at=T0 + 60)
    _, past = store.create_key(name="gone", expires_at=T0 - 1)
    reload(g)
    assert auth(g, secret).key_name == "short"  # cached until its expiry
    refused(g, past)
    clock.now = T0 + 60
    refused(g, secret, "expired")


def test_rotated_key_works_through_its_grace_period_then_401(
        tmp_path: Path, store: Store, clock: Clock) -> None:
    g = gate(settings(tmp_path), store, clock)
    old, old_secret = store.create_key(name="rot", rpm=3)
    store.set_budget("key", old.id, max_usd=5.0, actor="test")
    new, new_secret = store.rotate_key(old.id, grace_s=120, actor="test")
    reload(g)
    before = auth(g, old_secret)
    assert before.key_id == old.id and before.rpm == 3
    assert before.key_budget == f"key:{new.id}", "the budget moved with the rotation"
    assert auth(g, new_secret).key_id == new.id
    assert g.ask(before, "chat", "m", BODY).budgets == (f"key:{new.id}",)  # type: ignore[union-attr]
    clock.now = T0 + 121
    refused(g, old_secret, "grace period")
    assert auth(g, new_secret).key_id == new.id
    _, gone = store.rotate_key(new.id, actor="test")  # no grace: the old secret dies at once
    reload(g)
    refused(g, new_secret)
    assert auth(g, gone).key_name == "rot"


def test_jwt_tokens_go_to_the_verifier_and_name_the_caller(
        tmp_path: Path, store: Store, clock: Clock) -> None:
    jwt = FakeJwt(JwtIdentity("alice", "blue", "viewer", ("m",)))
    g = gate(settings(tmp_path, master=False), store, clock, jwt)
    assert not g.open, "a gateway with JWT auth is not open"
    p = auth(g, "eyJhbGciOi.x.y")
    assert (p.kind, p.user_id, p.team_id, p.role, p.models, p.key_id) == (
        "jwt", "alice", "blue", "viewer", ("m",), None)
    refused(g, "eyJ.x.bad", "signature")
    refused(g, "not-a-jwt", "Incorrect API key")
    refused(g, None, "Missing")
    assert jwt.verified == ["eyJhbGciOi.x.y", "eyJ.x.bad"]


# -- failed authentications -------------------------------------------------------------------

def test_failed_auths_are_limited_per_client_address(tmp_path: Path, store: Store,
                                                      clock: Clock) -> None:
    g = gate(settings(tmp_path, "auth:\n  failed_auth_per_minute: 3\n"), store, clock)
    assert g.failures.per_minute == 3
    for _ in range(3):
        refused(g, "sk-wrong", client="1.2.3.4")
    for key in ("sk-wrong", MASTER_KEY):  # even the right key, until the minute has passed
        with pytest.raises(RateLimited) as caught:
            auth(g, key, client="1.2.3.4")
        assert caught.value.code == "too_many_auth_failures"
        assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 60
    assert auth(g, MASTER_KEY, client="5.6.7.8") is MASTER
    clock.now = T0 + 61
    assert auth(g, MASTER_KEY, client="1.2.3.4") is MASTER
    for _ in range(10):  # successes are not failures
        auth(g, MASTER_KEY, client="9.9.9.9")
    refused(g, "sk-wrong", client="9.9.9.9")


# -- which limits -----------------------------------------------------------------------------

LIMITS = """
limits:
  key: {rpm: 100, tpm: 10000}
  user: {rpm: 50}
  team: {tpm: 5000}
  models: {m: {rpm: 30}}
  endpoints: {embeddings: {rpm: 20}}
"""


def rules(g: Gate, p: Principal, model: str = "m", endpoint: str = "chat") -> set[Rule]:
    ask = g.ask(p, endpoint, model, {**BODY, "model": model})
    return set(ask.rules) if ask is not None else set()


def test_rules_from_config_defaults_and_the_keys_own(tmp_path: Path, store: Store,
                                                     clock: Clock) -> None:
    g = gate(settings(tmp_path, LIMITS), store, clock)
    plain, s1 = store.create_key(name="plain", user_id="u", team_id="t")
    own, s2 = store.create_key(name="own", rpm=5)
    reload(g)
    assert rules(g, auth(g, s1)) == {
        Rule("key", plain.id, 100, 10000), Rule("user", "u", 50, None),
        Rule("team", "t", None, 5000), Rule("model", "m", 30, None)}
    assert rules(g, auth(g, s2), endpoint="embeddings") == {
        Rule("key", own.id, 5, None), Rule("model", "m", 30, None),
        Rule("endpoint", "embeddings", 20, None)}
    assert rules(g, MASTER, model="dear") == set()
    assert g.ask(MASTER, "chat", "dear", BODY) is None, "nothing applies: no work per request"


def test_store_limits_override_config_and_reach_a_cached_gate(
        tmp_path: Path, store: Store, clock: Clock) -> None:
    g = gate(settings(tmp_path, LIMITS), store, clock)
    k, secret = store.create_key(name="k", user_id="u", team_id="t")
    reload(g)
    p = auth(g, secret)
    assert Rule("user", "u", 50, None) in rules(g, p)  # computed and cached
    for scope, subject in (("user", "u"), ("team", "t"), ("model", "m"),
                           ("key_model", f"{k.id}:m"), ("endpoint", "chat")):
        store.set_limit(scope, subject, rpm=2, tpm=200, actor="test")
    store.set_limit("model", "dear", rpm=9, actor="test")
    reload(g)
    assert rules(g, p) == {
        Rule("key", k.id, 100, 10000), Rule("key_model", f"{k.id}:m", 2, 200),
        Rule("user", "u", 2, 200), Rule("team", "t", 2, 200), Rule("model", "m", 2, 200),
        Rule("endpoint", "chat", 2, 200)}
    jwt_user = Principal("jwt", "user", user_id="u", team_id="t")
    assert rules(g, jwt_user, model="dear") == {
        Rule("user", "u", 2, 200), Rule("team", "t", 2, 200), Rule("model", "dear", 9, None),
        Rule("endpoint", "chat", 2, 200)}


# -- which budgets, what it may cost ---------------------------------------------------------

def test_budgets_for_lists_only_budgets_that_exist(tmp_path: Path, store: Store,
                                                   clock: Clock) -> None:
    g = gate(settings(tmp_path), store, clock)
    k, secret = store.create_key(name="k", user_id="u", team_id="t")
    reload(g)
    p = auth(g, secret)
    assert g.ask(p, "chat", "m", BODY) is None
    store.set_budget("user", "u", max_usd=1.0, actor="test")
    store.set_budget("global", None, max_usd=100.0, actor="test")
    store.set_budget("team", "other", max_usd=1.0, actor="test")
    reload(g)
    ask = g.ask(p, "chat", "m", BODY)
    assert ask is not None and ask.budgets == ("user:u", "global") and ask.rules == ()
    store.set_budget("key", k.id, max_usd=1.0, actor="test")
    store.set_budget("team", "t", max_usd=1.0, actor="test")
    reload(g)
    assert g.ask(auth(g, secret), "chat", "m", BODY).budgets == (  # type: ignore[union-attr]
        f"key:{k.id}", "user:u", "team:t", "global")
    assert g.ask(MASTER, "chat", "m", BODY).budgets == ("global",)  # type: ignore[union-attr]


def test_ask_tokens_are_the_prompt_estimate_plus_the_output_asked(
        tmp_path: Path, store: Store, clock: Clock) -> None:
    g = gate(settings(tmp_path, "limits:\n  models: {m: {tpm: 100000}, dear: {rpm: 10}}\n"),
             store, clock)
    prompt = estimate_prompt_tokens(BODY, "chat", "mock")
    assert prompt > 0
    longer = {**BODY, "messages": [{"role": "user", "content": "hello there " * 50}]}
    assert estimate_prompt_tokens(longer, "chat", "mock") > prompt

    def tokens(body: Mapping[str, Any], endpoint: str = "chat", model: str = "m") -> int:
        ask = g.ask(MASTER, endpoint, model, body)
        assert ask is not None
        return ask.tokens

    assert tokens(BODY) == prompt
    assert tokens({**BODY, "max_tokens": 50}) == prompt + 50
    assert tokens({**BODY, "max_completion_tokens": 70, "max_tokens": 50}) == prompt + 70
    assert tokens({**BODY, "max_tokens": True}) == prompt  # a bool is not a count
    assert tokens({**longer, "max_tokens": 5}) == estimate_prompt_tokens(
        longer, "chat", "mock") + 5
    assert tokens({**BODY, "max_tokens": 5}, endpoint="messages") == prompt + 5
    assert tokens({**BODY, "max_tokens": 5}, model="dear") == 0, "no tpm, no budget: no count"


def test_reserve_is_the_dearest_deployment_fallbacks_included(
        tmp_path: Path, store: Store, clock: Clock) -> None:
    g = gate(settings(tmp_path), store, clock)
    store.set_budget("global", None, max_usd=10.0, actor="test")
    reload(g)
    prompt = estimate_prompt_tokens(BODY, "chat", "mock")

    def reserve(body: Mapping[str, Any], model: str = "m") -> float:
        ask = g.ask(MASTER, "chat", model, {**body, "model": model})
        assert ask is not None and ask.budgets == ("global",)
        if model != "no-such-model":  # (an unknown model is estimated as an OpenAI one)
            assert ask.tokens == prompt + int(body.get("max_tokens") or 0)
        return ask.reserve_usd

    # m's own deployments and its fallback `dear`: the fallback is the dearest.
    assert reserve({**BODY, "max_tokens": 10}) == pytest.approx(prompt * 1e-5 + 10 * 3e-5)
    # Without max_tokens each deployment reserves its own output cap: mid's 500 tokens at
    # 4e-6 outweigh dear's 100 at 3e-5.
    assert reserve(BODY) == pytest.approx(max(prompt * 1e-6 + 1000 * 2e-6,
                                              prompt * 2e-6 + 500 * 4e-6,
                                              prompt * 1e-5 + 100 * 3e-5))
    assert reserve(BODY, "dear") == pytest.approx(prompt * 1e-5 + 100 * 3e-5)
    assert reserve(BODY, "free") == 0.0  # no price known: nothing to reserve
    assert reserve(BODY, "no-such-model") == 0.0


def test_budgets_default_output_tokens_is_reserved_for_models_without_a_cap(
        tmp_path: Path, store: Store, clock: Clock) -> None:
    store.set_budget("global", None, max_usd=10.0, actor="test")
    prompt = estimate_prompt_tokens(BODY, "chat", "mock")
    for extra, cap in (("", 4096), ("budgets: {default_output_tokens: 100}\n", 100)):
        s = settings(tmp_path, extra)
        g = build_access(s, build_table(s, default_registry())[0], Upstream(), store=store).gate
        ask = g.ask(MASTER, "chat", "plain", {**BODY, "model": "plain"})
        assert ask is not None
        assert ask.reserve_usd == pytest.approx(prompt * 1e-6 + cap * 2e-6)
        # A model's own cap still wins over the default.
        dear = g.ask(MASTER, "chat", "dear", BODY)
        assert dear is not None
        assert dear.reserve_usd == pytest.approx(prompt * 1e-5 + 100 * 3e-5)
