"""Settings -> plain data, secrets masked: what `pllm config show` prints."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any

from pllm.config.model import Deployment, FrozenDict, Secret, Settings

__all__ = ["settings_to_dict"]

_SKIP = frozenset({"origin", "warnings", "notes"})


def settings_to_dict(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = _plain(settings)
    out["model_list"] = [_deployment(d) for d in settings.deployments]
    out.pop("deployments", None)
    return out


def _deployment(d: Deployment) -> dict[str, Any]:
    data = _plain(d)
    data["defined_at"] = d.origin.label
    return {k: v for k, v in data.items() if v not in (None, {}, ())}


def _plain(value: Any) -> Any:
    if isinstance(value, Secret):
        return value.masked()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)
                if f.name not in _SKIP}
    if isinstance(value, (FrozenDict, Mapping)):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
