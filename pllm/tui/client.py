"""The dashboard's only way to the gateway: its admin API over HTTP (httpx), never the
database, so `pllm tui` works against a remote gateway as well as a local one.

`Admin` is the interface the app uses; `AdminClient` speaks HTTP, and tests substitute a fake
fed with recorded JSON for deterministic snapshots.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson

from pllm.errors import PllmError
from pllm.sse import SSEDecoder

__all__ = ["Admin", "AdminClient", "AdminRefused", "AdminUnavailable", "FeedEvent"]


class AdminUnavailable(PllmError):
    """The gateway could not be reached, or stopped answering."""


class AdminRefused(PllmError):
    """The gateway answered with an error (a bad key, a missing role, a bad request)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class FeedEvent:
    kind: str
    """stats | requests"""
    data: dict[str, Any]


class Admin(Protocol):
    url: str

    def events(self) -> AsyncIterator[FeedEvent]:
        """The live feed (`GET /admin/events`) until the connection ends."""
        ...

    async def stats(self) -> dict[str, Any]: ...

    async def requests(self, limit: int = 200) -> list[dict[str, Any]]: ...

    async def keys(self) -> list[dict[str, Any]]: ...

    async def create_key(self, body: dict[str, Any]) -> dict[str, Any]: ...

    async def revoke_key(self, key_id: str) -> dict[str, Any]: ...

    async def budgets(self) -> list[dict[str, Any]]: ...

    async def config(self) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


class AdminClient:
    """The admin API of the gateway at `url`, authenticated with `key` (master or a virtual
    key with the admin or viewer role)."""

    def __init__(self, url: str, key: str | None = None, *, timeout: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        headers = {"authorization": f"Bearer {key}"} if key else {}
        self._timeout = timeout
        self._http = httpx.AsyncClient(base_url=self.url, headers=headers,
                                       timeout=timeout, transport=transport)

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
                    params: dict[str, Any] | None = None) -> Any:
        try:
            response = await self._http.request(
                method, path, params=params,
                content=orjson.dumps(body) if body is not None else None,
                headers={"content-type": "application/json"} if body is not None else None)
        except httpx.HTTPError as e:
            raise AdminUnavailable(_describe(e)) from None
        if response.status_code >= 400:
            raise AdminRefused(response.status_code, _message(response.content))
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise AdminRefused(response.status_code, "the answer is not JSON") from None

    async def events(self) -> AsyncIterator[FeedEvent]:
        # The server sends a snapshot every second: a read that waits longer means it is gone.
        timeout = httpx.Timeout(self._timeout, read=max(3.0, self._timeout))
        try:
            async with self._http.stream("GET", "/admin/events", timeout=timeout) as response:
                if response.status_code >= 400:
                    raise AdminRefused(response.status_code, _message(await response.aread()))
                decoder = SSEDecoder()
                async for piece in response.aiter_bytes():
                    for event in decoder.feed(piece):
                        if event.event and event.data:
                            yield FeedEvent(event.event, orjson.loads(event.data))
        except httpx.HTTPError as e:
            raise AdminUnavailable(_describe(e)) from None
        raise AdminUnavailable("the server closed the event stream")

    async def stats(self) -> dict[str, Any]:
        return dict(await self._call("GET", "/admin/stats"))

    async def requests(self, limit: int = 200) -> list[dict[str, Any]]:
        data = await self._call("GET", "/admin/requests", params={"limit": limit})
        return list(data.get("requests", []))

    async def keys(self) -> list[dict[str, Any]]:
        return list((await self._call("GET", "/admin/keys")).get("keys", []))

    async def create_key(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._call("POST", "/admin/keys", body))

    async def revoke_key(self, key_id: str) -> dict[str, Any]:
        return dict(await self._call("DELETE", f"/admin/keys/{key_id}"))

    async def budgets(self) -> list[dict[str, Any]]:
        return list((await self._call("GET", "/admin/budgets")).get("budgets", []))

    async def config(self) -> dict[str, Any]:
        return dict(await self._call("GET", "/admin/config"))

    async def aclose(self) -> None:
        await self._http.aclose()


def _message(body: bytes) -> str:
    try:
        data = orjson.loads(body)
        return str(data["error"]["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace") or "no details"


def _describe(error: httpx.HTTPError) -> str:
    if isinstance(error, httpx.ConnectError):
        return "connection refused"
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    if isinstance(error, httpx.RemoteProtocolError):
        return "the connection was closed"
    return type(error).__name__
