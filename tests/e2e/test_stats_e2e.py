"""The live admin feed (`/admin/stats`, `/admin/events`, `/admin/requests`, `/admin/config`)
against a real `pllm serve`, with traffic from the official `openai` SDK: the numbers match
what was sent, a dead deployment shows up as unhealthy, roles apply, secrets stay out, the
event stream pushes every second, notices a client leaving, and does not hold a shutdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
from server import PllmServer

from pllm.sse import SSEDecoder

pytestmark = pytest.mark.e2e

MASTER = "sk-master-stats-0123456789"
UPSTREAM_KEY = "sk-upstream-secret-abcdefghijkl"
ENV_SECRET = "env-secret-value-0123456789"
HI = [{"role": "user", "content": "hi"}]
CONFIG = f"""
environment_variables: {{SOME_TOKEN: {ENV_SECRET}}}
model_list:
  - model_name: fast
    litellm_params: {{model: mock/fast, mock_latency_ms: 20, rpm: 500, tpm: 90000}}
    model_info: {{input_cost_per_token: 0.000001, output_cost_per_token: 0.000002}}
  - model_name: flaky
    litellm_params: {{model: mock/flaky-ok, mock_latency_ms: 5}}
  - model_name: flaky
    litellm_params:
      model: openai/gpt-4o
      api_base: http://127.0.0.1:9/v1
      api_key: {UPSTREAM_KEY}
router_settings: {{num_retries: 3}}
general_settings: {{master_key: {MASTER}}}
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PllmServer]:
    with PllmServer(tmp_path_factory.mktemp("stats"), CONFIG) as server:
        yield server


@pytest.fixture(scope="module")
def admin(gateway: PllmServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=10,
                      headers={"authorization": f"Bearer {MASTER}"}) as client:
        yield client


@pytest.fixture(scope="module")
def loaded(gateway: PllmServer, admin: httpx.Client) -> dict[str, Any]:
    """20 requests to `fast` with a named key, 10 to `flaky` (its second deployment refuses
    connections), 2 to an unknown model."""
    key = admin.post("/admin/keys", json={"name": "stats-key"}).json()["key"]

    async def run() -> None:
        sdk = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
        await asyncio.gather(*(sdk.chat.completions.create(model="fast", messages=HI)
                               for _ in range(20)))
        for _ in range(10):
            await sdk.chat.completions.create(model="flaky", messages=HI)
        for _ in range(2):
            with pytest.raises(openai.NotFoundError):
                await sdk.chat.completions.create(model="nope", messages=HI)
        await sdk.close()

    asyncio.run(run())
    time.sleep(1.1)  # the series holds complete seconds only
    return {"key": key}


def stats(admin: httpx.Client, **params: Any) -> dict[str, Any]:
    response = admin.get("/admin/stats", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def row(snapshot: dict[str, Any], group: str, provider: str) -> dict[str, Any]:
    return next(r for r in snapshot["deployments"]
                if r["model_group"] == group and r["provider"] == provider)


def test_stats_count_what_was_sent(admin: httpx.Client, loaded: dict[str, Any]) -> None:
    snap = stats(admin)
    fast = row(snap, "fast", "mock")
    assert fast["requests_1m"] == 20 and fast["rpm_used"] == 20 and fast["rpm_limit"] == 500
    assert fast["tpm_limit"] == 90000
    assert 15 <= fast["p50_ms"] <= fast["p95_ms"] < 1000  # 20 ms upstream, ±12% buckets
    assert fast["health"] == 100 and fast["circuit"] == "closed" and fast["in_flight"] == 0
    assert snap["totals"]["since_start"]["requests"] == 32
    assert snap["totals"]["since_start"]["failed"] == 2
    assert snap["totals"]["since_start"]["cost_usd"] > 0
    series = snap["series"]
    assert len(series["rps"]) == 300 and sum(series["rps"]) == 32
    assert sum(series["failed"]) == 2
    assert len(stats(admin, minutes=1)["series"]["rps"]) == 60


def test_a_dead_deployment_shows_as_unhealthy(admin: httpx.Client,
                                              loaded: dict[str, Any]) -> None:
    dead = row(stats(admin), "flaky", "openai")
    alive = row(stats(admin), "flaky", "mock")
    assert dead["failures"] >= 1 and dead["error_rate"] > 0.5
    assert dead["health"] < 50 and alive["health"] == 100
    assert alive["requests_1m"] == 10  # every request was answered by the live one
    assert dead["p50_ms"] is None  # it answered nothing


def test_today_totals_come_from_the_audit_trail(admin: httpx.Client,
                                                loaded: dict[str, Any]) -> None:
    deadline = time.monotonic() + 6
    while True:
        today = stats(admin)["totals"]["today"]
        if today["requests"] == 32 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert today["source"] == "audit"
    assert today["requests"] == 32 and today["failed"] == 2
    assert today["tokens"] > 0 and today["cost_usd"] > 0


def test_recent_requests_filter(admin: httpx.Client, loaded: dict[str, Any]) -> None:
    rows = admin.get("/admin/requests").json()["requests"]
    assert len(rows) == 32 and rows[0]["seq"] > rows[-1]["seq"]  # newest first
    assert admin.get("/admin/requests", params={"limit": 5}).json()["requests"][0] == rows[0]
    missing = admin.get("/admin/requests", params={"status": "4xx"}).json()["requests"]
    assert [r["status"] for r in missing] == [404, 404]
    assert {r["error"] for r in missing} == {"model_not_found"}
    flaky = admin.get("/admin/requests", params={"model": "FLAKY"}).json()["requests"]
    assert len(flaky) == 10 and {r["provider"] for r in flaky} == {"mock"}
    assert all(r["key_name"] == "stats-key" for r in rows)
    assert admin.get("/admin/requests", params={"key": "other"}).json()["requests"] == []
    bad = admin.get("/admin/requests", params={"status": "sometimes"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "status"
    assert admin.get("/admin/requests", params={"limit": "0"}).status_code == 400


def test_roles(gateway: PllmServer, admin: httpx.Client, loaded: dict[str, Any]) -> None:
    viewer = admin.post("/admin/keys", json={"name": "wall", "role": "viewer"}).json()["key"]
    for path in ("/admin/stats", "/admin/requests", "/admin/config"):
        assert httpx.get(gateway.url + path).status_code == 401
        assert httpx.get(gateway.url + path,
                         headers={"authorization": f"Bearer {loaded['key']}"}).status_code == 403
        assert httpx.get(gateway.url + path,
                         headers={"authorization": f"Bearer {viewer}"}).status_code == 200


def test_config_is_shown_with_secrets_masked(admin: httpx.Client) -> None:
    response = admin.get("/admin/config")
    body = response.text
    for secret in (MASTER, UPSTREAM_KEY, ENV_SECRET):
        assert secret not in body
    config = response.json()
    assert [d["model_name"] for d in config["model_list"]] == ["fast", "flaky", "flaky"]
    assert config["environment"] == {"SOME_TOKEN": "********"}
    assert config["router"]["retries"] == 3


def read_events(url: str, seconds: float, key: str = MASTER) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    decoder = SSEDecoder()
    deadline = time.monotonic() + seconds
    with httpx.stream("GET", url + "/admin/events", timeout=5,
                      headers={"authorization": f"Bearer {key}"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for piece in response.iter_bytes():
            out += [(e.event or "", orjson.loads(e.data)) for e in decoder.feed(piece)
                    if e.event]
            if time.monotonic() > deadline:
                break
    return out


def test_event_stream_pushes_every_second(gateway: PllmServer, admin: httpx.Client,
                                          loaded: dict[str, Any]) -> None:
    events = read_events(gateway.url, 2.2)
    kinds = [k for k, _ in events]
    assert kinds.count("stats") >= 3 and kinds[0] == "stats"
    first_requests = next(data for kind, data in events if kind == "requests")
    assert len(first_requests["requests"]) == 32  # the recent ones, oldest first
    assert first_requests["requests"][0]["seq"] < first_requests["requests"][-1]["seq"]
    assert next(d for k, d in events if k == "stats")["event_clients"] >= 1
    # The stream is gone once the client is: the count falls back to zero.
    deadline = time.monotonic() + 5
    while stats(admin)["event_clients"] != 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stats(admin)["event_clients"] == 0


def test_new_requests_arrive_on_the_stream(tmp_path: Path) -> None:
    with PllmServer(tmp_path, CONFIG) as server:
        seen: list[dict[str, Any]] = []
        decoder = SSEDecoder()
        with httpx.stream("GET", server.url + "/admin/events", timeout=5,
                          headers={"authorization": f"Bearer {MASTER}"}) as response:
            sent = False
            deadline = time.monotonic() + 5
            for piece in response.iter_bytes():
                for e in decoder.feed(piece):
                    if e.event == "stats" and not sent:
                        openai.OpenAI(base_url=server.url + "/v1", api_key=MASTER).chat \
                            .completions.create(model="fast", messages=HI)
                        sent = True
                    elif e.event == "requests":
                        seen += orjson.loads(e.data)["requests"]
                if seen or time.monotonic() > deadline:
                    break
        assert [(r["model"], r["status"], r["model_group"]) for r in seen] == \
            [("fast", 200, "fast")]
        assert seen[0]["prompt_tokens"] > 0 and seen[0]["latency_ms"] >= 20


def test_an_open_event_stream_does_not_hold_the_shutdown(tmp_path: Path) -> None:
    server = PllmServer(tmp_path, CONFIG).start()
    with httpx.stream("GET", server.url + "/admin/events", timeout=5,
                      headers={"authorization": f"Bearer {MASTER}"}) as response:
        pieces = response.iter_bytes()
        next(pieces)
        started = time.monotonic()
        assert server.stop() == 0
        took = time.monotonic() - started
        assert b"".join(pieces) is not None  # the server ended the stream cleanly
    assert took < 5.0, f"shutdown took {took:.1f}s with a dashboard attached"


def test_today_totals_span_workers(tmp_path: Path) -> None:
    with PllmServer(tmp_path, CONFIG, args=("--workers", "2")) as server:
        async def run() -> None:
            sdk = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=MASTER,
                                     max_retries=0)
            await asyncio.gather(*(sdk.chat.completions.create(model="fast", messages=HI)
                                   for _ in range(24)))
            await sdk.close()

        asyncio.run(run())
        deadline = time.monotonic() + 8
        while True:  # each answer comes from one worker; the audit trail has them all
            with httpx.Client(base_url=server.url) as fresh:  # a new connection each time
                today = fresh.get("/admin/stats", headers={
                    "authorization": f"Bearer {MASTER}"}).json()["totals"]["today"]
            if today["requests"] == 24 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert today["requests"] == 24
