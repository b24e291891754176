"""Configuration: a YAML file in LiteLLM's proxy format (plus pllm's own sections), or the
environment when there is no file, parsed strictly into a frozen `Settings`.

Two phases: `yamlsrc` turns the file into located values (so every error has file:line:col),
then the section parsers validate shape and types and build the settings, collecting every
problem before failing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pllm.config.access import ACCESS_SECTIONS, parse_access
from pllm.config.deployments import parse_credentials, parse_model_list
from pllm.config.discovery import demo_deployments, discover
from pllm.config.envsubst import build_environment
from pllm.config.litellm_names import TOP_LEVEL_KEYS
from pllm.config.model import (
    Deployment,
    FrozenDict,
    RouterSettings,
    Secret,
    ServerSettings,
    Settings,
)
from pllm.config.reader import Reader
from pllm.config.sections import parse_router, parse_server
from pllm.config.yamlsrc import LDict, load_yaml
from pllm.errors import ConfigError, Issue

__all__ = [
    "ConfigError",
    "Deployment",
    "RouterSettings",
    "Secret",
    "ServerSettings",
    "Settings",
    "demo_settings",
    "find_config",
    "load_settings",
    "read_settings",
]

_SECTIONS = frozenset({"model_list", "litellm_settings", "router_settings", "general_settings",
                       "environment_variables", "credential_list", "router", "server",
                       *ACCESS_SECTIONS})


def find_config(cwd: Path | None = None) -> Path | None:
    """`./config.yaml` (or .yml) when present: the default for `pllm serve`."""
    for name in ("config.yaml", "config.yml"):
        candidate = (cwd or Path.cwd()) / name
        if candidate.is_file():
            return candidate
    return None


def read_settings(
    path: Path | None,
    *,
    allow_missing_env: bool = False,
    environ: Mapping[str, str] | None = None,
) -> tuple[Settings | None, list[Issue]]:
    """Parse without raising: the settings (None when there are errors) and every issue."""
    env = dict(environ) if environ is not None else build_environment(path)
    if path is None:
        deps, notes = discover(env)
        master = env.get("PLLM_MASTER_KEY") or env.get("LITELLM_MASTER_KEY")
        server = ServerSettings(master_key=Secret(master) if master else None)
        return Settings(deployments=tuple(deps), server=server, source="environment",
                        notes=tuple(notes)), []
    issues: list[Issue] = []
    tree = load_yaml(path, issues)
    if not tree and any(i.severity == "error" for i in issues):
        return None, issues  # unreadable: nothing more to say about its content
    settings, more = _parse(tree, env, allow_missing_env, str(path))
    issues.extend(more)
    if any(i.severity == "error" for i in issues):
        return None, issues
    return settings, issues


def load_settings(path: Path | None, *, allow_missing_env: bool = False,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Like `read_settings`, but raises ConfigError listing every error."""
    settings, issues = read_settings(path, allow_missing_env=allow_missing_env, environ=environ)
    if settings is None:
        raise ConfigError(issues)
    return settings


def demo_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = environ if environ is not None else os.environ
    master = env.get("PLLM_MASTER_KEY")
    return Settings(deployments=tuple(demo_deployments()), source="demo",
                    server=ServerSettings(master_key=Secret(master) if master else None),
                    notes=("demo mode: mock models answer locally; no keys, no network",))


def _parse(tree: LDict, env: dict[str, str], allow_missing_env: bool,
           source: str) -> tuple[Settings, list[Issue]]:
    r = Reader(env, allow_missing_env=allow_missing_env)
    r.check_keys(tree, "", _SECTIONS, tolerated=TOP_LEVEL_KEYS - _SECTIONS)
    exported = _environment_variables(r, tree)
    env.update(exported)
    server = parse_server(r, r.mapping(tree, "server", ""), r.mapping(tree, "general_settings", ""),
                          r.mapping(tree, "litellm_settings", ""))
    router = parse_router(r, r.mapping(tree, "router", ""), r.mapping(tree, "router_settings", ""),
                          r.mapping(tree, "litellm_settings", ""))
    access = parse_access(r, tree, Path(source).parent if source else None)
    creds = parse_credentials(r, r.sequence(tree, "credential_list", ""))
    models = r.sequence(tree, "model_list", "")
    deps = parse_model_list(r, models, creds, drop_params=server.drop_params) if models else []
    if not deps and not r.issues:
        r.warn("no models are configured: every request will be answered 404", "model_list",
               tree.mark)
    settings = Settings(deployments=tuple(deps), server=server, router=router,
                        access=access, environment=FrozenDict(exported), source=source,
                        warnings=tuple(i for i in r.issues if i.severity == "warning"))
    return settings, r.issues


def _environment_variables(r: Reader, tree: LDict) -> dict[str, str]:
    section = r.mapping(tree, "environment_variables", "")
    if section is None:
        return {}
    out = {}
    for name in section:
        value = r.string(section, name, "environment_variables")
        if value is not None:
            out[name] = value
    return out
