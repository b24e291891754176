"""Verification keys for JWTs: which algorithm suits which key, PEM and JWKS parsing.

Pure: text and dicts in, key objects out (the `cryptography` objects PyJWT verifies with). The
rules that stop algorithm confusion live here: an HMAC algorithm is only ever verified with the
configured secret, an asymmetric one only with a public key whose type (and curve) fits it, and
a JWK's own `alg`, `use` and `key_ops` must allow the token's algorithm. Symmetric (`oct`) keys
in a JWKS are ignored: a key set is public material, and the shared secret has its own setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt import PyJWK
from jwt.exceptions import PyJWTError

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "HMAC_ALGORITHMS",
    "KeySet",
    "VerifyKey",
    "hmac_problem",
    "key_accepts",
    "load_pem_key",
    "parse_jwks",
    "parse_jwks_bytes",
]

# Minimum HMAC key sizes (bytes): RFC 7518 §3.2 requires a key at least as long as the hash.
HMAC_ALGORITHMS: dict[str, int] = {"HS256": 32, "HS384": 48, "HS512": 64}
_RSA = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
ASYMMETRIC_ALGORITHMS = frozenset(_RSA | _EC_CURVES.keys() | {"EdDSA"})
# NIST SP 800-131A; PyJWT would otherwise warn on every verification with a shorter key.
MIN_RSA_BITS = 2048

PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)


@dataclass(frozen=True, slots=True)
class VerifyKey:
    """One public key and what it may verify: `kty` (RSA | EC | OKP), `curve` for EC keys, and
    the restrictions a JWK carried (`alg`, `use`, `key_ops`)."""

    key: PublicKey = field(repr=False)
    kty: str
    curve: str | None = None
    kid: str | None = None
    alg: str | None = None
    use: str | None = None
    key_ops: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class KeySet:
    """Usable keys of a JWKS: by `kid`, all of them, and why any entry was left out."""

    by_kid: Mapping[str, tuple[VerifyKey, ...]]
    keys: tuple[VerifyKey, ...]
    skipped: tuple[str, ...] = ()


def key_accepts(key: VerifyKey, alg: str) -> bool:
    """Whether `key` may verify a signature made with `alg` (never true for HMAC algorithms)."""
    if key.alg is not None and key.alg != alg:
        return False
    if key.use is not None and key.use != "sig":
        return False
    if key.key_ops is not None and "verify" not in key.key_ops:
        return False
    if alg in _RSA:
        return key.kty == "RSA"
    if alg in _EC_CURVES:
        return key.kty == "EC" and key.curve == _EC_CURVES[alg]
    if alg == "EdDSA":
        return key.kty == "OKP"
    return False


def hmac_problem(secret: str, algorithms: tuple[str, ...]) -> str | None:
    """Why `secret` cannot serve as the HMAC key for `algorithms`, or None."""
    if "-----BEGIN" in secret:
        return "the JWT secret looks like a PEM key: give public keys as public_key"
    need = max((HMAC_ALGORITHMS[a] for a in algorithms if a in HMAC_ALGORITHMS), default=0)
    if len(secret.encode()) < need:
        return f"the JWT secret must be at least {need} bytes long (RFC 7518 §3.2)"
    return None


def load_pem_key(pem: str) -> VerifyKey:
    """A public key (or an X.509 certificate's key) from PEM text; ValueError if unusable."""
    data = pem.strip().encode()
    if b"PRIVATE KEY" in data:
        # Refuse rather than derive the public half: a private key has no business in a
        # gateway's config, and accepting it would hide that it was pasted there.
        raise ValueError("public_key holds a private key: give the public key only")
    try:
        if b"BEGIN CERTIFICATE" in data:
            loaded: Any = x509.load_pem_x509_certificate(data).public_key()
        else:
            loaded = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError("public_key is not a readable PEM public key or certificate") from None
    return _describe(loaded, kid=None)


def parse_jwks_bytes(raw: bytes) -> KeySet:
    """`parse_jwks` over a fetched document; ValueError if it is not a JSON object."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ValueError("the JWKS document is not valid JSON") from e
    if not isinstance(doc, dict):
        raise ValueError("the JWKS document is not a JSON object")
    return parse_jwks(doc)


def parse_jwks(doc: Mapping[str, Any]) -> KeySet:
    """The usable signature keys of a JWKS document (RFC 7517 §5); entries that cannot be used
    are skipped with a reason, and ValueError is raised when none is left."""
    entries = doc.get("keys")
    if not isinstance(entries, list | tuple):
        raise ValueError("the JWKS document has no 'keys' list")
    keys: list[VerifyKey] = []
    skipped: list[str] = []
    for i, entry in enumerate(entries):
        try:
            keys.append(_from_jwk(entry))
        except ValueError as e:
            skipped.append(f"keys[{i}]: {e}")
    if not keys:
        raise ValueError("the JWKS holds no usable signature key" + _why(skipped))
    by_kid: dict[str, tuple[VerifyKey, ...]] = {}
    for k in keys:
        if k.kid is not None:
            by_kid[k.kid] = (*by_kid.get(k.kid, ()), k)
    return KeySet(by_kid=by_kid, keys=tuple(keys), skipped=tuple(skipped))


def _why(skipped: list[str]) -> str:
    return f" ({'; '.join(skipped)})" if skipped else ""


def _from_jwk(entry: Any) -> VerifyKey:
    if not isinstance(entry, Mapping):
        raise ValueError("not a JSON object")
    kty = entry.get("kty")
    if kty == "oct":
        raise ValueError("symmetric (oct) keys are ignored: set the JWT secret instead")
    kid = _optional_str(entry, "kid")
    alg = _optional_str(entry, "alg")
    if alg is not None and alg not in ASYMMETRIC_ALGORITHMS:
        raise ValueError(f"unsupported alg {alg!r}")
    ops = entry.get("key_ops")
    if ops is not None and not (isinstance(ops, list) and all(isinstance(o, str) for o in ops)):
        raise ValueError("key_ops is not a list of strings")
    try:
        loaded = PyJWK(dict(entry)).key
    except (PyJWTError, ValueError, KeyError, TypeError) as e:
        # PyJWT's messages can quote the whole JWK; the type and kid are enough to find it.
        raise ValueError(f"unreadable {kty!r} key (kid {kid!r}): {type(e).__name__}") from None
    key = _describe(loaded, kid=kid)
    return VerifyKey(
        key=key.key, kty=key.kty, curve=key.curve, kid=kid, alg=alg,
        use=_optional_str(entry, "use"), key_ops=tuple(ops) if ops is not None else None,
    )


def _optional_str(entry: Mapping[str, Any], name: str) -> str | None:
    value = entry.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} is not a string")
    return value


def _describe(loaded: Any, kid: str | None) -> VerifyKey:
    """Classify a loaded key; private halves (some JWKS carry them) are reduced to public."""
    if isinstance(
        loaded,
        rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey,
    ):
        loaded = loaded.public_key()
    if isinstance(loaded, rsa.RSAPublicKey):
        if loaded.key_size < MIN_RSA_BITS:
            raise ValueError(f"RSA key of {loaded.key_size} bits (at least {MIN_RSA_BITS})")
        return VerifyKey(key=loaded, kty="RSA", kid=kid)
    if isinstance(loaded, ec.EllipticCurvePublicKey):
        if loaded.curve.name not in _EC_CURVES.values():
            raise ValueError(f"unsupported EC curve {loaded.curve.name}")
        return VerifyKey(key=loaded, kty="EC", curve=loaded.curve.name, kid=kid)
    if isinstance(loaded, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return VerifyKey(key=loaded, kty="OKP", kid=kid)
    raise ValueError(f"unsupported key type {type(loaded).__name__}")
