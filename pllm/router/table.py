"""Which deployments can answer a requested model name.

Built once from the settings: exact model groups, `*` patterns (LiteLLM's wildcard routing) and
`model_group_alias`. Deployments whose provider this build does not serve stay in the table as
`Unavailable`, so a request for them gets a clear 501 instead of a misleading 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pllm.config.catalog import infer_providers, split_model
from pllm.config.model import Deployment, Settings
from pllm.errors import DeploymentError, Issue
from pllm.providers.base import Target
from pllm.providers.registry import ProviderRegistry

__all__ = ["Match", "ModelTable", "Unavailable", "build_table"]


@dataclass(frozen=True, slots=True)
class Unavailable:
    deployment: Deployment
    reason: str


@dataclass(frozen=True, slots=True)
class Match:
    """The answer for one requested name: the group and, per target, the upstream model."""

    group: str
    targets: tuple[Target, ...]
    models: tuple[str, ...]
    unavailable: tuple[Unavailable, ...] = ()
    has_tpm: bool = False
    """Some deployment has a tpm limit (only then are request tokens estimated)."""


@dataclass(frozen=True, slots=True)
class _Pattern:
    regex: re.Pattern[str]
    literal_len: int
    entry: Target | Unavailable


@dataclass
class ModelTable:
    groups: dict[str, list[Target | Unavailable]] = field(default_factory=dict)
    patterns: list[_Pattern] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    _cache: dict[str, Match | None] = field(default_factory=dict)

    def resolve(self, name: str) -> Match | None:
        """The deployments for `name` (None: no such model). Results are cached per name."""
        try:
            return self._cache[name]
        except KeyError:
            pass
        found = self._resolve(self.aliases.get(name, name))
        if len(self._cache) < 10_000:  # names come from clients: bound the memory
            self._cache[name] = found
        return found

    def _resolve(self, name: str) -> Match | None:
        exact = self.groups.get(name)
        if exact:
            return _match(name, [(e, _model(e)) for e in exact])
        hits: list[tuple[int, Target | Unavailable, str]] = []
        for p in self.patterns:
            m = p.regex.fullmatch(name)
            if m is None:
                continue
            dep = _dep(p.entry)
            captured = m.groups()
            model = _substitute(dep, name, captured)
            if model is not None:
                hits.append((p.literal_len, p.entry, model))
        if not hits:
            return None
        best = max(h[0] for h in hits)  # the most specific pattern wins, as in LiteLLM
        chosen = [(e, model) for n, e, model in hits if n == best]
        return _match(name, chosen)

    def names(self) -> list[str]:
        return list(self.groups) + [_dep(p.entry).model_name for p in self.patterns]


def _dep(e: Target | Unavailable) -> Deployment:
    return e.deployment


def _model(e: Target | Unavailable) -> str:
    return e.deployment.model


def _match(name: str, entries: list[tuple[Target | Unavailable, str]]) -> Match:
    targets = tuple(e for e, _ in entries if isinstance(e, Target))
    models = tuple(m for e, m in entries if isinstance(e, Target))
    missing = tuple(e for e, _ in entries if isinstance(e, Unavailable))
    has_tpm = any(t.deployment.tpm for t in targets)
    return Match(name, targets, models, missing, has_tpm)


def _substitute(dep: Deployment, name: str, captured: tuple[str, ...]) -> str | None:
    """The upstream model for a pattern match, or None when this deployment cannot serve it."""
    if dep.infer_provider:
        if dep.provider not in infer_providers(name):
            return None
        return split_model(name)[1]
    if "*" not in dep.model:
        return dep.model
    out = dep.model
    for part in captured:
        prefix, rest = split_model(part)
        out = out.replace("*", rest if prefix == dep.provider else part, 1)
    return out


def _pattern(model_name: str) -> tuple[re.Pattern[str], int]:
    parts = model_name.split("*")
    regex = "(.+?)".join(re.escape(p) for p in parts)
    return re.compile(regex, re.DOTALL), len(model_name) - model_name.count("*")


def build_table(settings: Settings, registry: ProviderRegistry) -> tuple[ModelTable, list[Issue]]:
    """Prepare every deployment; issues name the deployment's source for `config validate`."""
    table = ModelTable(aliases=dict(settings.router.model_group_alias))
    issues: list[Issue] = []
    for dep in settings.deployments:
        entry = _prepare(dep, registry, issues)
        if dep.is_wildcard:
            regex, literal = _pattern(dep.model_name)
            table.patterns.append(_Pattern(regex, literal, entry))
        else:
            table.groups.setdefault(dep.model_name, []).append(entry)
    return table, issues


def _prepare(dep: Deployment, registry: ProviderRegistry,
             issues: list[Issue]) -> Target | Unavailable:
    provider = registry.for_deployment(dep)
    if provider is None:
        reason = (f"provider '{dep.provider}' is recognised but not served by this version of "
                  "pllm")
        issues.append(_issue(dep, reason, "warning"))
        return Unavailable(dep, reason)
    try:
        return provider.prepare(dep)
    except DeploymentError as e:
        issues.append(_issue(dep, str(e), "error"))
        return Unavailable(dep, str(e))


def _issue(dep: Deployment, message: str, severity: str) -> Issue:
    o = dep.origin
    return Issue(message, path=o.path, file=o.file or o.label, line=o.line, column=o.column,
                 severity=severity)
