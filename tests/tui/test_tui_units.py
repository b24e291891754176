"""The dashboard's pure pieces: number formats, health bars, the request filter, lenient
parsing of the feed, and which table layout fits which terminal width."""

from __future__ import annotations

import asyncio
from datetime import UTC

import pytest
from server import free_port

from pllm.tui import fmt
from pllm.tui.client import AdminClient, AdminUnavailable
from pllm.tui.dashboard import COLUMNS, layout_for
from pllm.tui.models import Deployment, RequestRow, Snapshot
from pllm.tui.requests_view import matches


@pytest.mark.parametrize(("score", "bar", "colour"), [
    (100, "████", "green"), (80, "███▎", "green"), (50, "██  ", "yellow"),
    (12, "▌   ", "red"), (0, "    ", "red")])
def test_health_bar(score: int, bar: str, colour: str) -> None:
    text = fmt.health_bar(score, 4)
    assert text.plain == f"{bar}{score:>4}"
    assert str(text.style) == colour


def test_numbers() -> None:
    assert [fmt.count(n) for n in (999, 1000, 1234, 2_500_000)] == ["999", "1k", "1.2k",
                                                                     "2.5M"]
    assert [fmt.latency(v) for v in (None, 0.25, 42.4, 1500)] == ["-", "0.2ms", "42ms", "1.5s"]
    assert [fmt.usd(v) for v in (0, 0.0012, 3.456, 1234.5)] == ["$0", "$0.0012", "$3.46",
                                                                "$1,234.50"]
    assert [fmt.percent(v).plain for v in (0, 0.031, 1.0)] == ["0%", "3.1%", "100%"]
    assert fmt.usage(12, 1000).plain == "12/1k" and fmt.usage(7, None).plain == "7"
    assert str(fmt.usage(95, 100).style) == "red"
    assert fmt.clock_time(0, UTC) == "00:00:00"
    assert fmt.age(None, 10) == "never" and fmt.age(100, 400) == "5m ago"
    assert fmt.when(3600 * 5, 0, UTC) == "in 5h (05:00)"


def test_request_filter() -> None:
    row = RequestRow(seq=1, ts=0, status=429, endpoint="chat", model="gpt-4o",
                     key_name="CI-Bot", error="rate_limit_exceeded")
    for query in ("", "gpt", "ci-bot 429", "4xx", "error", "rate_limit"):
        assert matches(row, query), query
    for query in ("5xx", "ok", "200", "claude", "gpt claude"):
        assert not matches(row, query), query


def test_feed_parsing_is_lenient() -> None:
    snap = Snapshot.parse({"deployments": [{"id": "a", "health": 55}], "series": {
        "rps": [1, None, 2], "p95_ms": [None, 30.5, None]}})
    assert snap.deployments[0] == Deployment(id="a", model_group="?", provider="?", health=55)
    assert snap.rps_series == (1.0, 0.0, 2.0) and snap.p95_series == (0.0, 30.5, 0.0)
    assert snap.today.requests == 0 and Snapshot.parse({}).deployments == ()


@pytest.mark.parametrize(("width", "layout"), [(80, "compact"), (100, "compact"),
                                               (120, "medium"), (160, "full")])
def test_the_richest_layout_that_fits(width: int, layout: str) -> None:
    assert layout_for(width) == layout
    columns = COLUMNS[layout]
    # At 80 columns everything up to rpm is on screen; tpm may scroll.
    shown = [c[0] for c in columns if c[0] != "tpm"]
    assert sum(c[2] + 2 for c in columns if c[0] in shown) <= width - 2


def test_nothing_listening_is_unavailable() -> None:
    async def run() -> None:
        client = AdminClient(f"http://127.0.0.1:{free_port()}", "k", timeout=2)
        with pytest.raises(AdminUnavailable, match="connection refused"):
            await client.stats()
        with pytest.raises(AdminUnavailable, match="connection refused"):
            async for _ in client.events():
                pass
        await client.aclose()

    asyncio.run(run())
