"""`pllm budgets ...`: spend limits in USD per key, user, team or for everyone, over UTC
calendar periods (daily, weekly from Monday, monthly) or in total."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from pllm.cli.keys_cmd import (
    ConfigOpt,
    DbOpt,
    JsonOpt,
    actor,
    echo_json,
    fail,
    fmt_time,
    fmt_usd,
    open_store,
)

if TYPE_CHECKING:
    from pllm.store import BudgetRecord
    from pllm.store.records import BudgetScope

__all__ = ["app"]

app = typer.Typer(help="Budgets: spend limits per key, user, team or globally.",
                  no_args_is_help=True)

KeyOpt = Annotated[str | None, typer.Option("--key", help="A key's budget (key id).")]
UserOpt = Annotated[str | None, typer.Option("--user", help="A user's budget (user id).")]
TeamOpt = Annotated[str | None, typer.Option("--team", help="A team's budget (team id).")]
GlobalOpt = Annotated[bool, typer.Option("--global", help="The gateway-wide budget.")]


def _target(key: str | None, user: str | None, team: str | None,
            everyone: bool) -> tuple[BudgetScope, str | None]:
    chosen: list[tuple[BudgetScope, str | None]] = []
    if key is not None:
        chosen.append(("key", key))
    if user is not None:
        chosen.append(("user", user))
    if team is not None:
        chosen.append(("team", team))
    if everyone:
        chosen.append(("global", None))
    if len(chosen) != 1:
        raise fail("give exactly one of --key ID, --user ID, --team ID or --global")
    return chosen[0]


def _budget_id(key: str | None, user: str | None, team: str | None, everyone: bool) -> str:
    from pllm.store import budget_id_for

    scope, subject = _target(key, user, team, everyone)
    return budget_id_for(scope, subject)


@app.command("set")
def set_budget(
    max_usd: Annotated[float, typer.Option("--max", min=0, help="Maximum spend in USD.")],
    key: KeyOpt = None, user: UserOpt = None, team: TeamOpt = None, everyone: GlobalOpt = False,
    period: Annotated[str, typer.Option(
        help="daily, weekly, monthly or total. Changing it starts a fresh period.")] = "total",
    soft: Annotated[float | None, typer.Option(
        min=0, help="Soft limit in USD: warn (alerts, headers) but keep serving.")] = None,
    as_json: JsonOpt = False, db: DbOpt = None, config: ConfigOpt = None,
) -> None:
    """Create a budget or change its limits (spend so far is kept)."""
    scope, subject = _target(key, user, team, everyone)
    with open_store(db, config) as store:
        budget = store.set_budget(scope, subject, max_usd=max_usd, period=period,
                                  soft_usd=soft, actor=actor())
    _show(budget, as_json)


@app.command("list")
def list_budgets(as_json: JsonOpt = False, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Every budget with its spend in the current period."""
    from rich.table import Table

    from pllm.cli.output import stdout

    with open_store(db, config) as store:
        budgets = store.list_budgets()
    now = time.time()
    if as_json:
        echo_json([b.to_dict(now) for b in budgets])
        return
    if not budgets:
        stdout.print("no budgets yet: set one with `pllm budgets set --global --max 100`")
        return
    table = Table(box=None, header_style="bold")
    for column in ("ID", "Period", "Spend", "Max", "Soft", "Remaining", "Next reset"):
        table.add_column(column, no_wrap=column == "ID")
    for b in budgets:
        table.add_row(b.id, b.period, fmt_usd(b.spend_at(now)), fmt_usd(b.max_usd),
                      fmt_usd(b.soft_usd), _remaining(b, now), fmt_time(b.next_reset(now), "never"))
    stdout.print(table, soft_wrap=False)


@app.command()
def show(key: KeyOpt = None, user: UserOpt = None, team: TeamOpt = None,
         everyone: GlobalOpt = False, as_json: JsonOpt = False, db: DbOpt = None,
         config: ConfigOpt = None) -> None:
    """One budget: spend, remaining, next reset (UTC)."""
    budget_id = _budget_id(key, user, team, everyone)
    with open_store(db, config) as store:
        budget = store.get_budget(budget_id)
    if budget is None:
        raise fail(f"no budget {budget_id!r}")
    _show(budget, as_json)


@app.command()
def reset(key: KeyOpt = None, user: UserOpt = None, team: TeamOpt = None,
          everyone: GlobalOpt = False, as_json: JsonOpt = False, db: DbOpt = None,
          config: ConfigOpt = None) -> None:
    """Set a budget's spend back to 0, starting a new period now."""
    budget_id = _budget_id(key, user, team, everyone)
    with open_store(db, config) as store:
        budget = store.reset_budget(budget_id, actor=actor())
    _show(budget, as_json)


@app.command()
def delete(key: KeyOpt = None, user: UserOpt = None, team: TeamOpt = None,
           everyone: GlobalOpt = False, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Remove a budget (its spend is forgotten)."""
    from pllm.cli.output import stdout

    budget_id = _budget_id(key, user, team, everyone)
    with open_store(db, config) as store:
        store.delete_budget(budget_id, actor=actor())
    stdout.print(f"deleted budget {budget_id}")


def _remaining(budget: BudgetRecord, now: float) -> str:
    left = budget.remaining(now)
    colour = "red" if left <= 0 else "yellow" if (
        budget.soft_usd is not None and budget.spend_at(now) >= budget.soft_usd) else "green"
    return f"[{colour}]{fmt_usd(left)}[/]"


def _show(budget: BudgetRecord, as_json: bool) -> None:
    from rich.table import Table

    from pllm.cli.output import stdout

    now = time.time()
    if as_json:
        echo_json(budget.to_dict(now))
        return
    table = Table(box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for label, value in (
        ("budget", budget.id), ("period", budget.period),
        ("spend", fmt_usd(budget.spend_at(now))), ("max", fmt_usd(budget.max_usd)),
        ("soft", fmt_usd(budget.soft_usd)), ("remaining", _remaining(budget, now)),
        ("period start", fmt_time(budget.period_start_for(now))),
        ("next reset", fmt_time(budget.next_reset(now), "never")),
    ):
        table.add_row(label, value)
    stdout.print(table, soft_wrap=False)
