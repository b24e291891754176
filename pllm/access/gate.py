"""The gate every request passes: who is calling (master key, virtual key, JWT, or anyone when
the gateway is open), which rate limits and budgets apply to them for this model and
endpoint, and what the request may cost at most.

All from memory: keys and limits come from the Directory's snapshot, JWTs are verified in
process (cached), prices are looked up once per deployment. Key secrets are looked up by their
sha256 (a dict probe on a digest leaks nothing usable through timing); the master key is
compared with `hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pllm.access.directory import Directory, Snapshot
from pllm.access.jwt_claims import JwtIdentity
from pllm.access.principal import MASTER, OPEN, Principal
from pllm.config.model import Deployment, RateLimit, Settings
from pllm.errors import AuthenticationFailed, RateLimited
from pllm.limits.pricing import Pricing
from pllm.limits.quota import Ask, Rule
from pllm.limits.tokens import estimate_prompt_tokens
from pllm.limits.window import Window
from pllm.schema import Headers
from pllm.store import KeyRecord

__all__ = ["Gate", "JwtChecker", "presented_key"]

KEY_PREFIX = "sk-pllm-"
_CACHE_MAX = 50_000


class JwtChecker(Protocol):
    def looks_like_jwt(self, token: str) -> bool: ...
    async def verify_refreshing(self, token: str) -> JwtIdentity: ...


def presented_key(headers: Headers) -> str | None:
    """The key from `Authorization: Bearer`, `X-API-Key` (Anthropic's `x-api-key`) or
    Azure-style `api-key`."""
    value = headers.get("authorization")
    if value:
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return headers.get("x-api-key") or headers.get("api-key")


class FailedAuths:
    """Failed authentications per client address in the last minute."""

    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._by_client: dict[str, Window] = {}

    def check(self, client: str) -> None:
        w = self._by_client.get(client)
        if w is None:
            return
        now = self._clock()
        if w.used(now) >= self.per_minute:
            wait = w.free_at(now, 1, self.per_minute) - now
            raise RateLimited("Too many failed authentication attempts from this address; "
                              "try again later", retry_after=wait, code="too_many_auth_failures")

    def failed(self, client: str) -> None:
        if len(self._by_client) > _CACHE_MAX:
            now = self._clock()
            self._by_client = {c: w for c, w in self._by_client.items() if not w.empty(now)}
        w = self._by_client.setdefault(client, Window())
        w.add(self._clock(), 1)


class Gate:
    def __init__(self, settings: Settings, directory: Directory | None, *,
                 pricing: Pricing,
                 deployments_for: Callable[[str], tuple[tuple[Deployment, str], ...]],
                 jwt: JwtChecker | None = None, clock: Callable[[], float] = time.time) -> None:
        master = settings.server.master_key
        self._master = master.value.encode() if master else None
        self._jwt = jwt
        self.open = self._master is None and jwt is None
        self.directory = directory
        self.pricing = pricing
        self._deployments_for = deployments_for
        self._access = settings.access
        self._clock = clock
        self.failures = FailedAuths(settings.access.failed_auth_per_minute, clock)
        self._principals: dict[str, tuple[Principal, float]] = {}
        self._rules: dict[tuple[Principal, str, str], tuple[Rule, ...]] = {}
        self._snapshot: Snapshot | None = None

    # -- who ---------------------------------------------------------------------------------
    async def authenticate(self, headers: Headers, client: str | None) -> Principal:
        """Raises AuthenticationFailed (401) or RateLimited (too many failures)."""
        address = client or "-"
        self.failures.check(address)
        token = presented_key(headers)
        try:
            found = self._identify(token)
            if found is None:  # a JWT: verified in process, keys fetched off the loop
                assert self._jwt is not None and token is not None
                return _from_jwt(await self._jwt.verify_refreshing(token))
            return found
        except AuthenticationFailed:
            self.failures.failed(address)
            raise

    def _identify(self, token: str | None) -> Principal | None:
        """The caller, or None for a token to verify as a JWT."""
        if token is None:
            if self.open:
                return OPEN
            raise AuthenticationFailed(
                "Missing API key: send it as 'Authorization: Bearer <key>' or 'X-API-Key'")
        if self._master is not None and hmac.compare_digest(token.encode(), self._master):
            return MASTER
        if token.startswith(KEY_PREFIX):
            return self._virtual_key(token)
        if self._jwt is not None and self._jwt.looks_like_jwt(token):
            return None
        if self.open:
            return OPEN  # SDKs insist on some key: any is fine on an open gateway
        raise AuthenticationFailed("Incorrect API key provided")

    def _virtual_key(self, token: str) -> Principal:
        digest = hashlib.sha256(token.encode()).hexdigest()
        self._sync()
        now = self._clock()
        cached = self._principals.get(digest)
        if cached is not None and now < cached[1]:
            return cached[0]
        snap = self._snapshot
        record = snap.keys.get(digest) if snap is not None else None
        if record is None:
            raise AuthenticationFailed("Incorrect API key provided")
        until = min(t for t in (record.expires_at, record.grace_until, float("inf"))
                    if t is not None)
        if now >= until:
            raise AuthenticationFailed("This API key has expired" if record.expires_at and
                                       now >= record.expires_at else
                                       "This API key was rotated and its grace period is over")
        principal = _from_key(record)
        if len(self._principals) < _CACHE_MAX:
            self._principals[digest] = (principal, until)
        return principal

    def _sync(self) -> None:
        """Drop what was derived from an older snapshot."""
        snap = self.directory.snapshot if self.directory is not None else None
        if snap is not self._snapshot:
            self._snapshot = snap
            self._principals.clear()
            self._rules.clear()

    # -- what applies ------------------------------------------------------------------------
    def ask(self, p: Principal, endpoint: str, model: str,
            body: Mapping[str, Any]) -> Ask | None:
        """The limits and budgets this request must pass; None when nothing applies."""
        self._sync()
        rules = self._rules_for(p, model, endpoint)
        budgets = self._budgets_for(p)
        if not rules and not budgets:
            return None
        deps = self._deployments_for(model)
        provider = deps[0][0].provider if deps else "openai"
        need_tokens = budgets or any(r.tpm is not None for r in rules)
        # /v1/messages arrives here already translated to a chat request.
        as_endpoint = "chat" if endpoint == "messages" else endpoint
        prompt = estimate_prompt_tokens(body, as_endpoint, provider) if need_tokens else 0
        asked = _asked_output(body)
        tokens = prompt + asked if need_tokens else 0
        reserve = 0.0
        if budgets:
            pricing = self.pricing
            reserve = max((pricing.max_cost(d, m, prompt, asked or pricing.output_cap(d, m))
                           or 0.0 for d, m in deps), default=0.0)
        return Ask(rules, tokens, budgets, reserve)

    def _rules_for(self, p: Principal, model: str, endpoint: str) -> tuple[Rule, ...]:
        key = (p, model, endpoint)
        cached = self._rules.get(key)
        if cached is not None:
            return cached
        snap = self._snapshot or Snapshot()
        defaults = self._access.limits
        found: list[Rule] = []

        def add(scope: str, subject: str, configured: RateLimit | None) -> None:
            row = snap.limits.get((scope, subject))
            rpm, tpm = row if row is not None else (
                (configured.rpm, configured.tpm) if configured else (None, None))
            if rpm is not None or tpm is not None:
                found.append(Rule(scope, subject, rpm, tpm))

        if p.key_id is not None:
            own = RateLimit(p.rpm, p.tpm)
            add("key", p.key_id, own if own else defaults.key)
            add("key_model", f"{p.key_id}:{model}", None)
        if p.user_id is not None:
            add("user", p.user_id, defaults.user)
        if p.team_id is not None:
            add("team", p.team_id, defaults.team)
        add("model", model, defaults.models.get(model))
        add("endpoint", endpoint, defaults.endpoints.get(endpoint))
        rules = tuple(found)
        if len(self._rules) < _CACHE_MAX:
            self._rules[key] = rules
        return rules

    def _budgets_for(self, p: Principal) -> tuple[str, ...]:
        snap = self._snapshot
        if snap is None or not snap.budget_ids:
            return ()
        ids = []
        if p.key_id is not None:
            ids.append(p.key_budget or f"key:{p.key_id}")
        if p.user_id is not None:
            ids.append(f"user:{p.user_id}")
        if p.team_id is not None:
            ids.append(f"team:{p.team_id}")
        ids.append("global")
        return tuple(i for i in ids if i in snap.budget_ids)


def _from_key(r: KeyRecord) -> Principal:
    return Principal("key", r.role, key_id=r.id, key_name=r.name, user_id=r.user_id,
                     team_id=r.team_id, models=r.models, rpm=r.rpm, tpm=r.tpm,
                     key_budget=r.budget_id)


def _from_jwt(identity: JwtIdentity) -> Principal:
    return Principal("jwt", identity.role, user_id=identity.user, team_id=identity.team,
                     models=identity.models)


def _asked_output(body: Mapping[str, Any]) -> int:
    """The output the request says it may produce (counted against tpm up front, as OpenAI
    does); 0 when it does not say."""
    for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        v = body.get(name)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return 0
