"""The store's records: plain frozen values the rest of pllm reads, never SQLite rows.

Timestamps are unix seconds (floats, UTC). Budget periods reset on calendar boundaries, in UTC
unless a time zone is passed: a day at midnight, an ISO week on Monday at midnight, a month on
its first day; `total` never resets. The period maths is pure (the caller passes `now`), so it
is tested with fixed times.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pllm.limits.periods import next_period_start, period_start

__all__ = [
    "AUDIT_FIELDS",
    "BUDGET_SCOPES",
    "ENDPOINTS",
    "LIMIT_SCOPES",
    "PERIODS",
    "ROLES",
    "AdminEvent",
    "AuditRow",
    "BudgetRecord",
    "BudgetScope",
    "KeyRecord",
    "KeyStatus",
    "LimitRecord",
    "LimitScope",
    "Period",
    "Role",
    "budget_id_for",
    "next_period_start",
    "period_start",
]

Role = Literal["user", "viewer", "admin"]
Period = Literal["daily", "weekly", "monthly", "total"]
BudgetScope = Literal["key", "user", "team", "global"]
LimitScope = Literal["user", "team", "model", "key_model", "endpoint"]
KeyStatus = Literal["active", "revoked", "expired", "grace"]

ROLES: tuple[Role, ...] = ("user", "viewer", "admin")
PERIODS: tuple[Period, ...] = ("daily", "weekly", "monthly", "total")
BUDGET_SCOPES: tuple[BudgetScope, ...] = ("key", "user", "team", "global")
LIMIT_SCOPES: tuple[LimitScope, ...] = ("user", "team", "model", "key_model", "endpoint")
ENDPOINTS: tuple[str, ...] = ("chat", "completions", "embeddings", "messages")


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A virtual key as stored: only the secret's hash and a display prefix are kept."""

    id: str
    name: str
    key_hash: str = field(repr=False)
    prefix: str
    created_at: float
    user_id: str | None = None
    team_id: str | None = None
    role: Role = "user"
    models: tuple[str, ...] | None = None
    """Model names the key may use; None = every model."""
    rpm: int | None = None
    tpm: int | None = None
    expires_at: float | None = None
    revoked_at: float | None = None
    last_used_at: float | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    grace_until: float | None = None
    """A rotated-out key keeps working until then."""
    rotated_to: str | None = None

    def status(self, now: float) -> KeyStatus:
        if self.revoked_at is not None and not self.in_grace(now):
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "grace" if self.revoked_at is not None else "active"

    def in_grace(self, now: float) -> bool:
        return self.grace_until is not None and now < self.grace_until

    def is_usable(self, now: float) -> bool:
        return self.status(now) in ("active", "grace")

    @property
    def budget_id(self) -> str:
        """The budget this key's spend counts against: a rotated key's budget moved with it."""
        return budget_id_for("key", self.rotated_to or self.id)

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        """JSON-ready, without the hash; with `status` when `now` is given."""
        out: dict[str, Any] = {
            "id": self.id, "name": self.name, "prefix": self.prefix, "user_id": self.user_id,
            "team_id": self.team_id, "role": self.role,
            "models": list(self.models) if self.models is not None else None,
            "rpm": self.rpm, "tpm": self.tpm, "expires_at": self.expires_at,
            "created_at": self.created_at, "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at, "metadata": dict(self.metadata),
            "grace_until": self.grace_until, "rotated_to": self.rotated_to,
        }
        if now is not None:
            out["status"] = self.status(now)
        return out


@dataclass(frozen=True, slots=True)
class BudgetRecord:
    """A spend limit in USD for a key, user, team or everyone, over a calendar period."""

    id: str
    scope: BudgetScope
    subject: str | None
    max_usd: float
    period: Period
    spend_usd: float
    period_start: float
    updated_at: float
    soft_usd: float | None = None
    epoch: int = 0
    """Bumped by every reset (an admin's, or a new period's), so a process holding spend in
    memory can tell that the stored budget was reset under it."""

    def period_start_for(self, now: float, tz: str = "UTC") -> float:
        """Start of the period containing `now`; a `total` budget's start never moves."""
        if self.period == "total":
            return self.period_start
        return period_start(self.period, now, tz)

    def next_reset(self, now: float, tz: str = "UTC") -> float | None:
        """When the period containing `now` ends (a calendar boundary); None for `total`."""
        if self.period == "total":
            return None
        return next_period_start(self.period, now, tz)

    def needs_reset(self, now: float, tz: str = "UTC") -> bool:
        """The stored spend belongs to an earlier period."""
        return self.period != "total" and self.period_start < period_start(self.period, now, tz)

    def spend_at(self, now: float, tz: str = "UTC") -> float:
        return 0.0 if self.needs_reset(now, tz) else self.spend_usd

    def remaining(self, now: float, tz: str = "UTC") -> float:
        return max(0.0, self.max_usd - self.spend_at(now, tz))

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "scope": self.scope, "subject": self.subject,
            "max_usd": self.max_usd, "soft_usd": self.soft_usd, "period": self.period,
            "spend_usd": self.spend_usd, "period_start": self.period_start,
            "updated_at": self.updated_at, "epoch": self.epoch,
        }
        if now is not None:
            out.update(spend_usd=self.spend_at(now), remaining_usd=self.remaining(now),
                       next_reset=self.next_reset(now))
        return out


@dataclass(frozen=True, slots=True)
class LimitRecord:
    """rpm/tpm for a user, team, model group, one key on one model, or an endpoint."""

    scope: LimitScope
    subject: str
    """user or team id; model group; `<key_id>:<model>`; endpoint (chat, completions, ...)."""
    rpm: int | None
    tpm: int | None
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "subject": self.subject, "rpm": self.rpm, "tpm": self.tpm,
                "updated_at": self.updated_at}


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One request as audited. `id` is assigned by the database (None until read back)."""

    ts: float
    request_id: str
    endpoint: str
    model: str | None
    """As asked by the client; None when the request was refused before it was read."""
    status: int
    key_id: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    role: str | None = None
    deployment: str | None = None
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    cache_hit: bool = False
    error: str | None = None
    client: str | None = None
    body: str | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in AUDIT_FIELDS}


AUDIT_FIELDS: tuple[str, ...] = (
    "id", "ts", "request_id", "key_id", "user_id", "team_id", "role", "endpoint", "model",
    "deployment", "status", "latency_ms", "prompt_tokens", "completion_tokens", "cost_usd",
    "cache_hit", "error", "client", "body",
)


@dataclass(frozen=True, slots=True)
class AdminEvent:
    """An administrative change: who did what to which record."""

    ts: float
    actor: str
    action: str
    """key.create, key.revoke, key.rotate, key.update, budget.set, budget.reset, budget.delete,
    limit.set, limit.delete, config.reload"""
    target: str | None
    detail: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "ts": self.ts, "actor": self.actor, "action": self.action,
                "target": self.target, "detail": dict(self.detail)}


def budget_id_for(scope: BudgetScope, subject: str | None) -> str:
    return "global" if scope == "global" else f"{scope}:{subject}"
