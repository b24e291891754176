"""Hot reload in process: reading a new configuration against the running one (`prepare`),
the files watched, the routing state kept across a reload, and the app's reload (`POST
/admin/reload` through Quart's test client: the swap, the old gateway left whole for the
requests using it, the admin event)."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pllm.config import load_settings
from pllm.config.model import CircuitBreakerSettings, Settings
from pllm.providers.registry import default_registry
from pllm.redaction import RedactingFilter
from pllm.router.state import LocalState
from pllm.server.app import create_app
from pllm.server.reload_source import ConfigSource, config_files, prepare
from pllm.server.reload_watch import ConfigWatcher
from pllm.server.state import Gateway
from pllm.store import Store

MASTER = "sk-master-reload-unit-0123456789"
AUTH = {"authorization": f"Bearer {MASTER}"}


def config(*models: str, extra: str = "") -> str:
    body = "".join(f"  - model_name: {m}\n    litellm_params: {{model: mock/{m}}}\n"
                   for m in models)
    return f"model_list:\n{body}general_settings:\n  master_key: {MASTER}\n{extra}"


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(config("a"))
    return path


def running(path: Path) -> Settings:
    return load_settings(path, environ={})


# -- prepare ----------------------------------------------------------------------------------
def test_a_valid_change_is_prepared_with_its_table(cfg: Path) -> None:
    before = running(cfg)
    cfg.write_text(config("a", "b"))
    p = prepare(ConfigSource(cfg), before, default_registry())
    assert p.errors == () and p.settings is not None and p.table is not None
    assert p.settings.model_names() == ["a", "b"]
    assert p.table.resolve("b") is not None
    assert p.restart == ()


def test_settings_that_need_a_restart_keep_their_running_values(cfg: Path) -> None:
    before = running(cfg)
    cfg.write_text(config("a", extra="server:\n  port: 9999\n  workers: 3\n"
                                     "  request_timeout: 7\nbudgets:\n  timezone: Europe/Paris\n"))
    p = prepare(ConfigSource(cfg), before, default_registry())
    assert p.settings is not None, p.errors
    assert (p.settings.server.port, p.settings.server.workers) == (8080, 1)
    assert p.settings.access.budget_timezone == "UTC"
    assert p.settings.server.request_timeout == 7  # this one applies live
    assert set(p.restart) == {"server.port", "server.workers", "budgets.timezone"}


def test_a_setting_given_on_the_command_line_is_not_reported(cfg: Path) -> None:
    before = replace(running(cfg), server=replace(running(cfg).server, port=4321))
    cfg.write_text(config("a", extra="server:\n  port: 9999\n"))
    p = prepare(ConfigSource(cfg, overridden=frozenset({"port"})), before, default_registry())
    assert p.settings is not None and p.settings.server.port == 4321
    assert p.restart == ()


def test_errors_carry_file_line_and_column(cfg: Path) -> None:
    before = running(cfg)
    cfg.write_text(config("a") + "model_lists: []\n")
    p = prepare(ConfigSource(cfg), before, default_registry())
    assert p.settings is None and p.table is None
    [issue] = p.errors
    assert (issue.file, issue.line, issue.column) == (str(cfg), 6, 1)
    assert str(issue).startswith(f"{cfg}:6:1:")


def test_an_empty_file_is_refused_as_half_written(cfg: Path) -> None:
    before = running(cfg)
    cfg.write_text("  \n")
    p = prepare(ConfigSource(cfg), before, default_registry())
    assert p.settings is None and "empty" in p.errors[0].message


def test_dropping_the_master_key_on_a_public_address_is_refused(cfg: Path) -> None:
    before = running(cfg)
    before = replace(before, server=replace(before.server, host="0.0.0.0"))
    cfg.write_text("model_list:\n  - model_name: a\n    litellm_params: {model: mock/a}\n")
    p = prepare(ConfigSource(cfg), before, default_registry())
    assert p.settings is None and "refusing to listen" in p.errors[0].message


def test_demo_mode_has_nothing_to_reload(cfg: Path) -> None:
    p = prepare(ConfigSource(None, demo=True), running(cfg), default_registry())
    assert p.settings is None and "--demo" in p.errors[0].message


def test_watched_files_follow_includes_and_env(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    main = tmp_path / "config.yaml"
    main.write_text("include: [sub/models.yaml]\n")
    (tmp_path / "sub" / "models.yaml").write_text("include: more.yaml\nmodel_list: []\n")
    (tmp_path / "sub" / "more.yaml").write_text("model_list: []\n")
    files = config_files(ConfigSource(main))
    for f in (main, tmp_path / "sub" / "models.yaml", tmp_path / "sub" / "more.yaml",
              tmp_path / ".env", Path.cwd() / ".env"):
        assert f.resolve() in files


def test_the_watcher_sees_writes_renames_and_new_includes(tmp_path: Path) -> None:
    main = tmp_path / "config.yaml"
    main.write_text("model_list: []\n")
    hits: list[float] = []
    changed = threading.Event()

    def on_change() -> None:
        hits.append(time.monotonic())
        changed.set()

    def expect(action: Any) -> None:
        changed.clear()
        action()
        assert changed.wait(5), "no change noticed"

    w = ConfigWatcher(ConfigSource(main), on_change)
    w.start()
    try:
        time.sleep(0.3)
        expect(lambda: main.write_text("model_list: []\n# 2\n"))
        (tmp_path / "unrelated.txt").write_text("x")
        time.sleep(0.4)
        assert len(hits) == 1  # other files of the folder are not the config
        tmp = tmp_path / "config.yaml.tmp"
        tmp.write_text("include: extra.yaml\n")
        expect(lambda: os.replace(tmp, main))  # an editor's atomic save
        (tmp_path / "extra.yaml").write_text("model_list: []\n")
        time.sleep(0.4)
        count = len(hits)
        expect(lambda: (tmp_path / "extra.yaml").write_text("model_list: []\n# more\n"))
        assert len(hits) > count
    finally:
        started = time.monotonic()
        w.stop()
        assert time.monotonic() - started < 2


# -- routing state ------------------------------------------------------------------------------
def test_reconfigure_keeps_kept_deployments_and_forgets_idle_others() -> None:
    state = LocalState(CircuitBreakerSettings(threshold=5, timeout=30), lambda: 100.0)
    for dep_id in ("keep", "gone", "busy"):
        state.begin(dep_id, 0)
    state.finish("keep", "failure")
    state.finish("gone", "success")
    kept = state.stats("keep")
    state.reconfigure(CircuitBreakerSettings(threshold=2, timeout=9), ["keep"])
    assert state.stats("keep") is kept and kept.total_failures == 1
    assert (kept.breaker.threshold, kept.breaker.timeout) == (2, 9)
    assert set(state.known()) == {"keep", "busy"}  # "busy" still has a request out
    assert state.stats("new").breaker.threshold == 2


# -- the app ------------------------------------------------------------------------------------
def serve_and(cfg: Path, tmp_path: Path, scenario: Any, *, source: ConfigSource | None = None,
              ) -> Any:
    store = Store.open(tmp_path / "pllm.db", flush_interval=0.05)
    app = create_app(running(cfg), store=store,
                     source=source or ConfigSource(cfg, watch=False))

    async def run() -> Any:
        async with app.test_app() as test_app:
            return await scenario(app, test_app.test_client(), store)

    return asyncio.run(run())


def test_admin_reload_swaps_the_gateway_and_leaves_the_old_one_whole(cfg: Path,
                                                                       tmp_path: Path) -> None:
    async def scenario(app: Any, client: Any, store: Store) -> None:
        old: Gateway = app.extensions["pllm"].latest()
        old_dep = old.settings.deployments[0].id
        old.dispatcher.state.finish(old_dep, "failure")  # some history to keep
        cfg.write_text(config("a", "b"))
        r = await client.post("/admin/reload", headers=AUTH)
        body = await r.get_json()
        assert r.status_code == 200, body
        assert body["reloaded"] is True and body["models"] == ["a", "b"]
        assert body["errors"] == [] and body["restart_required"] == []
        new: Gateway = old.latest()
        assert new is not old
        # A request that started on the old gateway finishes on it: nothing in it changed.
        assert old.settings.model_names() == ["a"] and old.table.resolve("b") is None
        assert new.table.resolve("b") is not None
        assert new.dispatcher.state is old.dispatcher.state
        assert new.dispatcher.state.stats(old_dep).total_failures == 1
        assert new.dispatcher.on_attempt is old.dispatcher.on_attempt  # metrics' hook
        assert new.observers is old.observers and new.upstream is old.upstream
        assert new.store is old.store and new.ledger is old.ledger
        r = await client.get("/v1/models", headers=AUTH)
        assert [m["id"] for m in (await r.get_json())["data"]] == ["a", "b"]
        await asyncio.to_thread(store.flush)
        [event] = [e for e in store.admin_events() if e.action == "config.reload"]
        assert event.actor == "master" and event.target == str(cfg)
        assert event.detail["added"] == ["b"] and event.detail["trigger"] == "admin"

    serve_and(cfg, tmp_path, scenario)


def test_an_invalid_config_is_refused_and_the_old_one_serves(cfg: Path, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture,
                                                             ) -> None:
    async def scenario(app: Any, client: Any, store: Store) -> None:
        before = app.extensions["pllm"].latest()
        cfg.write_text(config("a") + "router:\n  strategy: fastest\n")
        with caplog.at_level(logging.ERROR, logger="pllm.reload"):
            r = await client.post("/admin/reload", headers=AUTH)
        body = await r.get_json()
        assert r.status_code == 422 and body["reloaded"] is False
        assert body["models"] == ["a"]
        [error] = body["errors"]
        assert (error["file"], error["line"]) == (str(cfg), 7)
        assert error["text"].startswith(f"{cfg}:7:")
        assert before.latest() is before
        assert any(rec.getMessage().startswith(f"{cfg}:7:") for rec in caplog.records)
        r = await client.get("/v1/models", headers=AUTH)
        assert r.status_code == 200

    serve_and(cfg, tmp_path, scenario)


def test_reload_needs_the_admin_role(cfg: Path, tmp_path: Path) -> None:
    async def scenario(app: Any, client: Any, store: Store) -> None:
        r = await client.post("/admin/reload")
        assert r.status_code == 401
        r = await client.post("/admin/reload", headers={"authorization": "Bearer sk-nope-123"})
        assert r.status_code == 401

    serve_and(cfg, tmp_path, scenario)


def test_a_new_master_key_applies_at_once(cfg: Path, tmp_path: Path) -> None:
    async def scenario(app: Any, client: Any, store: Store) -> None:
        cfg.write_text(config("a").replace(MASTER, "sk-master-rotated-0123456789"))
        assert (await client.post("/admin/reload", headers=AUTH)).status_code == 200
        assert (await client.get("/v1/models", headers=AUTH)).status_code == 401
        r = await client.get("/v1/models",
                             headers={"authorization": "Bearer sk-master-rotated-0123456789"})
        assert r.status_code == 200

    serve_and(cfg, tmp_path, scenario)


def test_log_redaction_learns_the_new_secrets(cfg: Path, tmp_path: Path) -> None:
    secret = "sk-provider-key-added-by-reload-0123"
    redactor = RedactingFilter(["sk-old-secret-000"])
    handler = logging.NullHandler()
    handler.addFilter(redactor)
    logging.getLogger().addHandler(handler)

    async def scenario(app: Any, client: Any, store: Store) -> None:
        cfg.write_text(config("a").replace("{model: mock/a}",
                                           "{model: mock/a, api_key: " + secret + "}"))
        r = await client.post("/admin/reload", headers=AUTH)
        assert r.status_code == 200, await r.get_json()

    try:
        serve_and(cfg, tmp_path, scenario)
    finally:
        logging.getLogger().removeHandler(handler)
    assert secret in redactor.secrets and "sk-old-secret-000" in redactor.secrets


def test_an_app_without_a_source_answers_that_it_cannot_reload(cfg: Path,
                                                               tmp_path: Path) -> None:
    store = Store.open(tmp_path / "pllm.db")
    app = create_app(running(cfg), store=store)

    async def run() -> Any:
        async with app.test_app() as test_app:
            r = await test_app.test_client().post("/admin/reload", headers=AUTH)
            return r.status_code, await r.get_json()

    status, body = asyncio.run(run())
    assert status == 422 and body["reloaded"] is False and body["models"] == ["a"]


def test_the_watcher_follows_a_kubernetes_configmap_update(tmp_path: Path) -> None:
    """A mounted ConfigMap: config.yaml -> ..data/config.yaml, ..data -> a dated folder; an
    update writes a new folder and renames a new `..data` link over the old one."""
    import shutil

    def version(n: int) -> None:
        folder = tmp_path / f"..v{n}"
        folder.mkdir()
        (folder / "config.yaml").write_text(f"model_list: []\n# {n}\n")
        (tmp_path / "..data_tmp").symlink_to(folder.name)
        os.replace(tmp_path / "..data_tmp", tmp_path / "..data")

    version(1)
    (tmp_path / "config.yaml").symlink_to("..data/config.yaml")
    changed = threading.Event()
    w = ConfigWatcher(ConfigSource(tmp_path / "config.yaml"), changed.set)
    w.start()
    try:
        time.sleep(0.3)
        for n in (2, 3):
            changed.clear()
            version(n)
            shutil.rmtree(tmp_path / f"..v{n - 1}")
            assert changed.wait(5), f"update {n} not noticed"
            assert (tmp_path / "config.yaml").read_text().endswith(f"# {n}\n")
            time.sleep(0.3)
    finally:
        w.stop()
