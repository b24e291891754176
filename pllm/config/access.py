"""pllm's access sections: `auth:` (JWT), `limits:` (default rate limits), `audit:` and
`budgets:`. Key files named relative to the config file are resolved against its folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pllm.config.model import (
    AccessSettings,
    AuditSettings,
    FrozenDict,
    JwtConfig,
    LimitDefaults,
    RateLimit,
)
from pllm.config.reader import Reader
from pllm.config.yamlsrc import LDict, Mark

__all__ = ["ACCESS_SECTIONS", "ENDPOINTS", "JWT_ALGORITHMS", "ROLES", "parse_access"]

ACCESS_SECTIONS = frozenset({"auth", "limits", "audit", "budgets"})
ROLES = ("user", "viewer", "admin")
ENDPOINTS = ("chat", "completions", "embeddings", "messages")
JWT_ALGORITHMS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384",
                  "ES512", "PS256", "PS384", "PS512")
_JWT_KEYS = frozenset({"algorithms", "secret", "public_key_file", "jwks_file", "jwks_url",
                       "jwks_cache_seconds", "issuer", "audience", "leeway_seconds", "claims",
                       "role_map", "default_role"})
_CLAIM_KEYS = frozenset({"user", "team", "role", "models"})
_HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}  # RFC 7518 §3.2: the hash size
_LIMIT_KEYS = frozenset({"key", "user", "team", "models", "endpoints"})


def parse_access(r: Reader, tree: LDict, base: Path | None) -> AccessSettings:
    values: dict[str, Any] = {}
    auth = r.mapping(tree, "auth", "")
    if auth is not None:
        r.check_keys(auth, "auth", {"jwt", "failed_auth_per_minute"})
        jwt = r.mapping(auth, "jwt", "auth")
        if jwt is not None:
            values["jwt"] = _jwt(r, jwt, base)
        failed = r.integer(auth, "failed_auth_per_minute", "auth", minimum=1)
        if failed is not None:
            values["failed_auth_per_minute"] = failed
    limits = r.mapping(tree, "limits", "")
    if limits is not None:
        values["limits"] = _limits(r, limits)
    audit = r.mapping(tree, "audit", "")
    if audit is not None:
        r.check_keys(audit, "audit", {"log_bodies", "retention_days"})
        log_bodies = r.boolean(audit, "log_bodies", "audit")
        days = r.number(audit, "retention_days", "audit", positive=True)
        values["audit"] = AuditSettings(log_bodies=bool(log_bodies),
                                        retention_days=days if days is not None else 90.0)
    budgets = r.mapping(tree, "budgets", "")
    if budgets is not None:
        r.check_keys(budgets, "budgets", {"timezone", "default_output_tokens"})
        tz = r.string(budgets, "timezone", "budgets")
        if tz is not None:
            try:
                ZoneInfo(tz)
                values["budget_timezone"] = tz
            except (ZoneInfoNotFoundError, ValueError):
                r.error(f"unknown time zone '{tz}' (use an IANA name such as Europe/Paris)",
                        "budgets.timezone", budgets.at("timezone"))
        cap = r.integer(budgets, "default_output_tokens", "budgets", minimum=1)
        if cap is not None:
            values["default_output_tokens"] = cap
    return AccessSettings(**values)


def _jwt(r: Reader, d: LDict, base: Path | None) -> JwtConfig | None:
    path = "auth.jwt"
    r.check_keys(d, path, _JWT_KEYS)
    algorithms = r.string_list(d, "algorithms", path) or []
    bad = [a for a in algorithms if a not in JWT_ALGORITHMS]
    if bad:
        r.error(f"unsupported algorithm '{bad[0]}' (choose from {', '.join(JWT_ALGORITHMS)}; "
                "'none' is never accepted)", f"{path}.algorithms", d.at("algorithms"))
        return None
    secret = r.secret(d, "secret", path)
    files = {k: _file(r, d, k, base) for k in ("public_key_file", "jwks_file")}
    jwks_url = r.string(d, "jwks_url", path)
    asymmetric = files["public_key_file"] or files["jwks_file"] or jwks_url
    if not algorithms:
        algorithms = ["HS256"] if secret else ["RS256"]
    hmac = [a for a in algorithms if a.startswith("HS")]
    if hmac and asymmetric:
        # Algorithm confusion: a public key must never be usable as an HMAC secret.
        r.error("HS* algorithms cannot be combined with a public key or JWKS; configure "
                "either a shared secret or public keys", f"{path}.algorithms", d.at("algorithms"))
        return None
    if hmac and secret is None:
        r.error("HS* algorithms need 'secret'", path, d.mark)
        return None
    if len(hmac) < len(algorithms) and not asymmetric:
        r.error("RS*/ES*/PS* algorithms need public_key_file, jwks_file or jwks_url", path,
                d.mark)
        return None
    if jwks_url is not None and not _jwks_url_ok(jwks_url):
        r.error("jwks_url must be an https:// URL (plain http only for localhost)",
                f"{path}.jwks_url", d.at("jwks_url"))
    sources = [k for k in ("public_key_file", "jwks_file", "jwks_url") if k in d]
    if len(sources) > 1:
        r.error(f"give only one of {', '.join(sources)}", f"{path}.{sources[1]}",
                d.key_at(sources[1]))
    if secret is not None and not hmac:
        r.error("'secret' is only used by HS256/HS384/HS512, which algorithms does not list",
                f"{path}.secret", d.at("secret"))
    need = max((_HMAC_MIN_BYTES[a] for a in hmac), default=0)
    if secret is not None and len(secret.value.encode()) < need:
        r.error(f"the secret must be at least {need} bytes long for {', '.join(hmac)} "
                "(RFC 7518 §3.2)", f"{path}.secret", d.at("secret"))
    values: dict[str, Any] = {"algorithms": tuple(algorithms), "secret": secret,
                              "jwks_url": jwks_url, **files}
    for key in ("jwks_cache_seconds", "leeway_seconds"):
        if (n := r.number(d, key, path, positive=key == "jwks_cache_seconds")) is not None:
            values[key] = n
    values["issuer"] = r.string(d, "issuer", path)
    audience = r.string_list(d, "audience", path)
    values["audience"] = tuple(audience) if audience else None
    claims = r.mapping(d, "claims", path)
    if claims is not None:
        r.check_keys(claims, f"{path}.claims", _CLAIM_KEYS)
        for name in _CLAIM_KEYS:
            if name in claims:
                values[f"{name}_claim"] = claim = r.string(claims, name, f"{path}.claims")
                if claim == "":
                    r.error("a claim name cannot be empty (leave it out, or null for "
                            "'not read')", f"{path}.claims.{name}", claims.at(name))
    role_map = r.mapping(d, "role_map", path)
    if role_map is not None:
        mapped = {}
        for claim_value in role_map:
            role = r.string(role_map, claim_value, f"{path}.role_map")
            if role is not None and _role(r, role, f"{path}.role_map.{claim_value}",
                                          role_map.at(claim_value)):
                mapped[str(claim_value)] = role
        values["role_map"] = FrozenDict(mapped)
    default_role = r.string(d, "default_role", path)
    if default_role is not None and _role(r, default_role, f"{path}.default_role",
                                          d.at("default_role")):
        values["default_role"] = default_role
    if values.get("user_claim") is None:
        values.pop("user_claim", None)
    return JwtConfig(**values)


def _jwks_url_ok(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "http":
        return parts.hostname in ("localhost", "127.0.0.1", "::1")
    return parts.scheme == "https" and bool(parts.hostname)


def _role(r: Reader, role: str, path: str, mark: Mark) -> bool:
    if role in ROLES:
        return True
    r.error(f"unknown role '{role}' (choose from {', '.join(ROLES)})", path, mark)
    return False


def _file(r: Reader, d: LDict, key: str, base: Path | None) -> str | None:
    name = r.string(d, key, "auth.jwt")
    if name is None:
        return None
    p = Path(name).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    if not p.is_file():
        r.error(f"file not found: {p}", f"auth.jwt.{key}", d.at(key))
    return str(p)


def _limits(r: Reader, d: LDict) -> LimitDefaults:
    r.check_keys(d, "limits", _LIMIT_KEYS)
    values: dict[str, Any] = {}
    for scope in ("key", "user", "team"):
        block = r.mapping(d, scope, "limits")
        if block is not None:
            values[scope] = _rate(r, block, f"limits.{scope}")
    models = r.mapping(d, "models", "limits")
    if models is not None:
        values["models"] = FrozenDict({
            str(name): _rate(r, block, f"limits.models.{name}")
            for name in models if (block := r.mapping(models, name, "limits.models")) is not None
        })
    endpoints = r.mapping(d, "endpoints", "limits")
    if endpoints is not None:
        r.check_keys(endpoints, "limits.endpoints", ENDPOINTS)
        values["endpoints"] = FrozenDict({
            str(name): _rate(r, block, f"limits.endpoints.{name}")
            for name in endpoints
            if (block := r.mapping(endpoints, name, "limits.endpoints")) is not None
        })
    return LimitDefaults(**values)


def _rate(r: Reader, d: LDict, path: str) -> RateLimit:
    r.check_keys(d, path, {"rpm", "tpm"})
    return RateLimit(rpm=r.integer(d, "rpm", path, minimum=1),
                     tpm=r.integer(d, "tpm", path, minimum=1))
