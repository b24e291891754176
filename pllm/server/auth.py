"""Who may call the gateway. Until virtual keys exist the master key is the only key; with no
master key the gateway is open (and `pllm serve` refuses to bind beyond loopback)."""

from __future__ import annotations

import hmac

from pllm.config.model import Secret
from pllm.errors import AuthenticationFailed
from pllm.schema import Headers

__all__ = ["Auth", "presented_key"]


def presented_key(headers: Headers) -> str | None:
    """The key from `Authorization: Bearer`, `X-API-Key` or Azure-style `api-key`."""
    value = headers.get("authorization")
    if value:
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return headers.get("x-api-key") or headers.get("api-key")


class Auth:
    def __init__(self, master_key: Secret | None) -> None:
        self._master = master_key.value.encode() if master_key else None

    @property
    def open(self) -> bool:
        return self._master is None

    def check(self, headers: Headers) -> None:
        if self._master is None:
            return
        key = presented_key(headers)
        if key is None:
            raise AuthenticationFailed(
                "Missing API key: send it as 'Authorization: Bearer <key>' or 'X-API-Key'")
        if not hmac.compare_digest(key.encode(), self._master):
            raise AuthenticationFailed("Incorrect API key provided")

    def check_admin(self, headers: Headers) -> None:
        """Admin routes: the master key. Without one configured they are open like the rest
        (the gateway then only listens on loopback)."""
        self.check(headers)
