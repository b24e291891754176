"""Where the database lives: `--db`, else the config's `general_settings.database_url`
(`sqlite:///path`), else `$PLLM_DB`, else the user's data directory.

The data directory is computed the way `platformdirs.user_data_dir("pllm")` would (it is not a
dependency): `$XDG_DATA_HOME` or `~/.local/share` on Linux, `~/Library/Application Support` on
macOS, `%LOCALAPPDATA%` on Windows. Pure apart from reading the environment passed in.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from pllm.errors import ConfigError, Issue

__all__ = ["database_url_path", "db_path", "default_db_path"]

_FILE = "pllm.db"


def default_db_path(environ: Mapping[str, str] | None = None,
                    platform: str | None = None) -> Path:
    """`$PLLM_DB`, else `<user data dir>/pllm/pllm.db`."""
    env = os.environ if environ is None else environ
    if env.get("PLLM_DB"):
        return Path(env["PLLM_DB"]).expanduser()
    return _data_dir(env, platform or sys.platform) / "pllm" / _FILE


def db_path(cli: Path | None, database_url: str | None,
            environ: Mapping[str, str] | None = None) -> Path:
    """The database to open, by precedence: --db, database_url, $PLLM_DB, the default.

    Raises ConfigError when database_url is set but is not a `sqlite:///` URL.
    """
    if cli is not None:
        return cli.expanduser()
    if database_url:
        return database_url_path(database_url)
    return default_db_path(environ)


def database_url_path(url: str) -> Path:
    """`sqlite:///relative.db` or `sqlite:////abs/path.db` (SQLAlchemy's spelling) -> path."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("sqlite", "sqlite3"):
        # Only the scheme is quoted: the rest of a database URL often carries a password.
        shown = scheme if sep else "(no scheme)"
        raise ConfigError([Issue(
            f"database_url uses '{shown}', but pllm keeps keys, budgets and audit logs in "
            "SQLite: use sqlite:///path/to/pllm.db (or --db PATH, or $PLLM_DB)",
            path="general_settings.database_url")])
    path = rest[1:] if rest.startswith("/") else rest
    path = path.split("?", 1)[0]
    if not path or path == ":memory:":
        raise ConfigError([Issue(
            "database_url must name a file (sqlite:///path/to/pllm.db): an in-memory database "
            "cannot be shared by the server's workers and the CLI",
            path="general_settings.database_url")])
    return Path(path).expanduser()


def _data_dir(env: Mapping[str, str], platform: str) -> Path:
    home = Path(env.get("HOME") or Path.home())
    if platform == "darwin":
        return home / "Library" / "Application Support"
    if platform.startswith("win"):
        local = env.get("LOCALAPPDATA")
        return Path(local) if local else home / "AppData" / "Local"
    xdg = env.get("XDG_DATA_HOME")
    # The XDG spec says a relative XDG_DATA_HOME is invalid and must be ignored.
    if xdg and Path(xdg).is_absolute():
        return Path(xdg)
    return home / ".local" / "share"
