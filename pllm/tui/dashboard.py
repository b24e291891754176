"""The dashboard pane: today's totals and the current rates, one row per deployment (health,
circuit, in-flight, rates, latency, errors, rpm/tpm against limits) and sparklines of
requests/s and p95 latency over the last minutes.

The table picks the richest of three column sets that fits the terminal; the compact one
(provider inside the first column, p50/p95 together) fits the important numbers in 80
columns, with rpm and tpm a scroll away."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.widgets import DataTable, Sparkline, Static

from pllm.tui import fmt
from pllm.tui.models import Deployment, Snapshot

__all__ = ["Dashboard"]

Cell = str | Text
Column = tuple[str, str, int, Callable[[Deployment], Cell]]


def _name(d: Deployment) -> Text:
    return Text(d.model_group, style="bold")


def _name_and_provider(d: Deployment) -> Text:
    text = Text(d.model_group, style="bold")
    text.append(f" {d.provider}", style="dim")
    return text


def _right(value: str) -> Text:
    return Text(value, justify="right")


def _latencies(d: Deployment) -> Text:
    if d.p50_ms is None:
        return _right("-")
    return _right(f"{fmt.latency(d.p50_ms).removesuffix('ms')}/{fmt.latency(d.p95_ms)}")


_CIRCUIT = ("circuit", "circuit", 8, lambda d: fmt.circuit(d.circuit, d.open_for_s))
_BUSY = ("in_flight", "busy", 4, lambda d: _right(str(d.in_flight)))
_RPS = ("rps", "req/s", 5, lambda d: _right(fmt.rate(d.rps)))
_P50 = ("p50", "p50", 6, lambda d: _right(fmt.latency(d.p50_ms)))
_P95 = ("p95", "p95", 6, lambda d: _right(fmt.latency(d.p95_ms)))
_ERR = ("errors", "err", 5, lambda d: fmt.percent(d.error_rate))
_RPM = ("rpm", "rpm", 9, lambda d: fmt.usage(d.rpm_used, d.rpm_limit))
_TPM = ("tpm", "tpm", 11, lambda d: fmt.usage(d.tpm_used, d.tpm_limit))
# From the richest to the most compact: the first that fits the width is used.
COLUMNS: dict[str, list[Column]] = {
    "full": [("group", "model group", 16, _name),
             ("deployment", "deployment", 22, lambda d: Text(d.id, style="dim")),
             ("provider", "provider", 8, lambda d: d.provider),
             ("health", "health", 14, lambda d: fmt.health_bar(d.health, 10)),
             _CIRCUIT, _BUSY, _RPS, _P50, _P95, _ERR, _RPM, _TPM],
    "medium": [("group", "model group", 18, _name),
               ("provider", "provider", 8, lambda d: d.provider),
               ("health", "health", 12, lambda d: fmt.health_bar(d.health, 8)),
               _CIRCUIT, _BUSY, _RPS, _P50, _P95, _ERR, _RPM, _TPM],
    "compact": [("group", "deployment", 16, _name_and_provider),
                ("health", "health", 8, lambda d: fmt.health_bar(d.health, 4)),
                ("circuit", "state", 6, lambda d: fmt.circuit(d.circuit)), _BUSY, _RPS,
                ("latency", "p50/p95", 9, _latencies),
                _ERR, _RPM, _TPM],
}


def layout_for(width: int) -> str:
    """The richest column set that fits `width` cells (two per column of padding, and room
    for a scrollbar); rpm and tpm may scroll off the compact one."""
    for name, columns in COLUMNS.items():
        if sum(c[2] + 2 for c in columns) <= width - 2:
            return name
    return "compact"


class Dashboard(Vertical):
    DEFAULT_CSS = """
    Dashboard { height: 1fr; }
    Dashboard #totals { height: 2; padding: 0 1; }
    Dashboard #deployments { height: auto; max-height: 60%; }
    Dashboard #charts { height: 1fr; min-height: 4; margin-top: 1; }
    Dashboard .chart { width: 1fr; padding: 0 1; }
    Dashboard .chart-title { height: 1; color: $text-muted; }
    Dashboard Sparkline { height: 1fr; }
    Dashboard #p95-chart > .sparkline--max-color { color: $warning; }
    Dashboard #p95-chart > .sparkline--min-color { color: $warning 30%; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.layout_name = ""
        self.snapshot: Snapshot | None = None

    def compose(self) -> ComposeResult:
        yield Static("waiting for the first snapshot…", id="totals")
        table: DataTable[Cell] = DataTable(id="deployments", cursor_type="row",
                                           zebra_stripes=True)
        yield table
        with Horizontal(id="charts"):
            with Vertical(classes="chart"):
                yield Static("requests/s", id="rps-title", classes="chart-title")
                yield Sparkline([], id="rps-chart")
            with Vertical(classes="chart"):
                yield Static("p95 latency", id="p95-title", classes="chart-title")
                yield Sparkline([], id="p95-chart")

    def on_mount(self) -> None:
        self._layout(self.size.width or self.app.size.width)

    def on_resize(self, event: Resize) -> None:
        self._layout(event.size.width)

    def _layout(self, width: int) -> None:
        name = layout_for(width)
        if name == self.layout_name:
            return
        self.layout_name = name
        table = self.query_one("#deployments", DataTable)
        table.clear(columns=True)
        for key, label, width_, _ in COLUMNS[name]:
            table.add_column(label, width=width_, key=key)
        if self.snapshot is not None:
            self.show(self.snapshot)

    def show(self, snap: Snapshot) -> None:
        self.snapshot = snap
        self.query_one("#totals", Static).update(_totals(snap))
        self._rows(snap)
        minutes = max(1, round(len(snap.rps_series) / 60))
        peak = max(snap.rps_series, default=0.0)
        self.query_one("#rps-title", Static).update(
            f"requests/s · last {minutes} min · peak {fmt.rate(peak)}")
        self.query_one("#rps-chart", Sparkline).data = list(snap.rps_series)
        worst = max(snap.p95_series, default=0.0)
        self.query_one("#p95-title", Static).update(
            f"p95 latency · last {minutes} min · max {fmt.latency(worst or None)}")
        self.query_one("#p95-chart", Sparkline).data = list(snap.p95_series)

    def _rows(self, snap: Snapshot) -> None:
        table: DataTable[Cell] = self.query_one("#deployments", DataTable)
        columns = COLUMNS[self.layout_name or "compact"]
        ids = [d.id for d in snap.deployments]
        if [str(k.value) for k in table.rows] != ids:
            table.clear()
            for d in snap.deployments:
                table.add_row(*(cell(d) for *_, cell in columns), key=d.id)
            return
        for d in snap.deployments:
            for key, _, _, cell in columns:
                table.update_cell(d.id, key, cell(d))


def _totals(snap: Snapshot) -> Text:
    today = snap.today
    text = Text()
    text.append("today ", style="bold")
    if today.source == "unavailable":
        today = snap.since_start
        text.append("(since start) ", style="dim")
    failed = today.failed / today.requests if today.requests else 0.0
    text.append(f"{fmt.count(today.requests)} requests  ")
    text.append(f"{fmt.count(today.tokens)} tokens  ")
    text.append(f"{fmt.usd(today.cost_usd)}  ")
    text.append_text(fmt.percent(failed))
    text.append(" failed\n")
    text.append("now   ", style="bold")
    text.append(f"{fmt.rate(snap.rps)} req/s  p50 {fmt.latency(snap.p50_ms)}  "
                f"p95 {fmt.latency(snap.p95_ms)}  {snap.in_flight} in flight  ")
    text.append_text(fmt.percent(snap.error_rate))
    text.append(" failed (1 min)")
    return text
