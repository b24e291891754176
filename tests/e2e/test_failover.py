"""Routing end to end: the official `openai` SDK (max_retries=0, so it hides nothing) through a
real pllm to fault-injecting upstreams on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import httpx
import openai
import pytest
from mockups.faulty import FaultyUpstream
from server import PllmServer

pytestmark = pytest.mark.e2e

MASTER = "sk-master-failover-0123456789"
HELLO = [{"role": "user", "content": "hello"}]


def config(ups: list[FaultyUpstream], *, router: str = "", extra: str = "") -> str:
    deployments = "".join(f"""
  - model_name: m
    model_info: {{id: {u.name}}}
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {u.url}
      api_key: {u.api_key}
{extra}""" for u in ups)
    return f"model_list:{deployments}\nrouter:\n{router}\ngeneral_settings:\n" \
           f"  master_key: {MASTER}\n"


@pytest.fixture
def upstreams() -> Iterator[Callable[[int], list[FaultyUpstream]]]:
    made: list[FaultyUpstream] = []

    def make(n: int) -> list[FaultyUpstream]:
        for i in range(n):
            made.append(FaultyUpstream("abcdefgh"[i], seed=i).__enter__())
        return made[-n:]

    yield make
    for u in made:
        u.__exit__()


async def burst(url: str, n: int, concurrency: int, model: str = "m",
                stream: bool = False) -> tuple[int, list[str], list[BaseException]]:
    """(successes, the deployment of each, failures) for n requests."""
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key=MASTER, max_retries=0)
    gate = asyncio.Semaphore(concurrency)
    served: list[str] = []
    errors: list[BaseException] = []

    async def one() -> None:
        async with gate:
            try:
                if stream:
                    s = await client.chat.completions.create(model=model, messages=HELLO,
                                                             stream=True)
                    async for _ in s:
                        pass
                    served.append("stream")
                else:
                    raw = await client.chat.completions.with_raw_response.create(
                        model=model, messages=HELLO)
                    served.append(raw.headers["x-pllm-model"])
            except Exception as e:  # collected and reported by the test
                errors.append(e)

    try:
        await asyncio.gather(*(one() for _ in range(n)))
    finally:
        await client.close()
    return len(served), served, errors


def test_zero_failures_with_a_dead_and_a_flaky_deployment(
        make_server: Callable[..., PllmServer], upstreams: Callable[[int], list[FaultyUpstream]]
) -> None:
    a, b, c = upstreams(3)
    a.set(status=500)
    b.set(fail_rate=0.3)
    server = make_server(config([a, b, c], router="  circuit_breaker: {threshold: 3, timeout: 60}"))
    ok, served, errors = asyncio.run(burst(server.url, 400, 16))
    assert errors == [] and ok == 400
    # 3 failures open its breaker; requests already on their way there when it opened also
    # fail over (at most one per concurrent client); after that it gets nothing.
    assert a.count() <= 3 + 16, f"the dead deployment got {a.count()} requests"
    before = a.count()
    asyncio.run(burst(server.url, 200, 16))
    assert a.count() == before, "an open breaker keeps it out until its timeout"
    assert served.count("a") == 0 and served.count("c") > served.count("b")
    health = httpx.get(server.url + "/admin/health",
                       headers={"authorization": f"Bearer {MASTER}"}).json()
    by_id = {d["id"]: d for d in health["deployments"]}
    assert by_id["a"]["circuit"]["state"] == "open" and by_id["a"]["health"] == 0
    assert by_id["c"]["health"] >= by_id["b"]["health"] and by_id["c"]["health"] > 80
    assert by_id["b"]["total_failures"] > 0 and by_id["c"]["total_failures"] == 0


def test_a_killed_deployment_is_routed_around_and_used_again_after_it_returns(
        make_server: Callable[..., PllmServer], upstreams: Callable[[int], list[FaultyUpstream]]
) -> None:
    a, b = upstreams(2)
    server = make_server(config([a, b], router="  strategy: round_robin\n"
                                "  circuit_breaker: {threshold: 2, timeout: 1}"))
    _, _, errors = asyncio.run(burst(server.url, 40, 4))
    assert errors == [] and a.count() > 10
    a.kill()
    _ok, served, errors = asyncio.run(burst(server.url, 60, 4))
    assert errors == [] and served.count("a") == 0
    a.revive()
    back = time.monotonic()
    deadline = back + 5
    while a.count(since=back) == 0 and time.monotonic() < deadline:
        asyncio.run(burst(server.url, 4, 2))
    assert a.count(since=back) > 0, "the revived deployment gets traffic again"
    assert time.monotonic() - back < 2.5, "within the breaker timeout plus one probe"


def test_stream_fails_over_before_its_first_byte_and_errors_after_it(
        make_server: Callable[..., PllmServer], upstreams: Callable[[int], list[FaultyUpstream]]
) -> None:
    a, b = upstreams(2)
    a.set(status=503)
    server = make_server(config([a, b], router="  strategy: round_robin"))
    ok, _, errors = asyncio.run(burst(server.url, 20, 4, stream=True))
    assert errors == [] and ok == 20 and a.count() >= 1
    a.set(die_after_chunks=2)
    b.set(die_after_chunks=2)
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=MASTER, max_retries=0)
    with client, pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(model="m", messages=HELLO, stream=True):
            pass


def test_latency_based_sends_most_traffic_to_the_fast_deployment(
        make_server: Callable[..., PllmServer], upstreams: Callable[[int], list[FaultyUpstream]]
) -> None:
    fast, slow = upstreams(2)
    fast.set(latency_s=0.01)
    slow.set(latency_s=0.1)
    server = make_server(config([fast, slow], router="  strategy: latency_based"))
    ok, served, errors = asyncio.run(burst(server.url, 300, 8))
    assert errors == [] and served.count("a") / ok >= 0.9
    fast.set(latency_s=0.3)
    asyncio.run(burst(server.url, 60, 4))
    ok, served, _ = asyncio.run(burst(server.url, 100, 4))
    assert served.count("b") / ok >= 0.7, "traffic moves when the fast one turns slow"


def test_usage_based_never_exceeds_rpm_and_then_answers_429(
        make_server: Callable[..., PllmServer], upstreams: Callable[[int], list[FaultyUpstream]]
) -> None:
    a, b = upstreams(2)
    server = make_server(config([a, b], router="  strategy: usage_based",
                                extra="      rpm: 15\n"))
    ok, _served, errors = asyncio.run(burst(server.url, 40, 4))
    assert (a.count(), b.count()) == (15, 15) and ok == 30
    assert len(errors) == 10 and all(isinstance(e, openai.RateLimitError) for e in errors)
    retry = float(errors[0].response.headers["retry-after"])  # type: ignore[attr-defined]
    assert 1 <= retry <= 60


def test_retry_after_cools_a_deployment_down(
        make_server: Callable[..., PllmServer], upstreams: Callable[[int], list[FaultyUpstream]]
) -> None:
    a, b = upstreams(2)
    a.set(status=429, retry_after=2)
    server = make_server(config([a, b], router="  strategy: round_robin"))
    _ok, _served, errors = asyncio.run(burst(server.url, 20, 2))
    assert errors == [] and a.count() == 1, "one 429, then out for its retry-after"
    a.set()
    time.sleep(2.1)
    asyncio.run(burst(server.url, 6, 2))
    assert a.count() > 1


def test_connection_resets_and_stalled_streams_fail_over(
        make_server: Callable[..., PllmServer], upstreams: Callable[[int], list[FaultyUpstream]]
) -> None:
    a, b = upstreams(2)
    a.set(reset=True)
    server = make_server(config([a, b], router="  strategy: round_robin",
                                extra="      stream_timeout: 0.5\n"))
    ok, _, errors = asyncio.run(burst(server.url, 20, 2))
    assert errors == [] and ok == 20 and a.count() >= 1
    a.set(stall_s=3.0)
    started = time.monotonic()
    ok, _, errors = asyncio.run(burst(server.url, 6, 2, stream=True))
    assert errors == [] and ok == 6, "a stalled first byte fails over after stream_timeout"
    assert time.monotonic() - started < 3.0
