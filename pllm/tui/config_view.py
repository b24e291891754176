"""The config pane: the configuration the gateway has loaded, as YAML, with every secret
masked by the server (`GET /admin/config`); `r` reloads it (after a hot reload, say)."""

from __future__ import annotations

from typing import Any, ClassVar

import yaml
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from pllm.errors import PllmError
from pllm.tui.client import Admin

__all__ = ["ConfigPane", "render_config"]


def render_config(data: dict[str, Any]) -> Text:
    """YAML with the keys in bold."""
    out = Text()
    source = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
    for line in source.splitlines():
        key, sep, rest = line.partition(":")
        if sep and key.strip() and not key.lstrip().startswith(("'", '"')) \
                and " " not in key.strip(" -"):
            indent = len(key) - len(key.lstrip(" -"))
            out.append(key[:indent])
            out.append(key[indent:], style="bold")
            out.append(sep + rest + "\n")
        else:
            out.append(line + "\n")
    return out


class ConfigPane(Vertical):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "reload", "Reload")]
    DEFAULT_CSS = """
    ConfigPane { height: 1fr; }
    ConfigPane #config-info { height: 1; padding: 0 1; color: $text-muted; }
    ConfigPane #config-box { height: 1fr; padding: 0 1; }
    """

    def __init__(self, admin: Admin, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.admin = admin

    def compose(self) -> ComposeResult:
        yield Static("loading…", id="config-info")
        with VerticalScroll(id="config-box", can_focus=True):
            yield Static("", id="config-text", markup=False)

    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True, group="config")
    async def load(self) -> None:
        try:
            data = await self.admin.config()
        except PllmError as e:
            self.query_one("#config-info", Static).update(Text(f"config: {e}", style="red"))
            return
        source = data.get("source") or "(no file)"
        models = len(data.get("model_list") or ())
        self.query_one("#config-info", Static).update(
            f"{source} · {models} deployments · secrets masked · r reload")
        self.query_one("#config-text", Static).update(render_config(data))
