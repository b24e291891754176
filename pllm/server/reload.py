"""Hot reload: the configuration is read again when its files change (watchfiles), on SIGHUP,
or on `POST /admin/reload` (admin role), and swapped in without dropping a request.

A reload reads and checks the new configuration in a thread (`reload_source.prepare`). When
it has errors, each is logged with its file:line:col and the running configuration stays.
When it is valid, a new `Gateway` is built beside the running one (new model table, routing,
master key, limit defaults, JWT settings, prices) around the same upstream client, store,
directory and ledger, and made `live.current` in one assignment: requests and streams already
running finish on the gateway they started with. The routing state is shared, so health and
circuit breakers of unchanged deployments carry over (deployment ids are stable hashes of
what a deployment is). Each reload is recorded as a `config.reload` admin event.

With `--workers N` see `reload_watch`: the supervisor watches and signals every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass, replace
from typing import Any

import orjson
from quart import Blueprint, Quart, Response, current_app, request

from pllm.config.model import Settings
from pllm.errors import Issue
from pllm.providers.registry import ProviderRegistry
from pllm.redaction import RedactingFilter, redact
from pllm.router.dispatch import Dispatcher
from pllm.router.state import LocalState
from pllm.server.reload_source import (
    ConfigSource,
    Prepared,
    Trigger,
    event_detail,
    issue_text,
    log_outcome,
    prepare,
)
from pllm.server.reload_watch import ConfigWatcher
from pllm.server.state import Gateway, gateway
from pllm.server.wiring import Access, rebuild_access

__all__ = ["BUILD", "Build", "ReloadResult", "Reloader", "blueprint", "install"]

log = logging.getLogger("pllm.reload")
blueprint = Blueprint("reload", __name__)

BUILD = "pllm.build"
"""`app.extensions` key of what `create_app` built the gateway from (`Build`)."""
_RELOADER = "pllm.reloader"


@dataclass(slots=True)
class Build:
    source: ConfigSource | None
    """None: an app built without a config to go back to (tests): reloads answer an error."""
    registry: ProviderRegistry
    access: Access


@dataclass(frozen=True, slots=True)
class ReloadResult:
    reloaded: bool
    errors: tuple[Issue, ...]
    warnings: tuple[Issue, ...]
    restart: tuple[str, ...]
    models: tuple[str, ...]
    """The model groups served now (the old ones when the reload failed)."""

    def body(self) -> dict[str, Any]:
        return {"reloaded": self.reloaded,
                "errors": [_issue_json(i) for i in self.errors],
                "warnings": [_issue_json(i) for i in self.warnings],
                "restart_required": list(self.restart),
                "models": list(self.models)}


def _issue_json(issue: Issue) -> dict[str, Any]:
    out = issue.as_dict()
    out["message"] = redact(issue.message)
    out["text"] = issue_text(issue)
    return out


class Reloader:
    """Reloads one app's gateway; one reload at a time, later requests coalesced."""

    def __init__(self, app: Quart, gw: Gateway, build: Build) -> None:
        self.app = app
        self.live = gw.live
        self.build = build
        self.source = build.source
        self.access = build.access
        self._first_jwt = build.access.jwt
        self._lock = asyncio.Lock()
        self._wake: asyncio.Event | None = None
        self._trigger: Trigger = "file"
        self._task: asyncio.Task[None] | None = None
        self._watcher: ConfigWatcher | None = None

    # -- serving hooks ----------------------------------------------------------------------
    async def start(self) -> None:
        source = self.source
        if source is None:
            return
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._serve_requests(), name="pllm-reload")
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            trigger: Trigger = "supervisor" if source.supervisor else "signal"
            loop.add_signal_handler(signal.SIGHUP, self.request, trigger)
        if source.watch and source.reloadable and source.supervisor is None:
            def changed() -> None:  # in the watcher's thread
                loop.call_soon_threadsafe(self.request, "file")

            self._watcher = ConfigWatcher(source, changed)
            self._watcher.start()

    async def stop(self) -> None:
        if self.source is None:
            return
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # not the default: "exit"
        if self._watcher is not None:
            await asyncio.to_thread(self._watcher.stop)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.access.jwt is not None and self.access.jwt is not self._first_jwt:
            await self.access.jwt.aclose()  # the app closes the one it started with

    def request(self, trigger: Trigger) -> None:
        """Ask for a reload soon (from the event loop's thread)."""
        if self._wake is not None:
            self._trigger = trigger
            self._wake.set()

    async def _serve_requests(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.reload(self._trigger)
            except Exception:
                log.exception("config reload failed")

    # -- the reload -------------------------------------------------------------------------
    async def reload(self, trigger: Trigger, actor: str | None = None) -> ReloadResult:
        """Read the configuration again and, if it is valid, serve it from now on."""
        async with self._lock:
            before = self.live.current
            if self.source is None:
                prepared = Prepared(None, None, (Issue(
                    "this server was not started from a configuration it can read again"),))
            else:
                prepared = await asyncio.to_thread(prepare, self.source, before.settings,
                                                   self.build.registry)
            if prepared.settings is not None:
                prepared = await self._swap(before, prepared)
            source = self.source or ConfigSource(None)
            log_outcome(log, prepared, source, before.settings)
            self._record(trigger, actor, prepared, before.settings)
            if (trigger == "admin" and prepared.settings is not None
                    and source.supervisor is not None and os.getppid() == source.supervisor):
                os.kill(source.supervisor, signal.SIGUSR1)  # the other workers follow
            now = self.live.current.settings
            return ReloadResult(prepared.settings is not None, prepared.errors,
                                prepared.warnings, prepared.restart, tuple(now.model_names()))

    async def _swap(self, before: Gateway, prepared: Prepared) -> Prepared:
        settings, table = prepared.settings, prepared.table
        assert settings is not None and table is not None
        try:  # in a thread: JWT key files are read
            access = await asyncio.to_thread(rebuild_access, self.access, before.settings,
                                             settings, table)
        except Exception as e:  # ConfigError from the JWT settings, an unreadable key file
            issues = getattr(e, "issues", None) or [Issue(f"{type(e).__name__}: {e}")]
            return replace(prepared, settings=None, table=None,
                           errors=tuple(i for i in issues if i.severity == "error"))
        if access.jwt is not None and access.jwt is not self.access.jwt \
                and access.jwt.settings.jwks_url:
            with contextlib.suppress(Exception):  # verification fetches it again when needed
                await asyncio.to_thread(access.jwt.refresh)
        state = before.dispatcher.state
        dispatcher = Dispatcher(settings, table, before.upstream, state=state)
        dispatcher.on_attempt = before.dispatcher.on_attempt  # metrics and tracing stay hooked
        new = replace(before, settings=settings, table=table, dispatcher=dispatcher,
                      gate=access.gate)
        os.environ.update(settings.environment)  # LiteLLM's environment_variables: semantics
        _redact_new_secrets(settings)
        # From here on, one synchronous step: no request sees half of it.
        if isinstance(state, LocalState):
            state.reconfigure(settings.router.circuit_breaker,
                              (d.id for d in settings.deployments))
        self.app.config["MAX_CONTENT_LENGTH"] = settings.server.max_request_bytes
        self.access = access
        self.live.current = new
        return prepared

    def _record(self, trigger: Trigger, actor: str | None, prepared: Prepared,
                before: Settings) -> None:
        """One admin event per reload: a worker of several records only what it was asked
        through the admin API (the supervisor records the file's and SIGHUP's)."""
        if trigger == "supervisor":
            return
        name = actor or ("config-watch" if trigger == "file" else "sighup")
        path = self.source.path if self.source is not None else None
        try:
            self.live.current.store.admin_event(name, "config.reload",
                                                str(path) if path else None,
                                                event_detail(trigger, prepared, before))
        except Exception as e:  # the store closed under a reload at shutdown
            log.warning("could not record the config.reload event: %s", type(e).__name__)


def _redact_new_secrets(settings: Settings) -> None:
    """Log redaction learns the reloaded configuration's credentials (keeping the old ones:
    requests still running may log theirs)."""
    for handler in logging.getLogger().handlers:
        for f in handler.filters:
            if isinstance(f, RedactingFilter):
                known = dict.fromkeys(f.secrets)
                known.update(dict.fromkeys(s for s in settings.secrets() if len(s) >= 4))
                f.secrets = tuple(known)


@blueprint.post("/admin/reload")
async def admin_reload() -> Response:
    """Read the configuration again now; 200 when it now serves, 422 when it was refused
    (the running configuration stays). Admin role."""
    gw = gateway()
    principal = await gw.gate.authenticate(request.headers, request.remote_addr)
    principal.check_write()
    reloader: Reloader = current_app.extensions[_RELOADER]
    result = await reloader.reload("admin", principal.actor)
    return Response(orjson.dumps(result.body()), status=200 if result.reloaded else 422,
                    content_type="application/json")


def install(app: Quart, gw: Gateway) -> None:
    """The `POST /admin/reload` route, the SIGHUP handler and the file watcher."""
    build: Build = app.extensions[BUILD]
    reloader = Reloader(app, gw, build)
    app.extensions[_RELOADER] = reloader
    app.register_blueprint(blueprint)
    app.before_serving(reloader.start)
    app.after_serving(reloader.stop)
