"""Running the app under Hypercorn, in this process or in N worker processes sharing the port.

SIGTERM/SIGINT stop accepting connections, let in-flight requests and streams finish for up to
`server.graceful_timeout` seconds, then exit 0.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
from collections.abc import Awaitable, Callable
from multiprocessing.connection import wait
from multiprocessing.synchronize import Event as EventType
from typing import TYPE_CHECKING, Any

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import wrap_app

from pllm.config.model import ServerSettings, Settings
from pllm.errors import PllmError
from pllm.server.metrics_export import MetricsPort, export_metrics

if TYPE_CHECKING:
    from pllm.server.reload_source import ConfigSource
    from pllm.store import Store

__all__ = ["BindRefused", "check_bind", "hypercorn_config", "serve"]

log = logging.getLogger(__name__)


class BindRefused(PllmError):
    pass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings) -> None:
    """A gateway with neither a master key nor JWT auth answers anyone: only on loopback."""
    server = settings.server
    guarded = server.master_key is not None or settings.access.jwt is not None
    if not guarded and not is_loopback(server.host):
        raise BindRefused(
            f"refusing to listen on {server.host} without a master key: anyone who can reach "
            "it could use your provider keys. Set general_settings.master_key in the config "
            "(or PLLM_MASTER_KEY), or bind to 127.0.0.1.")


def hypercorn_config(server: ServerSettings) -> Config:
    config = Config()
    host = f"[{server.host}]" if ":" in server.host and not server.host.startswith("[") \
        else server.host
    config.bind = [f"{host}:{server.port}"]
    config.workers = server.workers
    config.graceful_timeout = server.graceful_timeout
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = 75
    config.backlog = 2048
    config.include_server_header = False
    config.worker_class = server.loop
    return config


def serve(settings: Settings, *, on_bound: Callable[[], None] | None = None,
          source: ConfigSource | None = None) -> int:
    """Bind, call `on_bound` (the banner), serve until a stop signal; the exit code.
    `source`: where the settings came from, for hot reloads (SIGHUP, file changes)."""
    check_bind(settings)
    config = hypercorn_config(settings.server)
    sockets = config.create_sockets()
    with export_metrics(settings) as metrics_port:  # the workers' metrics directory, the port
        if on_bound is not None:
            on_bound()
        if settings.server.workers <= 1:
            _run_worker(settings, config, sockets, None, source=source,
                        metrics_port=metrics_port)
            return 0
        return _supervise(settings, config, sockets, source)


def _run_worker(settings: Settings, config: Config, sockets: Sockets,
                shutdown_event: EventType | None, ledger_socket: str | None = None,
                source: ConfigSource | None = None,
                metrics_port: MetricsPort | None = None) -> None:
    from pllm.server.app import create_app

    # SIGHUP means "reload the config" (the app handles it once serving), never "exit".
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    quart_app = create_app(settings, ledger_socket=ledger_socket, source=source)
    if metrics_port is not None:
        metrics_port.attach(quart_app)
    app = wrap_app(quart_app, config.wsgi_max_body_size, None)
    # Everything built so far (modules, settings, the app) lives as long as the process: keep
    # it out of the cyclic garbage collector's full passes, which then only walk request
    # garbage.
    gc.collect()
    gc.freeze()
    trigger = None
    if shutdown_event is not None:
        # Workers ignore SIGINT/SIGTERM; the supervisor tells them to stop through this event.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

        async def trigger() -> None:
            while not shutdown_event.is_set():
                await asyncio.sleep(0.1)

    coro = worker_serve(app, config, sockets=sockets,
                        shutdown_trigger=_announcing(quart_app, trigger))
    if settings.server.loop == "uvloop":
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)


def _announcing(app: Any, trigger: Callable[[], Awaitable[None]] | None,
                ) -> Callable[[], Awaitable[None]]:
    """Hypercorn's shutdown trigger (by default SIGINT/SIGTERM, as Hypercorn's own), which also
    sets the app's `stopping` event when it fires: endless streams (the admin event stream)
    end then, instead of holding the graceful shutdown until its timeout."""

    async def wait() -> None:
        if trigger is not None:
            await trigger()
        else:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
        app.extensions["pllm"].stopping.set()

    return wait


def _worker_main(settings: Settings, config: Config, sockets: Sockets,
                 shutdown_event: EventType, ledger_socket: str,
                 source: ConfigSource | None) -> None:
    from pllm.logs import setup_logging

    setup_logging(settings)
    _run_worker(settings, config, sockets, shutdown_event, ledger_socket, source)


def _supervise(settings: Settings, config: Config, sockets: Sockets,
               source: ConfigSource | None) -> int:
    """Workers share one ledger (rate limits, budgets, the store's spend and audit writer),
    served from this process so that N workers never keep N private copies."""
    from pllm.access.ledger_ipc import LedgerServer
    from pllm.server.wiring import open_store

    folder = tempfile.mkdtemp(prefix="pllm-")  # 0700: only this user reaches the socket
    ledger_socket = os.path.join(folder, "ledger.sock")
    store = open_store(settings)
    ledger = LedgerServer(ledger_socket, store, tz=settings.access.budget_timezone,
                          retention_days=settings.access.audit.retention_days)
    ledger.start()
    try:
        return _run_workers(settings, config, sockets, ledger_socket, store, source)
    finally:
        ledger.stop()
        store.close()
        shutil.rmtree(folder, ignore_errors=True)


def _run_workers(settings: Settings, config: Config, sockets: Sockets,
                 ledger_socket: str, store: Store, source: ConfigSource | None) -> int:
    from dataclasses import replace

    from pllm.server.reload_watch import SupervisorReloads

    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()

    def on_signal(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # inherited by workers until they serve
    if source is not None:
        source = replace(source, supervisor=os.getpid())
    procs = [ctx.Process(target=_worker_main,
                         args=(settings, config, sockets, stop, ledger_socket, source),
                         name=f"pllm-worker-{i + 1}") for i in range(settings.server.workers)]
    for p in procs:
        p.start()
    reloads = None
    if source is not None:
        reloads = SupervisorReloads(source, settings, store,
                                    lambda: [p.pid for p in procs if p.pid])
        reloads.start()
    exit_code = 0
    while not stop.is_set():
        done = wait([p.sentinel for p in procs], timeout=0.5)
        if done:
            dead = [p for p in procs if p.exitcode is not None]
            if dead and any(p.exitcode != 0 for p in dead):
                log.error("a worker exited with code %s; stopping", dead[0].exitcode)
                exit_code = 1
            stop.set()
    if reloads is not None:
        reloads.stop()
    for p in procs:
        p.join(settings.server.graceful_timeout + 5)
        if p.is_alive():
            p.terminate()
            p.join(5)
    for s in sockets.insecure_sockets:
        s.close()
    return exit_code
