"""The budgets pane: each budget's spend against its limit as a bar, for the current period;
key budgets are named by their key. Reloads every few seconds while it is shown, and on `r`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import ProgressBar, Static

from pllm.errors import PllmError
from pllm.tui import fmt
from pllm.tui.client import Admin
from pllm.tui.models import Budget, Key

__all__ = ["BudgetsPane"]

RELOAD_S = 5.0


class BudgetRow(Vertical):
    """Two lines: who and when it resets; the bar and the amounts."""

    DEFAULT_CSS = """
    BudgetRow { height: 3; }
    BudgetRow .budget-name { height: 1; }
    BudgetRow Horizontal { height: 1; }
    BudgetRow ProgressBar { width: 1fr; }
    BudgetRow ProgressBar Bar { width: 1fr; }
    BudgetRow .budget-spend { width: 24; text-align: right; }
    """

    def __init__(self, budget: Budget, name: str, detail: str, when: str) -> None:
        super().__init__()
        self.budget = budget
        self.budget_label = name
        self.detail = detail
        self.when = when

    def compose(self) -> ComposeResult:
        b = self.budget
        name = Text(self.budget_label, style="bold")
        name.append(f"  {b.period}", style="dim")
        if b.soft_usd is not None:
            name.append(f" · warns at {fmt.usd(b.soft_usd)}", style="dim")
        if self.when:
            name.append(f" · {self.when}", style="dim")
        yield Static(name, classes="budget-name")
        with Horizontal():
            bar = ProgressBar(total=max(b.max_usd, 1e-9), show_eta=False)
            bar.progress = min(b.spend_usd, b.max_usd)
            if b.spend_usd >= b.max_usd:
                bar.add_class("exhausted")
            elif b.soft_usd is not None and b.spend_usd >= b.soft_usd:
                bar.add_class("soft")
            yield bar
            yield Static(self.detail, classes="budget-spend")


class BudgetsPane(Vertical):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "reload", "Reload")]
    DEFAULT_CSS = """
    BudgetsPane { height: 1fr; }
    BudgetsPane #budgets-info { height: 1; padding: 0 1; color: $text-muted; }
    BudgetsPane #budgets-list { height: 1fr; padding: 0 1; }
    BudgetsPane .exhausted Bar > .bar--bar, BudgetsPane .exhausted Bar > .bar--complete {
        color: $error;
    }
    BudgetsPane .soft Bar > .bar--bar { color: $warning; }
    """

    def __init__(self, admin: Admin, clock: Callable[[], float], tz: tzinfo | None, *,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.admin = admin
        self.clock = clock
        self.tz = tz
        self.budgets: list[Budget] = []
        self.key_names: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Static("loading…", id="budgets-info")
        yield VerticalScroll(id="budgets-list", can_focus=True)

    def on_mount(self) -> None:
        self.set_interval(RELOAD_S, self._tick)

    def _tick(self) -> None:
        if self.display and self.is_on_screen:
            self.load()

    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True, group="budgets")
    async def load(self) -> None:
        try:
            budgets = [Budget.parse(b) for b in await self.admin.budgets()]
            keys = [Key.parse(k) for k in await self.admin.keys()] \
                if any(b.scope == "key" for b in budgets) else []
        except PllmError as e:
            self.query_one("#budgets-info", Static).update(Text(f"budgets: {e}", style="red"))
            return
        self.budgets = budgets
        self.key_names = {k.id: k.name for k in keys}
        await self.show()

    def label_of(self, b: Budget) -> str:
        if b.scope == "key" and b.subject in self.key_names:
            return f"key {self.key_names[b.subject]}"
        return b.label

    async def show(self) -> None:
        box = self.query_one("#budgets-list", VerticalScroll)
        rows = []
        for b in sorted(self.budgets, key=lambda b: (b.scope, self.label_of(b))):
            detail = f"{fmt.usd(b.spend_usd)} of {fmt.usd(b.max_usd)}"
            when = f"resets {fmt.when(b.next_reset, self.clock(), self.tz)}" \
                if b.next_reset else ""
            rows.append(BudgetRow(b, self.label_of(b), detail, when))
        await box.remove_children()
        await box.mount_all(rows)
        over = sum(1 for b in self.budgets if b.spend_usd >= b.max_usd)
        info = f"{len(self.budgets)} budgets" + (f", {over} exhausted" if over else "")
        if not self.budgets:
            info = "no budgets (pllm budgets set, or PUT /admin/budgets)"
        self.query_one("#budgets-info", Static).update(info + " · r reload")
