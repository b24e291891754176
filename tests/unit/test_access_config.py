"""pllm's access sections in a config file: `auth.jwt`, `limits:`, `audit:` and `budgets:` —
what they parse to, and errors that name the mistake and point at file:line:col."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from pllm.config import load_settings, read_settings
from pllm.config.model import (
    AccessSettings,
    AuditSettings,
    FrozenDict,
    LimitDefaults,
    RateLimit,
    Secret,
    Settings,
)
from pllm.errors import ConfigError, Issue

SECRET = "hs-config-secret-0123456789-abcdefghijklmn"
HEAD = """\
model_list:
  - model_name: m
    litellm_params: {model: mock/m}
"""
PEM = "-----BEGIN PUBLIC KEY-----\nnot checked by the config parser\n-----END PUBLIC KEY-----\n"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(HEAD + textwrap.dedent(body).lstrip("\n"))
    return path


def load(tmp_path: Path, body: str) -> Settings:
    return load_settings(write(tmp_path, body), environ={"JWT_SECRET": SECRET})


def errors(tmp_path: Path, body: str) -> list[Issue]:
    settings, issues = read_settings(write(tmp_path, body), environ={})
    found = [i for i in issues if i.severity == "error"]
    assert settings is None and found
    return found


def one_error(tmp_path: Path, body: str, path: str, line: int, column: int | None = None,
              *, says: str) -> Issue:
    """The config's only error: at `path`, on `line` (of the whole file, HEAD is 3 lines)."""
    found = errors(tmp_path, body)
    assert len(found) == 1, [str(i) for i in found]
    issue = found[0]
    assert issue.path == path, str(issue)
    assert says in issue.message, str(issue)
    assert issue.file == str(tmp_path / "config.yaml")
    assert issue.line == line, str(issue)
    if column is not None:
        assert issue.column == column, str(issue)
    assert str(issue).startswith(f"{issue.file}:{line}:{issue.column}: {path}: ")
    return issue


def test_no_access_sections_means_the_defaults(tmp_path: Path) -> None:
    access = load(tmp_path, "").access
    assert access == AccessSettings()
    assert access.jwt is None and access.failed_auth_per_minute == 20
    assert access.audit == AuditSettings(log_bodies=False, retention_days=90.0)
    assert access.budget_timezone == "UTC"


# -- auth.jwt ---------------------------------------------------------------------------------

def test_hs256_jwt_block_parses(tmp_path: Path) -> None:
    jwt = load(tmp_path, """
        auth:
          failed_auth_per_minute: 5
          jwt:
            algorithms: [HS256]
            secret: os.environ/JWT_SECRET
            issuer: https://issuer.example
            audience: [a, b]
            leeway_seconds: 10
            claims: {user: email, team: org.id, role: groups, models: allowed}
            role_map: {pllm-admins: admin, readers: viewer}
            default_role: viewer
        """).access
    assert access_failed(jwt) == 5
    cfg = jwt.jwt
    assert cfg is not None
    assert cfg.algorithms == ("HS256",) and cfg.secret == Secret(SECRET)
    assert (cfg.issuer, cfg.audience, cfg.leeway_seconds) == (
        "https://issuer.example", ("a", "b"), 10.0)
    assert (cfg.user_claim, cfg.team_claim, cfg.role_claim, cfg.models_claim) == (
        "email", "org.id", "groups", "allowed")
    assert cfg.role_map == FrozenDict({"pllm-admins": "admin", "readers": "viewer"})
    assert cfg.default_role == "viewer"
    assert SECRET in load(tmp_path, f"auth:\n  jwt: {{secret: {SECRET}}}\n").secrets()


def access_failed(access: AccessSettings) -> int:
    return access.failed_auth_per_minute


def test_algorithms_default_by_key_source(tmp_path: Path) -> None:
    hs = load(tmp_path, f"auth:\n  jwt: {{secret: {SECRET}}}\n").access.jwt
    assert hs is not None and hs.algorithms == ("HS256",)
    (tmp_path / "k.pem").write_text(PEM)
    rs = load(tmp_path, "auth:\n  jwt: {public_key_file: k.pem}\n").access.jwt
    assert rs is not None and rs.algorithms == ("RS256",)


def test_key_files_are_found_relative_to_the_config_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "jwks.json").write_text('{"keys": []}')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working directory does not matter
    cfg = load(tmp_path, "auth:\n  jwt: {algorithms: [RS256, ES256], jwks_file: keys/jwks.json}\n"
               ).access.jwt
    assert cfg is not None and cfg.jwks_file == str(tmp_path / "keys" / "jwks.json")
    assert cfg.algorithms == ("RS256", "ES256")


def test_key_file_not_found_names_the_resolved_path(tmp_path: Path) -> None:
    issue = one_error(tmp_path, """
        auth:
          jwt:
            algorithms: [ES256]
            public_key_file: keys/missing.pem
        """, "auth.jwt.public_key_file", 7, 22, says="file not found")
    assert str(tmp_path / "keys" / "missing.pem") in issue.message


def test_hs_algorithms_with_a_public_key_are_refused(tmp_path: Path) -> None:
    (tmp_path / "k.pem").write_text(PEM)
    one_error(tmp_path, f"""
        auth:
          jwt:
            secret: {SECRET}
            algorithms: [RS256, HS256]
            public_key_file: k.pem
        """, "auth.jwt.algorithms", 7, 17, says="cannot be combined with a public key")
    one_error(tmp_path, f"""
        auth:
          jwt:
            secret: {SECRET}
            algorithms: [HS512]
            jwks_url: https://issuer.example/jwks.json
        """, "auth.jwt.algorithms", 7, says="HS* algorithms cannot be combined")


def test_hs_without_a_secret_and_rs_without_keys(tmp_path: Path) -> None:
    one_error(tmp_path, """
        auth:
          jwt:
            algorithms: [HS256]
            issuer: me
        """, "auth.jwt", 6, says="need 'secret'")
    one_error(tmp_path, """
        auth:
          jwt:
            algorithms: [RS256]
        """, "auth.jwt", 6, says="need public_key_file, jwks_file or jwks_url")
    one_error(tmp_path, "auth:\n  jwt: {issuer: me}\n", "auth.jwt", 5,
              says="need public_key_file, jwks_file or jwks_url")


@pytest.mark.parametrize(("algs", "bad"), [("[none]", "none"), ("[HS256, None]", "None"),
                                           ("[RS1]", "RS1"), ("hs256", "hs256")])
def test_algorithm_none_and_unknown_algorithms_are_refused(tmp_path: Path, algs: str,
                                                           bad: str) -> None:
    issue = one_error(tmp_path, f"""
        auth:
          jwt:
            secret: {SECRET}
            algorithms: {algs}
        """, "auth.jwt.algorithms", 7, 17, says=f"unsupported algorithm '{bad}'")
    assert "'none' is never accepted" in issue.message


def test_role_map_and_default_role_must_name_pllm_roles(tmp_path: Path) -> None:
    issue = one_error(tmp_path, f"""
        auth:
          jwt:
            secret: {SECRET}
            role_map:
              readers: viewer
              owners: superuser
        """, "auth.jwt.role_map.owners", 9, 15, says="unknown role 'superuser'")
    assert "user, viewer, admin" in issue.message
    one_error(tmp_path, f"""
        auth:
          jwt:
            secret: {SECRET}
            default_role: root
        """, "auth.jwt.default_role", 7, 19, says="unknown role 'root'")


def test_unknown_jwt_keys_get_a_suggestion(tmp_path: Path) -> None:
    one_error(tmp_path, f"""
        auth:
          jwt:
            secret: {SECRET}
            audiences: [x]
        """, "auth.jwt.audiences", 7, 5, says="unknown key 'audiences' (did you mean 'audience'?)")
    one_error(tmp_path, f"""
        auth:
          jwt:
            secret: {SECRET}
            claims: {{usr: email}}
        """, "auth.jwt.claims.usr", 7, says="unknown key 'usr' (did you mean 'user'?)")
    one_error(tmp_path, "auth:\n  jtw: {}\n", "auth.jtw", 5, 3,
              says="unknown key 'jtw' (did you mean 'jwt'?)")


# -- limits -----------------------------------------------------------------------------------

def test_limits_block_parses(tmp_path: Path) -> None:
    limits = load(tmp_path, """
        limits:
          key: {rpm: 60, tpm: 100000}
          user: {rpm: 30}
          team: {tpm: 500000}
          models: {m: {rpm: 10}, gpt-4o: {tpm: 2000}}
          endpoints:
            chat: {rpm: 100}
            embeddings: {tpm: 1000000}
            messages: {rpm: 5}
            completions: {rpm: 6}
        """).access.limits
    assert limits == LimitDefaults(
        key=RateLimit(60, 100000), user=RateLimit(30, None), team=RateLimit(None, 500000),
        models=FrozenDict({"m": RateLimit(10, None), "gpt-4o": RateLimit(None, 2000)}),
        endpoints=FrozenDict({"chat": RateLimit(100, None), "embeddings": RateLimit(None, 1000000),
                              "messages": RateLimit(5, None), "completions": RateLimit(6, None)}))


def test_unknown_limit_keys_get_a_suggestion(tmp_path: Path) -> None:
    one_error(tmp_path, "limits:\n  usr: {rpm: 3}\n", "limits.usr", 5, 3,
              says="unknown key 'usr' (did you mean 'user'?)")
    one_error(tmp_path, "limits:\n  key: {rpn: 3}\n", "limits.key.rpn", 5, 9,
              says="unknown key 'rpn' (did you mean 'rpm'?)")
    one_error(tmp_path, "limits:\n  models: {m: {rpm: 1}}\n  endpoint: {}\n", "limits.endpoint",
              6, 3, says="(did you mean 'endpoints'?)")


def test_limit_endpoints_are_the_four_pllm_serves(tmp_path: Path) -> None:
    one_error(tmp_path, "limits:\n  endpoints:\n    chats: {rpm: 1}\n",
              "limits.endpoints.chats", 6, 5, says="unknown key 'chats' (did you mean 'chat'?)")
    one_error(tmp_path, "limits:\n  endpoints:\n    images: {rpm: 1}\n",
              "limits.endpoints.images", 6, 5, says="unknown key 'images'")


@pytest.mark.parametrize(("value", "says"), [("0", "must be >= 1"), ("-5", "must be >= 1"),
                                             ("lots", "expected a whole number")])
def test_limit_values_are_positive_whole_numbers(tmp_path: Path, value: str, says: str) -> None:
    one_error(tmp_path, f"limits:\n  user:\n    rpm: {value}\n", "limits.user.rpm", 6, 10,
              says=says)


# -- audit, budgets ---------------------------------------------------------------------------

def test_audit_block(tmp_path: Path) -> None:
    audit = load(tmp_path, "audit:\n  log_bodies: true\n  retention_days: 7.5\n").access.audit
    assert audit == AuditSettings(log_bodies=True, retention_days=7.5)
    assert load(tmp_path, "audit: {log_bodies: false}\n").access.audit == AuditSettings()
    one_error(tmp_path, "audit:\n  log_body: true\n", "audit.log_body", 5, 3,
              says="(did you mean 'log_bodies'?)")
    one_error(tmp_path, "audit:\n  retention_days: 0\n", "audit.retention_days", 5, 19,
              says="must be > 0")
    one_error(tmp_path, "audit:\n  log_bodies: maybe\n", "audit.log_bodies", 5, 15,
              says="expected true or false")


def test_budget_timezone(tmp_path: Path) -> None:
    access = load(tmp_path, "budgets:\n  timezone: Europe/Paris\n  default_output_tokens: 512\n"
                  ).access
    assert (access.budget_timezone, access.default_output_tokens) == ("Europe/Paris", 512)
    issue = one_error(tmp_path, "budgets:\n  timezone: Mars/Olympus_Mons\n", "budgets.timezone",
                      5, 13, says="unknown time zone 'Mars/Olympus_Mons'")
    assert "IANA" in issue.message
    one_error(tmp_path, "budgets:\n  timezone: ../../etc/passwd\n", "budgets.timezone", 5,
              says="unknown time zone")
    one_error(tmp_path, "budgets:\n  timzone: UTC\n", "budgets.timzone", 5, 3,
              says="(did you mean 'timezone'?)")


def test_every_access_error_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, """
            auth:
              jwt: {algorithms: [none], secret: x}
            limits:
              usr: {rpm: 1}
            audit:
              retention_days: -1
            budgets:
              timezone: Nowhere/Land
            """), environ={})
    found = sorted((i.path, i.line) for i in caught.value.issues if i.severity == "error")
    assert found == [("audit.retention_days", 9), ("auth.jwt.algorithms", 5),
                     ("budgets.timezone", 11), ("limits.usr", 7)]
    text = str(caught.value)
    assert f"{tmp_path / 'config.yaml'}:5:" in text and "Nowhere/Land" in text


# -- what the parser accepts, `pllm serve` can build ---------------------------------------

@pytest.mark.parametrize(("body", "path", "line", "says"), [
    ("secret: short-secret", "auth.jwt.secret", 6, "at least 32 bytes long for HS256"),
    (f"{{algorithms: [HS512], secret: {SECRET}}}", "auth.jwt.secret", 5, "at least 64 bytes"),
    (f"{{algorithms: [RS256], secret: {SECRET}, jwks_url: https://i.example/k}}",
     "auth.jwt.secret", 5, "'secret' is only used by HS256/HS384/HS512"),
    (f"{{algorithms: [HS256, RS256], secret: {SECRET}}}", "auth.jwt", 5,
     "need public_key_file, jwks_file or jwks_url"),
    ("{jwks_url: 'http://issuer.example/jwks'}", "auth.jwt.jwks_url", 5,
     "plain http only for localhost"),
    ("{jwks_url: 'ftp://localhost/jwks'}", "auth.jwt.jwks_url", 5, "https://"),
    ("{jwks_url: 'https://i.example/k', jwks_cache_seconds: 0}", "auth.jwt.jwks_cache_seconds",
     5, "must be > 0"),
    ("{public_key_file: k.pem, jwks_url: 'https://i.example/k'}", "auth.jwt.jwks_url", 5,
     "give only one of public_key_file, jwks_url"),
    (f"{{secret: {SECRET}, claims: {{team: ''}}}}", "auth.jwt.claims.team", 5,
     "claim name cannot be empty"),
])
def test_jwt_settings_serve_would_refuse_are_config_errors(
        tmp_path: Path, body: str, path: str, line: int, says: str) -> None:
    (tmp_path / "k.pem").write_text(PEM)
    block = f"auth:\n  jwt: {body}\n" if body.startswith("{") else f"auth:\n  jwt:\n    {body}\n"
    one_error(tmp_path, block, path, line, says=says)


@pytest.mark.parametrize("body", [
    f"{{secret: {SECRET}, issuer: me, audience: you, claims: {{team: null}}}}",
    f"{{algorithms: [HS384], secret: {SECRET * 2}}}",
    "{algorithms: [RS256, ES256], jwks_file: jwks.json}",
    "{jwks_url: 'http://127.0.0.1:8080/jwks.json', jwks_cache_seconds: 60}",
    "{jwks_url: 'https://issuer.example/.well-known/jwks.json'}",
    "{algorithms: [ES256], public_key_file: ec.pem, role_map: {g: admin}, default_role: viewer}",
])
def test_every_jwt_config_the_parser_accepts_builds_a_verifier(tmp_path: Path, body: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from jwt.algorithms import RSAAlgorithm

    from pllm.server.wiring import LoopFetch, _jwt_verifier

    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    (tmp_path / "ec.pem").write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key(
        ).public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    cfg = load(tmp_path, f"auth:\n  jwt: {body}\n").access.jwt
    assert cfg is not None
    verifier = _jwt_verifier(cfg, LoopFetch(None))  # type: ignore[arg-type]
    assert verifier.settings.algorithms == cfg.algorithms


def test_a_jwks_file_that_is_not_a_json_object_is_a_config_error(tmp_path: Path) -> None:
    from pllm.server.wiring import LoopFetch, _jwt_verifier

    for text in ("not json", "[1, 2]"):
        (tmp_path / "jwks.json").write_text(text)
        cfg = load(tmp_path, "auth:\n  jwt: {jwks_file: jwks.json}\n").access.jwt
        assert cfg is not None
        with pytest.raises(ConfigError) as caught:
            _jwt_verifier(cfg, LoopFetch(None))  # type: ignore[arg-type]
        assert caught.value.issues[0].path == "auth.jwt.jwks_file"
