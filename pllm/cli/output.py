"""Rich output shared by commands: issue lists and the `serve` banner."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from pllm.config.model import Settings
from pllm.errors import Issue

__all__ = ["banner", "print_issues", "stderr", "stdout"]

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def print_issues(issues: list[Issue], console: Console, *, heading: bool = True) -> None:
    errors = [i for i in issues if i.severity == "error"]
    for issue in sorted(issues, key=_order):
        colour = "red" if issue.severity == "error" else "yellow"
        console.print(f"[bold]{escape(issue.location())}:[/] [{colour}]{issue.severity}:[/] "
                      + (f"[cyan]{escape(issue.path)}[/]: " if issue.path else "")
                      + escape(issue.message))
    if heading and errors:
        console.print(f"[red]{len(errors)} error(s)[/]")


def _order(i: Issue) -> tuple[str, int, int]:
    return (i.file or "", i.line or 0, i.column or 0)


def banner(settings: Settings) -> None:
    from pllm import __version__

    s = settings.server
    host = f"[{s.host}]" if ":" in s.host else s.host
    url = f"http://{host}:{s.port}"
    names = settings.model_names()
    shown = ", ".join(names[:8]) + (f" … (+{len(names) - 8})" if len(names) > 8 else "")
    ways = ["master key"] if s.master_key else []
    if settings.access.jwt is not None:
        ways.append(f"JWT ({', '.join(settings.access.jwt.algorithms)})")
    auth = f"{' or '.join(ways)} required" if ways else "open (no master key; loopback only)"
    lines = [
        f"[bold green]pllm {__version__}[/] listening on [bold]{url}[/]"
        + (f" with {s.workers} workers" if s.workers > 1 else ""),
        f"  config   {escape(settings.source)} ({len(settings.deployments)} deployment(s))",
        f"  models   {escape(shown) or '[yellow]none[/]'}",
        f"  auth     {auth}",
        f"  api      {url}/v1  (OpenAI-compatible: chat/completions, completions, embeddings, "
        "models)",
        "  docs     README.md and docs/ in the pllm repository; `pllm --help`",
    ]
    for note in settings.notes:
        lines.append(f"  found    {escape(note)}")
    stdout.print("\n".join(lines))
