"""`pllm tui`: the live terminal dashboard of a running gateway."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["tui"]


def tui(
    url: Annotated[str, typer.Option(
        "--url", help="The gateway to watch.")] = "http://127.0.0.1:8080",
    key: Annotated[str | None, typer.Option(
        "--key", envvar=["PLLM_MASTER_KEY", "PLLM_API_KEY"], show_envvar=True,
        help="The master key, or a virtual key with the admin or viewer role (viewer: "
        "read only).")] = None,
) -> None:
    """Live dashboard: deployments' health and traffic, recent requests, keys, budgets and
    the loaded config, read from a running gateway's admin API."""
    from pllm.tui import run

    run(url, key)
