"""What a running app holds: the settings it was built from and the objects made from them.

A config reload builds a new `Gateway` and makes it `live.current`; the old one stays whole for
the requests already using it. So a request reads the gateway once, when it starts (`gateway()`
in a Quart view, `FastPath` per request), and keeps that object to its end; long-lived code
(observers, stats, metrics) holding the gateway it was installed with reads `gw.latest()`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import orjson
from quart import current_app

from pllm.access.directory import Directory
from pllm.access.gate import Gate
from pllm.access.ledger import Ledger
from pllm.config.model import Settings
from pllm.router.dispatch import Dispatcher
from pllm.router.table import ModelTable
from pllm.server.events import Observers
from pllm.store import Store
from pllm.upstream import Upstream

__all__ = ["Gateway", "Live", "gateway"]


class Live:
    """The gateway serving new requests now; every generation of a running app shares one."""

    __slots__ = ("current",)
    current: Gateway


@dataclass
class Gateway:
    settings: Settings
    table: ModelTable
    upstream: Upstream
    dispatcher: Dispatcher
    gate: Gate
    ledger: Ledger
    store: Store
    directory: Directory
    observers: Observers = field(default_factory=Observers)
    """Told about every request when it ends (metrics, access log, live stats)."""
    started: int = field(default_factory=lambda: int(time.time()))
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the server starts its graceful shutdown: endless streams (the admin event
    stream) end then rather than hold the shutdown until its timeout."""
    models_body: bytes = b""
    live: Live = field(default_factory=Live)
    """Shared by every generation: `live.current` is the newest (see the module docstring)."""

    def __post_init__(self) -> None:
        if not hasattr(self.live, "current"):
            self.live.current = self
        self.models_body = orjson.dumps({"object": "list", "data": [
            self.model_card(name) for name in self.settings.model_names()]})

    def model_card(self, name: str) -> dict[str, object]:
        return {"id": name, "object": "model", "created": self.started, "owned_by": "pllm"}

    def latest(self) -> Gateway:
        """The gateway serving new requests now (this one, or what a reload built since)."""
        return self.live.current


def gateway() -> Gateway:
    """The gateway for the request being handled: call it once per request and keep it."""
    first: Gateway = current_app.extensions["pllm"]
    return first.live.current
