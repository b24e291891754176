"""Hot reload of a real `pllm serve`: the config is rewritten under a steady load of 1,000
requests (a third of them streams) through the official `openai` SDK, and not one fails; the
new models are served right after; an invalid file keeps the old config serving and its
errors are logged with file:line:col; SIGHUP reloads; with `--workers 2` every worker does.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from server import PllmServer

pytestmark = pytest.mark.e2e

MASTER = "sk-master-reload-e2e-0123456789"
OLD = "old old old old old old"
NEW = "new new new new new new"
HI = [{"role": "user", "content": "hi"}]


def model(name: str, reply: str = "hello there", **params: Any) -> str:
    extra = "".join(f", {k}: {v}" for k, v in params.items())
    return (f"  - model_name: {name}\n    litellm_params: {{model: mock/{name}, "
            f"mock_response: \"{reply}\"{extra}}}\n")


def config(*models: str, head: str = "") -> str:
    return (f"{head}model_list:\n{''.join(models)}general_settings:\n"
            f"  master_key: {MASTER}\n")


A_OLD = model("a", OLD, mock_token_delay_ms=20, mock_latency_ms=5)
A_NEW = model("a", NEW, mock_token_delay_ms=20, mock_latency_ms=5)


def write_atomically(path: Path, text: str) -> None:
    """As editors and config managers save: a new file renamed over the old one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def get(server: PllmServer, path: str) -> Any:
    """On a new connection each time (with several workers, any of them may answer)."""
    req = urllib.request.Request(server.url + path,
                                 headers={"authorization": f"Bearer {MASTER}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def served_models(server: PllmServer) -> list[str]:
    return [m["id"] for m in get(server, "/v1/models")["data"]]


def wait_until(check: Callable[[], bool], what: str, server: PllmServer,
               timeout: float = 10.0) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out waiting for {what}\n{server.logs()[-4000:]}")
        time.sleep(0.02)
    return time.monotonic() - started


def reload_events(server: PllmServer) -> list[dict[str, Any]]:
    events = get(server, "/admin/audit/events?limit=1000")["events"]
    return [e for e in events if e["action"] == "config.reload"]


# -- under load ---------------------------------------------------------------------------------
class Load:
    """1,000 requests at a bounded concurrency, every third a stream; what each answered."""

    def __init__(self, url: str, total: int = 1000, concurrency: int = 32) -> None:
        self.url, self.total, self.concurrency = url, total, concurrency
        self.done = 0
        self.failures: list[str] = []
        self.answers: list[tuple[float, str, bool]] = []  # (finished at, content, stream)

    async def one(self, client: openai.AsyncOpenAI, i: int, name: str = "a") -> str:
        stream = i % 3 == 0
        try:
            if stream:
                parts = []
                async for chunk in await client.chat.completions.create(
                        model=name, messages=HI, stream=True):  # type: ignore[arg-type]
                    if chunk.choices:
                        parts.append(chunk.choices[0].delta.content or "")
                content = "".join(parts)
            else:
                reply = await client.chat.completions.create(
                    model=name, messages=HI)  # type: ignore[arg-type]
                content = reply.choices[0].message.content or ""
        except Exception as e:
            self.failures.append(f"{name} #{i}: {type(e).__name__}: {e}")
            return ""
        self.answers.append((time.monotonic(), content, stream))
        return content

    async def run(self, client: openai.AsyncOpenAI) -> None:
        queue = iter(range(self.total))

        async def worker() -> None:
            for i in queue:
                await self.one(client, i)
                self.done += 1

        await asyncio.gather(*(worker() for _ in range(self.concurrency)))


def test_config_rewritten_under_load_drops_no_request(tmp_path: Path) -> None:
    server = PllmServer(tmp_path, config(A_OLD)).start()
    path = server.config_path
    extra = tmp_path / "extra.yaml"
    steps: list[tuple[int, str, Callable[[], None]]] = [
        (100, "b", lambda: write_atomically(path, config(A_OLD, model("b")))),
        # the same deployment (same id), another answer: in-flight requests keep the old one
        (300, "a", lambda: path.write_text(config(A_NEW, model("b")))),
        (500, "c", lambda: (extra.write_text(f"model_list:\n{model('c')}"),
                            write_atomically(path, config(A_NEW, model("b"),
                                                          head="include: extra.yaml\n")))),
        (700, "d", lambda: write_atomically(extra, f"model_list:\n{model('c')}{model('d')}")),
    ]
    load = Load(server.url + "/v1")
    swapped_to_new: list[float] = []
    appeared: dict[str, float] = {}

    async def rewrite(client: openai.AsyncOpenAI) -> None:
        for at, name, action in steps:
            while load.done < at:
                await asyncio.sleep(0.005)
            written = time.monotonic()
            action()
            if name == "a":
                while not any(c == NEW for _, c, _s in load.answers):
                    await asyncio.sleep(0.005)
                swapped_to_new.append(time.monotonic())
            else:
                while name not in await asyncio.to_thread(served_models, server):
                    assert time.monotonic() - written < 10, server.logs()[-3000:]
                    await asyncio.sleep(0.02)
                appeared[name] = time.monotonic() - written
                # served right after: a plain answer and a stream
                for i in (1, 3):
                    assert await load.one(client, i, name) == "hello there", load.failures

    async def main() -> None:
        async with openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=MASTER,
                                      max_retries=0, timeout=30) as client:
            await asyncio.gather(load.run(client), rewrite(client))

    try:
        asyncio.run(main())
        logs = server.logs()
    finally:
        server.stop()
    assert load.failures == []
    assert load.done == 1000
    assert len(load.answers) == 1000 + 2 * 3  # plus two to each new model
    contents = {c for _, c, _s in load.answers}
    assert contents == {OLD, NEW, "hello there"}  # never a mix of the old and the new
    assert sum(1 for _, c, s in load.answers if c == OLD and s) > 0
    # Requests already running when the change applied finished on the old settings.
    assert any(c == OLD for t, c, _s in load.answers if t > swapped_to_new[0])
    assert set(appeared) == {"b", "c", "d"} and max(appeared.values()) < 5, appeared
    assert logs.count("config reloaded from") >= 4
    assert "Traceback" not in logs


# -- invalid, then fixed ------------------------------------------------------------------------
def test_an_invalid_config_keeps_serving_and_a_fix_is_picked_up(tmp_path: Path) -> None:
    with PllmServer(tmp_path, config(model("a"))) as server:
        path = server.config_path
        client = openai.OpenAI(base_url=server.url + "/v1", api_key=MASTER, max_retries=0)
        broken = config(model("a"), model("b")).replace("litellm_params: {model: mock/b",
                                                        "litellm_parms: {model: mock/b")
        path.write_text(broken + "router:\n  strategy: fastest\n")
        where = re.escape(str(path))
        wait_until(lambda: len(re.findall(rf"ERROR pllm\.reload: {where}:\d+:\d+: ",
                                          server.logs())) >= 2, "the errors logged", server)
        logs = server.logs()
        assert re.search(rf"{where}:5:5: model_list\[1\]\.litellm_parms: unknown key", logs)
        assert re.search(rf"{where}:9:13: router\.strategy: ", logs)
        assert "still serving the previous configuration" in logs
        reply = client.chat.completions.create(model="a", messages=HI)  # type: ignore[arg-type]
        assert reply.choices[0].message.content == "hello there"
        assert served_models(server) == ["a"]
        path.write_text(config(model("a"), model("b")))
        wait_until(lambda: served_models(server) == ["a", "b"], "the fix", server)
        reply = client.chat.completions.create(model="b", messages=HI)  # type: ignore[arg-type]
        assert reply.choices[0].message.content == "hello there"
        wait_until(lambda: len(reload_events(server)) >= 2, "the admin events", server)
        events = reload_events(server)
        assert [e["detail"]["reloaded"] for e in events][-2:] == [False, True]
        assert events[-1]["actor"] == "config-watch" and events[-1]["detail"]["added"] == ["b"]
        client.close()


# -- SIGHUP, and the admin API ------------------------------------------------------------------
def test_sighup_and_admin_reload_without_the_watcher(tmp_path: Path) -> None:
    with PllmServer(tmp_path, config(model("a")), args=("--no-watch",)) as server:
        assert server.proc is not None
        client = openai.OpenAI(base_url=server.url + "/v1", api_key=MASTER, max_retries=0)
        for _ in range(3):
            client.chat.completions.create(model="a", messages=HI)  # type: ignore[arg-type]
        client.close()
        [health] = get(server, "/admin/health")["deployments"]
        assert health["total_requests"] == 3
        # the same deployment, with a new rpm limit: it stays the same deployment
        server.config_path.write_text(config(model("a", rpm=1000), model("b")))
        time.sleep(1.0)
        assert served_models(server) == ["a"]  # --no-watch: the file alone changes nothing
        server.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: served_models(server) == ["a", "b"], "the SIGHUP reload", server)
        assert server.proc.poll() is None
        by_id = {d["id"]: d for d in get(server, "/admin/health")["deployments"]}
        assert by_id[health["id"]]["total_requests"] == 3  # its history is kept
        assert by_id[health["id"]]["rpm"] == 1000
        assert len(by_id) == 2

        server.config_path.write_text(config(model("a"), model("c"),
                                             head="server:\n  graceful_timeout: 5\n"))
        req = urllib.request.Request(server.url + "/admin/reload", method="POST",
                                     headers={"authorization": f"Bearer {MASTER}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = json.loads(r.read())
        assert body["reloaded"] is True and body["models"] == ["a", "c"]
        assert body["restart_required"] == ["server.graceful_timeout"]
        assert body["errors"] == []
        assert served_models(server) == ["a", "c"]
        wait_until(lambda: len(reload_events(server)) >= 2, "the admin events", server)
        actors = [e["actor"] for e in reload_events(server)]
        assert actors[-2:] == ["sighup", "master"]
        assert "server.graceful_timeout changed in the config: it needs a restart" in \
            server.logs()


# -- several workers ----------------------------------------------------------------------------
def start_workers(server: PllmServer) -> None:
    server.start()
    wait_until(lambda: server.logs().count("Running on") >= 2, "both workers", server, 20)


def everyone_serves(server: PllmServer, names: list[str]) -> bool:
    return all(served_models(server) == names for _ in range(16))


def test_every_worker_reloads_on_a_file_change(tmp_path: Path) -> None:
    server = PllmServer(tmp_path, config(model("a")), args=("--workers", "2"))
    try:
        start_workers(server)
        write_atomically(server.config_path, config(model("a"), model("b")))
        wait_until(lambda: server.logs().count("config reloaded from") >= 2,
                   "both workers reloading", server)
        assert everyone_serves(server, ["a", "b"])
        assert server.logs().count("config changed, reloading the workers") == 1
        wait_until(lambda: len(reload_events(server)) >= 1, "the admin event", server)
        assert len(reload_events(server)) == 1  # recorded once, by the supervisor
    finally:
        server.stop()


def test_every_worker_reloads_on_sighup_and_on_the_admin_api(tmp_path: Path) -> None:
    server = PllmServer(tmp_path, config(model("a")), args=("--workers", "2", "--no-watch"))
    try:
        start_workers(server)
        assert server.proc is not None
        server.config_path.write_text(config(model("a"), model("b")))
        server.proc.send_signal(signal.SIGHUP)  # to the supervisor
        wait_until(lambda: server.logs().count("config reloaded from") >= 2,
                   "both workers reloading", server)
        assert everyone_serves(server, ["a", "b"])

        server.config_path.write_text(config(model("a"), model("c")))
        req = urllib.request.Request(server.url + "/admin/reload", method="POST",
                                     headers={"authorization": f"Bearer {MASTER}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert json.loads(r.read())["models"] == ["a", "c"]
        # The worker that answered asked the supervisor to reload the others: 2 reloads for
        # the SIGHUP, then 1 for the request and 1 more in each worker when passed on.
        wait_until(lambda: server.logs().count("config reloaded from") >= 5,
                   "the other worker", server)
        assert everyone_serves(server, ["a", "c"])
        wait_until(lambda: len(reload_events(server)) >= 2, "the admin events", server)
        time.sleep(0.6)  # the store's writer commits every 0.5 s: nothing more comes
        assert [e["actor"] for e in reload_events(server)] == ["sighup", "master"]
        assert server.proc.poll() is None
    finally:
        assert server.stop() == 0
