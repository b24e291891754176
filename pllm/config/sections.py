"""The settings sections: pllm's `server:` and `router:`, LiteLLM's `general_settings`,
`router_settings` and `litellm_settings`. Where both name the same thing, pllm's block wins over
router_settings, which wins over litellm_settings."""

from __future__ import annotations

from typing import Any

from pllm.config.litellm_names import (
    GENERAL_SETTINGS_KEYS,
    LITELLM_SETTINGS_KEYS,
    ROUTER_SETTINGS_KEYS,
)
from pllm.config.model import (
    CircuitBreakerSettings,
    FrozenDict,
    RouterSettings,
    Secret,
    ServerSettings,
    Strategy,
)
from pllm.config.reader import MISSING, Reader, suggest
from pllm.config.yamlsrc import LDict, Mark

__all__ = ["STRATEGIES", "parse_router", "parse_server"]

STRATEGIES: dict[str, Strategy] = {
    "round_robin": "round_robin",
    "least_busy": "least_busy",
    "weighted": "weighted",
    "priority": "priority",
    "latency_based": "latency_based",
    "usage_based": "usage_based",
    "cost_based": "cost_based",
    # LiteLLM's names
    "simple-shuffle": "weighted",
    "least-busy": "least_busy",
    "latency-based-routing": "latency_based",
    "usage-based-routing": "usage_based",
    "usage-based-routing-v2": "usage_based",
    "cost-based-routing": "cost_based",
}
_FALLBACK_KEYS = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")
_ROUTER_KEYS = frozenset({"strategy", "retries", "timeout", "circuit_breaker", "model_group_alias",
                          "default_fallbacks", "hedge_after_ms", *_FALLBACK_KEYS})
_SERVER_KEYS = frozenset({"host", "port", "workers", "loop", "max_request_size_mb",
                          "request_timeout", "graceful_timeout", "database_url",
                          "metrics_port", "log_format", "log_level"})
_GENERAL_USED = frozenset({"master_key", "database_url", "max_request_size_mb"})
_LITELLM_USED = frozenset({"drop_params", "request_timeout", "num_retries", "default_fallbacks",
                           *_FALLBACK_KEYS})
_ROUTER_SETTINGS_USED = frozenset({"routing_strategy", "num_retries", "timeout", "allowed_fails",
                                   "cooldown_time", "model_group_alias", "default_fallbacks",
                                   *_FALLBACK_KEYS})


def parse_server(r: Reader, server: LDict | None, general: LDict | None,
                 litellm: LDict | None) -> ServerSettings:
    s, g, ls = server or LDict(_nomark()), general or LDict(_nomark()), litellm or LDict(_nomark())
    r.check_keys(s, "server", _SERVER_KEYS)
    r.check_keys(g, "general_settings", _GENERAL_USED, tolerated=GENERAL_SETTINGS_KEYS)
    values: dict[str, Any] = {}
    master = r.secret(g, "master_key", "general_settings")
    if master is None:
        for name in ("PLLM_MASTER_KEY", "LITELLM_MASTER_KEY"):
            if r.env.get(name):
                master = Secret(r.env[name])
                break
    values["master_key"] = master
    values["database_url"] = _first(r.string(s, "database_url", "server"),
                                    r.string(g, "database_url", "general_settings"))
    size_mb = _first(r.number(s, "max_request_size_mb", "server", positive=True),
                     r.number(g, "max_request_size_mb", "general_settings", positive=True))
    if size_mb is not None:
        values["max_request_bytes"] = int(size_mb * 1024 * 1024)
    timeout = _first(r.number(s, "request_timeout", "server", positive=True),
                     r.number(ls, "request_timeout", "litellm_settings", positive=True))
    if timeout is not None:
        values["request_timeout"] = timeout
    for key in ("host",):
        if (v := r.string(s, key, "server")) is not None:
            values[key] = v
    if (port := r.integer(s, "port", "server")) is not None:
        values["port"] = port
    if (workers := r.integer(s, "workers", "server", minimum=1)) is not None:
        values["workers"] = workers
    if (grace := r.number(s, "graceful_timeout", "server")) is not None:
        values["graceful_timeout"] = grace
    if (loop := r.string(s, "loop", "server")) is not None:
        if loop in ("asyncio", "uvloop"):
            values["loop"] = loop
        else:
            r.error(f"loop must be asyncio or uvloop, not '{loop}'", "server.loop", s.at("loop"))
    if (drop := r.boolean(ls, "drop_params", "litellm_settings")) is not None:
        values["drop_params"] = drop
    _parse_operations(r, s, values)
    return ServerSettings(**values)


def _parse_operations(r: Reader, s: LDict, values: dict[str, Any]) -> None:
    """`metrics_port`, `log_format`, `log_level`."""
    if (metrics := r.integer(s, "metrics_port", "server", minimum=1)) is not None:
        if metrics > 65535 or metrics == values.get("port", 8080):
            r.error(f"metrics_port must be a free port other than the main one, not {metrics}",
                    "server.metrics_port", s.at("metrics_port"))
        else:
            values["metrics_port"] = metrics
    for key, allowed in (("log_format", ("text", "json")),
                         ("log_level", ("debug", "info", "warning", "error"))):
        if (v := r.string(s, key, "server")) is not None:
            if v.lower() in allowed:
                values[key] = v.lower()
            else:
                r.error(f"{key} must be one of {', '.join(allowed)}, not '{v}'",
                        f"server.{key}", s.at(key))


def parse_router(r: Reader, router: LDict | None, router_settings: LDict | None,
                 litellm: LDict | None) -> RouterSettings:
    p = router or LDict(_nomark())
    rs = router_settings or LDict(_nomark())
    ls = litellm or LDict(_nomark())
    r.check_keys(p, "router", _ROUTER_KEYS)
    r.check_keys(rs, "router_settings", _ROUTER_SETTINGS_USED, tolerated=ROUTER_SETTINGS_KEYS)
    r.check_keys(ls, "litellm_settings", _LITELLM_USED, tolerated=LITELLM_SETTINGS_KEYS)
    values: dict[str, Any] = {}
    strategy = _strategy(r, p, "strategy", "router") or _strategy(
        r, rs, "routing_strategy", "router_settings")
    if strategy:
        values["strategy"] = strategy
    retries = _first(r.integer(p, "retries", "router"),
                     r.integer(rs, "num_retries", "router_settings"),
                     r.integer(ls, "num_retries", "litellm_settings"))
    if retries is not None:
        values["retries"] = retries
    timeout = _first(r.number(p, "timeout", "router", positive=True),
                     r.number(rs, "timeout", "router_settings", positive=True))
    if timeout is not None:
        values["timeout"] = timeout
    for key in _FALLBACK_KEYS:
        chosen = _first(*(_fallbacks(r, d, key, name) for d, name in
                          ((p, "router"), (rs, "router_settings"), (ls, "litellm_settings"))))
        if chosen is not None:
            values[key] = chosen
    default_fb = _first(r.string_list(p, "default_fallbacks", "router"),
                        r.string_list(rs, "default_fallbacks", "router_settings"),
                        r.string_list(ls, "default_fallbacks", "litellm_settings"))
    if default_fb is not None:
        values["default_fallbacks"] = tuple(default_fb)
    values["circuit_breaker"] = _breaker(r, p, rs)
    alias = _first(_aliases(r, p, "router"), _aliases(r, rs, "router_settings"))
    if alias is not None:
        values["model_group_alias"] = alias
    hedge = r.number(p, "hedge_after_ms", "router", positive=True)
    if hedge is not None:
        values["hedge_after_ms"] = hedge
    return RouterSettings(**values)


def _strategy(r: Reader, d: LDict, key: str, path: str) -> Strategy | None:
    name = r.string(d, key, path)
    if name is None:
        return None
    found = STRATEGIES.get(name) or STRATEGIES.get(name.replace("-", "_"))
    if found is None:
        r.error(f"unknown strategy '{name}'{suggest(name, STRATEGIES)}", f"{path}.{key}",
                d.at(key))
    return found


def _fallbacks(r: Reader, d: LDict, key: str, path: str) -> FrozenDict | None:
    """`{a: [b, c]}` (pllm) or `[{a: [b, c]}, ...]` (LiteLLM) -> {a: (b, c)}."""
    v = r.get(d, key, path)
    if v is MISSING:
        return None
    items = [v] if isinstance(v, dict) else v
    out: dict[str, tuple[str, ...]] = {}
    if isinstance(items, list):
        for item in items:
            if not isinstance(item, dict):
                break
            for model, targets in item.items():
                targets = [targets] if isinstance(targets, str) else targets
                if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                    break
                out[str(model)] = tuple(targets)
            else:
                continue
            break
        else:
            return FrozenDict(out)
    r.error("expected {model: [fallback, ...]} or a list of such mappings", f"{path}.{key}",
            d.at(key))
    return None


def _breaker(r: Reader, p: LDict, rs: LDict) -> CircuitBreakerSettings:
    cb = r.mapping(p, "circuit_breaker", "router") or LDict(_nomark())
    r.check_keys(cb, "router.circuit_breaker", {"threshold", "timeout"})
    threshold = _first(r.integer(cb, "threshold", "router.circuit_breaker", minimum=1),
                       r.integer(rs, "allowed_fails", "router_settings", minimum=1))
    timeout = _first(r.number(cb, "timeout", "router.circuit_breaker", positive=True),
                     r.number(rs, "cooldown_time", "router_settings"))
    base = CircuitBreakerSettings()
    return CircuitBreakerSettings(
        threshold=threshold if threshold is not None else base.threshold,
        timeout=timeout if timeout is not None else base.timeout,
    )


def _aliases(r: Reader, d: LDict, path: str) -> FrozenDict | None:
    v = r.get(d, "model_group_alias", path)
    if v is MISSING:
        return None
    if not isinstance(v, dict):
        r.error("expected a mapping of alias to model group", f"{path}.model_group_alias",
                d.at("model_group_alias"))
        return None
    out = {}
    for alias, target in v.items():
        # LiteLLM also allows {alias: {model: name, hidden: bool}}.
        name = target.get("model") if isinstance(target, dict) else target
        if isinstance(name, str):
            out[str(alias)] = name
        else:
            r.error(f"alias '{alias}' must name a model group", f"{path}.model_group_alias",
                    d.at("model_group_alias"))
    return FrozenDict(out)


def _first(*values: Any) -> Any:
    for v in values:
        if v is not None:
            return v
    return None


def _nomark() -> Mark:
    return Mark("<defaults>", 0, 0)
