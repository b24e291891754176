"""`pllm limits ...`: requests/tokens per minute for a user, a team, a model group, one key on
one model, or an endpoint (a key's own rpm/tpm are set with `pllm keys update`)."""

from __future__ import annotations

from typing import Annotated

import typer

from pllm.cli.keys_cmd import ConfigOpt, DbOpt, JsonOpt, actor, echo_json, fail, open_store

__all__ = ["app"]

app = typer.Typer(help="Rate limits (rpm/tpm) per user, team, model, key+model or endpoint.",
                  no_args_is_help=True)

KeyOpt = Annotated[str | None, typer.Option(
    "--key", help="With --model: this key on that model.")]
ModelOpt = Annotated[str | None, typer.Option(
    "--model", help="A model group (alone), or with --key.")]
UserOpt = Annotated[str | None, typer.Option("--user", help="A user id.")]
TeamOpt = Annotated[str | None, typer.Option("--team", help="A team id.")]
EndpointOpt = Annotated[str | None, typer.Option(
    "--endpoint", help="chat, completions, embeddings or messages.")]


def _target(key: str | None, model: str | None, user: str | None, team: str | None,
            endpoint: str | None) -> tuple[str, str]:
    if key is not None and model is None:
        raise fail("--key needs --model (a key's own limits: `pllm keys update ID --rpm N`)")
    chosen = []
    if key is not None and model is not None:
        chosen.append(("key_model", f"{key}:{model}"))
    elif model is not None:
        chosen.append(("model", model))
    chosen += [(scope, subject) for scope, subject in
               (("user", user), ("team", team), ("endpoint", endpoint)) if subject is not None]
    if len(chosen) != 1:
        raise fail("give exactly one of --key ID --model M, --model M, --user ID, --team ID "
                   "or --endpoint E")
    return chosen[0]


@app.command("set")
def set_limit(
    key: KeyOpt = None, model: ModelOpt = None, user: UserOpt = None, team: TeamOpt = None,
    endpoint: EndpointOpt = None,
    rpm: Annotated[int | None, typer.Option(min=1, help="Requests per minute.")] = None,
    tpm: Annotated[int | None, typer.Option(min=1, help="Tokens per minute.")] = None,
    as_json: JsonOpt = False, db: DbOpt = None, config: ConfigOpt = None,
) -> None:
    """Create or replace a limit (give --rpm, --tpm or both)."""
    from pllm.cli.output import stdout

    scope, subject = _target(key, model, user, team, endpoint)
    if rpm is None and tpm is None:
        raise fail("give --rpm N, --tpm N or both")
    with open_store(db, config) as store:
        limit = store.set_limit(scope, subject, rpm=rpm, tpm=tpm, actor=actor())
    if as_json:
        echo_json(limit.to_dict())
        return
    stdout.print(f"{scope} {subject}: {_fmt(limit.rpm, limit.tpm)}")


@app.command("list")
def list_limits(as_json: JsonOpt = False, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Every limit set here (keys' own rpm/tpm are in `pllm keys list`)."""
    from rich.markup import escape
    from rich.table import Table

    from pllm.cli.output import stdout

    with open_store(db, config) as store:
        limits = store.list_limits()
    if as_json:
        echo_json([limit.to_dict() for limit in limits])
        return
    if not limits:
        stdout.print("no limits yet: set one with `pllm limits set --user ID --rpm N`")
        return
    table = Table(box=None, header_style="bold")
    for column in ("Scope", "Subject", "RPM", "TPM"):
        table.add_column(column)
    for limit in limits:
        table.add_row(limit.scope, escape(limit.subject), _num(limit.rpm), _num(limit.tpm))
    stdout.print(table, soft_wrap=False)


@app.command()
def delete(key: KeyOpt = None, model: ModelOpt = None, user: UserOpt = None,
           team: TeamOpt = None, endpoint: EndpointOpt = None, db: DbOpt = None,
           config: ConfigOpt = None) -> None:
    """Remove a limit."""
    from pllm.cli.output import stdout

    scope, subject = _target(key, model, user, team, endpoint)
    with open_store(db, config) as store:
        store.delete_limit(scope, subject, actor=actor())
    stdout.print(f"deleted the {scope} limit for {subject}")


def _num(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _fmt(rpm: int | None, tpm: int | None) -> str:
    return ", ".join(p for p in (f"{rpm} rpm" if rpm else "", f"{tpm} tpm" if tpm else "") if p)
