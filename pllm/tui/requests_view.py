"""The recent-requests pane: the last requests the gateway finished, newest first, filtered as
you type (words match model, deployment, key name, endpoint or error; `5xx`, `429` or `error`
match statuses)."""

from __future__ import annotations

from collections import deque
from datetime import tzinfo
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Input

from pllm.tui import fmt
from pllm.tui.models import RequestRow

__all__ = ["RequestsPane", "matches"]

KEEP = 500


def _status_term(term: str, status: int) -> bool | None:
    """Whether `term` speaks of statuses, and if so whether `status` matches it."""
    if term in ("error", "errors", "failed"):
        return status >= 400
    if term == "ok":
        return status < 400
    if len(term) == 3 and term[0] in "12345" and term[1:] == "xx":
        return status // 100 == int(term[0])
    if len(term) == 3 and term.isdigit():
        return status == int(term)
    return None


def matches(row: RequestRow, query: str) -> bool:
    text = row.text()
    for term in query.lower().split():
        by_status = _status_term(term, row.status)
        if by_status is False or (by_status is None and term not in text):
            return False
    return True


class RequestsPane(Vertical):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]
    DEFAULT_CSS = """
    RequestsPane { height: 1fr; }
    RequestsPane #request-filter { margin: 0 1; }
    RequestsPane #requests-table { height: 1fr; }
    """

    def __init__(self, *, tz: tzinfo | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tz = tz
        self.rows: deque[RequestRow] = deque(maxlen=KEEP)
        self._seen: set[str] = set()
        self._stale = False
        self.query_text = ""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="/ filter: model, key, endpoint, 5xx, 429, error…",
                    id="request-filter", compact=True)
        table: DataTable[str | Text] = DataTable(id="requests-table", cursor_type="row",
                                                 zebra_stripes=True)
        table.add_column("time", width=8, key="time")
        table.add_column("st", width=3, key="status")
        table.add_column("model", width=16, key="model")
        table.add_column("latency", width=7, key="latency")
        table.add_column("tokens", width=9, key="tokens")
        table.add_column("cost", width=7, key="cost")
        table.add_column("key", width=12, key="key")
        table.add_column("endpoint", width=11, key="endpoint")
        table.add_column("deployment", width=22, key="deployment")
        table.add_column("error", width=20, key="error")
        yield table

    def add(self, rows: list[RequestRow], *, shown: bool = True) -> None:
        """Keep the new rows; redraw now only when the pane is `shown` (else on `show`)."""
        fresh = [r for r in rows if r.uid not in self._seen]
        if not fresh:
            return
        self.rows.extend(fresh)
        self._seen = {r.uid for r in self.rows}
        self._stale = True
        if shown:
            self.show()

    def show(self) -> None:
        if self._stale:
            self._render_rows()

    def clear_rows(self) -> None:
        self.rows.clear()
        self._seen.clear()
        self._render_rows()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value
        self._render_rows()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#requests-table", DataTable).focus()

    def action_filter(self) -> None:
        self.query_one("#request-filter", Input).focus()

    def action_clear_filter(self) -> None:
        self.query_one("#request-filter", Input).value = ""
        self.query_one("#requests-table", DataTable).focus()

    def _render_rows(self) -> None:
        self._stale = False
        table: DataTable[str | Text] = self.query_one("#requests-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for r in reversed(self.rows):
            if self.query_text and not matches(r, self.query_text):
                continue
            tokens = f"{r.prompt_tokens}/{r.completion_tokens}" \
                if r.prompt_tokens or r.completion_tokens else "-"
            model = (r.model or "-") + (" ⇶" if r.stream else "")
            table.add_row(
                fmt.clock_time(r.ts, self.tz), fmt.status(r.status), model,
                Text(fmt.latency(r.latency_ms), justify="right"),
                Text(tokens, justify="right"),
                Text(fmt.usd(r.cost_usd) if r.cost_usd else "-", justify="right"),
                Text(r.key_name or "-", style="" if r.key_name else "dim"),
                r.endpoint, Text(r.deployment or "-", style="dim"),
                Text(r.error or "", style="red"), key=r.uid)
        if cursor and table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1), animate=False)
