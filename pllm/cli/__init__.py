"""The `pllm` command: one typer app per group, composed with add_typer. Commands are thin skins
over library calls and import their heavy dependencies only when they run (fast `--help`)."""

from __future__ import annotations

import typer

from pllm.cli.audit_cmd import app as audit_app
from pllm.cli.bench_cmd import bench
from pllm.cli.budgets_cmd import app as budgets_app
from pllm.cli.config_cmd import app as config_app
from pllm.cli.keys_cmd import app as keys_app
from pllm.cli.limits_cmd import app as limits_app
from pllm.cli.serve import serve
from pllm.cli.tui_cmd import tui

__all__ = ["app", "main"]

app = typer.Typer(
    name="pllm",
    help="pllm: a fast LLM gateway with an OpenAI-compatible API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(serve)
app.add_typer(config_app, name="config")
app.add_typer(keys_app, name="keys")
app.add_typer(budgets_app, name="budgets")
app.add_typer(limits_app, name="limits")
app.add_typer(audit_app, name="audit")
app.command()(tui)
app.command()(bench)


@app.command()
def version() -> None:
    """Print the version."""
    from pllm import __version__

    typer.echo(__version__)


def main() -> None:
    app()
