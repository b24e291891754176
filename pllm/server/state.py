"""What a running app holds: the settings it was built from and the objects made from them."""

from __future__ import annotations

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

__all__ = ["Gateway", "gateway"]


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
    models_body: bytes = b""

    def __post_init__(self) -> None:
        self.models_body = orjson.dumps({"object": "list", "data": [
            self.model_card(name) for name in self.settings.model_names()]})

    def model_card(self, name: str) -> dict[str, object]:
        return {"id": name, "object": "model", "created": self.started, "owned_by": "pllm"}


def gateway() -> Gateway:
    return current_app.extensions["pllm"]  # type: ignore[no-any-return]
