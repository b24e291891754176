"""`pllm tui` driven by Textual's Pilot against a real `pllm serve` over loopback: live traffic
shows up on the dashboard and in the requests pane, keys are created (secret shown once) and
revoked through the admin API, and the app survives the server going away and coming back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fake_admin import wait_for
from server import PllmServer
from textual.widgets import DataTable, Static

from pllm.tui.app import PllmTui
from pllm.tui.client import AdminClient
from pllm.tui.keys_view import KeysPane
from pllm.tui.requests_view import RequestsPane

pytestmark = pytest.mark.e2e

MASTER = "sk-master-tui-test-0123456789"
CONFIG = f"""
model_list:
  - model_name: gpt-4o
    litellm_params: {{model: mock/gpt-4o, mock_latency_ms: 5, rpm: 1000}}
  - model_name: claude
    litellm_params: {{model: mock/claude, mock_latency_ms: 5}}
general_settings: {{master_key: {MASTER}}}
"""


def status_text(app: PllmTui) -> str:
    return str(app.query_one("#status", Static).render())


def cell(table: DataTable[Any], row: str, column: str) -> str:
    return str(table.get_cell(row, column))


async def traffic(url: str, key: str, n: int, model: str = "gpt-4o") -> None:
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    try:
        for _ in range(n):
            await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hello"}])
    finally:
        await client.close()


def test_dashboard_and_requests_follow_live_traffic(tmp_path: Path) -> None:
    with PllmServer(tmp_path, CONFIG) as server:
        key = httpx.post(server.url + "/admin/keys", json={"name": "load-test"},
                         headers={"authorization": f"Bearer {MASTER}"}).json()["key"]

        async def run() -> None:
            app = PllmTui(AdminClient(server.url, MASTER))
            async with app.run_test(size=(120, 40)) as pilot:
                await wait_for(pilot, lambda: app.live, what="the feed")
                await traffic(server.url, key, 12)
                table = app.query_one("#deployments", DataTable)
                dep = next(str(k.value) for k in table.rows if str(k.value).startswith("gpt-4o"))
                await wait_for(pilot, lambda: cell(table, dep, "rpm").startswith("12/"),
                               what="12 requests against the rpm limit")
                assert cell(table, dep, "rpm") == "12/1k"  # usage against the limit of 1000
                assert "100" in cell(table, dep, "health")
                assert cell(table, dep, "circuit") == "closed"
                # Today's totals come from the audit trail: written behind, summed every 2 s.
                await wait_for(pilot, lambda: "today 12 requests" in str(
                    app.query_one("#totals", Static).render()), what="today's totals")

                await pilot.press("2")
                pane = app.query_one(RequestsPane)
                requests = app.query_one("#requests-table", DataTable)
                await wait_for(pilot, lambda: requests.row_count >= 12, what="12 rows")
                assert {str(requests.get_row_at(i)[6]) for i in range(12)} == {"load-test"}
                await traffic(server.url, MASTER, 3, model="claude")
                await wait_for(pilot, lambda: requests.row_count >= 15, what="15 rows")
                await pilot.press("slash", *"claude")
                await wait_for(pilot, lambda: requests.row_count == 3, what="the filter")
                assert pane.query_text == "claude"
                assert app.query_one("#request-filter").has_focus

        asyncio.run(run())


def test_keys_created_with_the_secret_shown_once_and_revoked(tmp_path: Path) -> None:
    with PllmServer(tmp_path, CONFIG) as server:
        async def run() -> None:
            app = PllmTui(AdminClient(server.url, MASTER))
            async with app.run_test(size=(100, 30)) as pilot:
                await pilot.press("3")
                pane = app.query_one(KeysPane)
                await wait_for(pilot, lambda: "0 keys" in str(
                    app.query_one("#keys-info", Static).render()), what="the empty key list")
                await pilot.press("n", *"tui-made", "enter")
                await wait_for(pilot, lambda: bool(app.screen.query("#secret")),
                               what="the secret")
                secret = str(app.screen.query_one("#secret", Static).render())
                assert secret.startswith("sk-pllm-")
                await pilot.press("enter")
                await wait_for(pilot, lambda: len(pane.keys) == 1, what="the new key")
                assert pane.keys[0].name == "tui-made"
                assert secret not in str(app.query_one("#keys-table", DataTable).get_row_at(0))

                sdk = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=secret,
                                         max_retries=0)
                assert (await sdk.models.list()).data  # the secret works

                await pilot.press("x")
                await wait_for(pilot, lambda: bool(app.screen.query("#yes")), what="confirm")
                await pilot.press("n")  # no: nothing happens
                await pilot.pause(0.2)
                assert pane.keys[0].status == "active"
                await pilot.press("x", "y")
                await wait_for(pilot, lambda: pane.keys and pane.keys[0].status == "revoked",
                               what="the revoked key")
                with pytest.raises(openai.AuthenticationError):
                    await sdk.models.list()
                await sdk.close()

        asyncio.run(run())


def test_a_viewer_watches_but_cannot_create_keys(tmp_path: Path) -> None:
    with PllmServer(tmp_path, CONFIG) as server:
        viewer = httpx.post(server.url + "/admin/keys", json={"name": "wall", "role": "viewer"},
                            headers={"authorization": f"Bearer {MASTER}"}).json()["key"]

        async def run() -> None:
            app = PllmTui(AdminClient(server.url, viewer))
            async with app.run_test(size=(100, 30)) as pilot:
                await wait_for(pilot, lambda: app.snapshots >= 1, what="a snapshot")
                await pilot.press("3")
                pane = app.query_one(KeysPane)
                await wait_for(pilot, lambda: len(pane.keys) == 1, what="the key list")
                await pilot.press("n", *"nope", "enter")
                await wait_for(pilot, lambda: any("could not create" in str(n.message)
                                                  for n in app._notifications),
                               what="the refusal")
                assert len(pane.keys) == 1 and app.live  # still running, still connected

        asyncio.run(run())


def test_survives_the_server_going_away_and_reconnects(tmp_path: Path) -> None:
    server = PllmServer(tmp_path, CONFIG).start()
    try:
        async def run() -> None:
            app = PllmTui(AdminClient(server.url, MASTER), backoff=(0.2, 0.5))
            async with app.run_test(size=(80, 24)) as pilot:
                await wait_for(pilot, lambda: app.live and app.snapshots >= 1, what="live")
                started = time.monotonic()
                await asyncio.to_thread(server.stop)
                # Its event stream ends when it begins to stop: no 30 s graceful wait.
                assert time.monotonic() - started < 5.0
                await wait_for(pilot, lambda: "disconnected" in status_text(app),
                               what="disconnected")
                assert not app.live
                await pilot.press("2")  # still responsive
                assert app.query_one("TabbedContent").active == "requests"  # type: ignore[attr-defined]
                await pilot.press("1")
                seen = app.snapshots
                await asyncio.to_thread(server.start)
                await wait_for(pilot, lambda: app.live and app.snapshots > seen,
                               timeout=15, what="reconnected")
                assert "live" in status_text(app)

        asyncio.run(run())
    finally:
        server.stop()


def test_a_wrong_key_says_why(tmp_path: Path) -> None:
    with PllmServer(tmp_path, CONFIG) as server:
        async def run() -> None:
            app = PllmTui(AdminClient(server.url, "sk-wrong-key-000000000000"), backoff=(5.0,))
            async with app.run_test(size=(80, 24)) as pilot:
                await wait_for(pilot, lambda: "disconnected" in status_text(app),
                               what="the refusal")
                assert "Incorrect API key" in status_text(app)
                assert "sk-wrong-key" not in status_text(app)

        asyncio.run(run())
