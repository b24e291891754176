"""`pllm serve`: load the configuration, print a banner, run the gateway."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["serve"]


class Loop(StrEnum):
    asyncio = "asyncio"
    uvloop = "uvloop"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


def serve(
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="Config file. Default: ./config.yaml when present, else models "
        "are discovered from provider keys in the environment.")] = None,
    host: Annotated[str | None, typer.Option(
        help="Address to bind. (default: 127.0.0.1, or server.host)")] = None,
    port: Annotated[int | None, typer.Option(
        help="Port to bind. (default: 8080, or server.port)")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Worker processes sharing the port. (default: 1)")] = None,
    db: Annotated[Path | None, typer.Option(
        help="SQLite database for keys, budgets, limits and the audit trail. (default: the "
        "config's database_url, else $PLLM_DB, else ~/.local/share/pllm/pllm.db)")
    ] = None,
    demo: Annotated[bool, typer.Option(
        help="Serve built-in mock models: no keys, no network.")] = False,
    loop: Annotated[Loop | None, typer.Option(
        help="Event loop. (default: asyncio, measured faster here; see benchmarks/)")] = None,
    log_level: Annotated[str | None, typer.Option(
        help="debug, info, warning or error. (default: info, or server.log_level)")] = None,
    log_format: Annotated[LogFormat | None, typer.Option(
        help="text, or json: one JSON object per line. (default: text, or "
        "server.log_format)")] = None,
    watch: Annotated[bool, typer.Option(
        help="Reload the config when its files change. SIGHUP and POST /admin/reload reload "
        "it either way.")] = True,
) -> None:
    """Run the gateway (an OpenAI-compatible API on http://HOST:PORT/v1)."""
    from dataclasses import replace

    from pllm.cli.output import banner, print_issues, stderr
    from pllm.config import demo_settings, find_config, load_settings
    from pllm.errors import ConfigError
    from pllm.logs import setup_logging
    from pllm.server.metrics_export import MetricsPortRefused
    from pllm.server.reload_source import ConfigSource
    from pllm.server.run import BindRefused
    from pllm.server.run import serve as run_server

    path = config if config is not None else (None if demo else find_config())
    if config is not None and not config.is_file():
        stderr.print(f"[red]error:[/] config file not found: {config}")
        raise typer.Exit(2)
    try:
        settings = demo_settings() if demo else load_settings(path)
    except ConfigError as e:
        print_issues(e.issues, stderr)
        raise typer.Exit(1) from None
    s = settings.server
    settings = replace(settings, server=replace(
        s, host=host or s.host, port=port or s.port, workers=workers or s.workers,
        loop=loop.value if loop else s.loop, log_level=(log_level or s.log_level).lower(),
        log_format=log_format.value if log_format else s.log_format))
    if db is not None:
        settings = replace(settings, server=replace(settings.server,
                                                    database_url=f"sqlite:///{db}"))
    given = {"host": host, "port": port, "workers": workers, "loop": loop, "database_url": db,
             "log_level": log_level, "log_format": log_format}
    source = ConfigSource(path, demo=demo, watch=watch,
                          overridden=frozenset(k for k, v in given.items() if v is not None))
    os.environ.update(settings.environment)  # LiteLLM's environment_variables: semantics
    setup_logging(settings)
    print_issues(list(settings.warnings), stderr, heading=False)
    try:
        code = run_server(settings, on_bound=lambda: banner(settings), source=source)
    except (BindRefused, MetricsPortRefused) as e:
        stderr.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from None
    except OSError as e:
        stderr.print(f"[red]error:[/] cannot listen on {settings.server.host}:"
                     f"{settings.server.port}: {e.strerror or e}")
        raise typer.Exit(2) from None
    except ConfigError as e:
        print_issues(e.issues, stderr)
        raise typer.Exit(1) from None
    raise typer.Exit(code)
