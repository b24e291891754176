"""A local Google OAuth2 token endpoint and a matching test service account.

`make_service_account(token_uri)` builds a service-account JSON with a fresh RSA key whose
`token_uri` points at a `GoogleTokenServer`. The server checks what google-auth sends (the
RFC 7523 JWT-bearer grant, signed RS256 by that key, with the right issuer, audience and scope)
and hands out opaque access tokens; upstream mocks ask `valid(token)` before answering.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
import time
from typing import Any

import orjson
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["GoogleTokenServer", "make_service_account"]

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


def make_service_account(token_uri: str, project: str = "pllm-test-project") -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {
        "type": "service_account", "project_id": project, "private_key_id": "test-key-1",
        "private_key": pem, "client_email": f"gateway@{project}.iam.gserviceaccount.com",
        "client_id": "1234567890", "token_uri": token_uri,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
    }


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


class GoogleTokenServer:
    """Serves POST /token on 127.0.0.1 in a background thread."""

    def __init__(self, lifetime_s: int = 3600) -> None:
        self.lifetime_s = lifetime_s
        self.accounts: dict[str, Any] = {}  # client_email -> public key
        self.issued: set[str] = set()
        self.grants = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.port = 0

    @property
    def token_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def service_account(self) -> dict[str, str]:
        """A new service account this server trusts."""
        info = make_service_account(self.token_uri)
        private = serialization.load_pem_private_key(info["private_key"].encode(), None)
        with self._lock:
            self.accounts[info["client_email"]] = private.public_key()
        return info

    def valid(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Bearer "):
            return False
        with self._lock:
            return authorization[7:] in self.issued

    def __enter__(self) -> GoogleTokenServer:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        app = web.Application()
        app.router.add_post("/token", self._token)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self._refuse("unsupported_grant_type")
        assertion = str(form.get("assertion", ""))
        try:
            head, claims_b64, sig = assertion.split(".")
            header = orjson.loads(_b64(head))
            claims = orjson.loads(_b64(claims_b64))
        except ValueError:
            return self._refuse("invalid_grant")
        with self._lock:
            key = self.accounts.get(claims.get("iss", ""))
        if key is None or header.get("alg") != "RS256":
            return self._refuse("invalid_grant")
        try:
            key.verify(_b64(sig), f"{head}.{claims_b64}".encode(), padding.PKCS1v15(),
                       hashes.SHA256())
        except Exception:  # cryptography's InvalidSignature
            return self._refuse("invalid_grant")
        now = time.time()
        # google-auth always names Google's endpoint as the audience, whatever token_uri is.
        if claims.get("aud") not in (self.token_uri, GOOGLE_TOKEN_URI) or SCOPE not in str(claims.get("scope", "")) \
                or not claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0):
            return self._refuse("invalid_grant")
        token = "ya29.mock-" + secrets.token_urlsafe(16)
        with self._lock:
            self.issued.add(token)
            self.grants += 1
        return web.json_response({"access_token": token, "expires_in": self.lifetime_s,
                                  "token_type": "Bearer"})

    @staticmethod
    def _refuse(error: str) -> web.Response:
        return web.json_response({"error": error, "error_description": "mock refused"},
                                 status=400)
