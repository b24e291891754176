"""Models from the environment when there is no config file: each provider key found becomes a
wildcard deployment of that provider; `OPENAI_API_KEY`, `OPENAI_API_KEY_2`, ... become separate
deployments of the same models, so requests spread over the keys."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pllm.config.catalog import ALIASES, PROVIDER_ENV
from pllm.config.model import Deployment, FrozenDict, Origin, Secret

__all__ = ["demo_deployments", "discover"]

# Providers looked for, in banner order; each reads <PREFIX>_API_KEY (and _2, _3, ...).
_FIRST = ("openai", "anthropic", "azure", "groq", "cohere", "gemini")


def _numbered(env: Mapping[str, str], name: str) -> list[tuple[str, str]]:
    """[(var, value)] for NAME, NAME_2, NAME_3, ... in numeric order (gaps allowed)."""
    pattern = re.compile(re.escape(name) + r"(?:_(\d+))?$")
    found = []
    for var, value in env.items():
        m = pattern.match(var)
        if m and value:
            found.append((int(m.group(1) or 1), var, value))
    return [(var, value) for _, var, value in sorted(found)]


def discover(env: Mapping[str, str]) -> tuple[list[Deployment], list[str]]:
    """Deployments and one human-readable note per provider found."""
    providers = list(_FIRST) + sorted(p for p in PROVIDER_ENV if p not in _FIRST + tuple(ALIASES))
    deps: list[Deployment] = []
    notes: list[str] = []
    seen_vars: set[str] = set()
    for provider in providers:
        spec = PROVIDER_ENV[provider]
        if not spec.key or spec.key in seen_vars:
            continue
        seen_vars.add(spec.key)
        keys = _numbered(env, spec.key)
        made = []
        for i, (var, value) in enumerate(keys, start=1):
            suffix = var[len(spec.key):]  # "" or "_2"
            base = env.get(spec.base + suffix) if spec.base else None
            if provider == "azure" and not base:
                notes.append(f"{var} found but {spec.base}{suffix} is not set: skipped")
                continue
            version = env.get(spec.version + suffix) if spec.version else None
            made.append(Deployment(
                id=f"{provider}-env-{i}", model_name="*", provider=provider, model="*",
                infer_provider=True,
                api_key=Secret(value), api_base=base.rstrip("/") if base else None,
                api_version=version, origin=Origin(f"environment {var}"),
            ))
        if made:
            names = ", ".join(d.origin.label.split()[-1] for d in made)
            notes.append(f"{provider}: {names} -> {len(made)} deployment(s) serving "
                         f"{provider}/* and {provider}'s model names")
            deps.extend(made)
    return deps, notes


def demo_deployments() -> list[Deployment]:
    """`pllm serve --demo`: built-in mock models, no keys, no network."""
    stream_pace = FrozenDict({"mock_token_delay_ms": 15})
    models = [
        ("gpt-4o-mini", "mock/gpt-4o-mini", stream_pace),
        ("gpt-4o", "mock/gpt-4o", stream_pace),
        ("claude-3-5-sonnet", "mock/claude-3-5-sonnet", stream_pace),
        ("text-embedding-3-small", "mock/text-embedding-3-small", FrozenDict()),
    ]
    return [
        Deployment(id=f"{name}.demo", model_name=name, provider="mock",
                   model=model.split("/", 1)[1], params=params, origin=Origin("demo"))
        for name, model, params in models
    ]
