"""`pllm keys ...`: create, list, show, update, revoke and rotate virtual keys.

Also home of what the store's command groups share (`budgets`, `limits`, `audit`): the
`--db`/`--config` options, opening the store with errors turned into exit 1, and time
formatting. A secret is printed once, by `create` and `rotate`; nothing else can show it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from pllm.store import BudgetRecord, KeyRecord, Store

__all__ = ["ConfigOpt", "DbOpt", "JsonOpt", "actor", "app", "echo_json", "fail", "fmt_date",
           "fmt_time",
           "fmt_usd", "open_store"]

app = typer.Typer(help="Virtual keys: create, list, rotate, revoke.", no_args_is_help=True)

DbOpt = Annotated[Path | None, typer.Option(
    "--db", help="SQLite database. (default: the config's general_settings.database_url, "
    "else $PLLM_DB, else ~/.local/share/pllm/pllm.db)")]
ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", "-c", help="Config file naming the database (general_settings.database_url). "
    "(default: ./config.yaml when present)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def fail(message: str) -> typer.Exit:
    from rich.markup import escape

    from pllm.cli.output import stderr

    stderr.print(f"[red]error:[/] {escape(message)}")
    return typer.Exit(1)


def actor() -> str:
    """Who the admin events name: the CLI and the login that ran it."""
    user = os.environ.get("USER") or os.environ.get("USERNAME")
    return f"cli:{user}" if user else "cli"


def resolve_db(db: Path | None, config: Path | None) -> Path:
    from pllm.cli.output import print_issues, stderr
    from pllm.config import find_config, read_settings
    from pllm.errors import ConfigError
    from pllm.store import db_path

    url = None
    if db is None:
        if config is not None and not config.is_file():
            raise fail(f"config file not found: {config}")
        path = config or find_config()
        if path is not None:
            settings, issues = read_settings(path, allow_missing_env=True)
            if settings is None:
                print_issues(issues, stderr)
                raise typer.Exit(1)
            url = settings.server.database_url
    try:
        return db_path(db, url)
    except ConfigError as e:
        print_issues(e.issues, stderr)
        raise typer.Exit(1) from None


@contextmanager
def open_store(db: Path | None, config: Path | None) -> Iterator[Store]:
    """The store, closed afterwards; its errors (not found, invalid) exit 1 with the message."""
    import sqlite3

    from pllm.errors import ApiError
    from pllm.store import Store

    path = resolve_db(db, config)
    try:
        store = Store.open(path)
    except (sqlite3.Error, OSError) as e:
        raise fail(f"cannot open the database {path}: {e}") from None
    try:
        yield store
    except ApiError as e:
        raise fail(e.message) from None
    finally:
        store.close()


def echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def fmt_time(ts: float | None, empty: str = "-") -> str:
    if ts is None:
        return empty
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def fmt_date(ts: float | None, empty: str = "-") -> str:
    if ts is None:
        return empty
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def fmt_usd(usd: float | None) -> str:
    return "-" if usd is None else f"${usd:,.2f}"


def parse_csv(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_metadata(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise fail(f"--metadata takes NAME=VALUE, not {pair!r}")
        out[name] = value
    return out


def parse_expiry(text: str | None, now: float) -> float | None:
    from pllm.errors import InvalidRecord
    from pllm.store.durations import parse_time

    if text is None:
        return None
    try:
        when = parse_time(text, now=now, direction="future")
    except InvalidRecord as e:
        raise fail(f"--expires: {e.message}") from None
    if when <= now:
        raise fail(f"--expires {text} is in the past")
    return when


@app.command()
def create(
    name: Annotated[str, typer.Option(help="What the key is for (shown in lists).")],
    models: Annotated[str | None, typer.Option(
        help="Comma-separated model names the key may use. (default: all)")] = None,
    rpm: Annotated[int | None, typer.Option(min=1, help="Requests per minute.")] = None,
    tpm: Annotated[int | None, typer.Option(min=1, help="Tokens per minute.")] = None,
    budget: Annotated[float | None, typer.Option(min=0, help="Budget in USD.")] = None,
    budget_period: Annotated[str, typer.Option(
        help="daily, weekly, monthly or total (UTC calendar periods).")] = "total",
    expires: Annotated[str | None, typer.Option(
        help="30d, 12h, 90m, a date (2026-12-31, midnight UTC) or an ISO datetime.")] = None,
    user: Annotated[str | None, typer.Option(help="User id the key belongs to.")] = None,
    team: Annotated[str | None, typer.Option(help="Team id the key belongs to.")] = None,
    role: Annotated[str, typer.Option(help="user, viewer or admin.")] = "user",
    metadata: Annotated[list[str] | None, typer.Option(
        help="NAME=VALUE, repeatable.")] = None,
    as_json: JsonOpt = False, db: DbOpt = None, config: ConfigOpt = None,
) -> None:
    """Create a key and print its secret, once."""
    from pllm.errors import InvalidRecord
    from pllm.store.budgets import check_budget

    now = time.time()
    expires_at = parse_expiry(expires, now)
    meta = parse_metadata(metadata)
    with open_store(db, config) as store:
        if budget is not None:
            try:  # before creating the key, so a bad budget leaves nothing behind
                check_budget("global", None, budget, budget_period, None)
            except InvalidRecord as e:
                raise fail(e.message) from None
        key, secret = store.create_key(
            name=name, models=parse_csv(models), rpm=rpm, tpm=tpm, expires_at=expires_at,
            user_id=user, team_id=team, role=role, metadata=meta, actor=actor())
        spend = None
        if budget is not None:
            spend = store.set_budget("key", key.id, max_usd=budget, period=budget_period,
                                     actor=actor())
    if as_json:
        echo_json({"key": secret, **key.to_dict(now),
                   "budget": spend.to_dict(now) if spend else None})
        return
    _print_secret(key, secret, f"created key {key.id}")


@app.command("list")
def list_keys(as_json: JsonOpt = False, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Every key, without secrets."""
    with open_store(db, config) as store:
        keys = store.list_keys()
        budgets = {b.id: b for b in store.list_budgets()}
    now = time.time()
    if as_json:
        echo_json([_key_json(k, budgets.get(k.budget_id), now) for k in keys])
        return
    _print_keys(keys, budgets, now)


@app.command()
def show(key_id: Annotated[str, typer.Argument(help="Key id (key_...).")],
         as_json: JsonOpt = False, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """One key's settings, spend and status."""
    with open_store(db, config) as store:
        key = store.get_key(key_id)
        if key is None:
            raise fail(f"no key with id {key_id!r}")
        budget = store.get_budget(key.budget_id)
    now = time.time()
    if as_json:
        echo_json(_key_json(key, budget, now))
        return
    _print_key(key, budget, now)


@app.command()
def update(
    key_id: Annotated[str, typer.Argument(help="Key id (key_...).")],
    name: Annotated[str | None, typer.Option()] = None,
    models: Annotated[str | None, typer.Option(
        help="Comma-separated model names, or 'all'.")] = None,
    rpm: Annotated[int | None, typer.Option(min=0, help="0 removes the limit.")] = None,
    tpm: Annotated[int | None, typer.Option(min=0, help="0 removes the limit.")] = None,
    expires: Annotated[str | None, typer.Option(help="As for create, or 'never'.")] = None,
    user: Annotated[str | None, typer.Option()] = None,
    team: Annotated[str | None, typer.Option()] = None,
    role: Annotated[str | None, typer.Option()] = None,
    metadata: Annotated[list[str] | None, typer.Option(
        help="NAME=VALUE, repeatable; replaces the key's metadata.")] = None,
    as_json: JsonOpt = False, db: DbOpt = None, config: ConfigOpt = None,
) -> None:
    """Change a key's settings (its secret stays the same)."""
    changes: dict[str, Any] = {}
    for field, value in (("name", name), ("user_id", user), ("team_id", team), ("role", role)):
        if value is not None:
            changes[field] = value
    if models is not None:
        changes["models"] = None if models == "all" else parse_csv(models)
    for field, limit in (("rpm", rpm), ("tpm", tpm)):
        if limit is not None:
            changes[field] = limit or None
    if expires is not None:
        changes["expires_at"] = None if expires == "never" else parse_expiry(expires, time.time())
    if metadata:
        changes["metadata"] = parse_metadata(metadata)
    if not changes:
        raise fail("nothing to change: give at least one option (see --help)")
    with open_store(db, config) as store:
        key = store.update_key(key_id, actor=actor(), **changes)
        budget = store.get_budget(key.budget_id)
    if as_json:
        echo_json(_key_json(key, budget, time.time()))
        return
    _print_key(key, budget, time.time())


@app.command()
def revoke(key_id: Annotated[str, typer.Argument(help="Key id (key_...).")],
           as_json: JsonOpt = False, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Make a key invalid at once (a rotated key's grace period ends too)."""
    from pllm.cli.output import stdout

    with open_store(db, config) as store:
        key = store.revoke_key(key_id, actor=actor())
    if as_json:
        echo_json(key.to_dict(time.time()))
        return
    stdout.print(f"revoked {key.id} ({key.name}) at {fmt_time(key.revoked_at)}")


@app.command()
def rotate(
    key_id: Annotated[str, typer.Argument(help="Key id (key_...).")],
    grace: Annotated[str | None, typer.Option(
        help="Keep the old secret working this long (e.g. 1h, 30m). (default: none)")] = None,
    as_json: JsonOpt = False, db: DbOpt = None, config: ConfigOpt = None,
) -> None:
    """Replace a key with a new secret and id (same settings and budget); print it once."""
    from pllm.errors import InvalidRecord
    from pllm.store.durations import parse_duration

    try:
        grace_s = parse_duration(grace) if grace else 0.0
    except InvalidRecord as e:
        raise fail(f"--grace: {e.message}") from None
    with open_store(db, config) as store:
        key, secret = store.rotate_key(key_id, grace_s=grace_s, actor=actor())
        old = store.get_key(key_id)
    grace_until = old.grace_until if old else None
    if as_json:
        echo_json({"key": secret, **key.to_dict(time.time()), "old_id": key_id,
                   "grace_until": grace_until})
        return
    until = f"at {fmt_time(grace_until)}" if grace_until else "now"
    _print_secret(key, secret, f"rotated {key_id} to {key.id}; the old secret stops working "
                               f"{until}")


def _print_secret(key: KeyRecord, secret: str, message: str) -> None:
    from rich.markup import escape
    from rich.panel import Panel

    from pllm.cli.output import stdout

    stdout.print(escape(message))
    # soft_wrap off: the shared console crops long lines instead of wrapping them.
    stdout.print(Panel(
        f"[bold]{secret}[/]\n\nThis secret is shown once: store it now.\npllm keeps only its "
        "hash and cannot show it again.", title=escape(f"{key.id} ({key.name})"),
        title_align="left", border_style="green", expand=False), soft_wrap=False)


def _key_json(key: KeyRecord, budget: BudgetRecord | None, now: float) -> dict[str, Any]:
    return {**key.to_dict(now), "budget": budget.to_dict(now) if budget else None}


_STATUS_STYLE = {"active": "green", "grace": "yellow", "expired": "red", "revoked": "dim"}


def _limits(key: KeyRecord) -> str:
    parts = [f"{key.rpm} rpm" if key.rpm else "", f"{key.tpm} tpm" if key.tpm else ""]
    return ", ".join(p for p in parts if p) or "-"


def _spend(budget: BudgetRecord | None, now: float) -> str:
    if budget is None:
        return "-"
    return f"{fmt_usd(budget.spend_at(now))} / {fmt_usd(budget.max_usd)}"


def _print_keys(keys: list[KeyRecord], budgets: dict[str, BudgetRecord], now: float) -> None:
    from rich.markup import escape
    from rich.table import Table

    from pllm.cli.output import stdout

    if not keys:
        stdout.print("no keys yet: create one with `pllm keys create --name NAME`")
        return
    table = Table(box=None, header_style="bold")
    for column in ("ID", "Prefix", "Name", "User", "Team", "Models", "Limits", "Spend",
                   "Expires", "Last used", "Status"):
        # Ids and prefixes are copied from here: never fold or crop them.
        table.add_column(column, no_wrap=column in ("ID", "Prefix", "Status"))
    for k in keys:
        status = k.status(now)
        table.add_row(k.id, escape(k.prefix), escape(k.name), escape(k.user_id or "-"),
                      escape(k.team_id or "-"), escape(", ".join(k.models or ()) or "all"),
                      _limits(k), _spend(budgets.get(k.budget_id), now),
                      fmt_date(k.expires_at, "never"), fmt_date(k.last_used_at, "never"),
                      f"[{_STATUS_STYLE[status]}]{status}[/]")
    stdout.print(table, soft_wrap=False)


def _print_key(key: KeyRecord, budget: BudgetRecord | None, now: float) -> None:
    from rich.markup import escape
    from rich.table import Table

    from pllm.cli.output import stdout

    status = key.status(now)
    rows = [
        ("id", key.id), ("name", escape(key.name)), ("prefix", escape(key.prefix)),
        ("status", f"[{_STATUS_STYLE[status]}]{status}[/]"), ("role", key.role),
        ("user", escape(key.user_id or "-")), ("team", escape(key.team_id or "-")),
        ("models", escape(", ".join(key.models or ()) or "all")), ("limits", _limits(key)),
        ("spend", _spend(budget, now)),
        ("budget period", budget.period if budget else "-"),
        ("created", fmt_time(key.created_at)), ("expires", fmt_time(key.expires_at, "never")),
        ("last used", fmt_time(key.last_used_at, "never")),
        ("revoked", fmt_time(key.revoked_at)),
    ]
    if key.grace_until:
        rows.append(("grace until", fmt_time(key.grace_until)))
    if key.rotated_to:
        rows.append(("rotated to", key.rotated_to))
    if key.metadata:
        rows.append(("metadata", escape(json.dumps(dict(key.metadata)))))
    table = Table(box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for label, value in rows:
        table.add_row(label, value)
    stdout.print(table, soft_wrap=False)
