"""The admin feed's JSON as typed values. Parsing is lenient (a missing field takes its
default), so a dashboard keeps working against a gateway a version older or newer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Budget", "Deployment", "Key", "RequestRow", "Snapshot", "Totals"]


def _f(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def _i(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def _s(value: Any) -> str | None:
    return str(value) if value is not None else None


@dataclass(frozen=True, slots=True)
class Deployment:
    id: str
    model_group: str
    provider: str
    health: int = 100
    circuit: str = "closed"
    open_for_s: float = 0.0
    in_flight: int = 0
    rps: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    error_rate: float = 0.0
    rpm_used: int = 0
    rpm_limit: int | None = None
    tpm_used: int = 0
    tpm_limit: int | None = None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Deployment:
        return cls(
            id=str(d.get("id", "?")), model_group=str(d.get("model_group", "?")),
            provider=str(d.get("provider", "?")), health=_i(d.get("health")) or 0,
            circuit=str(d.get("circuit", "closed")), open_for_s=_f(d.get("open_for_s")) or 0.0,
            in_flight=_i(d.get("in_flight")) or 0, rps=_f(d.get("rps")) or 0.0,
            p50_ms=_f(d.get("p50_ms")), p95_ms=_f(d.get("p95_ms")),
            error_rate=_f(d.get("error_rate")) or 0.0, rpm_used=_i(d.get("rpm_used")) or 0,
            rpm_limit=_i(d.get("rpm_limit")), tpm_used=_i(d.get("tpm_used")) or 0,
            tpm_limit=_i(d.get("tpm_limit")))


@dataclass(frozen=True, slots=True)
class Totals:
    requests: int = 0
    failed: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    source: str = "audit"

    @classmethod
    def parse(cls, d: dict[str, Any] | None, source: str = "audit") -> Totals:
        d = d or {}
        return cls(requests=_i(d.get("requests")) or 0, failed=_i(d.get("failed")) or 0,
                   tokens=_i(d.get("tokens")) or 0, cost_usd=_f(d.get("cost_usd")) or 0.0,
                   source=str(d.get("source", source)))


@dataclass(frozen=True, slots=True)
class Snapshot:
    ts: float = 0.0
    strategy: str = ""
    in_flight: int = 0
    rps: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    error_rate: float = 0.0
    deployments: tuple[Deployment, ...] = ()
    today: Totals = field(default_factory=Totals)
    since_start: Totals = field(default_factory=Totals)
    rps_series: tuple[float, ...] = ()
    p95_series: tuple[float, ...] = ()
    """Per second, oldest first; seconds without requests are 0."""

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Snapshot:
        totals = d.get("totals") or {}
        series = d.get("series") or {}
        return cls(
            ts=_f(d.get("ts")) or 0.0, strategy=str(d.get("strategy", "")),
            in_flight=_i(d.get("in_flight")) or 0, rps=_f(d.get("rps")) or 0.0,
            p50_ms=_f(d.get("p50_ms")), p95_ms=_f(d.get("p95_ms")),
            error_rate=_f(d.get("error_rate")) or 0.0,
            deployments=tuple(Deployment.parse(r) for r in d.get("deployments") or ()),
            today=Totals.parse(totals.get("today")),
            since_start=Totals.parse(totals.get("since_start"), "live"),
            rps_series=tuple(_f(v) or 0.0 for v in series.get("rps") or ()),
            p95_series=tuple(_f(v) or 0.0 for v in series.get("p95_ms") or ()))


@dataclass(frozen=True, slots=True)
class RequestRow:
    seq: int
    ts: float
    status: int
    request_id: str = ""
    endpoint: str = ""
    model: str | None = None
    deployment: str | None = None
    latency_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    key_name: str | None = None
    error: str | None = None
    stream: bool = False

    @classmethod
    def parse(cls, d: dict[str, Any]) -> RequestRow:
        return cls(
            seq=_i(d.get("seq")) or 0, ts=_f(d.get("ts")) or 0.0,
            status=_i(d.get("status")) or 0, request_id=str(d.get("request_id") or ""),
            endpoint=str(d.get("endpoint") or ""),
            model=_s(d.get("model")), deployment=_s(d.get("deployment")),
            latency_ms=_f(d.get("latency_ms")), prompt_tokens=_i(d.get("prompt_tokens")) or 0,
            completion_tokens=_i(d.get("completion_tokens")) or 0,
            cost_usd=_f(d.get("cost_usd")) or 0.0, key_name=_s(d.get("key_name")),
            error=_s(d.get("error")), stream=bool(d.get("stream")))

    @property
    def uid(self) -> str:
        """Unique per request, even when clients reuse a request id; the same on a replay."""
        return f"{self.ts:.3f}:{self.seq}:{self.request_id}"

    def text(self) -> str:
        """What the filter searches."""
        return " ".join(str(v) for v in (self.status, self.endpoint, self.model,
                                          self.deployment, self.key_name, self.error,
                                          "stream" if self.stream else "") if v).lower()


@dataclass(frozen=True, slots=True)
class Key:
    id: str
    name: str
    prefix: str = ""
    role: str = "user"
    status: str = "active"
    models: tuple[str, ...] | None = None
    rpm: int | None = None
    tpm: int | None = None
    user_id: str | None = None
    team_id: str | None = None
    created_at: float | None = None
    last_used_at: float | None = None
    expires_at: float | None = None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Key:
        models = d.get("models")
        return cls(
            id=str(d.get("id", "")), name=str(d.get("name", "")),
            prefix=str(d.get("prefix") or ""), role=str(d.get("role") or "user"),
            status=str(d.get("status") or "active"),
            models=tuple(str(m) for m in models) if isinstance(models, list) else None,
            rpm=_i(d.get("rpm")), tpm=_i(d.get("tpm")), user_id=_s(d.get("user_id")),
            team_id=_s(d.get("team_id")), created_at=_f(d.get("created_at")),
            last_used_at=_f(d.get("last_used_at")), expires_at=_f(d.get("expires_at")))


@dataclass(frozen=True, slots=True)
class Budget:
    id: str
    scope: str
    subject: str | None
    max_usd: float
    spend_usd: float
    period: str
    soft_usd: float | None = None
    next_reset: float | None = None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Budget:
        return cls(
            id=str(d.get("id", "")), scope=str(d.get("scope", "")), subject=_s(d.get("subject")),
            max_usd=_f(d.get("max_usd")) or 0.0, spend_usd=_f(d.get("spend_usd")) or 0.0,
            period=str(d.get("period", "total")), soft_usd=_f(d.get("soft_usd")),
            next_reset=_f(d.get("next_reset")))

    @property
    def label(self) -> str:
        return self.scope if self.subject is None else f"{self.scope} {self.subject}"
