"""A stand-in for `AdminClient` that replays recorded admin API answers
(`tests/tui/fixtures/*.json`, made by `record_fixtures.py`), for deterministic snapshots."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pllm.tui.client import AdminRefused, AdminUnavailable, FeedEvent

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "sk-pllm-0000fixedsnapshotsecret0000000000"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())  # type: ignore[no-any-return]


class FakeAdmin:
    url = "http://127.0.0.1:8080"

    def __init__(self, *, down: str | None = None) -> None:
        self.down = down
        self.data = {name: load(name) for name in ("stats", "requests", "keys", "budgets",
                                                    "config")}
        self.created: list[dict[str, Any]] = []
        self.revoked: list[str] = []

    @property
    def now(self) -> float:
        return float(self.data["stats"]["ts"])

    async def events(self) -> AsyncIterator[FeedEvent]:
        if self.down is not None:
            raise AdminUnavailable(self.down)
        yield FeedEvent("stats", copy.deepcopy(self.data["stats"]))
        rows = list(reversed(self.data["requests"]["requests"]))  # the feed sends oldest first
        yield FeedEvent("requests", {"requests": rows})
        await asyncio.Event().wait()  # a live stream that has nothing more to say

    async def stats(self) -> dict[str, Any]:
        return copy.deepcopy(self.data["stats"])

    async def requests(self, limit: int = 200) -> list[dict[str, Any]]:
        return list(self.data["requests"]["requests"][:limit])

    async def keys(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self.data["keys"]["keys"])

    async def create_key(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("name") == "refused":
            raise AdminRefused(403, "This needs the admin role")
        key = {"id": f"key_fake{len(self.created)}", "name": body["name"],
               "prefix": SECRET[:12], "role": body.get("role", "user"),
               "models": body.get("models"), "status": "active", "created_at": self.now}
        self.created.append(body)
        self.data["keys"]["keys"].append(key)
        return {"key": SECRET, **key}

    async def revoke_key(self, key_id: str) -> dict[str, Any]:
        self.revoked.append(key_id)
        for key in self.data["keys"]["keys"]:
            if key["id"] == key_id:
                key["status"] = "revoked"
                return dict(key)
        raise AdminRefused(404, f"No key with id '{key_id}'")

    async def budgets(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self.data["budgets"]["budgets"])

    async def config(self) -> dict[str, Any]:
        return copy.deepcopy(self.data["config"])

    async def aclose(self) -> None:
        pass


async def wait_for(pilot: Any, condition: Any, timeout: float = 10.0,
                   what: str = "condition") -> None:
    """Let the app run until `condition()` holds (Textual's Pilot has no such wait)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)
