"""Snapshot tests of `pllm tui` at fixed terminal sizes (80x24 and 120x40), fed recorded admin
API answers through `FakeAdmin` with a fixed clock and time zone, so every run draws the same
screen. Refresh after an intended change: `pytest tests/tui --snapshot-update`, and look at
the SVGs."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest
from fake_admin import FakeAdmin, wait_for
from textual.pilot import Pilot

from pllm.tui.app import PllmTui
from pllm.tui.budgets_view import BudgetsPane
from pllm.tui.keys_view import KeysPane
from pllm.tui.requests_view import RequestsPane

SIZES = [(80, 24), (120, 40)]


def make_app(admin: FakeAdmin | None = None) -> PllmTui:
    admin = admin or FakeAdmin()
    return PllmTui(admin, clock=lambda: admin.now, tz=UTC)


async def fed(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, PllmTui)
    pane = app.query_one(RequestsPane)
    await wait_for(pilot, lambda: app.snapshots >= 1 and len(pane.rows) > 0,
                   what="the first snapshot")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=fed)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_requests(snap_compare: Any, size: tuple[int, int]) -> None:
    async def show(pilot: Pilot[Any]) -> None:
        await fed(pilot)
        await pilot.press("2")

    assert snap_compare(make_app(), terminal_size=size, run_before=show)


def test_requests_filtered(snap_compare: Any) -> None:
    async def show(pilot: Pilot[Any]) -> None:
        await fed(pilot)
        await pilot.press("2", "slash", *"4xx", "enter")

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=show)


async def keys_loaded(pilot: Pilot[Any]) -> None:
    await fed(pilot)
    await pilot.press("3")
    pane = pilot.app.query_one(KeysPane)
    await wait_for(pilot, lambda: len(pane.keys) > 0, what="the keys")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_keys(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=keys_loaded)


def test_new_key_secret_shown_once(snap_compare: Any) -> None:
    async def create(pilot: Pilot[Any]) -> None:
        await keys_loaded(pilot)
        await pilot.press("n", *"deploy-bot", "enter")
        await wait_for(pilot, lambda: len(pilot.app.screen_stack) > 1
                       and pilot.app.screen.query("#secret"), what="the secret")

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=create)


def test_revoke_asks_first(snap_compare: Any) -> None:
    async def revoke(pilot: Pilot[Any]) -> None:
        await keys_loaded(pilot)
        await pilot.press("x")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=revoke)


def test_budgets(snap_compare: Any) -> None:
    async def show(pilot: Pilot[Any]) -> None:
        await fed(pilot)
        await pilot.press("4")
        pane = pilot.app.query_one(BudgetsPane)
        await wait_for(pilot, lambda: len(pane.query("BudgetRow")) > 0, what="budgets")

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=show)


def test_config(snap_compare: Any) -> None:
    async def show(pilot: Pilot[Any]) -> None:
        await fed(pilot)
        await pilot.press("5")
        await wait_for(pilot, lambda: "model_list" in str(
            pilot.app.query_one("#config-text").render()), what="the config")

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=show)


def test_light_theme(snap_compare: Any) -> None:
    async def light(pilot: Pilot[Any]) -> None:
        await fed(pilot)
        await pilot.press("t")

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=light)


def test_disconnected(snap_compare: Any) -> None:
    async def down(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await wait_for(pilot, lambda: "disconnected" in str(
            app.query_one("#status").render()), what="the disconnected state")

    app = PllmTui(FakeAdmin(down="connection refused"), tz=UTC, backoff=(60.0,))
    assert snap_compare(app, terminal_size=(80, 24), run_before=down)
