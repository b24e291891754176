"""Noticing that the configuration changed: a watcher on its files (watchfiles, in a thread),
and, for `pllm serve --workers N`, the supervisor's side of a reload.

With several workers the supervisor is the one that watches the files and takes SIGHUP: it
reads the new configuration once (so its errors are logged once and the admin event recorded
once) and, when it is valid, sends SIGHUP to every worker, each of which reloads itself. A
worker that reloaded through `POST /admin/reload` sends the supervisor SIGUSR1, which passes
SIGHUP to every worker the same way.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from pllm.config.model import Settings
from pllm.providers.registry import default_registry
from pllm.server.reload_source import (
    ConfigSource,
    Trigger,
    config_files,
    event_detail,
    log_outcome,
    prepare,
)
from pllm.store import Store

__all__ = ["ConfigWatcher", "SupervisorReloads"]

log = logging.getLogger("pllm.reload")

STEP_MS = 100
"""Changes less than this apart are one change (an editor's write, rename and chmod)."""
MAX_GROUP_MS = 1600


class ConfigWatcher:
    """Calls `on_change()`, from its own thread, when a file of the configuration changes.

    It watches the folders holding the files, not the files: editors and Kubernetes replace a
    file by renaming another over it, which a watch on the old file would not see. After each
    change the set of files is worked out again (an `include:` may have been added)."""

    def __init__(self, source: ConfigSource, on_change: Callable[[], None]) -> None:
        self.source = source
        self._on_change = on_change
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pllm-config-watch", daemon=True)

    def start(self) -> None:
        logging.getLogger("watchfiles").setLevel(logging.WARNING)  # not "1 change detected"
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        from watchfiles import watch

        while not self._stop.is_set():
            files = config_files(self.source)
            names = {str(f) for f in files}
            folders = sorted({str(f.parent) for f in files if f.parent.is_dir()})

            try:
                for _ in watch(*folders, watch_filter=_Wanted(names), step=STEP_MS,
                               debounce=MAX_GROUP_MS, stop_event=self._stop, recursive=False,
                               raise_interrupt=False):
                    self._on_change()
                    if config_files(self.source) != files:
                        break  # watch the new set of files
            except Exception as e:  # a folder went away, the watch limit is reached, ...
                log.warning("watching the config files failed (%s: %s); retrying in 2 s",
                            type(e).__name__, e)
                self._stop.wait(2.0)


class _Wanted:
    """The watch filter: a file of the configuration, or `..data`, the symlink Kubernetes
    swaps when a mounted ConfigMap changes."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def __call__(self, _change: object, path: str) -> bool:
        return path in self.names or Path(path).name.startswith("..data")


class SupervisorReloads:
    """The supervisor's part of hot reload with several workers (see the module docstring).

    Signal handlers only set flags or send signals; the reading happens in a thread."""

    def __init__(self, source: ConfigSource, settings: Settings, store: Store,
                 workers: Callable[[], list[int]]) -> None:
        self.source = source
        self.settings = settings
        self.store = store
        self._workers = workers
        self._wake = threading.Event()
        self._stopping = False
        self._trigger: Trigger = "signal"
        self._thread = threading.Thread(target=self._run, name="pllm-reload", daemon=True)
        self._watcher = ConfigWatcher(source, lambda: self.request("file")) \
            if source.watch and source.reloadable else None

    def start(self) -> None:
        """Call from the main thread, once the workers are started (until then SIGHUP is
        ignored, and the workers inherit that until their app handles it)."""
        signal.signal(signal.SIGHUP, self._on_sighup)
        signal.signal(signal.SIGUSR1, self._on_sigusr1)
        self._thread.start()
        if self._watcher is not None:
            self._watcher.start()

    def stop(self) -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        if self._watcher is not None:
            self._watcher.stop()
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=5)

    def request(self, trigger: Trigger) -> None:
        if not (trigger == "admin" and self._wake.is_set()):  # a pending file/SIGHUP wins
            self._trigger = trigger
        self._wake.set()

    def _on_sighup(self, _sig: int, _frame: FrameType | None) -> None:
        self.request("signal")

    def _on_sigusr1(self, _sig: int, _frame: FrameType | None) -> None:
        self.forward()  # a worker reloaded (and recorded it): the others follow
        self.request("admin")  # and this process learns the settings it now runs

    def forward(self) -> None:
        for pid in self._workers():
            try:
                os.kill(pid, signal.SIGHUP)
            except ProcessLookupError:
                pass

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._stopping:
                return
            self._wake.clear()
            try:
                self._check(self._trigger)
            except Exception:
                log.exception("config reload failed")

    def _check(self, trigger: Trigger) -> None:
        before = self.settings
        prepared = prepare(self.source, before, default_registry())
        if trigger == "admin":  # the worker that took the request logged and recorded it
            if prepared.settings is not None:
                self.settings = prepared.settings
            return
        log_outcome(log, prepared, self.source, before, verb="config changed, reloading the "
                    "workers")
        actor = "config-watch" if trigger == "file" else "sighup"
        self.store.admin_event(actor, "config.reload",
                               str(self.source.path) if self.source.path else None,
                               event_detail(trigger, prepared, before))
        if prepared.settings is not None:
            self.settings = prepared.settings
            self.forward()
