"""The keys pane: every virtual key; `n` creates one (its secret shown once, in a modal), `x`
revokes the selected one after a confirmation, `r` reloads. Writes need the admin role."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from pllm.errors import PllmError
from pllm.tui import fmt
from pllm.tui.client import Admin
from pllm.tui.modals import ConfirmModal, NewKeyModal, SecretModal
from pllm.tui.models import Key

__all__ = ["KeysPane"]

_STATUS_STYLE = {"active": "green", "revoked": "red", "expired": "yellow", "grace": "yellow"}


class KeysPane(Vertical):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_key", "New key"),
        Binding("x,delete", "revoke", "Revoke"),
        Binding("r", "reload", "Reload"),
    ]
    DEFAULT_CSS = """
    KeysPane { height: 1fr; }
    KeysPane #keys-info { height: 1; padding: 0 1; color: $text-muted; }
    KeysPane #keys-table { height: 1fr; }
    """

    def __init__(self, admin: Admin, clock: Callable[[], float], *,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.admin = admin
        self.clock = clock
        self.keys: list[Key] = []

    def compose(self) -> ComposeResult:
        yield Static("loading…", id="keys-info")
        table: DataTable[str | Text] = DataTable(id="keys-table", cursor_type="row",
                                                 zebra_stripes=True)
        table.add_column("name", width=14, key="name")
        table.add_column("key", width=14, key="prefix")
        table.add_column("role", width=6, key="role")
        table.add_column("status", width=7, key="status")
        table.add_column("models", width=14, key="models")
        table.add_column("last used", width=9, key="used")
        table.add_column("rpm/tpm", width=11, key="limits")
        table.add_column("user", width=10, key="user")
        table.add_column("team", width=10, key="team")
        table.add_column("id", width=20, key="id")
        yield table

    @work(exclusive=True, group="keys")
    async def load(self) -> None:
        try:
            self.keys = [Key.parse(k) for k in await self.admin.keys()]
        except PllmError as e:
            self.query_one("#keys-info", Static).update(Text(f"keys: {e}", style="red"))
            return
        self.show()

    def show(self) -> None:
        table: DataTable[str | Text] = self.query_one("#keys-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        now = self.clock()
        for k in self.keys:
            limits = f"{fmt.count(k.rpm) if k.rpm else '-'}/{fmt.count(k.tpm) if k.tpm else '-'}"
            table.add_row(
                Text(k.name, style="bold"), Text(k.prefix, style="dim"), k.role,
                Text(k.status, style=_STATUS_STYLE.get(k.status, "")),
                ", ".join(k.models) if k.models else Text("all", style="dim"),
                fmt.age(k.last_used_at, now).removesuffix(" ago"), limits,
                k.user_id or "-", k.team_id or "-", Text(k.id, style="dim"), key=k.id)
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1), animate=False)
        active = sum(1 for k in self.keys if k.status == "active")
        self.query_one("#keys-info", Static).update(
            f"{len(self.keys)} keys, {active} active · n new · x revoke · r reload")

    def selected(self) -> Key | None:
        table = self.query_one("#keys-table", DataTable)
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return next((k for k in self.keys if k.id == row_key.value), None)

    def action_reload(self) -> None:
        self.load()

    def action_new_key(self) -> None:
        def created(body: dict[str, object] | None) -> None:
            if body is not None:
                self.create(body)

        self.app.push_screen(NewKeyModal(), created)

    @work(group="keys-write")
    async def create(self, body: dict[str, object]) -> None:
        try:
            answer = await self.admin.create_key(dict(body))
        except PllmError as e:
            self.notify(f"could not create the key: {e}", severity="error")
            return
        await self.app.push_screen(SecretModal(str(answer.get("name")),
                                               str(answer.get("key"))))
        self.load()

    def action_revoke(self) -> None:
        key = self.selected()
        if key is None:
            return
        if key.status == "revoked":
            self.notify(f"'{key.name}' is already revoked")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.revoke(key)

        self.app.push_screen(ConfirmModal(
            f"Revoke key '{key.name}' ({key.prefix})? Requests with it fail from now on.",
            yes="Revoke"), confirmed)

    @work(group="keys-write")
    async def revoke(self, key: Key) -> None:
        try:
            await self.admin.revoke_key(key.id)
        except PllmError as e:
            self.notify(f"could not revoke '{key.name}': {e}", severity="error")
            return
        self.notify(f"revoked '{key.name}'")
        self.load()
