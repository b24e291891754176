"""The quota book: every caller-side rate limit and budget, decided in one place.

`admit(ask)` checks, all or nothing, every rpm/tpm rule that applies to a request (per key,
user, team, model, key-model pair, endpoint) and reserves the request's maximum cost against
every budget that applies; `settle(ticket, tokens, cost)` replaces the estimates with what the
provider reported. Because admission and reservation happen in one synchronous step, concurrent
requests can never spend past a budget by more than the gap between a reservation and the real
cost. One book serves a whole gateway: in-process with one worker, in the supervisor (over a
Unix socket) with several, so N workers never keep N private copies.

Pure: time comes from an injected clock; persisting spend is the caller's job (`Settlement`
and `drain_rolls()` say what to write).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NoReturn

from pllm.errors import BudgetExceeded, RateLimited
from pllm.limits.periods import next_period_start, period_start
from pllm.limits.window import Window

__all__ = [
    "Ask",
    "BudgetLine",
    "QuotaBook",
    "Rule",
    "Settlement",
    "Ticket",
    "format_reset",
]


@dataclass(frozen=True, slots=True)
class Rule:
    """A limit that applies to this request: `scope:subject` names the counter it shares."""

    scope: str  # key | user | team | model | key_model | endpoint
    subject: str
    rpm: int | None = None
    tpm: int | None = None

    @property
    def name(self) -> str:
        return f"{self.scope}:{self.subject}"


@dataclass(frozen=True, slots=True)
class Ask:
    rules: tuple[Rule, ...] = ()
    tokens: int = 0
    """Estimated input tokens plus the output the request asks for at most."""
    budgets: tuple[str, ...] = ()
    """Ids of the budgets that could apply (`key:<id>`, `user:<id>`, `team:<id>`, `global`)."""
    reserve_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class BudgetLine:
    """A budget as the store holds it."""

    id: str
    max_usd: float
    period: str
    spend_usd: float
    period_start: float
    epoch: int
    soft_usd: float | None = None


@dataclass(slots=True)
class _Budget:
    id: str
    max_usd: float
    soft_usd: float | None
    period: str
    spend: float
    period_start: float
    epoch: int
    next_reset: float | None
    reserved: float = 0.0
    soft_warned: bool = False

    @property
    def remaining(self) -> float:
        return max(0.0, self.max_usd - self.spend)


@dataclass(slots=True)
class _Counter:
    requests: Window = field(default_factory=Window)
    tokens: Window = field(default_factory=Window)


@dataclass(slots=True)
class Ticket:
    """An admitted request: what to reconcile when it ends."""

    token_entries: list[tuple[Window, int]]
    """Token windows and the bucket this request's estimate went to."""
    tokens: int
    budgets: list[_Budget]
    reserved: float
    headers: dict[str, str]
    budget_remaining: float | None
    settled: bool = False


@dataclass(frozen=True, slots=True)
class Settlement:
    spend: tuple[tuple[str, int, float], ...]
    """(budget id, epoch, usd) to add to the store."""
    budget_remaining: float | None
    soft_exceeded: tuple[str, ...] = ()
    """Budgets whose soft limit this request crossed (warn once per period)."""


class QuotaBook:
    def __init__(self, *, clock: Callable[[], float] = time.time, tz: str = "UTC") -> None:
        self._clock = clock
        self._tz = tz
        self._counters: dict[tuple[str, str], _Counter] = {}
        self._budgets: dict[str, _Budget] = {}
        self._rolls: list[tuple[str, int, float]] = []
        self._admits = 0

    # -- budgets from the store --------------------------------------------------------------
    def sync_budgets(self, lines: Iterable[BudgetLine]) -> None:
        """Take the store's budgets. Spend held here is newer than the store's (it is flushed
        later) unless the store's epoch moved on: then the budget was reset outside."""
        fresh: dict[str, _Budget] = {}
        now = self._clock()
        for line in lines:
            mine = self._budgets.get(line.id)
            if mine is None or line.epoch > mine.epoch or line.period != mine.period:
                # The store dates periods in UTC; the book's time zone decides the boundary.
                start = period_start(line.period, line.period_start or now, self._tz)
                mine = _Budget(line.id, line.max_usd, line.soft_usd, line.period,
                               line.spend_usd, start, line.epoch,
                               next_period_start(line.period, start, self._tz),
                               reserved=mine.reserved if mine else 0.0)
            else:
                mine.max_usd, mine.soft_usd = line.max_usd, line.soft_usd
            fresh[line.id] = mine
        self._budgets = fresh

    def has_budgets(self) -> bool:
        return bool(self._budgets)

    def budget_ids(self) -> frozenset[str]:
        return frozenset(self._budgets)

    def drain_rolls(self) -> list[tuple[str, int, float]]:
        """Budgets whose period rolled over: (id, new epoch, new period start) to persist."""
        rolls, self._rolls = self._rolls, []
        return rolls

    # -- admission ---------------------------------------------------------------------------
    def admit(self, ask: Ask) -> Ticket:
        """Raises RateLimited or BudgetExceeded; otherwise counts the request everywhere."""
        now = self._clock()
        tokens = ask.tokens
        # (left after this request, limit, window) of the tightest request and token limits
        tight_r: tuple[float, int, Window] | None = None
        tight_t: tuple[float, int, Window] | None = None
        windows: list[tuple[Rule, _Counter]] = []
        for rule in ask.rules:
            c = self._counter(rule)
            if rule.rpm is not None:
                left = rule.rpm - c.requests.used(now) - 1
                if left < 0:
                    self._refuse_requests(rule, c, now)
                if tight_r is None or left < tight_r[0]:
                    tight_r = (left, rule.rpm, c.requests)
            if rule.tpm is not None:
                left = rule.tpm - c.tokens.used(now) - tokens
                if left < 0:
                    self._refuse_tokens(rule, c, tokens, now)
                if tight_t is None or left < tight_t[0]:
                    tight_t = (left, rule.tpm, c.tokens)
            windows.append((rule, c))
        budgets = [b for bid in ask.budgets if (b := self._budgets.get(bid)) is not None]
        for b in budgets:
            self._roll(b, now)
            if b.spend >= b.max_usd or b.spend + b.reserved + ask.reserve_usd > b.max_usd:
                raise BudgetExceeded(_budget_message(b, self._tz))
        entries: list[tuple[Window, int]] = []
        for rule, c in windows:
            if rule.rpm is not None:
                c.requests.add(now, 1)
            if rule.tpm is not None:
                entries.append((c.tokens, c.tokens.add(now, tokens)))
        for b in budgets:
            b.reserved += ask.reserve_usd
        self._admits += 1
        if self._admits % 4096 == 0:
            self._sweep(now)
        headers: dict[str, str] = {}
        if tight_r is not None:
            _put_headers(headers, "requests", tight_r, now)
        if tight_t is not None:
            _put_headers(headers, "tokens", tight_t, now)
        return Ticket(entries, tokens, budgets, ask.reserve_usd, headers,
                      min(b.remaining for b in budgets) if budgets else None)

    def _counter(self, rule: Rule) -> _Counter:
        key = (rule.scope, rule.subject)
        c = self._counters.get(key)
        if c is None:
            c = self._counters[key] = _Counter()
        return c

    @staticmethod
    def _refuse_requests(rule: Rule, c: _Counter, now: float) -> NoReturn:
        assert rule.rpm is not None
        wait = c.requests.free_at(now, 1, rule.rpm) - now
        raise RateLimited(
            f"Rate limit reached for {_who(rule)}: {rule.rpm} requests per minute. "
            f"Please try again in {format_reset(wait)}.", retry_after=wait,
            headers=_limit_headers("requests", rule.rpm, c.requests, now, 1))

    @staticmethod
    def _refuse_tokens(rule: Rule, c: _Counter, tokens: int, now: float) -> NoReturn:
        assert rule.tpm is not None
        free = c.tokens.free_at(now, tokens, rule.tpm)
        if free == float("inf"):
            raise RateLimited(
                f"Request too large for {_who(rule)}: about {tokens} tokens asked, the "
                f"limit is {rule.tpm} tokens per minute. Send fewer tokens or a smaller "
                "max_tokens.", error_type="tokens", code="rate_limit_exceeded",
                headers={"x-ratelimit-limit-tokens": str(rule.tpm),
                         "x-ratelimit-remaining-tokens": str(
                             max(0, int(rule.tpm - c.tokens.used(now))))})
        raise RateLimited(
            f"Rate limit reached for {_who(rule)}: {rule.tpm} tokens per minute, about "
            f"{tokens} asked. Please try again in {format_reset(free - now)}.",
            retry_after=free - now, error_type="tokens",
            headers=_limit_headers("tokens", rule.tpm, c.tokens, now, tokens))

    # -- settlement --------------------------------------------------------------------------
    def settle(self, ticket: Ticket, tokens: int, cost: float) -> Settlement:
        """The request ended: its real token count and cost replace the estimates."""
        if ticket.settled:
            raise ValueError("ticket settled twice")
        ticket.settled = True
        now = self._clock()
        for window, entry in ticket.token_entries:
            window.adjust(entry, ticket.tokens, tokens, now)
        spend: list[tuple[str, int, float]] = []
        soft: list[str] = []
        for b in ticket.budgets:
            b.reserved = max(0.0, b.reserved - ticket.reserved)
            self._roll(b, now)
            if cost:
                b.spend += cost
                spend.append((b.id, b.epoch, cost))
            if b.soft_usd is not None and b.spend >= b.soft_usd and not b.soft_warned:
                b.soft_warned = True
                soft.append(b.id)
        remaining = min(b.remaining for b in ticket.budgets) if ticket.budgets else None
        return Settlement(tuple(spend), remaining, tuple(soft))

    def _roll(self, b: _Budget, now: float) -> None:
        if b.next_reset is None or now < b.next_reset:
            return
        b.period_start = period_start(b.period, now, self._tz)
        b.next_reset = next_period_start(b.period, b.period_start, self._tz)
        b.spend = 0.0
        b.epoch += 1
        b.soft_warned = False
        self._rolls.append((b.id, b.epoch, b.period_start))

    def _sweep(self, now: float) -> None:
        """Forget counters with nothing in their window (callers come and go)."""
        idle = [name for name, c in self._counters.items()
                if c.requests.empty(now) and c.tokens.empty(now)]
        for name in idle:
            del self._counters[name]


def _who(rule: Rule) -> str:
    scope = {"key": "this key", "user": f"user '{rule.subject}'",
             "team": f"team '{rule.subject}'", "model": f"model '{rule.subject}'",
             "endpoint": f"the {rule.subject} endpoint"}.get(rule.scope)
    if scope is None:  # key_model
        _, _, model = rule.subject.partition(":")
        scope = f"model '{model}' with this key"
    return scope


def _budget_message(b: _Budget, tz: str) -> str:
    scope, _, subject = b.id.partition(":")
    who = "the gateway" if b.id == "global" else f"{scope} '{subject}'"
    when = ""
    if b.next_reset is not None:
        when = f"; it resets at {_iso(b.next_reset)}"
    return (f"Budget exceeded for {who}: ${b.spend:.6f} spent of ${b.max_usd:.6f} "
            f"({b.period}){when}.")


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_reset(seconds: float) -> str:
    """OpenAI's duration format for `x-ratelimit-reset-*`: `20ms`, `1.5s`, `6m0s`, `1h2m3s`."""
    if seconds < 1.0:
        return f"{max(0, round(seconds * 1000))}ms"
    if seconds < 60.0:
        return f"{round(seconds, 3):g}s"
    whole = int(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m}m{s}s" if h else f"{m}m{s}s"


def _limit_headers(kind: str, limit: int, window: Window, now: float,
                   need: float) -> dict[str, str]:
    """The headers of a refusal: nothing left, and when `need` fits again."""
    used = window.used(now)
    return {f"x-ratelimit-limit-{kind}": str(limit),
            f"x-ratelimit-remaining-{kind}": str(max(0, int(limit - used))),
            f"x-ratelimit-reset-{kind}": format_reset(
                max(0.0, window.free_at(now, min(need, limit), limit) - now))}


def _put_headers(out: dict[str, str], kind: str, tight: tuple[float, int, Window],
                 now: float) -> None:
    """OpenAI's headers for an admitted request. `reset` is when the oldest use in the
    window leaves it (when `remaining` next goes up)."""
    left, limit, window = tight
    out[f"x-ratelimit-limit-{kind}"] = str(limit)
    out[f"x-ratelimit-remaining-{kind}"] = str(max(0, int(left)))
    reset = window.oldest_at(now) - now
    out[f"x-ratelimit-reset-{kind}"] = format_reset(max(0.0, reset))
