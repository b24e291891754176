"""Secrets from the environment: `os.environ/NAME` (LiteLLM's form) and `${NAME}` interpolation.

The environment a config sees is layered, later layers winning:
`.env` file (beside the config, else in the working directory) < the process environment <
the config's own `environment_variables:` (LiteLLM sets those into the process, so they win).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

__all__ = ["build_environment", "substitute"]

_OS_ENVIRON = "os.environ/"
# ${NAME} or ${NAME:-default}; $${NAME} stays literal as ${NAME}.
_VAR = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def build_environment(config_path: Path | None, cwd: Path | None = None) -> dict[str, str]:
    """Process environment over the nearest `.env` file (the file does not override)."""
    env: dict[str, str] = {}
    candidates = []
    if config_path is not None:
        candidates.append(config_path.parent / ".env")
    candidates.append((cwd or Path.cwd()) / ".env")
    for candidate in candidates:
        if candidate.is_file():
            env.update({k: v for k, v in dotenv_values(candidate).items() if v is not None})
            break
    env.update(os.environ)
    return env


def substitute(value: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Resolve references in `value`; returns the result and the names that were not set."""
    if value.startswith(_OS_ENVIRON):
        name = value[len(_OS_ENVIRON):].strip()
        if name in env:
            return env[name], []
        return "", [name]
    if "${" not in value:
        return value, []
    missing: list[str] = []

    def repl(m: re.Match[str]) -> str:
        escaped, name, default = m.group(1), m.group(2), m.group(3)
        if escaped:
            return "${" + name + (":-" + default if default is not None else "") + "}"
        if name in env:
            return env[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    return _VAR.sub(repl, value), missing
