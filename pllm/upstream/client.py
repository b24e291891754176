"""One pooled upstream client per process.

The transport is aiohttp's client, chosen by measurement (docs/ARCHITECTURE.md): on this stack it
spends about a quarter of the CPU httpx's own pool spends per proxied request (httpcore rescans
its pool for every waiting request, encode/httpcore#1035). It is confined to this module.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from pllm.errors import UpstreamConnectError, UpstreamError, UpstreamTimeout
from pllm.providers.base import UpstreamRequest, UpstreamResponse
from pllm.upstream.auth import Signing
from pllm.upstream.local import local_response, local_stream

__all__ = ["Upstream", "UpstreamStream"]

log = logging.getLogger(__name__)

class UpstreamStream(Protocol):
    """An open streaming response: `status`/`headers` are known; iterate events, then close."""

    status: int
    headers: Mapping[str, str]

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def read_body(self) -> bytes:
        """The whole body (for an error status)."""
        ...

    async def aclose(self, *, complete: bool = True) -> None:
        """Release the connection: back to the pool when the stream was read to its end,
        closed (cancelling the upstream request) when it was abandoned."""
        ...


class _HttpStream:
    def __init__(self, resp: aiohttp.ClientResponse, url: str) -> None:
        self._resp = resp
        self._url = url
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for data in self._resp.content.iter_any():
                yield data
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise _transport_error(e, self._url, mid_stream=True) from None

    async def read_body(self) -> bytes:
        try:
            return await self._resp.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise _transport_error(e, self._url) from None
        finally:
            self._resp.release()

    async def aclose(self, *, complete: bool = True) -> None:
        if complete:
            self._resp.release()
        else:
            self._resp.close()


class Upstream:
    def __init__(self, *, connect_timeout: float = 10.0, keepalive_s: float = 60.0) -> None:
        self._connect_timeout = connect_timeout
        self._keepalive = keepalive_s
        self._session: aiohttp.ClientSession | None = None
        self._signing = Signing()

    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300,
                                             keepalive_timeout=self._keepalive)
            self._session = aiohttp.ClientSession(
                connector=connector, trust_env=False, skip_auto_headers=("User-Agent",),
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Upstream:
        await self.start()
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def _timeout(self, total: float | None, read: float | None = None) -> aiohttp.ClientTimeout:
        # Built per request (0.5 us): totals are what is left of each request's deadline.
        return aiohttp.ClientTimeout(total=total, sock_connect=min(self._connect_timeout,
                                                                   total or self._connect_timeout),
                                     sock_read=read)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Upstream.start() was not awaited")
        return self._session

    async def send(self, req: UpstreamRequest, *, timeout: float) -> UpstreamResponse:
        """A whole request and response; transport failures raise UpstreamError."""
        if req.stream_format == "local":
            return await local_response(req)
        headers = await self._signing.headers(req) if req.signer else req.headers
        try:
            async with self.session.request(req.method, _url(req.url), data=req.body,
                                            headers=headers,
                                            timeout=self._timeout(timeout)) as resp:
                body = await resp.read()
                return UpstreamResponse(resp.status, resp.headers, body)
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise _transport_error(e, req.url) from None

    async def open_stream(self, req: UpstreamRequest, *, read_timeout: float) -> UpstreamStream:
        """Send a streaming request; returns once the status and headers arrived.

        A stream has no total deadline (long answers are legitimate); `read_timeout` bounds
        each wait for data, the headers included."""
        if req.stream_format == "local":
            return await local_stream(req)
        headers = await self._signing.headers(req) if req.signer else req.headers
        try:
            resp = await self.session.request(
                req.method, _url(req.url), data=req.body, headers=headers,
                timeout=self._timeout(None, read_timeout))
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise _transport_error(e, req.url) from None
        return _HttpStream(resp, req.url)


def _url(url: str) -> URL:
    """Translators percent-encode their URLs (a signature covers the exact path): keep them."""
    return URL(url, encoded=True)


def _origin(url: str) -> str:
    """scheme://host:port only: paths and query strings can carry secrets (Gemini's ?key=)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _transport_error(e: BaseException, url: str, *, mid_stream: bool = False) -> UpstreamError:
    where = _origin(url)
    if isinstance(e, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        what = "stopped sending" if mid_stream else "did not answer in time"
        return UpstreamTimeout(f"the upstream at {where} {what}")
    if isinstance(e, aiohttp.ClientConnectorError):
        return UpstreamConnectError(f"cannot connect to the upstream at {where}")
    if mid_stream or isinstance(e, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
        return UpstreamConnectError(f"the upstream at {where} closed the connection early")
    log.debug("upstream transport error %s for %s", type(e).__name__, where)
    return UpstreamConnectError(f"request to the upstream at {where} failed "
                                f"({type(e).__name__})")
