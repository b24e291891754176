"""The bench's aggregation: processes merge in parallel, rounds in series, summaries and the
overhead (difference and ratio) computed from them."""

from __future__ import annotations

import pytest

from pllm.bench.runner import overhead
from pllm.bench.stats import Stats, summarize, tokens_source


def part(ok: int, latency_us: list[int], start: float, end: float,
         errors: dict[str, int] | None = None) -> Stats:
    s = Stats()
    s.ok = ok
    for v in latency_us:
        s.latency.record(v)
    for key, n in (errors or {}).items():
        for _ in range(n):
            s.record_error(key, f"sample for {key}")
    s.mark(start, end)
    return s


def test_parallel_merge_spans_first_start_to_last_end() -> None:
    a = part(100, [1000] * 100, start=10.0, end=12.0, errors={"429": 3})
    b = part(50, [3000] * 50, start=10.5, end=13.0, errors={"429": 1, "500": 2})
    s = Stats.combine([a, b], parallel=True)
    assert s.elapsed == pytest.approx(3.0)
    assert (s.ok, s.failed, s.done) == (150, 6, 156)
    assert s.errors == {"429": 4, "500": 2}
    assert s.samples == {"429": "sample for 429", "500": "sample for 500"}
    assert s.latency.n == 150


def test_serial_merge_adds_durations() -> None:
    rounds = [part(100, [1000] * 100, 0.0, 2.0), part(100, [1000] * 100, 50.0, 51.0)]
    s = Stats.combine(rounds, parallel=False)
    assert s.elapsed == pytest.approx(3.0)  # not 51: the pause between rounds is not load
    assert summarize(s)["rps"] == pytest.approx(200 / 3.0, abs=0.01)


def test_summary_figures() -> None:
    s = part(90, [2000] * 45 + [4000] * 45, 0.0, 2.0, errors={"500": 10, "timeout": 0})
    s.ttft.record(1500)
    s.prompt_tokens, s.completion_tokens, s.usage_answers = 900, 1800, 90
    out = summarize(s)
    assert out["requests"] == 100 and out["ok"] == 90 and out["failed"] == 10
    assert out["rps"] == 50.0 and out["ok_rps"] == 45.0
    assert out["errors"] == {"500": 10}
    assert out["latency_ms"]["p50"] == pytest.approx(2.0, rel=1 / 256)
    assert out["latency_ms"]["p90"] == pytest.approx(4.0, rel=1 / 256)
    assert out["latency_ms"]["mean"] == pytest.approx(3.0)
    assert out["ttft_ms"]["p50"] == pytest.approx(1.5, rel=1 / 256)
    assert out["itl_ms"] is None and out["server_overhead_ms"] is None
    assert out["tokens"] == {"prompt": 900, "completion": 1800, "completion_per_s": 900.0,
                             "total_per_s": 1350.0, "source": "usage"}


def test_summary_of_nothing() -> None:
    out = summarize(Stats())
    assert out["requests"] == 0 and out["rps"] == 0.0 and out["latency_ms"] is None


@pytest.mark.parametrize(("usage", "counted", "want"), [
    (0, 0, "none"), (5, 0, "usage"), (0, 5, "chunks"), (3, 2, "mixed")])
def test_tokens_source(usage: int, counted: int, want: str) -> None:
    s = Stats(usage_answers=usage, counted_answers=counted)
    assert tokens_source(s) == want


def test_overhead_difference_and_ratio() -> None:
    target = summarize(part(100, [5000] * 100, 0.0, 1.0))
    baseline = summarize(part(400, [1000] * 400, 0.0, 1.0))
    o = overhead(target, baseline)
    assert o["rps"] == {"target": 100.0, "baseline": 400.0, "difference": -300.0,
                        "ratio": 0.25}
    p50 = o["latency p50 ms"]
    assert p50["difference"] == pytest.approx(4.0, rel=0.01)
    assert p50["ratio"] == pytest.approx(5.0, rel=0.01)
    assert "ttft p50 ms" not in o  # neither side streamed


def test_overhead_ratio_is_none_against_zero() -> None:
    target = summarize(part(10, [1000] * 10, 0.0, 1.0))
    baseline = summarize(part(0, [], 0.0, 1.0, errors={"503": 10}))
    assert "latency p50 ms" not in overhead(target, baseline)  # the baseline has no latency
    zero = {**baseline, "tokens": {**baseline["tokens"], "completion_per_s": 0.0}}
    assert overhead(target, zero)["completion tokens/s"]["ratio"] is None


def test_generator_cost() -> None:
    a, b = Stats(), Stats()
    a.ok = b.ok = 500
    a.mark(0.0, 2.0, cpu_user_s=0.5, cpu_sys_s=0.3)
    b.mark(0.0, 2.0, cpu_user_s=0.4, cpu_sys_s=0.4)
    run = Stats.combine([a, b], parallel=True)
    g = summarize(run)["generator"]
    assert g == {"processes": 2, "cpu_user_s": 0.9, "cpu_sys_s": 0.7,
                 "cpu_us_per_request": 1600.0, "busy": 0.4}  # 1.6 s of 2 processes x 2 s
    rounds = Stats.combine([run, run], parallel=False)
    assert summarize(rounds)["generator"]["processes"] == 2
    assert summarize(rounds)["generator"]["busy"] == 0.4
    assert summarize(Stats())["generator"]["cpu_us_per_request"] is None
