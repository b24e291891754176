"""The validated, immutable settings object every other layer receives (never reads globals).

Built by `pllm.config.load_settings`; see docs/config.md for what each field means in the file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

from pllm.errors import Issue

__all__ = [
    "AccessSettings",
    "AuditSettings",
    "CircuitBreakerSettings",
    "Deployment",
    "FrozenDict",
    "JwtConfig",
    "LimitDefaults",
    "Origin",
    "RateLimit",
    "RouterSettings",
    "Secret",
    "ServerSettings",
    "Settings",
]

DEFAULT_MAX_REQUEST_BYTES = 10 * 1024 * 1024
DEFAULT_TIMEOUT_S = 600.0


class FrozenDict(Mapping[str, Any]):
    """A read-only, hashable, picklable mapping (settings must not change under a request)."""

    __slots__ = ("_d", "_h")

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._d: dict[str, Any] = dict(data or {})
        self._h: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __repr__(self) -> str:
        return f"FrozenDict({self._d!r})"

    def __hash__(self) -> int:
        if self._h is None:
            self._h = hash(tuple(sorted((k, _hashable(v)) for k, v in self._d.items())))
        return self._h

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, Any]]]:
        return (FrozenDict, (self._d,))

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("_d", "_h"):
            object.__setattr__(self, name, value)
            return
        _readonly()


def _readonly() -> NoReturn:
    raise TypeError("settings are read-only")


def _hashable(v: Any) -> Any:
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    return v


@dataclass(frozen=True, slots=True)
class Secret:
    """A credential. Its repr and str are masked so it cannot leak through logs or tracebacks."""

    value: str = field(repr=False)

    def __str__(self) -> str:
        return self.masked()

    def __repr__(self) -> str:
        return f"Secret({self.masked()!r})"

    def masked(self) -> str:
        v = self.value
        if len(v) <= 8:
            return "****"
        return f"{v[:3]}…{v[-2:]}" if len(v) < 20 else f"{v[:6]}…{v[-4:]}"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a deployment was defined: a config position, an environment variable, the demo."""

    label: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    path: str = ""

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True, slots=True)
class Deployment:
    """One upstream target: a provider, a model there, and the credentials to call it.

    Entries of `model_list` sharing a `model_name` form one model group. `model_name` and
    `model` may hold `*` wildcards (LiteLLM's passthrough): the part of the requested name that
    `*` matched replaces `*` in `model`. With `infer_provider` (LiteLLM's bare `model: "*"`, and
    deployments discovered from the environment) the deployment serves only requested names
    whose provider, by prefix or by LiteLLM's name rules, is its own.
    """

    id: str
    model_name: str
    provider: str
    model: str
    api_base: str | None = None
    api_key: Secret | None = None
    api_version: str | None = None
    organization: str | None = None
    timeout: float | None = None
    stream_timeout: float | None = None
    max_retries: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    weight: float | None = None
    priority: int | None = None
    order: int | None = None
    drop_params: bool = False
    infer_provider: bool = False
    extra_headers: FrozenDict = field(default_factory=FrozenDict)
    defaults: FrozenDict = field(default_factory=FrozenDict)
    """Request parameters applied when the client sends none (temperature, max_tokens, ...)."""
    params: FrozenDict = field(default_factory=FrozenDict)
    """Provider-specific settings (aws_region_name, vertex_project, mock_response, ...)."""
    model_info: FrozenDict = field(default_factory=FrozenDict)
    origin: Origin = field(default_factory=lambda: Origin("unknown"))

    @property
    def is_wildcard(self) -> bool:
        return "*" in self.model_name

    def secrets(self) -> tuple[str, ...]:
        """Every credential value this deployment holds, for redaction."""
        out = [self.api_key.value] if self.api_key else []
        out.extend(v.value for v in self.params.values() if isinstance(v, Secret))
        return tuple(out)


@dataclass(frozen=True, slots=True)
class CircuitBreakerSettings:
    threshold: int = 5
    timeout: float = 30.0


Strategy = Literal[
    "round_robin", "least_busy", "weighted", "priority", "latency_based", "usage_based",
    "cost_based",
]


@dataclass(frozen=True, slots=True)
class RouterSettings:
    strategy: Strategy = "weighted"
    retries: int = 2
    timeout: float | None = None
    fallbacks: FrozenDict = field(default_factory=FrozenDict)
    context_window_fallbacks: FrozenDict = field(default_factory=FrozenDict)
    content_policy_fallbacks: FrozenDict = field(default_factory=FrozenDict)
    default_fallbacks: tuple[str, ...] = ()
    circuit_breaker: CircuitBreakerSettings = field(default_factory=CircuitBreakerSettings)
    model_group_alias: FrozenDict = field(default_factory=FrozenDict)
    hedge_after_ms: float | None = None
    """Start a second attempt on another deployment when the first has not answered by then."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    loop: Literal["asyncio", "uvloop"] = "asyncio"
    master_key: Secret | None = None
    database_url: str | None = None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    request_timeout: float = DEFAULT_TIMEOUT_S
    graceful_timeout: float = 30.0
    drop_params: bool = False
    metrics_port: int | None = None
    """Serve `/metrics` on this port (no auth) instead of on the main one."""
    log_format: Literal["text", "json"] = "text"
    log_level: str = "info"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Requests and tokens (input + output) per minute; None = unlimited."""

    rpm: int | None = None
    tpm: int | None = None

    def __bool__(self) -> bool:
        return self.rpm is not None or self.tpm is not None


@dataclass(frozen=True, slots=True)
class LimitDefaults:
    """The `limits:` block: defaults for every key, user and team without their own, and
    limits per model group and per endpoint (rows set with `pllm limits` take precedence)."""

    key: RateLimit = field(default_factory=RateLimit)
    user: RateLimit = field(default_factory=RateLimit)
    team: RateLimit = field(default_factory=RateLimit)
    models: FrozenDict = field(default_factory=FrozenDict)
    """model group -> RateLimit"""
    endpoints: FrozenDict = field(default_factory=FrozenDict)
    """chat | completions | embeddings | messages -> RateLimit"""


@dataclass(frozen=True, slots=True)
class JwtConfig:
    """`auth.jwt`: which bearer JWTs are accepted and how their claims map to pllm's roles."""

    algorithms: tuple[str, ...]
    secret: Secret | None = None
    public_key_file: str | None = None
    jwks_file: str | None = None
    jwks_url: str | None = None
    jwks_cache_seconds: float = 300.0
    issuer: str | None = None
    audience: tuple[str, ...] | None = None
    leeway_seconds: float = 30.0
    user_claim: str = "sub"
    team_claim: str | None = "team"
    role_claim: str | None = "role"
    models_claim: str | None = "models"
    role_map: FrozenDict = field(default_factory=FrozenDict)
    default_role: str = "user"


@dataclass(frozen=True, slots=True)
class AuditSettings:
    log_bodies: bool = False
    retention_days: float | None = 90.0


@dataclass(frozen=True, slots=True)
class AccessSettings:
    jwt: JwtConfig | None = None
    failed_auth_per_minute: int = 20
    """Failed authentications allowed per client address per minute before it gets 429s."""
    limits: LimitDefaults = field(default_factory=LimitDefaults)
    audit: AuditSettings = field(default_factory=AuditSettings)
    budget_timezone: str = "UTC"
    """Where budget periods (day, week, month) begin."""
    default_output_tokens: int = 4096
    """Output tokens reserved against budgets when neither the request nor the model says."""


@dataclass(frozen=True, slots=True)
class Settings:
    deployments: tuple[Deployment, ...] = ()
    server: ServerSettings = field(default_factory=ServerSettings)
    router: RouterSettings = field(default_factory=RouterSettings)
    access: AccessSettings = field(default_factory=AccessSettings)
    environment: FrozenDict = field(default_factory=FrozenDict)
    """`environment_variables:` from the file; `pllm serve` exports them at start."""
    source: str = "empty"
    """The config file path, or "environment" (discovered), or "demo"."""
    notes: tuple[str, ...] = ()
    """What discovery found, for the startup banner."""
    warnings: tuple[Issue, ...] = ()

    def model_names(self) -> list[str]:
        """Model groups in config order, each once."""
        seen: dict[str, None] = {}
        for d in self.deployments:
            seen.setdefault(d.model_name, None)
        return list(seen)

    def secrets(self) -> tuple[str, ...]:
        out = [s for d in self.deployments for s in d.secrets()]
        if self.server.master_key:
            out.append(self.server.master_key.value)
        jwt = self.access.jwt
        if jwt is not None and jwt.secret is not None:
            out.append(jwt.secret.value)
        return tuple(out)
