"""Reading the configuration again for a hot reload: where it came from (`ConfigSource`), which
files make it up (to watch them), and `prepare`, which reads and checks a new version against
the running settings without touching the running gateway.

Settings the running process cannot change (the addresses it listens on, its worker count and
event loop, its database, its shutdown grace, its log setup, the budget time zone and audit
retention that the ledger was built with) keep their running values; when the file changes
them, the reload says they need a restart and applies the rest.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from pllm.config import read_settings
from pllm.config.model import Settings
from pllm.errors import Issue
from pllm.providers.registry import ProviderRegistry
from pllm.redaction import redact
from pllm.router.table import ModelTable, build_table
from pllm.server.run import BindRefused, check_bind

__all__ = [
    "RESTART_ONLY",
    "ConfigSource",
    "Prepared",
    "Trigger",
    "config_files",
    "event_detail",
    "issue_text",
    "log_outcome",
    "model_changes",
    "prepare",
]

Trigger = Literal["file", "signal", "admin", "supervisor"]
"""What asked for a reload: the file watcher, SIGHUP, `POST /admin/reload`, or (a worker of
several) the supervisor passing one of those on."""

_SERVER_RESTART = ("host", "port", "workers", "loop", "database_url", "graceful_timeout",
                   "metrics_port", "log_format", "log_level")
RESTART_ONLY = (*(f"server.{n}" for n in _SERVER_RESTART), "budgets.timezone",
                "audit.retention_days")


@dataclass(frozen=True, slots=True)
class ConfigSource:
    """Where the running settings came from, so that they can be read again (picklable: the
    workers of `--workers N` receive it)."""

    path: Path | None
    """The config file; None: models were discovered from the environment (and `.env`)."""
    demo: bool = False
    """`pllm serve --demo`: built-in settings, nothing to read again."""
    watch: bool = True
    """Reload when a file of the config changes (SIGHUP and `POST /admin/reload` always do)."""
    overridden: frozenset[str] = field(default_factory=frozenset)
    """Server settings given on the command line: the file's value for them never applies."""
    supervisor: int | None = None
    """With several workers: the supervisor's pid. It watches the files and passes SIGHUP on;
    a worker reloaded through the admin API asks it (SIGUSR1) to reload the others."""

    @property
    def reloadable(self) -> bool:
        return not self.demo


@dataclass(frozen=True, slots=True)
class Prepared:
    """A new configuration, read and checked: `settings` and `table` are None when it has
    errors (the running configuration then stays)."""

    settings: Settings | None
    table: ModelTable | None
    errors: tuple[Issue, ...] = ()
    warnings: tuple[Issue, ...] = ()
    restart: tuple[str, ...] = ()
    """Settings changed in the file that only a restart applies."""


def prepare(source: ConfigSource, running: Settings, registry: ProviderRegistry) -> Prepared:
    """Read the configuration again and check it as `pllm serve` would at start. Blocking
    (file reads): call it in a thread."""
    if source.demo:
        return _failed(Issue("pllm serve --demo has no config file to reload"))
    path = source.path
    if path is not None and _blank(path):
        return _failed(Issue("the config file is empty (still being written?): keeping the "
                             "running configuration", file=str(path)))
    settings, issues = read_settings(path)
    warnings = tuple(i for i in issues if i.severity != "error")
    if settings is None:
        return _failed(*(i for i in issues if i.severity == "error"), warnings=warnings)
    settings, restart = _keep_running(running, settings, source.overridden)
    try:
        check_bind(settings)
    except BindRefused as e:
        return _failed(Issue(str(e), path="general_settings.master_key",
                             file=str(path) if path else None), warnings=warnings)
    table, more = build_table(settings, registry)
    errors = tuple(i for i in more if i.severity == "error")
    warnings += tuple(i for i in more if i.severity != "error")
    if errors:
        return _failed(*errors, warnings=warnings)
    return Prepared(settings, table, (), warnings, restart)


def _failed(*errors: Issue, warnings: tuple[Issue, ...] = ()) -> Prepared:
    return Prepared(None, None, errors, warnings)


def _blank(path: Path) -> bool:
    try:
        return not path.read_bytes().strip()
    except OSError:
        return False  # read_settings says what is wrong with it


def _keep_running(running: Settings, new: Settings,
                  overridden: frozenset[str]) -> tuple[Settings, tuple[str, ...]]:
    """`new` with the running values of what cannot change live, and the names of those the
    file changed (ignoring those the command line set: it wins either way)."""
    restart: list[str] = []
    server: dict[str, Any] = {}
    for name in _SERVER_RESTART:
        value = getattr(running.server, name)
        if getattr(new.server, name) != value:
            server[name] = value
            if name not in overridden:
                restart.append(f"server.{name}")
    access: dict[str, Any] = {}
    if new.access.budget_timezone != running.access.budget_timezone:
        access["budget_timezone"] = running.access.budget_timezone
        restart.append("budgets.timezone")
    if new.access.audit.retention_days != running.access.audit.retention_days:
        access["audit"] = replace(new.access.audit,
                                  retention_days=running.access.audit.retention_days)
        restart.append("audit.retention_days")
    out = replace(new, server=replace(new.server, **server),
                  access=replace(new.access, **access))
    return out, tuple(restart)


def config_files(source: ConfigSource) -> set[Path]:
    """Every file whose change may change the configuration: the config file, the files it
    includes (recursively), and the `.env` files the environment is read from. Absolute
    paths, resolved and as given (a symlinked config is watched both ways)."""
    out: set[Path] = set()
    if source.path is not None:
        queue = [source.path]
        while queue:
            current = queue.pop()
            for variant in _variants(current):
                out.add(variant)
            for name in _includes(current):
                target = (current.parent / name).resolve()
                if target not in out:
                    queue.append(target)
        out.update(_variants(source.path.parent / ".env"))
    out.update(_variants(Path.cwd() / ".env"))
    return out


def _variants(path: Path) -> Iterable[Path]:
    absolute = Path(os.path.abspath(path))
    return {absolute, absolute.resolve()}


def _includes(path: Path) -> list[str]:
    """The `include:` names of one file (a broken file includes nothing: the reload reports
    what is wrong with it)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    spec = data.get("include") if isinstance(data, dict) else None
    names = [spec] if isinstance(spec, str) else spec
    if not isinstance(names, list):
        return []
    return [n for n in names if isinstance(n, str)]


def log_outcome(log: logging.Logger, prepared: Prepared, source: ConfigSource,
                before: Settings, *, verb: str = "config reloaded") -> None:
    """Every error with its file:line:col (the running configuration stays), the warnings, and
    what needs a restart; or what changed."""
    where = str(source.path) if source.path is not None else "the environment"
    if prepared.settings is None:
        log.error("config reload from %s failed with %d error(s); still serving the previous "
                  "configuration", where, len(prepared.errors))
        for issue in prepared.errors:
            log.error("%s", issue)
        return
    for issue in prepared.warnings:
        log.warning("%s", issue)
    for name in prepared.restart:
        log.warning("%s changed in the config: it needs a restart to apply (the running value "
                    "stays until then)", name)
    added, removed = model_changes(before, prepared.settings)
    log.info("%s from %s: %d model(s)%s%s", verb, where,
             len(prepared.settings.model_names()),
             f", added {', '.join(added)}" if added else "",
             f", removed {', '.join(removed)}" if removed else "")


def model_changes(before: Settings, after: Settings) -> tuple[list[str], list[str]]:
    old, new = before.model_names(), after.model_names()
    return [m for m in new if m not in old], [m for m in old if m not in new]


def event_detail(trigger: Trigger, prepared: Prepared, before: Settings) -> dict[str, Any]:
    """What the `config.reload` admin event records (no values from the file: they may be
    secrets)."""
    detail: dict[str, Any] = {"trigger": trigger, "reloaded": prepared.settings is not None}
    if prepared.settings is None:
        detail["errors"] = [issue_text(i) for i in prepared.errors[:20]]
        return detail
    added, removed = model_changes(before, prepared.settings)
    detail.update(models=len(prepared.settings.model_names()), added=added, removed=removed,
                  deployments=len(prepared.settings.deployments), restart=list(prepared.restart))
    return detail


def issue_text(issue: Issue) -> str:
    """An issue as `config validate` prints it, with anything key-shaped masked."""
    return redact(str(issue))
