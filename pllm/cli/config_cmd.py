"""`pllm config validate` and `pllm config show`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app"]

app = typer.Typer(help="Check and inspect configuration files.", no_args_is_help=True)


@app.command()
def validate(
    path: Annotated[Path, typer.Argument(help="Config file to check.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    allow_missing_env: Annotated[bool, typer.Option(
        help="Report unset environment variables as warnings (for CI without secrets).")
    ] = False,
) -> None:
    """Exit 0 when the config is valid, 1 when not; lists every problem with file:line:col."""
    from pllm.cli.output import print_issues, stdout
    from pllm.config import read_settings
    from pllm.providers.registry import default_registry
    from pllm.router.table import build_table

    settings, issues = read_settings(path, allow_missing_env=allow_missing_env)
    if settings is not None:
        issues = issues + build_table(settings, default_registry())[1]
    errors = [i for i in issues if i.severity == "error"]
    if as_json:
        typer.echo(json.dumps({
            "valid": not errors, "file": str(path),
            "errors": [i.as_dict() for i in errors],
            "warnings": [i.as_dict() for i in issues if i.severity == "warning"],
        }, indent=2))
    else:
        print_issues(issues, stdout)
        if not errors and settings is not None:
            stdout.print(f"[green]valid:[/] {path} ({len(settings.deployments)} deployment(s), "
                         f"{len(settings.model_names())} model(s))")
    raise typer.Exit(1 if errors else 0)


@app.command()
def show(
    path: Annotated[Path, typer.Argument(help="Config file to show.")],
    allow_missing_env: Annotated[bool, typer.Option(
        help="Show the config even when environment variables are unset.")] = False,
) -> None:
    """Print the resolved configuration with every secret masked."""
    import yaml

    from pllm.cli.output import print_issues, stderr
    from pllm.config import read_settings
    from pllm.config.render import settings_to_dict

    settings, issues = read_settings(path, allow_missing_env=allow_missing_env)
    if settings is None:
        print_issues(issues, stderr)
        raise typer.Exit(1)
    typer.echo(yaml.safe_dump(settings_to_dict(settings), sort_keys=False, allow_unicode=True))
