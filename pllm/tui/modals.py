"""Modal dialogs: confirm an action, describe a new key, show a new key's secret once."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

__all__ = ["ConfirmModal", "NewKeyModal", "SecretModal"]

_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 64; max-width: 95%; height: auto; padding: 1 2;
    border: thick $primary; background: $surface;
}}
{name} .title {{ text-style: bold; margin-bottom: 1; }}
{name} Input {{ margin-bottom: 1; }}
{name} .buttons {{ height: auto; align: right middle; margin-top: 1; }}
{name} Button {{ margin-left: 2; }}
"""


class ConfirmModal(ModalScreen[bool]):
    """Yes or no; `y`/`n` answer too."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]
    DEFAULT_CSS = _CSS.format(name="ConfirmModal")

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, classes="title")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="no")
                yield Button(self.yes, variant="error", id="yes")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class NewKeyModal(ModalScreen[dict[str, Any] | None]):
    """Name (required), models (comma-separated, empty for all) and role of a new key; the
    body of `POST /admin/keys`, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = _CSS.format(name="NewKeyModal")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("New virtual key", classes="title")
            yield Input(placeholder="name (required)", id="key-name")
            yield Input(placeholder="models, comma-separated (empty: all)", id="key-models")
            yield Input(placeholder="role: user, viewer or admin (default user)",
                        id="key-role")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Create", variant="primary", id="create")

    def on_mount(self) -> None:
        self.query_one("#key-name", Input).focus()

    def _body(self) -> dict[str, Any] | None:
        name = self.query_one("#key-name", Input).value.strip()
        if not name:
            self.notify("A key needs a name", severity="warning")
            self.query_one("#key-name", Input).focus()
            return None
        body: dict[str, Any] = {"name": name}
        models = [m.strip() for m in self.query_one("#key-models", Input).value.split(",")]
        if any(models):
            body["models"] = [m for m in models if m]
        role = self.query_one("#key-role", Input).value.strip()
        if role:
            body["role"] = role
        return body

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._create()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "create":
            self._create()
        else:
            self.dismiss(None)

    def _create(self) -> None:
        body = self._body()
        if body is not None:
            self.dismiss(body)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SecretModal(ModalScreen[None]):
    """A new key's secret, shown this once: the gateway stores only its hash."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter", "close", "Close")]
    DEFAULT_CSS = _CSS.format(name="SecretModal") + """
    SecretModal #secret { background: $boost; padding: 0 1; margin: 1 0; }
    SecretModal .warning { color: $warning; }
    """

    def __init__(self, name: str, secret: str) -> None:
        super().__init__()
        self.key_name = name
        self.secret = secret

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Key '{self.key_name}' created", classes="title")
            yield Static(self.secret, id="secret", markup=False)
            yield Static("Copy it now: it is not shown again.", classes="warning")
            with Horizontal(classes="buttons"):
                yield Button("Done", variant="primary", id="done")

    def on_mount(self) -> None:
        self.query_one("#done", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
