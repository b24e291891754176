"""Request signing that needs I/O or a clock: AWS SigV4 (botocore) and Google OAuth2 access
tokens (google-auth). Translators only describe what to sign (`providers.base.Signer`).

Credential lookups that may touch the network (AWS's default chain, instance metadata, Google's
token endpoint) run in a worker thread, never on the event loop; results are cached per signer
spec, and Google tokens are refreshed five minutes before they expire, one refresh at a time.
botocore and google-auth are imported on first use, so gateways without Bedrock or Vertex do
not pay their import time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from pllm.errors import UpstreamError
from pllm.providers.base import AwsSigV4, GoogleOAuth, UpstreamRequest

__all__ = ["Signing"]

log = logging.getLogger(__name__)

_REFRESH_MARGIN = dt.timedelta(minutes=5)


class CredentialsError(UpstreamError):
    status = 502
    code = "upstream_credentials"
    retryable = False


class Signing:
    def __init__(self) -> None:
        self._aws: dict[AwsSigV4, Any] = {}
        self._google: dict[GoogleOAuth, Any] = {}
        self._locks: dict[object, asyncio.Lock] = {}

    async def headers(self, req: UpstreamRequest) -> Mapping[str, str]:
        """The headers to send: the request's own plus whatever its signer adds."""
        signer = req.signer
        if signer is None:
            return req.headers
        if isinstance(signer, AwsSigV4):
            return await self._sigv4(req, signer)
        token = await self._google_token(signer)
        return {**req.headers, "authorization": f"Bearer {token}"}

    def _lock(self, key: object) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    # -- AWS --------------------------------------------------------------------------------
    async def _sigv4(self, req: UpstreamRequest, spec: AwsSigV4) -> Mapping[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        creds: Any = self._aws.get(spec)
        if creds is None:
            async with self._lock(spec):
                creds = self._aws.get(spec) or await asyncio.to_thread(_aws_credentials, spec)
                self._aws[spec] = creds
        refresh = getattr(creds, "refresh_needed", None)
        if callable(refresh) and refresh():
            frozen = await asyncio.to_thread(creds.get_frozen_credentials)
        else:
            frozen = creds.get_frozen_credentials()
        aws_req = AWSRequest(method=req.method, url=req.url, data=req.body or b"",
                             headers=dict(req.headers))
        SigV4Auth(frozen, spec.service, spec.region).add_auth(aws_req)
        return dict(aws_req.headers.items())

    # -- Google -----------------------------------------------------------------------------
    async def _google_token(self, spec: GoogleOAuth) -> str:
        creds: Any = self._google.get(spec)
        if creds is not None and _fresh(creds):
            return str(creds.token)
        async with self._lock(spec):
            creds = self._google.get(spec)
            if creds is None:
                creds = await asyncio.to_thread(_google_credentials, spec)
                self._google[spec] = creds
            if not _fresh(creds):
                await asyncio.to_thread(_google_refresh, creds)
        return str(creds.token)


def _aws_credentials(spec: AwsSigV4) -> Any:
    from botocore.credentials import Credentials
    from botocore.session import Session

    if spec.access_key_id and spec.secret_access_key:
        return Credentials(spec.access_key_id, spec.secret_access_key.value,
                           spec.session_token.value if spec.session_token else None)
    try:
        creds = Session(profile=spec.profile).get_credentials()
    except Exception as e:  # botocore raises many types here (profile not found, ...)
        raise CredentialsError(f"cannot load AWS credentials: {type(e).__name__}") from None
    if creds is None:
        raise CredentialsError("no AWS credentials found: set aws_access_key_id and "
                               "aws_secret_access_key, a profile, or the AWS environment")
    return creds


def _google_credentials(spec: GoogleOAuth) -> Any:
    import google.auth
    from google.auth.exceptions import GoogleAuthError

    try:
        if spec.credentials is None:
            creds, _project = google.auth.default(scopes=list(spec.scopes))
            return creds
        text = spec.credentials.value.strip()
        info = orjson.loads(text if text.startswith("{") else Path(text).read_bytes())
        creds, _project = google.auth.load_credentials_from_dict(  # type: ignore[no-untyped-call]
            info, scopes=list(spec.scopes))
        return creds
    except (GoogleAuthError, OSError, ValueError) as e:
        raise CredentialsError(f"cannot load Google credentials: {type(e).__name__}") from None


def _google_refresh(creds: Any) -> None:
    from google.auth.exceptions import GoogleAuthError
    from google.auth.transport.requests import Request

    try:
        creds.refresh(Request())
    except GoogleAuthError as e:
        log.warning("Google token refresh failed: %s", type(e).__name__)
        raise CredentialsError("cannot get a Google access token (token endpoint refused the "
                               "credentials)") from None


def _fresh(creds: Any) -> bool:
    if not getattr(creds, "token", None):
        return False
    expiry = getattr(creds, "expiry", None)
    if expiry is None:
        return True
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return bool(expiry - now > _REFRESH_MARGIN)
