"""The quota book with an injected clock: what the end-to-end tests cannot wait for (a 60 s
window sliding, a budget period ending) and its exact arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pllm.errors import BudgetExceeded, RateLimited
from pllm.limits.quota import Ask, BudgetLine, QuotaBook, Rule, format_reset


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_rpm_window_slides_one_request_at_a_time() -> None:
    clock = Clock()
    book = QuotaBook(clock=clock)
    ask = Ask((Rule("key", "k1", rpm=2),))
    t0 = clock.now
    first = book.admit(ask)
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    clock.now = t0 + 10
    assert book.admit(ask).headers["x-ratelimit-remaining-requests"] == "0"
    clock.now = t0 + 20
    with pytest.raises(RateLimited) as caught:
        book.admit(ask)
    assert caught.value.retry_after == pytest.approx(40.0)
    assert caught.value.response_headers()["retry-after"] == "40"
    assert caught.value.headers["x-ratelimit-reset-requests"] == "40s"
    clock.now = t0 + 60.001  # the first request left the window: room for exactly one
    assert book.admit(ask).headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(RateLimited) as caught:
        book.admit(ask)
    assert caught.value.retry_after == pytest.approx(9.999)
    clock.now = t0 + 130.5  # everything gone: the full limit again
    assert book.admit(ask).headers["x-ratelimit-remaining-requests"] == "1"


def test_refusals_are_all_or_nothing_and_never_counted() -> None:
    clock = Clock()
    book = QuotaBook(clock=clock)
    loose, tight = Rule("user", "u", rpm=10), Rule("model", "m", rpm=1)
    book.admit(Ask((loose, tight)))
    for _ in range(5):
        with pytest.raises(RateLimited, match="model 'm'"):
            book.admit(Ask((loose, tight)))
    # Only the admitted request counts against the user: 9 more fit.
    for left in range(8, -1, -1):
        t = book.admit(Ask((loose,)))
        assert t.headers["x-ratelimit-remaining-requests"] == str(left)
    with pytest.raises(RateLimited, match="user 'u'"):
        book.admit(Ask((loose,)))


def test_headers_name_the_tightest_limit() -> None:
    book = QuotaBook(clock=Clock())
    t = book.admit(Ask((Rule("team", "t", rpm=100, tpm=1000), Rule("key", "k", rpm=5)),
                       tokens=40))
    assert t.headers["x-ratelimit-limit-requests"] == "5"
    assert t.headers["x-ratelimit-remaining-requests"] == "4"
    assert t.headers["x-ratelimit-limit-tokens"] == "1000"
    assert t.headers["x-ratelimit-remaining-tokens"] == "960"
    assert t.headers["x-ratelimit-reset-tokens"] == "1m0s"


def test_tokens_reconcile_after_settle() -> None:
    clock = Clock()
    book = QuotaBook(clock=clock)
    rule = Rule("key", "k", tpm=100)
    first = book.admit(Ask((rule,), tokens=80))  # e.g. 10 prompt + max_tokens 70
    with pytest.raises(RateLimited) as caught:
        book.admit(Ask((rule,), tokens=30))
    assert caught.value.error_type == "tokens"
    assert caught.value.headers["x-ratelimit-remaining-tokens"] == "20"
    clock.now += 1
    book.settle(first, tokens=12, cost=0.0)  # what the provider reported
    second = book.admit(Ask((rule,), tokens=88))
    assert second.headers["x-ratelimit-remaining-tokens"] == "0"
    book.settle(second, tokens=90, cost=0.0)  # more than estimated: counted as reported
    with pytest.raises(RateLimited) as caught:
        book.admit(Ask((rule,), tokens=1))
    assert caught.value.retry_after == pytest.approx(59.0)  # when the first entry leaves
    clock.now += 59.5
    book.admit(Ask((rule,), tokens=10))  # 90 + 10


def test_a_request_larger_than_the_tpm_never_fits() -> None:
    book = QuotaBook(clock=Clock())
    with pytest.raises(RateLimited, match="Request too large") as caught:
        book.admit(Ask((Rule("key", "k", tpm=50),), tokens=51))
    assert caught.value.retry_after is None
    assert caught.value.headers["x-ratelimit-limit-tokens"] == "50"
    assert caught.value.headers["x-ratelimit-remaining-tokens"] == "50"


def _line(max_usd: float, period: str = "total", spend: float = 0.0, start: float = 0.0,
          soft: float | None = None, epoch: int = 0) -> BudgetLine:
    return BudgetLine("key:k", max_usd, period, spend, start, epoch, soft)


def test_budget_reservations_refuse_what_could_overshoot() -> None:
    book = QuotaBook(clock=Clock())
    book.sync_budgets([_line(1.0)])
    ask = Ask(budgets=("key:k",), reserve_usd=0.4)
    a, b = book.admit(ask), book.admit(ask)
    assert a.budget_remaining == 1.0
    with pytest.raises(BudgetExceeded, match="key 'k'") as caught:
        book.admit(ask)  # 0.8 reserved + 0.4 > 1.0, though nothing is spent yet
    assert caught.value.code == "budget_exceeded"
    assert caught.value.response_headers()["x-should-retry"] == "false"
    s = book.settle(a, tokens=0, cost=0.1)
    assert s.spend == (("key:k", 0, 0.1),) and s.budget_remaining == pytest.approx(0.9)
    c = book.admit(ask)  # 0.1 spent + 0.4 + 0.4 reserved = 0.9
    book.settle(b, tokens=0, cost=0.4)
    book.settle(c, tokens=0, cost=0.4)
    assert book.admit(Ask(budgets=("key:k",), reserve_usd=0.1)).budget_remaining == \
        pytest.approx(0.1)
    with pytest.raises(BudgetExceeded):
        book.admit(Ask(budgets=("key:k",), reserve_usd=0.01))  # 0.9 + 0.1 reserved


def test_a_spent_budget_refuses_even_free_requests() -> None:
    book = QuotaBook(clock=Clock())
    book.sync_budgets([_line(1.0, spend=1.0)])
    with pytest.raises(BudgetExceeded):
        book.admit(Ask(budgets=("key:k",), reserve_usd=0.0))


def test_budget_rolls_over_on_the_utc_day_boundary() -> None:
    clock = Clock(ts("2026-03-04T23:59:50"))
    book = QuotaBook(clock=clock)
    book.sync_budgets([_line(1.0, "daily", start=ts("2026-03-04T00:00:00"))])
    ask = Ask(budgets=("key:k",), reserve_usd=0.6)
    book.settle(book.admit(ask), tokens=0, cost=0.6)
    with pytest.raises(BudgetExceeded, match="resets at 2026-03-05T00:00:00Z"):
        book.admit(ask)
    assert book.drain_rolls() == []
    clock.now = ts("2026-03-05T00:00:01")
    t = book.admit(ask)
    assert t.budget_remaining == 1.0
    assert book.drain_rolls() == [("key:k", 1, ts("2026-03-05T00:00:00"))]
    s = book.settle(t, tokens=0, cost=0.5)
    assert s.spend == (("key:k", 1, 0.5),)  # counted to the new period's epoch
    # The store catching up (same epoch) keeps the newer in-memory spend ...
    book.sync_budgets([_line(1.0, "daily", spend=0.0, start=ts("2026-03-05T00:00:00"),
                             epoch=1)])
    with pytest.raises(BudgetExceeded):
        book.admit(ask)  # 0.5 + 0.6 > 1
    # ... but an admin reset (a newer epoch) wins.
    book.sync_budgets([_line(1.0, "daily", spend=0.0, start=ts("2026-03-05T00:00:00"),
                             epoch=2)])
    book.admit(ask)


def test_monthly_budget_rolls_on_the_first_of_the_month() -> None:
    clock = Clock(ts("2026-01-31T12:00:00"))
    book = QuotaBook(clock=clock)
    book.sync_budgets([_line(1.0, "monthly", spend=1.0, start=ts("2026-01-01T00:00:00"))])
    ask = Ask(budgets=("key:k",), reserve_usd=0.1)
    with pytest.raises(BudgetExceeded, match="resets at 2026-02-01T00:00:00Z"):
        book.admit(ask)
    clock.now = ts("2026-02-01T00:00:00")
    book.admit(ask)
    assert book.drain_rolls() == [("key:k", 1, ts("2026-02-01T00:00:00"))]


def test_soft_limit_is_flagged_once_per_period() -> None:
    clock = Clock(ts("2026-03-04T12:00:00"))
    book = QuotaBook(clock=clock)
    book.sync_budgets([_line(10.0, "daily", soft=1.0, start=ts("2026-03-04T00:00:00"))])
    ask = Ask(budgets=("key:k",), reserve_usd=0.5)
    flagged = [book.settle(book.admit(ask), tokens=0, cost=0.4).soft_exceeded
               for _ in range(5)]
    assert flagged == [(), (), ("key:k",), (), ()]  # 0.4, 0.8, 1.2 crosses, then quiet
    clock.now = ts("2026-03-05T08:00:00")
    flagged = [book.settle(book.admit(ask), tokens=0, cost=0.4).soft_exceeded
               for _ in range(3)]
    assert flagged == [(), (), ("key:k",)], "a new period warns again"


def test_settling_twice_is_refused() -> None:
    book = QuotaBook(clock=Clock())
    t = book.admit(Ask((Rule("key", "k", rpm=1),)))
    book.settle(t, tokens=0, cost=0.0)
    with pytest.raises(ValueError, match="twice"):
        book.settle(t, tokens=0, cost=0.0)


@pytest.mark.parametrize(("seconds", "text"), [
    (0.02, "20ms"), (0.0, "0ms"), (1.5, "1.5s"), (59.968, "59.968s"), (60.0, "1m0s"),
    (360.0, "6m0s"), (3723.0, "1h2m3s"),
])
def test_format_reset_is_openais(seconds: float, text: str) -> None:
    assert format_reset(seconds) == text
