"""What JWT bearer-token auth is configured with, and what is wrong with a configuration.

`JwtSettings` is frozen and picklable (workers rebuild the verifier from it). `problems()`
lists every mistake at once, in words a config error can carry; it also loads the static key
material, so a verifier built from problem-free settings cannot fail on its keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pllm.access.jwt_claims import ROLES
from pllm.access.jwt_keys import (
    ASYMMETRIC_ALGORITHMS,
    HMAC_ALGORITHMS,
    KeySet,
    VerifyKey,
    hmac_problem,
    load_pem_key,
    parse_jwks,
)
from pllm.config.model import Secret

__all__ = ["JwtSettings", "KeyMaterial", "load_material"]

_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class JwtSettings:
    """JWT verification settings. Key sources: `secret` for HS256/384/512, and at most one of
    `public_key` (PEM), `jwks` (a JWKS document) or `jwks_url` for RS*/PS*/ES*/EdDSA.

    `algorithms` left empty means: HS256 when a secret is set, plus RS256 and ES256 when a
    public key source is (RS256 and ES256 when neither is). `audience` may list several
    (a token naming any one is accepted). Claim names may be dotted paths into nested claims
    (`realm_access.role`), an exact top-level name winning over a path; None for the team,
    role or models claim means "not read". `role_map` maps the role claim's values (say an
    identity provider's group names) to pllm roles before they are checked.
    """

    secret: Secret | None = None
    public_key: str | None = field(default=None, repr=False)
    jwks: Mapping[str, Any] | None = field(default=None, repr=False)
    jwks_url: str | None = None
    algorithms: tuple[str, ...] = ()
    issuer: str | None = None
    audience: str | tuple[str, ...] | None = None
    leeway_s: float = 30.0
    user_claim: str = "sub"
    team_claim: str | None = "team"
    role_claim: str | None = "role"
    models_claim: str | None = "models"
    default_role: str = "user"
    jwks_cache_s: float = 600.0
    role_map: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if not self.algorithms:
            object.__setattr__(self, "algorithms", self._default_algorithms())

    def _default_algorithms(self) -> tuple[str, ...]:
        asymmetric = self.public_key is not None or self.jwks is not None or bool(self.jwks_url)
        if self.secret is not None and not asymmetric:
            return ("HS256",)
        if self.secret is not None:
            return ("HS256", "RS256", "ES256")
        return ("RS256", "ES256")

    @property
    def has_public_keys(self) -> bool:
        return self.public_key is not None or self.jwks is not None or bool(self.jwks_url)

    def problems(self) -> list[str]:
        """Every reason these settings cannot work (empty when they can)."""
        return load_material(self)[1]


@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """The static keys settings name: the HMAC key bytes, a PEM key, a static JWKS."""

    hmac: bytes | None = field(default=None, repr=False)
    pem: VerifyKey | None = None
    keys: KeySet | None = None


def load_material(s: JwtSettings) -> tuple[KeyMaterial, list[str]]:
    """Load the static key material and collect every problem with `s`."""
    problems = _source_problems(s) + _algorithm_problems(s) + _other_problems(s)
    hmac_key = None
    if s.secret is not None:
        why = hmac_problem(s.secret.value, s.algorithms)
        if why:
            problems.append(why)
        hmac_key = s.secret.value.encode()
    pem = keys = None
    try:
        if s.public_key is not None:
            pem = load_pem_key(s.public_key)
        if s.jwks is not None:
            keys = parse_jwks(s.jwks)
    except ValueError as e:
        problems.append(str(e))
    return KeyMaterial(hmac=hmac_key, pem=pem, keys=keys), problems


def _source_problems(s: JwtSettings) -> list[str]:
    sources = [s.public_key is not None, s.jwks is not None, bool(s.jwks_url)]
    out = []
    if s.secret is None and not any(sources):
        out.append("JWT auth needs a secret, public_key, jwks or jwks_url")
    if sum(sources) > 1:
        out.append("give only one of public_key, jwks and jwks_url")
    if s.jwks_url:
        url = urlsplit(s.jwks_url)
        insecure = url.scheme == "http" and url.hostname not in _LOOPBACK
        if url.scheme not in ("https", "http") or insecure or not url.hostname:
            out.append("jwks_url must be an https:// URL (plain http only for localhost)")
    return out


def _algorithm_problems(s: JwtSettings) -> list[str]:
    out = []
    for alg in s.algorithms:
        if alg.lower() == "none":
            out.append("algorithm 'none' is never accepted")
        elif alg not in HMAC_ALGORITHMS and alg not in ASYMMETRIC_ALGORITHMS:
            known = ", ".join(sorted(HMAC_ALGORITHMS.keys() | ASYMMETRIC_ALGORITHMS))
            out.append(f"unsupported JWT algorithm {alg!r} (supported: {known})")
    hmac_algs = [a for a in s.algorithms if a in HMAC_ALGORITHMS]
    asym_algs = [a for a in s.algorithms if a in ASYMMETRIC_ALGORITHMS]
    if hmac_algs and s.secret is None:
        out.append(f"{', '.join(hmac_algs)} needs a secret")
    if s.secret is not None and not hmac_algs:
        out.append("a secret is set but algorithms lists no HS256/HS384/HS512")
    if asym_algs and not s.has_public_keys:
        out.append(f"{', '.join(asym_algs)} needs public_key, jwks or jwks_url")
    if s.has_public_keys and not asym_algs:
        out.append("a public key source is set but algorithms lists no asymmetric algorithm")
    return out


def _other_problems(s: JwtSettings) -> list[str]:
    out = []
    if s.default_role not in ROLES:
        out.append(f"default_role must be one of {', '.join(ROLES)}")
    if s.leeway_s < 0:
        out.append("leeway_s must not be negative")
    if s.jwks_cache_s <= 0:
        out.append("jwks_cache_s must be positive")
    names = (s.user_claim, s.team_claim, s.role_claim, s.models_claim)
    if any(n == "" for n in names):
        out.append("claim names must not be empty")
    if s.role_map is not None and any(r not in ROLES for r in s.role_map.values()):
        out.append(f"role_map values must be one of {', '.join(ROLES)}")
    if isinstance(s.audience, tuple) and not s.audience:
        out.append("audience must not be an empty list")
    return out
