"""Building the access side of a gateway from its settings: the store, the directory that
mirrors it, the gate (who, which limits, what it may cost) and the ledger (in process, or the
supervisor's over a Unix socket when there are several workers)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from pllm.access.directory import Directory, Snapshot
from pllm.access.gate import Gate
from pllm.access.jwt import JwtVerifier
from pllm.access.jwt_settings import JwtSettings
from pllm.access.ledger import Ledger, LocalLedger
from pllm.access.ledger_ipc import RemoteLedger
from pllm.config.model import Deployment, JwtConfig, Settings
from pllm.errors import ConfigError, Issue
from pllm.limits.pricing import Pricing
from pllm.limits.quota import QuotaBook
from pllm.providers.base import UpstreamRequest
from pllm.router.table import ModelTable
from pllm.store import Store, db_path
from pllm.upstream import Upstream

__all__ = ["Access", "build_access", "open_store", "rebuild_access"]

log = logging.getLogger("pllm.access")
JWKS_TIMEOUT_S = 10.0


@dataclass(slots=True)
class Access:
    store: Store
    directory: Directory
    gate: Gate
    ledger: Ledger
    jwt: JwtVerifier | None
    fetch: LoopFetch


def open_store(settings: Settings) -> Store:
    return Store.open(db_path(None, settings.server.database_url, os.environ))


def build_access(settings: Settings, table: ModelTable, upstream: Upstream, *,
                 store: Store | None = None,
                 ledger_socket: str | None = None) -> Access:
    store = store or open_store(settings)
    tz = settings.access.budget_timezone
    ledger: Ledger = RemoteLedger(ledger_socket) if ledger_socket else LocalLedger(
        store, QuotaBook(tz=tz))

    def on_change(snap: Snapshot) -> None:
        ledger.sync_budgets(snap.budgets)

    directory = Directory(store, on_change=on_change)
    directory.load()
    pricing = Pricing(time.time, default_output_cap=settings.access.default_output_tokens)
    fetch = LoopFetch(upstream)
    jwt = _jwt_verifier(settings.access.jwt, fetch) if settings.access.jwt else None
    gate = Gate(settings, directory, pricing=pricing,
                deployments_for=deployments_lookup(settings, table), jwt=jwt)
    return Access(store, directory, gate, ledger, jwt, fetch)


def rebuild_access(old: Access, before: Settings, settings: Settings,
                   table: ModelTable) -> Access:
    """The access side for reloaded settings: the same store, directory, ledger and JWKS
    fetcher; a new gate (master key, limit defaults, JWT settings, the new deployments'
    prices) that keeps the failed-authentication counts, so a reload resets no lockout. The
    JWT verifier is kept (with its fetched JWKS) unless its settings or key files may have
    changed. Raises ConfigError for JWT settings that cannot be used."""
    cfg = settings.access.jwt
    jwt = old.jwt
    if cfg != before.access.jwt or (cfg is not None and (cfg.jwks_file or cfg.public_key_file)):
        jwt = _jwt_verifier(cfg, old.fetch) if cfg else None
    pricing = old.gate.pricing
    if settings.access.default_output_tokens != before.access.default_output_tokens:
        pricing = Pricing(time.time, default_output_cap=settings.access.default_output_tokens)
    gate = Gate(settings, old.directory, pricing=pricing,
                deployments_for=deployments_lookup(settings, table), jwt=jwt)
    gate.failures = old.gate.failures
    gate.failures.per_minute = settings.access.failed_auth_per_minute
    return Access(old.store, old.directory, gate, old.ledger, jwt, old.fetch)


Candidates = tuple[tuple[Deployment, str], ...]


def deployments_lookup(settings: Settings, table: ModelTable) -> Callable[[str], Candidates]:
    """The deployments (and the upstream model each would be asked for) that could serve a
    model name, its fallbacks included: a budget reservation must cover the dearest."""
    cache: dict[str, Candidates] = {}
    fallbacks = settings.router.fallbacks

    def lookup(model: str) -> Candidates:
        found = cache.get(model)
        if found is not None:
            return found
        deps: list[tuple[Deployment, str]] = []
        match = table.resolve(model)
        if match is not None:
            deps.extend((t.deployment, m) for t, m in zip(match.targets, match.models,
                                                          strict=True))
            for name in fallbacks.get(match.group, ()):
                more = table.resolve(name)
                if more is not None:
                    deps.extend((t.deployment, m) for t, m in zip(more.targets, more.models,
                                                                  strict=True))
        found = tuple(deps)
        if len(cache) < 10_000:
            cache[model] = found
        return found

    return lookup


def _jwt_verifier(cfg: JwtConfig, fetch: LoopFetch) -> JwtVerifier:
    jwks = None
    if cfg.jwks_file:
        try:
            jwks = orjson.loads(Path(cfg.jwks_file).read_bytes())
        except (OSError, orjson.JSONDecodeError) as e:
            raise ConfigError([Issue(f"cannot read the JWKS file {cfg.jwks_file}: "
                                     f"{type(e).__name__}", path="auth.jwt.jwks_file")]) from None
        if not isinstance(jwks, dict):
            raise ConfigError([Issue(f"the JWKS file {cfg.jwks_file} is not a JSON object",
                                     path="auth.jwt.jwks_file")])
    public_key = Path(cfg.public_key_file).read_text() if cfg.public_key_file else None
    settings = JwtSettings(
        secret=cfg.secret, public_key=public_key, jwks=jwks, jwks_url=cfg.jwks_url,
        algorithms=cfg.algorithms, issuer=cfg.issuer, audience=cfg.audience,
        leeway_s=cfg.leeway_seconds, user_claim=cfg.user_claim, team_claim=cfg.team_claim,
        role_claim=cfg.role_claim, models_claim=cfg.models_claim,
        default_role=cfg.default_role, jwks_cache_s=cfg.jwks_cache_seconds,
        role_map=dict(cfg.role_map))
    problems = settings.problems()
    if problems:
        raise ConfigError([Issue(p, path="auth.jwt") for p in problems])
    return JwtVerifier(settings, fetch_jwks=fetch if cfg.jwks_url else None)


class LoopFetch:
    """Fetches a JWKS document for the verifier's refresh (which runs in a worker thread)
    through the gateway's one HTTP client, on the event loop it runs on."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, url: str) -> bytes:
        if self.loop is None:
            raise RuntimeError("the gateway is not serving yet")
        request = UpstreamRequest("GET", url, {"accept": "application/json"}, None)
        future = asyncio.run_coroutine_threadsafe(
            self.upstream.send(request, timeout=JWKS_TIMEOUT_S), self.loop)
        resp = future.result(JWKS_TIMEOUT_S + 5)
        if resp.status != 200:
            raise OSError(f"JWKS fetch answered {resp.status}")
        return resp.body
