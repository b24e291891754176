"""JWT bearer tokens: verify a token, say who it names, and keep a JWKS fresh without doing I/O.

`JwtVerifier.verify(token)` is synchronous and pure CPU: PyJWT checks the signature (with the
one key the header's `alg` and `kid` select, see `jwt_keys`), the presence of `exp`, `iss` and
`aud`; the time claims are checked here against the injected clock (PyJWT reads the system
clock, and the result cache must agree with verification about "now"). `alg: none`, algorithms
outside `settings.algorithms`, and the `jku`/`x5u`/`jwk`/`x5c` headers are never used.

Keys from `jwks_url` are fetched by the caller: `verify` raises on an unknown `kid` and notes
that a refresh is due; `needs_refresh()` says so (rate-limited: at most one fetch attempt per
`REFRESH_MIN_INTERVAL_S`, whatever tokens arrive), `refresh()` fetches through the injected
`fetch_jwks` and is meant for a worker thread. `verify_refreshing()` is the async glue: verify,
on a refusal that a refresh might cure refresh in a thread and retry once; after a success,
refresh keys older than `jwks_cache_s` in the background (stale keys keep working meanwhile).

Verified tokens are cached (LRU keyed by SHA-256 of the token, so no token is kept) until
their `exp`: at most `cache_size` entries (default 4096), and only tokens up to 4 KiB, which
bounds the cache to roughly `cache_size` x 4 KiB of claims (16 MiB worst case, ~2 MiB typical).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import jwt as pyjwt
import orjson
from jwt import exceptions as jwt_errors

from pllm.access.jwt_claims import JwtIdentity, check_times, identity_from_claims, reject
from pllm.access.jwt_keys import (
    ASYMMETRIC_ALGORITHMS,
    HMAC_ALGORITHMS,
    KeySet,
    VerifyKey,
    key_accepts,
    parse_jwks_bytes,
)
from pllm.access.jwt_settings import JwtSettings, load_material
from pllm.errors import AuthenticationFailed, ConfigError, Issue

__all__ = [
    "REFRESH_MIN_INTERVAL_S", "JwtIdentity", "JwtSettings", "JwtVerifier", "SigningKeyUnavailable",
]

REFRESH_MIN_INTERVAL_S = 30.0
MAX_TOKEN_CHARS = 16 * 1024
CACHE_MAX_TOKEN_CHARS = 4 * 1024
_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_KNOWN_ALGS = frozenset(HMAC_ALGORITHMS.keys() | ASYMMETRIC_ALGORITHMS | {"none"})
# Headers that would let a token pick its own key or extend the format; never honoured.
_REFUSED_HEADERS = ("crit", "b64")
# PyJWT's refusals mapped to fixed messages (its own texts are not meant for clients).
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt_errors.InvalidSignatureError, "signature invalid"),
    (jwt_errors.InvalidAudienceError, "wrong audience"),
    (jwt_errors.InvalidIssuerError, "wrong issuer"),
    (jwt_errors.InvalidAlgorithmError, "algorithm not allowed"),
    (jwt_errors.InvalidKeyError, "signing key unusable"),
    (jwt_errors.InvalidSubjectError, "claim 'sub' must be a string"),
    (jwt_errors.InvalidJTIError, "claim 'jti' must be a string"),
    (jwt_errors.DecodeError, "malformed token"),
)


class SigningKeyUnavailable(AuthenticationFailed):
    """A 401 that fresh keys might cure: the JWKS has no key for the token's `kid`, or has not
    been loaded yet. `needs_refresh()` then says whether a fetch is allowed now."""


class JwtVerifier:
    """Verifies bearer JWTs against one `JwtSettings`; see the module docstring."""

    def __init__(
        self,
        settings: JwtSettings,
        *,
        fetch_jwks: Callable[[str], bytes] | None = None,
        clock: Callable[[], float] = time.time,
        cache_size: int = 4096,
    ) -> None:
        material, problems = load_material(settings)
        if problems:
            raise ConfigError([Issue(p, path="jwt") for p in problems])
        if settings.jwks_url and fetch_jwks is None:
            raise ValueError("jwks_url needs a fetch_jwks function")
        self.settings = settings
        self._algorithms = frozenset(settings.algorithms)
        self._hmac = material.hmac
        self._pem = material.pem
        self._keys: KeySet | None = material.keys
        self._fetch = fetch_jwks
        self._clock = clock
        self._cache_size = cache_size
        self._cache: OrderedDict[bytes, tuple[JwtIdentity, float]] = OrderedDict()
        self._decoder = pyjwt.PyJWT(options={
            "verify_exp": False, "verify_nbf": False, "verify_iat": False,  # checked here
            "require": ["exp"],
            "enforce_minimum_key_length": True,
        })
        self._refresh_lock = threading.Lock()
        self._jwks_raw: bytes | None = None
        self._loaded_at: float | None = None
        self._attempted_at: float | None = None
        self._key_wanted = False
        self._refreshing: asyncio.Task[bool] | None = None
        self.last_refresh_error: str | None = None

    # -- telling tokens apart ------------------------------------------------------------

    @staticmethod
    def looks_like_jwt(token: str) -> bool:
        """Three base64url segments whose first is a JSON header with `alg` (a few µs; API keys
        such as `sk-pllm-…` fail on the first character)."""
        if not token.startswith("eyJ"):  # '{"' in base64url: every JSON header starts so
            return False
        header = _unverified_header(token)
        return header is not None and isinstance(header.get("alg"), str)

    # -- verification --------------------------------------------------------------------

    def verify(self, token: str) -> JwtIdentity:
        """The identity `token` names, or AuthenticationFailed saying why not. No I/O."""
        if len(token) > MAX_TOKEN_CHARS:
            raise reject("token too large")
        now = self._clock()
        # One cache object throughout: refresh() (in another thread) replaces it when keys
        # change, and a result computed with the old keys must land in the discarded one.
        cache = self._cache
        digest = None
        if len(token) <= CACHE_MAX_TOKEN_CHARS:
            digest = hashlib.sha256(token.encode()).digest()
            hit = cache.get(digest)
            if hit is not None:
                if now < hit[1]:
                    cache.move_to_end(digest)
                    return hit[0]
                cache.pop(digest, None)
        identity, exp = self._verify_uncached(token, now)
        if digest is not None and now < exp:
            cache[digest] = (identity, exp)
            if len(cache) > self._cache_size:
                cache.popitem(last=False)
        return identity

    def _verify_uncached(self, token: str, now: float) -> tuple[JwtIdentity, float]:
        alg, kid = self._read_header(token)
        key = self._select_key(alg, kid)
        claims = self._decode(token, key, alg)
        exp = check_times(claims, now, self.settings.leeway_s)
        s = self.settings
        identity = identity_from_claims(
            claims, user_claim=s.user_claim, team_claim=s.team_claim, role_claim=s.role_claim,
            models_claim=s.models_claim, default_role=s.default_role, role_map=s.role_map,
        )
        return identity, exp

    def _read_header(self, token: str) -> tuple[str, str | None]:
        header = _unverified_header(token)
        if header is None:
            raise reject("malformed token")
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise reject("malformed token (no alg)")
        if alg.lower() == "none" or alg not in self._algorithms:
            shown = f" ({alg})" if alg in _KNOWN_ALGS or alg.lower() == "none" else ""
            raise reject(f"algorithm not allowed{shown}")
        if any(h in header for h in _REFUSED_HEADERS):
            raise reject("unsupported critical header")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise reject("malformed token (kid)")
        return alg, kid

    def _select_key(self, alg: str, kid: str | None) -> bytes | VerifyKey:
        """The one key that may verify `alg`: the secret for HMAC algorithms and nothing
        else; for the others the PEM key or the JWKS entry `kid` names."""
        if alg in HMAC_ALGORITHMS:
            if self._hmac is None:  # excluded by load_material; kept as a guard
                raise reject(f"algorithm not allowed ({alg})")
            return self._hmac
        if self._pem is not None:
            # A PEM key has no kid; an issuer's kid header then carries no information.
            candidates: tuple[VerifyKey, ...] = (self._pem,)
        else:
            candidates = self._jwks_candidates(kid)
        for key in candidates:
            if key_accepts(key, alg):
                return key
        raise reject(f"algorithm {alg} does not match the signing key")

    def _jwks_candidates(self, kid: str | None) -> tuple[VerifyKey, ...]:
        keys = self._keys
        if keys is None:
            self._key_wanted = True
            raise SigningKeyUnavailable("Invalid JWT: signing keys not loaded yet")
        if kid is None:
            if len(keys.keys) != 1:
                raise reject("token has no key id (kid) and the key set holds several keys")
            return keys.keys
        found = keys.by_kid.get(kid)
        if found is None:
            self._key_wanted = True
            raise SigningKeyUnavailable("Invalid JWT: unknown key id (kid)")
        return found

    def _decode(self, token: str, key: bytes | VerifyKey, alg: str) -> dict[str, Any]:
        material = key if isinstance(key, bytes) else key.key
        s = self.settings
        audience = list(s.audience) if isinstance(s.audience, tuple) else s.audience
        try:
            claims: dict[str, Any] = self._decoder.decode(
                token, key=material, algorithms=[alg], audience=audience, issuer=s.issuer,
            )
        except jwt_errors.MissingRequiredClaimError as e:
            raise reject(f"token has no '{e.claim}' claim") from None
        except jwt_errors.InvalidAudienceError:
            if s.audience is None:
                raise reject("token names an audience (aud) but none is configured") from None
            raise reject("wrong audience") from None
        except jwt_errors.PyJWTError as e:
            reason = next((r for cls, r in _REASONS if isinstance(e, cls)), "token invalid")
            raise reject(reason) from None
        return claims

    # -- JWKS refresh --------------------------------------------------------------------

    def needs_refresh(self) -> bool:
        """Whether `refresh()` would fetch now: keys never loaded, an unknown kid seen, or keys
        older than `jwks_cache_s`; never within REFRESH_MIN_INTERVAL_S of the last attempt."""
        if self._fetch is None:
            return False
        now = self._clock()
        if self._attempted_at is not None and now - self._attempted_at < REFRESH_MIN_INTERVAL_S:
            return False
        if self._keys is None or self._key_wanted or self._loaded_at is None:
            return True
        return now - self._loaded_at >= self.settings.jwks_cache_s

    def refresh(self, *, force: bool = False) -> bool:
        """Fetch `jwks_url` (blocking: run it in a worker thread) when due or forced. Returns
        whether a new key set is now in use. A failed fetch or a bad document keeps the old
        keys and is recorded in `last_refresh_error`; concurrent calls fetch once."""
        if self._fetch is None or not self.settings.jwks_url:
            return False
        with self._refresh_lock:
            if not force and not self.needs_refresh():
                return False
            self._attempted_at = self._clock()
            self._key_wanted = False
            return self._fetch_and_swap(self._fetch, self.settings.jwks_url)

    def _fetch_and_swap(self, fetch: Callable[[str], bytes], url: str) -> bool:
        try:
            raw = fetch(url)
            keys = parse_jwks_bytes(raw) if raw != self._jwks_raw else None
        except Exception as e:  # the fetch is the caller's: any failure keeps the old keys
            self.last_refresh_error = f"JWKS refresh failed: {type(e).__name__}: {e}"
            return False
        self.last_refresh_error = None
        self._loaded_at = self._clock()
        if keys is None:
            return False
        self._keys, self._jwks_raw = keys, raw
        # A key that left the set must stop vouching for tokens it verified before.
        self._cache = OrderedDict()
        return True

    async def verify_refreshing(self, token: str) -> JwtIdentity:
        """`verify`, plus JWKS upkeep off the event loop: a refusal that fresh keys might cure
        (unknown kid, keys not loaded) waits for one refresh and retries once; stale keys are
        refreshed in the background. One refresh runs at a time per verifier."""
        try:
            identity = self.verify(token)
        except SigningKeyUnavailable:
            # Only a missing key is worth a fetch; an expired token stays expired.
            if not self.needs_refresh():
                raise
            await asyncio.shield(self._start_refresh())
            return self.verify(token)
        if self.needs_refresh():
            self._start_refresh()
        return identity

    def _start_refresh(self) -> asyncio.Task[bool]:
        task = self._refreshing
        if task is None or task.done():
            task = self._refreshing = asyncio.create_task(asyncio.to_thread(self.refresh))
        return task

    async def aclose(self) -> None:
        """Wait for a background refresh to finish (call at shutdown)."""
        task = self._refreshing
        if task is not None and not task.done():
            await task

    def cache_info(self) -> Mapping[str, int]:
        return {"entries": len(self._cache), "max_entries": self._cache_size}


def _unverified_header(token: str) -> dict[str, Any] | None:
    """The JOSE header of a compact JWS, or None if `token` is not one. Parsed here rather than
    by PyJWT, which would decode and check every segment a second time during `decode`."""
    if _SHAPE.fullmatch(token) is None:
        return None
    head = token[: token.index(".")]
    try:
        header = orjson.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except ValueError:  # binascii.Error and orjson.JSONDecodeError are ValueErrors
        return None
    return header if isinstance(header, dict) else None
