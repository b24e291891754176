"""`pllm audit ...`: read the request audit log (tail, follow, export) and admin events."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pllm.cli.keys_cmd import ConfigOpt, DbOpt, JsonOpt, actor, echo_json, fail, open_store

if TYPE_CHECKING:
    from pllm.store import AuditRow, Store

__all__ = ["app"]

app = typer.Typer(help="The audit log: one row per request, and admin events.",
                  no_args_is_help=True)

LinesOpt = Annotated[int, typer.Option("--lines", "-n", min=1, help="How many rows.")]
_PAGE = 5000


@app.command()
def tail(
    lines: LinesOpt = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new rows.")] =
    False,
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between polls.")] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    db: DbOpt = None, config: ConfigOpt = None,
) -> None:
    """The newest requests; with --follow, new ones as they are recorded (Ctrl-C stops)."""
    with open_store(db, config) as store:
        rows = store.audit_rows(limit=lines)
        for row in rows:
            _print_line(row, as_json)
        if not rows and not as_json and not follow:
            typer.echo("no requests recorded yet")
        if follow:
            last = rows[-1].id if rows else 0
            try:
                _follow(store, last, interval, as_json)
            except KeyboardInterrupt:
                return


@app.command()
def export(
    since: Annotated[str | None, typer.Option(
        help="24h, 7d, a date (2026-01-31) or an ISO datetime. (default: everything)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "jsonl",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="File to write. (default: stdout)")] = None,
    db: DbOpt = None, config: ConfigOpt = None,
) -> None:
    """Write audit rows (oldest first) as CSV or JSON lines."""
    from pllm.cli.output import stderr

    if fmt not in ("csv", "jsonl"):
        raise fail(f"unknown --format {fmt!r}: use csv or jsonl")
    start = _since(since)
    with open_store(db, config) as store:
        if output is None:
            count = _export(store, start, fmt, sys.stdout)
        else:
            with output.open("w", newline="", encoding="utf-8") as out:
                count = _export(store, start, fmt, out)
    if output is not None:
        stderr.print(f"exported {count} row(s) to {output}")


@app.command()
def events(lines: LinesOpt = 20, as_json: JsonOpt = False, db: DbOpt = None,
           config: ConfigOpt = None) -> None:
    """The newest admin events (key, budget and limit changes)."""
    from rich.markup import escape
    from rich.table import Table

    from pllm.cli.keys_cmd import fmt_time
    from pllm.cli.output import stdout

    with open_store(db, config) as store:
        found = store.admin_events(limit=lines)
    if as_json:
        echo_json([event.to_dict() for event in found])
        return
    table = Table(box=None, header_style="bold")
    for column in ("ID", "Time", "Actor", "Action", "Target", "Detail"):
        table.add_column(column, no_wrap=column in ("ID", "Target"))
    for e in found:
        detail = ", ".join(f"{k}={v}" for k, v in e.detail.items() if v is not None)
        table.add_row(str(e.id), fmt_time(e.ts), escape(e.actor), e.action,
                      escape(e.target or "-"), escape(detail))
    stdout.print(table, soft_wrap=False)


@app.command()
def purge(
    older_than: Annotated[str, typer.Option(help="e.g. 30d: delete rows older than this.")],
    db: DbOpt = None, config: ConfigOpt = None,
) -> None:
    """Delete old audit rows (admin events are kept)."""
    from pllm.cli.output import stdout
    from pllm.errors import InvalidRecord
    from pllm.store.durations import parse_duration

    try:
        cutoff = time.time() - parse_duration(older_than)
    except InvalidRecord as e:
        raise fail(f"--older-than: {e.message}") from None
    with open_store(db, config) as store:
        count = store.purge_audit(cutoff)
        store.admin_event(actor(), "audit.purge", None, {"older_than": cutoff, "rows": count})
    stdout.print(f"deleted {count} audit row(s)")


def _since(text: str | None) -> float | None:
    from pllm.errors import InvalidRecord
    from pllm.store.durations import parse_time

    if text is None:
        return None
    try:
        return parse_time(text, now=time.time(), direction="past")
    except InvalidRecord as e:
        raise fail(f"--since: {e.message}") from None


def _follow(store: Store, last: int | None, interval: float, as_json: bool) -> None:
    version = store.data_version()
    while True:
        time.sleep(interval)
        current = store.data_version()
        if current == version:
            continue  # nothing committed since the last poll: skip the query
        version = current
        while True:
            rows = store.audit_rows(after_id=last, limit=_PAGE)
            for row in rows:
                _print_line(row, as_json)
            if rows:
                last = rows[-1].id
            if len(rows) < _PAGE:
                break


def _export(store: Store, since: float | None, fmt: str, out: Any) -> int:
    import csv
    import json

    from pllm.store.records import AUDIT_FIELDS

    writer = csv.DictWriter(out, fieldnames=AUDIT_FIELDS) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    count, last = 0, 0
    while True:  # pages by id, so memory stays flat however large the log
        rows = store.audit_rows(since=since, after_id=last, limit=_PAGE)
        for row in rows:
            if writer is not None:
                writer.writerow({**row.to_dict(), "cache_hit": int(row.cache_hit)})
            else:
                out.write(json.dumps(row.to_dict(), ensure_ascii=False) + "\n")
        count += len(rows)
        if len(rows) < _PAGE:
            return count
        last = rows[-1].id or last


def _print_line(row: AuditRow, as_json: bool) -> None:
    import json

    if as_json:
        sys.stdout.write(json.dumps(row.to_dict(), ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(_line(row) + "\n")
    sys.stdout.flush()  # a pipe would otherwise hold followed rows back


def _line(row: AuditRow) -> str:
    """One row per line, never cropped, easy to grep: a table would not fit 80 columns."""
    from datetime import UTC, datetime

    when = datetime.fromtimestamp(row.ts, UTC).strftime("%Y-%m-%d %H:%M:%S")
    target = row.model or "-"
    if row.deployment:
        target += f" -> {row.deployment}"
    parts = [f"{row.id:>6}", when, str(row.status), row.endpoint, target]
    if row.latency_ms is not None:
        parts.append(f"{row.latency_ms:.0f}ms")
    if row.prompt_tokens is not None or row.completion_tokens is not None:
        parts.append(f"{row.prompt_tokens or 0}+{row.completion_tokens or 0} tok")
    if row.cost_usd is not None:
        parts.append(f"${row.cost_usd:.6f}")
    if row.cache_hit:
        parts.append("cached")
    parts += [f"key={row.key_id or '-'}", f"req={row.request_id}"]
    if row.error:
        parts.append(f"error={row.error}")
    return " ".join(parts)
