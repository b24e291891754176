"""`PllmTui`: the App. It owns the connection to the gateway (one feed worker reading
`GET /admin/events`, reconnecting with backoff) and the tabs; each pane owns its layout and
loads what it needs in its own workers. Nothing here blocks the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import tzinfo
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from pllm.tui import fmt
from pllm.tui.budgets_view import BudgetsPane
from pllm.tui.client import Admin, AdminRefused, AdminUnavailable
from pllm.tui.config_view import ConfigPane
from pllm.tui.dashboard import Dashboard
from pllm.tui.keys_view import KeysPane
from pllm.tui.models import RequestRow, Snapshot
from pllm.tui.requests_view import RequestsPane

__all__ = ["PllmTui"]

BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 5.0)
TABS = ("dashboard", "requests", "keys", "budgets", "config")


class Connection(Message):
    def __init__(self, live: bool, detail: str = "", retry_in: float = 0.0) -> None:
        super().__init__()
        self.live, self.detail, self.retry_in = live, detail, retry_in


class StatsArrived(Message):
    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class RequestsArrived(Message):
    def __init__(self, rows: list[RequestRow]) -> None:
        super().__init__()
        self.rows = rows


class PllmTui(App[None]):
    TITLE = "pllm"
    CSS = """
    #status { height: 1; padding: 0 1; background: $panel; }
    #status.down { background: $error 30%; }
    TabbedContent { height: 1fr; }
    TabPane { padding: 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "tab('dashboard')", "Dashboard"),
        Binding("2", "tab('requests')", "Requests"),
        Binding("3", "tab('keys')", "Keys"),
        Binding("4", "tab('budgets')", "Budgets"),
        Binding("5", "tab('config')", "Config"),
        Binding("t", "toggle_theme", "Theme"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, admin: Admin, *, clock: Callable[[], float] = time.time,
                 tz: tzinfo | None = None, backoff: tuple[float, ...] = BACKOFF_S) -> None:
        super().__init__()
        self.admin = admin
        self.clock = clock
        self.tz = tz
        self.backoff = backoff
        self.live = False
        self.snapshots = 0
        """Snapshots received (tests wait on it)."""

    def compose(self) -> ComposeResult:
        yield Static(self._status_text(False, "connecting…"), id="status")
        with TabbedContent(initial="dashboard"):
            with TabPane("Dashboard", id="dashboard"):
                yield Dashboard(id="dash")
            with TabPane("Requests", id="requests"):
                yield RequestsPane(tz=self.tz, id="requests-pane")
            with TabPane("Keys", id="keys"):
                yield KeysPane(self.admin, self.clock, id="keys-pane")
            with TabPane("Budgets", id="budgets"):
                yield BudgetsPane(self.admin, self.clock, self.tz, id="budgets-pane")
            with TabPane("Config", id="config"):
                yield ConfigPane(self.admin, id="config-pane")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.feed()
        self.query_one("#deployments", DataTable).focus()

    async def on_unmount(self) -> None:
        await self.admin.aclose()

    @work(exclusive=True, group="feed")
    async def feed(self) -> None:
        """Read the event stream; when it fails, say so and reconnect with backoff."""
        failures = 0
        while True:
            connected = False
            try:
                async for event in self.admin.events():
                    if not connected:
                        connected, failures = True, 0
                        self.post_message(Connection(True))
                    if event.kind == "stats":
                        self.post_message(StatsArrived(Snapshot.parse(event.data)))
                    elif event.kind == "requests":
                        rows = [RequestRow.parse(r) for r in event.data.get("requests", ())]
                        self.post_message(RequestsArrived(rows))
                detail = "the server closed the event stream"
            except AdminRefused as e:
                detail = e.message if e.status in (401, 403) else str(e)
            except AdminUnavailable as e:
                detail = str(e)
            except ValueError:  # not JSON: not a pllm admin feed
                detail = "unexpected data on the event stream"
            delay = self.backoff[min(failures, len(self.backoff) - 1)]
            failures += 1
            self.post_message(Connection(False, detail, delay))
            await asyncio.sleep(delay)

    def _status_text(self, live: bool, detail: str = "") -> Text:
        text = Text()
        text.append("pllm ", style="bold")
        text.append(self.admin.url, style="underline")
        if live:
            text.append("  ● live", style="bold green")
            if detail:
                text.append(f"  {detail}", style="dim")
        else:
            text.append(f"  ✖ {detail}" if detail != "connecting…" else f"  … {detail}",
                        style="bold red" if detail != "connecting…" else "yellow")
        return text

    def on_connection(self, message: Connection) -> None:
        self.live = message.live
        status = self.query_one("#status", Static)
        status.set_class(not message.live, "down")
        if message.live:
            status.update(self._status_text(True))
            return
        detail = f"disconnected: {message.detail}"
        if message.retry_in:
            detail += f" · retry in {message.retry_in:g}s"
        status.update(self._status_text(False, detail))

    def on_stats_arrived(self, message: StatsArrived) -> None:
        self.snapshots += 1
        self.query_one(Dashboard).show(message.snapshot)
        if self.live and message.snapshot.ts:
            self.query_one("#status", Static).update(self._status_text(
                True, fmt.clock_time(message.snapshot.ts, self.tz)))

    def on_requests_arrived(self, message: RequestsArrived) -> None:
        # Under load that is hundreds of rows a second: redraw only what is on screen.
        shown = self.query_one(TabbedContent).active == "requests"
        self.query_one(RequestsPane).add(message.rows, shown=shown)

    @on(TabbedContent.TabActivated)
    def _activated(self, event: TabbedContent.TabActivated) -> None:
        self._focus_pane(event.pane.id or "")

    def _focus_pane(self, tab: str) -> None:
        if tab == "keys":
            self.query_one(KeysPane).load()
            self.query_one("#keys-table", DataTable).focus()
        elif tab == "budgets":
            self.query_one(BudgetsPane).load()
            self.query_one("#budgets-list").focus()
        elif tab == "config":
            self.query_one(ConfigPane).load()
            self.query_one("#config-box").focus()
        elif tab == "requests":
            self.query_one(RequestsPane).show()
            self.query_one("#requests-table", DataTable).focus()
        elif tab == "dashboard":
            self.query_one("#deployments", DataTable).focus()

    def action_tab(self, tab: str) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.active != tab:
            tabs.active = tab  # TabActivated follows, which focuses and loads the pane
        else:
            self._focus_pane(tab)

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme != "textual-light" else "textual-dark"
