"""From a JWT's verified claims to who is calling: user, team, role, allowed models.

Pure. Also checks the time claims (`exp`, `nbf`, `iat`) against an injected clock, so the
verifier and its cache agree on one notion of "now". Every refusal is an `AuthenticationFailed`
that names the claim at fault, never the token or a claim's value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pllm.config.model import FrozenDict
from pllm.errors import AuthenticationFailed

__all__ = ["ROLES", "JwtIdentity", "check_times", "identity_from_claims", "reject"]

ROLES = ("user", "viewer", "admin")
# When a role claim lists several roles, the most capable one pllm knows applies.
_RANK = {"viewer": 0, "user": 1, "admin": 2}


@dataclass(frozen=True, slots=True)
class JwtIdentity:
    """The caller a verified token names. `models` None means every model; `claims` holds all
    verified claims, read-only (kept out of repr and equality: they may carry personal data)."""

    user: str
    team: str | None
    role: str
    models: tuple[str, ...] | None
    claims: Mapping[str, Any] = field(default_factory=FrozenDict, repr=False, compare=False)


def reject(reason: str) -> AuthenticationFailed:
    """The 401 for a refused token; `reason` must never hold the token or a secret."""
    return AuthenticationFailed(f"Invalid JWT: {reason}")


def check_times(claims: Mapping[str, Any], now: float, leeway: float) -> float:
    """Validate `exp` (required), `nbf` and `iat` at `now`, allowing `leeway` seconds of clock
    skew either way; return `exp`."""
    exp = _number(claims, "exp")
    if exp is None:
        raise reject("token has no 'exp' claim")
    if exp <= now - leeway:
        raise reject("token expired")
    nbf = _number(claims, "nbf")
    if nbf is not None and nbf > now + leeway:
        raise reject("token not yet valid (nbf)")
    iat = _number(claims, "iat")
    if iat is not None and iat > now + leeway:
        raise reject("token issued in the future (iat)")
    return exp


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # bool is an int subclass; `"exp": true` is malformed, not 1970.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise reject(f"claim '{name}' must be a number")
    return float(value)


def identity_from_claims(
    claims: Mapping[str, Any],
    *,
    user_claim: str,
    team_claim: str | None,
    role_claim: str | None,
    models_claim: str | None,
    default_role: str,
    role_map: Mapping[str, str] | None = None,
) -> JwtIdentity:
    """Map verified claims to a `JwtIdentity` using the configured claim names (None: the
    claim is not read); `role_map` translates role claim values to pllm roles first."""
    user = _text(claims, user_claim)
    if not user:
        raise reject(f"token has no '{user_claim}' claim")
    role = default_role
    if role_claim is not None:
        role = _role(lookup(claims, role_claim), role_claim, default_role, role_map or {})
    return JwtIdentity(
        user=user,
        team=(_text(claims, team_claim) or None) if team_claim is not None else None,
        role=role,
        models=_models(lookup(claims, models_claim), models_claim) if models_claim else None,
        claims=FrozenDict(claims),
    )


def lookup(claims: Mapping[str, Any], name: str) -> Any:
    """A claim by exact name, else by dotted path (`realm_access.role`). Exact names come first
    because namespaced claims (`https://example.com/team`) legitimately contain dots."""
    if name in claims:
        return claims[name]
    if "." not in name:
        return None
    node: Any = claims
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _text(claims: Mapping[str, Any], name: str) -> str | None:
    value = lookup(claims, name)
    if value is None:
        return None
    # Some identity providers issue numeric ids; they name a subject just as well.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise reject(f"claim '{name}' must be a string")
    return value


def _role(value: Any, name: str, default: str, role_map: Mapping[str, str]) -> str:
    if value is None:
        return default
    if isinstance(value, str):
        role = role_map.get(value, value)
        if role in _RANK:
            return role
        raise reject(f"claim '{name}' names an unknown role (expected one of {', '.join(ROLES)})")
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        mapped = (role_map.get(v, v) for v in value)
        known: list[str] = [v for v in mapped if v in _RANK]
        if known:
            return max(known, key=_RANK.__getitem__)
        raise reject(f"claim '{name}' names no known role (expected one of {', '.join(ROLES)})")
    raise reject(f"claim '{name}' must be a string or a list of strings")


def _models(value: Any, name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(m.strip() for m in value.split(",") if m.strip())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise reject(f"claim '{name}' must be a list of model names or a comma-separated string")
