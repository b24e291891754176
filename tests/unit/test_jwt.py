"""JWT verification: signatures, time claims, algorithm confusion, JWKS selection and refresh,
claim mapping, the result cache; keys are generated at test time, the clock is injected."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from pllm.access import JwtSettings, JwtVerifier, SigningKeyUnavailable
from pllm.access.jwt import REFRESH_MIN_INTERVAL_S
from pllm.config.model import Secret
from pllm.errors import AuthenticationFailed, ConfigError

SECRET = "hs-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
T0 = 1_700_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def pem(public: Any) -> str:
    data: bytes = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return data.decode()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rsa_key2() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str | None, **extra: str) -> dict[str, Any]:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    if kid is not None:
        jwk["kid"] = kid
    return {**jwk, **extra}


def claims(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"sub": "alice", "iat": int(T0) - 10, "exp": int(T0) + 3600}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def hs(payload: dict[str, Any], secret: str = SECRET, **headers: Any) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers or None)


def signed(payload: dict[str, Any], key: Any, alg: str, **headers: Any) -> str:
    return jwt.encode(payload, key, algorithm=alg, headers=headers or None)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], payload: dict[str, Any],
              sign: Callable[[bytes], bytes] | None = None) -> str:
    head = b64(orjson.dumps(header)) + "." + b64(orjson.dumps(payload))
    return head + "." + (b64(sign(head.encode())) if sign else "")


def hs_verifier(clock: Clock | None = None, **kw: Any) -> JwtVerifier:
    return JwtVerifier(JwtSettings(secret=Secret(SECRET), **kw), clock=clock or Clock())


def refused(verifier: JwtVerifier, token: str) -> str:
    with pytest.raises(AuthenticationFailed) as info:
        verifier.verify(token)
    assert info.value.status == 401
    msg = info.value.message
    assert token not in msg and SECRET not in msg
    for segment in token.split("."):
        assert not segment or segment not in msg
    return msg


# -- HS256 and the time claims ----------------------------------------------------------------


def test_hs256_valid_token_names_the_user() -> None:
    ident = hs_verifier().verify(hs(claims()))
    assert (ident.user, ident.team, ident.role, ident.models) == ("alice", None, "user", None)
    assert ident.claims["sub"] == "alice"
    with pytest.raises(TypeError):
        ident.claims["sub"] = "mallory"  # type: ignore[index]


def test_expired_token_is_refused_after_the_leeway() -> None:
    v = hs_verifier()
    assert v.verify(hs(claims(exp=int(T0) - 20))).user == "alice"  # within 30 s of leeway
    assert refused(v, hs(claims(exp=int(T0) - 31))) == "Invalid JWT: token expired"
    strict = hs_verifier(leeway_s=0)
    assert "token expired" in refused(strict, hs(claims(exp=int(T0))))


def test_not_yet_valid_and_future_iat() -> None:
    v = hs_verifier()
    assert "not yet valid (nbf)" in refused(v, hs(claims(nbf=int(T0) + 60)))
    assert v.verify(hs(claims(nbf=int(T0) + 20))).user == "alice"
    assert "issued in the future (iat)" in refused(v, hs(claims(iat=int(T0) + 120)))
    assert "'exp' must be a number" in refused(v, hs(claims(exp="tomorrow")))
    assert "'exp' must be a number" in refused(v, hs(claims(exp=True)))


def test_missing_exp_is_refused() -> None:
    assert "no 'exp' claim" in refused(hs_verifier(), hs(claims(exp=None)))


def test_audience() -> None:
    v = hs_verifier(audience="pllm")
    assert v.verify(hs(claims(aud="pllm"))).user == "alice"
    assert v.verify(hs(claims(aud=["other", "pllm"]))).user == "alice"
    assert "wrong audience" in refused(v, hs(claims(aud="someone-else")))
    assert "no 'aud' claim" in refused(v, hs(claims()))
    # RFC 7519 §4.1.3: a token meant for a named audience is not for a gateway that names none.
    assert "none is configured" in refused(hs_verifier(), hs(claims(aud="pllm")))


def test_issuer() -> None:
    v = hs_verifier(issuer="https://idp.example")
    assert v.verify(hs(claims(iss="https://idp.example"))).user == "alice"
    assert "wrong issuer" in refused(v, hs(claims(iss="https://evil.example")))
    assert "no 'iss' claim" in refused(v, hs(claims()))


def test_bad_signature_and_garbage() -> None:
    v = hs_verifier()
    assert "signature invalid" in refused(v, hs(claims(), secret=SECRET[::-1]))
    token = hs(claims())
    head, _payload, sig = token.split(".")
    forged = head + "." + b64(orjson.dumps(claims(sub="admin"))) + "." + sig
    assert "signature invalid" in refused(v, forged)
    assert "malformed" in refused(v, "eyJhbGciOiJIUzI1NiJ9.not-json.x")
    assert "malformed" in refused(v, "abc")
    assert "too large" in refused(v, "eyJ" + "a" * 20000 + ".b.c")


# -- algorithm rules --------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_always_refused(alg: str) -> None:
    token = hand_made({"alg": alg, "typ": "JWT"}, claims())
    assert JwtVerifier.looks_like_jwt(token)
    assert "algorithm not allowed" in refused(hs_verifier(), token)


def test_algorithm_none_cannot_be_configured() -> None:
    s = JwtSettings(secret=Secret(SECRET), algorithms=("HS256", "none"))
    assert "algorithm 'none' is never accepted" in s.problems()
    with pytest.raises(ConfigError):
        JwtVerifier(s)


def test_hs256_signed_with_the_public_key_pem_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    public_pem = pem(rsa_key.public_key())
    token = hand_made(
        {"alg": "HS256", "typ": "JWT"}, claims(),
        lambda data: hmac.new(public_pem.encode(), data, hashlib.sha256).digest())
    # The classic confusion: the verifier holds only the public key.
    only_public = JwtVerifier(JwtSettings(public_key=public_pem), clock=Clock())
    assert "algorithm not allowed (HS256)" in refused(only_public, token)
    # Even with HS256 allowed (a secret configured too), HMAC is checked with the secret only.
    both = JwtVerifier(JwtSettings(secret=Secret(SECRET), public_key=public_pem,
                                   algorithms=("HS256", "RS256")), clock=Clock())
    assert "signature invalid" in refused(both, token)
    assert both.verify(signed(claims(), rsa_key, "RS256")).user == "alice"
    # And the same forgery against a JWKS holding that key, named by kid.
    jwks = JwtVerifier(JwtSettings(jwks={"keys": [rsa_jwk(rsa_key, "k1")]},
                                   algorithms=("RS256",)), clock=Clock())
    kid_token = hand_made(
        {"alg": "HS256", "kid": "k1"}, claims(),
        lambda data: hmac.new(public_pem.encode(), data, hashlib.sha256).digest())
    assert "algorithm not allowed" in refused(jwks, kid_token)


def test_a_pem_secret_or_an_hmac_algorithm_without_secret_is_a_config_problem(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    public_pem = pem(rsa_key.public_key())
    assert any("looks like a PEM" in p
               for p in JwtSettings(secret=Secret(public_pem)).problems())
    assert "HS256 needs a secret" in JwtSettings(public_key=public_pem,
                                                 algorithms=("HS256",)).problems()


def test_rs256_token_with_only_a_secret_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    token = signed(claims(), rsa_key, "RS256")
    assert "algorithm not allowed (RS256)" in refused(hs_verifier(), token)


def test_embedded_jwk_and_jku_headers_are_ignored(
    rsa_key: rsa.RSAPrivateKey, rsa_key2: rsa.RSAPrivateKey,
) -> None:
    v = JwtVerifier(JwtSettings(public_key=pem(rsa_key.public_key())), clock=Clock())
    attacker = rsa_jwk(rsa_key2, None)
    token = signed(claims(), rsa_key2, "RS256", jwk=attacker, jku="https://evil.example/jwks")
    assert "signature invalid" in refused(v, token)
    crit = signed(claims(), rsa_key, "RS256", crit=["exp"])
    assert "malformed" in refused(v, crit) or "critical" in refused(v, crit)


# -- public keys and JWKS ---------------------------------------------------------------------


def test_es256_via_public_key_pem(ec_key: ec.EllipticCurvePrivateKey,
                                  rsa_key: rsa.RSAPrivateKey) -> None:
    v = JwtVerifier(JwtSettings(public_key=pem(ec_key.public_key())), clock=Clock())
    assert v.settings.algorithms == ("RS256", "ES256")
    assert v.verify(signed(claims(), ec_key, "ES256", kid="whatever")).user == "alice"
    assert "does not match the signing key" in refused(v, signed(claims(), rsa_key, "RS256"))
    other = ec.generate_private_key(ec.SECP256R1())
    assert "signature invalid" in refused(v, signed(claims(), other, "ES256"))


def test_rs256_via_jwks_selects_the_key_by_kid(
    rsa_key: rsa.RSAPrivateKey, rsa_key2: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    ec_jwk: dict[str, Any] = {**ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True),
                              "kid": "e1"}
    doc = {"keys": [rsa_jwk(rsa_key, "k1"), rsa_jwk(rsa_key2, "k2"), ec_jwk,
                    {"kty": "oct", "k": b64(b"x" * 32), "kid": "sym"}]}
    v = JwtVerifier(JwtSettings(jwks=doc), clock=Clock())
    assert v.verify(signed(claims(sub="one"), rsa_key, "RS256", kid="k1")).user == "one"
    assert v.verify(signed(claims(sub="two"), rsa_key2, "RS256", kid="k2")).user == "two"
    assert v.verify(signed(claims(sub="ec"), ec_key, "ES256", kid="e1")).user == "ec"
    assert "signature invalid" in refused(v, signed(claims(), rsa_key2, "RS256", kid="k1"))
    assert "unknown key id" in refused(v, signed(claims(), rsa_key, "RS256", kid="k9"))
    assert "unknown key id" in refused(v, signed(claims(), rsa_key, "RS256", kid="sym"))
    assert "no key id" in refused(v, signed(claims(), rsa_key, "RS256"))
    # The token's alg must fit the key the kid names (an EC kid for an RS256 token).
    assert "does not match" in refused(v, signed(claims(), rsa_key, "RS256", kid="e1"))
    assert not v.needs_refresh()  # a static JWKS is never fetched


def test_a_single_key_jwks_accepts_tokens_without_kid(rsa_key: rsa.RSAPrivateKey) -> None:
    v = JwtVerifier(JwtSettings(jwks={"keys": [rsa_jwk(rsa_key, "k1")]}), clock=Clock())
    assert v.verify(signed(claims(), rsa_key, "RS256")).user == "alice"


def test_the_jwks_entry_restrictions_apply(rsa_key: rsa.RSAPrivateKey) -> None:
    doc = {"keys": [rsa_jwk(rsa_key, "k512", alg="RS512"), rsa_jwk(rsa_key, "enc", use="enc")]}
    v = JwtVerifier(JwtSettings(jwks=doc, algorithms=("RS256", "RS512")), clock=Clock())
    assert "does not match" in refused(v, signed(claims(), rsa_key, "RS256", kid="k512"))
    assert v.verify(signed(claims(), rsa_key, "RS512", kid="k512")).user == "alice"
    assert "does not match" in refused(v, signed(claims(), rsa_key, "RS256", kid="enc"))


def test_settings_problems(rsa_key: rsa.RSAPrivateKey) -> None:
    assert JwtSettings(secret=Secret(SECRET)).algorithms == ("HS256",)
    assert JwtSettings(jwks_url="https://idp.example/jwks").algorithms == ("RS256", "ES256")
    assert JwtSettings(secret=Secret(SECRET)).problems() == []
    assert "JWT auth needs a secret, public_key, jwks or jwks_url" in JwtSettings().problems()
    both = JwtSettings(public_key=pem(rsa_key.public_key()), jwks_url="https://idp/jwks")
    assert "give only one of public_key, jwks and jwks_url" in both.problems()
    assert any("at least 32 bytes" in p for p in JwtSettings(secret=Secret("short")).problems())
    assert any("https://" in p for p in JwtSettings(jwks_url="http://idp.example/j").problems())
    assert JwtSettings(jwks_url="http://127.0.0.1:8080/jwks").problems() == []
    assert any("readable PEM" in p for p in JwtSettings(public_key="nonsense").problems())
    assert any("no usable" in p for p in JwtSettings(jwks={"keys": []}).problems())
    assert any("default_role" in p
               for p in JwtSettings(secret=Secret(SECRET), default_role="root").problems())
    with pytest.raises(ValueError, match="fetch_jwks"):
        JwtVerifier(JwtSettings(jwks_url="https://idp.example/jwks"))
    assert SECRET not in repr(JwtSettings(secret=Secret(SECRET)))


# -- claims -----------------------------------------------------------------------------------


def test_claims_map_to_team_role_and_models() -> None:
    v = hs_verifier()
    ident = v.verify(hs(claims(team="ml", role="admin", models=["gpt-4o", "claude"])))
    assert (ident.team, ident.role, ident.models) == ("ml", "admin", ("gpt-4o", "claude"))
    assert v.verify(hs(claims(models="gpt-4o, claude,,"))).models == ("gpt-4o", "claude")
    assert v.verify(hs(claims(models=[]))).models == ()
    assert v.verify(hs(claims(role=["viewer", "admin", "other"]))).role == "admin"
    assert v.verify(hs(claims(role="viewer"))).role == "viewer"


def test_custom_and_nested_claim_names() -> None:
    v = hs_verifier(user_claim="email", team_claim="https://example.com/team",
                    role_claim="realm_access.role", models_claim="llm.models",
                    default_role="viewer")
    ident = v.verify(hs(claims(email="a@example.com", **{"https://example.com/team": "ops"},
                               realm_access={"role": "admin"}, llm={"models": "m1"})))
    assert (ident.user, ident.team, ident.role, ident.models) == (
        "a@example.com", "ops", "admin", ("m1",))
    assert v.verify(hs(claims(email="b@example.com"))).role == "viewer"
    assert "no 'email' claim" in refused(v, hs(claims()))


def test_role_map_several_audiences_and_unread_claims() -> None:
    v = hs_verifier(role_map={"platform-admins": "admin", "auditors": "viewer"},
                    audience=("pllm", "gateway"), team_claim=None, models_claim=None)
    assert v.verify(hs(claims(aud="gateway", role="platform-admins"))).role == "admin"
    assert v.verify(hs(claims(aud="pllm", role=["staff", "auditors"]))).role == "viewer"
    ident = v.verify(hs(claims(aud="pllm", team="t", models="m")))
    assert (ident.team, ident.models, ident.role) == (None, None, "user")
    assert "wrong audience" in refused(v, hs(claims(aud="other")))
    assert "claim 'role'" in refused(v, hs(claims(aud="pllm", role="staff")))
    no_roles = hs_verifier(role_claim=None, default_role="viewer")
    assert no_roles.verify(hs(claims(role="admin"))).role == "viewer"
    assert any("role_map" in p for p in JwtSettings(secret=Secret(SECRET),
                                                    role_map={"x": "root"}).problems())


def test_unknown_role_is_refused_naming_the_claim() -> None:
    v = hs_verifier()
    msg = refused(v, hs(claims(role="superuser")))
    assert "claim 'role'" in msg and "superuser" not in msg
    assert "claim 'role'" in refused(v, hs(claims(role=["root"])))
    assert "claim 'role'" in refused(v, hs(claims(role={"x": 1})))
    assert "claim 'models'" in refused(v, hs(claims(models=[1, 2])))
    assert "claim 'team'" in refused(v, hs(claims(team=["a"])))


# -- JWKS from a URL --------------------------------------------------------------------------


class Fetcher:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.calls = 0
        self.fail = False
        self._lock = threading.Lock()

    def __call__(self, url: str) -> bytes:
        assert url == "https://idp.example/jwks"
        with self._lock:
            self.calls += 1
        if self.fail:
            raise OSError("connection refused")
        return orjson.dumps(self.doc)


def test_jwks_url_fetches_through_the_injected_function(
    rsa_key: rsa.RSAPrivateKey, rsa_key2: rsa.RSAPrivateKey,
) -> None:
    clock = Clock()
    fetch = Fetcher({"keys": [rsa_jwk(rsa_key, "k1")]})
    v = JwtVerifier(JwtSettings(jwks_url="https://idp.example/jwks", jwks_cache_s=600),
                    fetch_jwks=fetch, clock=clock)
    t1 = signed(claims(), rsa_key, "RS256", kid="k1")
    assert fetch.calls == 0  # nothing fetched at construction
    assert "not loaded yet" in refused(v, t1)
    assert v.needs_refresh()
    assert v.refresh() and fetch.calls == 1
    assert v.verify(t1).user == "alice"
    assert not v.needs_refresh() and not v.refresh() and fetch.calls == 1

    # An unknown kid asks for a refresh, but at most one per REFRESH_MIN_INTERVAL_S.
    t2 = signed(claims(sub="bob"), rsa_key2, "RS256", kid="k2")
    clock.now += 10
    with pytest.raises(SigningKeyUnavailable, match="unknown key id"):
        v.verify(t2)
    assert not v.needs_refresh() and not v.refresh()  # 10 s after the last fetch
    clock.now += REFRESH_MIN_INTERVAL_S
    assert v.needs_refresh()
    fetch.doc = {"keys": [rsa_jwk(rsa_key, "k1"), rsa_jwk(rsa_key2, "k2")]}
    assert v.refresh() and fetch.calls == 2
    assert v.verify(t2).user == "bob"
    for _ in range(5):  # a flood of unknown kids costs one fetch per interval
        refused(v, signed(claims(), rsa_key2, "RS256", kid="k-random"))
        v.refresh()
    assert fetch.calls == 2

    # Keys older than jwks_cache_s are due again, and still verify until replaced.
    clock.now += 600
    assert v.needs_refresh() and v.verify(t1).user == "alice"
    fetch.fail = True
    assert not v.refresh() and fetch.calls == 3
    assert v.last_refresh_error == "JWKS refresh failed: OSError: connection refused"
    assert v.verify(t2).user == "bob"  # old keys kept
    assert not v.needs_refresh()  # failed attempts are rate-limited too
    clock.now += REFRESH_MIN_INTERVAL_S
    fetch.fail = False
    fetch.doc = {"keys": [rsa_jwk(rsa_key2, "k2")]}  # k1 rotated out
    assert v.refresh() and fetch.calls == 4 and v.last_refresh_error is None
    assert "unknown key id" in refused(v, t1)  # the cached result went with the key


def test_a_bad_jwks_document_keeps_the_old_keys(rsa_key: rsa.RSAPrivateKey) -> None:
    clock = Clock()
    fetch = Fetcher({"keys": [rsa_jwk(rsa_key, "k1")]})
    v = JwtVerifier(JwtSettings(jwks_url="https://idp.example/jwks"), fetch_jwks=fetch,
                    clock=clock)
    v.refresh()
    fetch.doc = {"nope": []}
    assert not v.refresh(force=True)
    assert v.last_refresh_error is not None and "no 'keys' list" in v.last_refresh_error
    assert v.verify(signed(claims(), rsa_key, "RS256", kid="k1")).user == "alice"


def test_verify_refreshing_fetches_once_and_retries(
    rsa_key: rsa.RSAPrivateKey, rsa_key2: rsa.RSAPrivateKey,
) -> None:
    clock = Clock()
    fetch = Fetcher({"keys": [rsa_jwk(rsa_key, "k1"), rsa_jwk(rsa_key2, "k2")]})
    v = JwtVerifier(JwtSettings(jwks_url="https://idp.example/jwks"), fetch_jwks=fetch,
                    clock=clock)
    t1 = signed(claims(sub="one"), rsa_key, "RS256", kid="k1")
    t2 = signed(claims(sub="two"), rsa_key2, "RS256", kid="k2")

    async def main() -> list[str]:
        got = await asyncio.gather(*(v.verify_refreshing(t) for t in [t1, t2] * 10))
        await v.aclose()
        return [i.user for i in got]

    assert asyncio.run(main()) == ["one", "two"] * 10
    assert fetch.calls == 1
    expired = signed(claims(exp=int(T0) - 100), rsa_key, "RS256", kid="k1")
    clock.now += 60
    with pytest.raises(AuthenticationFailed, match="token expired"):
        asyncio.run(v.verify_refreshing(expired))
    assert fetch.calls == 1  # an expired token is no reason to fetch keys

    async def stale() -> str:
        ident = await v.verify_refreshing(t1)  # answers at once, refreshes behind
        await v.aclose()
        return ident.user

    clock.now += 600
    assert asyncio.run(stale()) == "one" and fetch.calls == 2


# -- the verification cache -------------------------------------------------------------------


def count_decodes(v: JwtVerifier) -> list[int]:
    calls = [0]
    decode = v._decoder.decode

    def counting(*a: Any, **kw: Any) -> Any:
        calls[0] += 1
        return decode(*a, **kw)

    v._decoder.decode = counting  # type: ignore[method-assign]
    return calls


def test_cache_serves_repeats_until_exp(rsa_key: rsa.RSAPrivateKey) -> None:
    clock = Clock()
    v = JwtVerifier(JwtSettings(public_key=pem(rsa_key.public_key()), leeway_s=30),
                    clock=clock)
    decodes = count_decodes(v)
    token = signed(claims(exp=int(T0) + 100), rsa_key, "RS256")
    first = v.verify(token)
    assert v.verify(token) is first and decodes[0] == 1
    clock.now = T0 + 99
    assert v.verify(token) is first and decodes[0] == 1
    clock.now = T0 + 110  # past exp: verified afresh (within leeway), not cached again
    assert v.verify(token).user == "alice" and decodes[0] == 2
    assert v.verify(token).user == "alice" and decodes[0] == 3
    clock.now = T0 + 131
    assert "token expired" in refused(v, token)


def test_cache_is_bounded() -> None:
    v = JwtVerifier(JwtSettings(secret=Secret(SECRET)), clock=Clock(), cache_size=2)
    for user in ("a", "b", "c"):
        v.verify(hs(claims(sub=user)))
    assert v.cache_info() == {"entries": 2, "max_entries": 2}


def test_cached_verify_is_fast(rsa_key: rsa.RSAPrivateKey) -> None:
    v = JwtVerifier(JwtSettings(public_key=pem(rsa_key.public_key())), clock=Clock())
    tokens = [signed(claims(sub=f"u{i}"), rsa_key, "RS256") for i in range(200)]
    start = time.perf_counter()
    for t in tokens:
        v.verify(t)
    uncached = (time.perf_counter() - start) / len(tokens)
    start = time.perf_counter()
    for _ in range(5):
        for t in tokens:
            v.verify(t)
    cached = (time.perf_counter() - start) / (5 * len(tokens))
    assert cached < 50e-6 and cached * 5 < uncached


# -- telling JWTs from API keys, and what errors reveal ---------------------------------------


def test_looks_like_jwt() -> None:
    assert JwtVerifier.looks_like_jwt(hs(claims()))
    assert not JwtVerifier.looks_like_jwt("sk-pllm-" + "a" * 43)
    assert not JwtVerifier.looks_like_jwt("a.b.c")
    assert not JwtVerifier.looks_like_jwt("eyJhbGciOiJIUzI1NiJ9.x")
    assert not JwtVerifier.looks_like_jwt(b64(b'{"typ":"JWT"}') + ".e30.")
    assert not JwtVerifier.looks_like_jwt("eyJ!!!.e30.sig")
    assert not JwtVerifier.looks_like_jwt("eyJhbGciOiJIUzI1NiJ9x.e30.")


def test_error_messages_hold_neither_token_nor_secret(rsa_key: rsa.RSAPrivateKey) -> None:
    v = hs_verifier(audience="pllm", issuer="https://idp.example")
    good = claims(aud="pllm", iss="https://idp.example")
    bad = [
        hs({**good, "exp": int(T0) - 999}), hs(good, secret=SECRET + "x"),
        hs({**good, "aud": SECRET}), hs({**good, "iss": SECRET}), hs({**good, "role": SECRET}),
        hs({**good, "sub": None}), signed(good, rsa_key, "RS256"),
        hand_made({"alg": "none"}, good), hand_made({"alg": SECRET}, good),
        hs(good, kid=SECRET, crit=[SECRET]),
    ]
    for token in bad:
        msg = refused(v, token)  # refused() checks the token, its segments and the secret
        assert msg.startswith("Invalid JWT: ")
