"""JWT bearer tokens end to end: the official `openai` SDK sends a JWT as its api key to a real
`pllm serve`; keys are generated at test time (`cryptography`) and tokens signed with PyJWT, or
by hand where PyJWT refuses to make the token (`alg: none`, HS256 keyed with a public PEM)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import jwt
import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import RSAAlgorithm
from server import PllmServer

pytestmark = pytest.mark.e2e

MASTER = "sk-master-jwt-e2e-0123456789"
SECRET = "hs256-e2e-shared-secret-0123456789abcdefghij"
ISS = "https://issuer.e2e.test"
AUD = "pllm-e2e"
HELLO = [{"role": "user", "content": "hello there"}]
MODELS = """model_list:
  - model_name: m
    litellm_params: {model: mock/m}
    model_info: {input_cost_per_token: 0.000001, output_cost_per_token: 0.000002}
  - model_name: other
    litellm_params: {model: mock/other}
    model_info: {input_cost_per_token: 0.000001, output_cost_per_token: 0.000002}
"""


def config(jwt_block: str) -> str:
    # Many refusals come from one address here: keep the failed-auth limiter out of the way.
    return (f"{MODELS}general_settings:\n  master_key: {MASTER}\n"
            f"auth:\n  failed_auth_per_minute: 1000\n  jwt:\n{jwt_block}")


def hs_block(**extra: str) -> str:
    lines = {"algorithms": "[HS256]", "secret": SECRET, "issuer": ISS, "audience": AUD, **extra}
    return "".join(f"    {k}: {v}\n" for k, v in lines.items())


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"sub": "alice", "iss": ISS, "aud": AUD, "iat": now - 5,
                            "exp": now + 600}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def hs(**over: Any) -> str:
    return jwt.encode(claims(**over), SECRET, algorithm="HS256")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], payload: dict[str, Any], key: bytes | None) -> str:
    """A compact JWS made without PyJWT: unsigned, or HMAC-SHA256 with any bytes as the key."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    sig = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def chat(server: PllmServer, token: str, model: str = "m") -> Any:
    """The raw response of one chat completion (raises the SDK's error on refusal)."""
    with openai.OpenAI(base_url=server.url + "/v1", api_key=token, max_retries=0) as client:
        return client.chat.completions.with_raw_response.create(
            model=model, messages=HELLO, max_tokens=20)  # type: ignore[arg-type]


def refused(server: PllmServer, token: str, error: type[openai.APIStatusError],
            model: str = "m") -> openai.APIStatusError:
    with pytest.raises(error) as caught:
        chat(server, token, model)
    return caught.value


def cli(server: PllmServer, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "pllm", *args], capture_output=True, text=True,
                          env=server.env, cwd=server.tmp, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def assert_no_secret_logged(server: PllmServer, *secrets: str) -> None:
    logs = server.logs()
    assert logs.strip(), "the server wrote nothing: the check below would prove nothing"
    for s in secrets:
        assert s not in logs
        assert s.split(".")[-1] not in logs, "a JWT's signature was logged"


@pytest.fixture(scope="module")
def hs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PllmServer]:
    server = PllmServer(tmp_path_factory.mktemp("jwt-hs"), config(hs_block()),
                        args=("--log-level", "debug"))
    with server:
        yield server


def test_valid_hs256_token_serves_and_is_audited_as_its_user(hs_server: PllmServer) -> None:
    raw = chat(hs_server, hs(sub="valid-user", team="t-valid"))
    assert raw.status_code == 200
    assert raw.parse().choices[0].message.content.startswith("This is a mock reply")
    assert float(raw.headers["x-pllm-cost"]) > 0
    rid = raw.headers["x-request-id"]
    auth = {"authorization": f"Bearer {MASTER}"}
    deadline = time.monotonic() + 5
    with httpx.Client(base_url=hs_server.url, headers=auth, timeout=10) as http:
        while not (rows := [r for r in http.get("/admin/audit").json()["rows"]
                            if r["request_id"] == rid]):
            assert time.monotonic() < deadline, "the request was never audited"
            time.sleep(0.1)
    assert (rows[0]["user_id"], rows[0]["team_id"], rows[0]["role"], rows[0]["key_id"]) == (
        "valid-user", "t-valid", "user", None)


@pytest.mark.parametrize("why", ["expired", "audience", "issuer", "signature", "no_exp"])
def test_bad_hs256_tokens_are_401(hs_server: PllmServer, why: str) -> None:
    now = int(time.time())
    token = {
        "expired": lambda: hs(exp=now - 300, iat=now - 900),
        "audience": lambda: hs(aud="someone-else"),
        "issuer": lambda: hs(iss="https://evil.example"),
        "signature": lambda: jwt.encode(claims(), SECRET + "x", algorithm="HS256"),
        "no_exp": lambda: hs(exp=None),
    }[why]()
    err = refused(hs_server, token, openai.AuthenticationError)
    assert err.status_code == 401 and err.code == "invalid_api_key"
    assert_no_secret_logged(hs_server, token)


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_401(hs_server: PllmServer, alg: str) -> None:
    token = hand_made({"alg": alg, "typ": "JWT"}, claims(role="admin"), None)
    refused(hs_server, token, openai.AuthenticationError)
    # The same claims, properly signed, are accepted: the refusal is about the algorithm.
    assert chat(hs_server, hs(role="admin")).status_code == 200


def test_viewer_role_reads_admin_data_but_cannot_call_models_or_write(
        hs_server: PllmServer) -> None:
    token = hs(sub="vera", role="viewer")
    err = refused(hs_server, token, openai.PermissionDeniedError)
    assert err.code == "insufficient_role"
    auth = {"authorization": f"Bearer {token}"}
    with httpx.Client(base_url=hs_server.url, headers=auth, timeout=10) as http:
        assert http.get("/admin/keys").status_code == 200
        denied = http.post("/admin/keys", json={"name": "by-viewer"})
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "insufficient_role"
        listed = http.get("/admin/keys").json()["keys"]
    assert "by-viewer" not in [k["name"] for k in listed]


def test_admin_role_creates_a_key_that_then_works(hs_server: PllmServer) -> None:
    auth = {"authorization": f"Bearer {hs(sub='ada', role='admin')}"}
    with httpx.Client(base_url=hs_server.url, headers=auth, timeout=10) as http:
        made = http.post("/admin/keys", json={"name": "by-jwt-admin", "models": ["m"]})
        assert made.status_code == 201, made.text
        key = made.json()["key"]
        events = http.get("/admin/audit/events")
    assert key.startswith("sk-pllm-")
    assert chat(hs_server, key).status_code == 200
    refused(hs_server, key, openai.PermissionDeniedError, model="other")
    assert events.status_code == 200  # who acted is recorded as the JWT's subject
    assert "jwt:ada" in events.text


def test_models_claim_restricts_the_models(hs_server: PllmServer) -> None:
    token = hs(sub="mo", models=["m"])
    assert chat(hs_server, token).status_code == 200
    err = refused(hs_server, token, openai.PermissionDeniedError, model="other")
    assert err.code == "model_not_allowed"
    assert chat(hs_server, hs(sub="mo"), model="other").status_code == 200


def test_team_budget_and_user_limit_set_by_the_cli_apply_to_jwt_callers(
        hs_server: PllmServer) -> None:
    # The probed budget is set last: once the server applies it, it has the others too.
    cli(hs_server, "budgets", "set", "--team", "t-broke", "--max", "0.00000001")
    cli(hs_server, "limits", "set", "--user", "rl-user", "--rpm", "2")
    cli(hs_server, "budgets", "set", "--team", "t-budget", "--max", "1")
    probe = hs(sub="probe", team="t-budget")
    deadline = time.monotonic() + 5
    while "x-pllm-budget-remaining" not in (raw := chat(hs_server, probe)).headers:
        assert time.monotonic() < deadline, "the CLI's budget never reached the server"
        time.sleep(0.05)
    spent = float(raw.headers["x-pllm-cost"])
    assert spent > 0
    assert float(raw.headers["x-pllm-budget-remaining"]) == pytest.approx(1 - spent, abs=1e-6)

    broke = refused(hs_server, hs(sub="someone", team="t-broke"), openai.RateLimitError)
    assert broke.code == "budget_exceeded"

    limited = hs(sub="rl-user")
    for _ in range(2):
        ok = chat(hs_server, limited)
        assert ok.headers["x-ratelimit-limit-requests"] == "2"
    over = refused(hs_server, limited, openai.RateLimitError)
    assert over.code == "rate_limit_exceeded"
    assert over.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert float(over.response.headers["retry-after"]) > 0
    # Another user is not affected by rl-user's limit.
    assert chat(hs_server, hs(sub="free-user")).status_code == 200

    # Only the last probe ran under the budget: the team's spend is exactly its cost.
    deadline = time.monotonic() + 5
    while (shown := json.loads(cli(hs_server, "budgets", "show", "--team", "t-budget",
                                   "--json")))["spend_usd"] == 0:
        assert time.monotonic() < deadline, "the spend was never written"
    assert shown["spend_usd"] == pytest.approx(spent, rel=1e-6)


def test_no_token_or_secret_in_the_server_log(hs_server: PllmServer) -> None:
    token = hs(sub="log-check", role="admin")
    assert chat(hs_server, token).status_code == 200
    refused(hs_server, hs(sub="log-check", aud="nope"), openai.AuthenticationError)
    assert_no_secret_logged(hs_server, token, SECRET, MASTER)
    assert "master key or JWT (HS256) required" in hs_server.logs()  # the start banner


# -- asymmetric keys ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def asym_block(alg: str, source: str) -> str:
    return f"    algorithms: [{alg}]\n    {source}\n    issuer: {ISS}\n    audience: {AUD}\n"


def test_hs256_signed_with_the_rsa_public_pem_is_refused_when_rs256_is_configured(
        make_server: Callable[..., PllmServer], tmp_path: Path,
        rsa_key: rsa.RSAPrivateKey) -> None:
    pem = public_pem(rsa_key)
    (tmp_path / "rsa.pem").write_bytes(pem)
    server = make_server(config(asym_block("RS256", "public_key_file: rsa.pem")))
    good = jwt.encode(claims(sub="rs-user"), rsa_key, algorithm="RS256")
    assert chat(server, good).status_code == 200
    for key in (pem, pem.strip()):
        forged = hand_made({"alg": "HS256", "typ": "JWT"}, claims(role="admin"), key)
        refused(server, forged, openai.AuthenticationError)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused(server, jwt.encode(claims(), other, algorithm="RS256"), openai.AuthenticationError)


def test_rs256_via_a_jwks_file(make_server: Callable[..., PllmServer], tmp_path: Path,
                               rsa_key: rsa.RSAPrivateKey) -> None:
    jwk = RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True)
    jwks = {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "jwks.json").write_text(json.dumps(jwks))
    server = make_server(config(asym_block("RS256", "jwks_file: keys/jwks.json")))
    token = jwt.encode(claims(sub="jw"), rsa_key, algorithm="RS256", headers={"kid": "k1"})
    assert chat(server, token).status_code == 200
    unknown = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "k2"})
    refused(server, unknown, openai.AuthenticationError)
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused(server, jwt.encode(claims(), impostor, algorithm="RS256", headers={"kid": "k1"}),
            openai.AuthenticationError)


def test_es256_via_a_public_key_file(make_server: Callable[..., PllmServer],
                                     tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "ec.pem").write_bytes(public_pem(key))
    server = make_server(config(asym_block("ES256", f"public_key_file: {tmp_path / 'ec.pem'}")))
    assert chat(server, jwt.encode(claims(sub="ec"), key, algorithm="ES256")).status_code == 200
    other = ec.generate_private_key(ec.SECP256R1())
    refused(server, jwt.encode(claims(), other, algorithm="ES256"), openai.AuthenticationError)
    refused(server, hs(), openai.AuthenticationError)  # HS256 is not configured here


class JwksHandler(http.server.BaseHTTPRequestHandler):
    document: ClassVar[bytes] = b""
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(self.document)))
        self.end_headers()
        self.wfile.write(self.document)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def jwks_server(rsa_key: rsa.RSAPrivateKey) -> Iterator[tuple[str, list[str]]]:
    jwk = RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True)
    hits: list[str] = []

    class Handler(JwksHandler):
        document = json.dumps({"keys": [{**jwk, "kid": "url-1"}]}).encode()

    Handler.hits = hits
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/.well-known/jwks.json", hits
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_rs256_via_jwks_url_is_fetched_once_and_cached(
        make_server: Callable[..., PllmServer], rsa_key: rsa.RSAPrivateKey,
        jwks_server: tuple[str, list[str]]) -> None:
    url, hits = jwks_server
    server = make_server(config(asym_block("RS256", f"jwks_url: {url}")))
    for i in range(5):
        token = jwt.encode(claims(sub=f"url-user-{i}"), rsa_key, algorithm="RS256",
                           headers={"kid": "url-1"})
        assert chat(server, token).status_code == 200
    # An unknown kid may not make the gateway hammer the issuer: still one fetch.
    stranger = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "nope"})
    refused(server, stranger, openai.AuthenticationError)
    assert hits == ["/.well-known/jwks.json"]
    assert_no_secret_logged(server, token, stranger)
