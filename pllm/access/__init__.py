"""Who may call the gateway: bearer JWTs verified against a secret, a public key or a JWKS
(`jwt`, with key rules in `jwt_keys`, claim mapping in `jwt_claims`, settings in
`jwt_settings`)."""

from pllm.access.jwt import REFRESH_MIN_INTERVAL_S, JwtVerifier, SigningKeyUnavailable
from pllm.access.jwt_claims import JwtIdentity
from pllm.access.jwt_settings import JwtSettings

__all__ = [
    "REFRESH_MIN_INTERVAL_S",
    "JwtIdentity",
    "JwtSettings",
    "JwtVerifier",
    "SigningKeyUnavailable",
]
