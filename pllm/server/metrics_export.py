"""The process side of metrics, run by `pllm serve` around the server: the multiprocess
directory for `--workers N`, and the separate metrics port (`server.metrics_port`).

- Workers > 1: a private directory (0700) is made and named in `PROMETHEUS_MULTIPROC_DIR`
  before the workers are spawned (they inherit it: prometheus-client then keeps every value in
  per-process files there); each worker marks itself dead when it stops (its live gauges leave
  the sums), and the directory is removed when the server exits.
- One process: `PROMETHEUS_MULTIPROC_DIR` is cleared, so a value left in the environment
  cannot switch the only process to files in someone else's directory.
- `server.metrics_port`: prometheus-client's HTTP server in a daemon thread, bound before the
  banner (a busy port is a clean startup error), answering any path with the exposition and
  asking for no credentials. With workers it reads the directory; alone, the app's own
  registry (`attach`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from pllm.config.model import Settings
from pllm.errors import PllmError

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

# prometheus-client decides at import time whether values live in files: it is imported only
# after `export_metrics` has set (or cleared) the variable.

__all__ = ["MULTIPROC_ENV", "MetricsPort", "MetricsPortRefused", "export_metrics"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class MetricsPortRefused(PllmError):
    pass


class MetricsPort:
    """The exposition on `server.metrics_port` (a prometheus-client collector passing on to
    the directory's or the app's)."""

    def __init__(self, host: str, port: int) -> None:
        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import start_http_server

        self._source: Collector | None = None
        registry = CollectorRegistry(auto_describe=False)
        registry.register(cast("Collector", self))
        try:
            self.server, self.thread = start_http_server(port, host.strip("[]"),
                                                         registry=registry)
        except OSError as e:
            raise MetricsPortRefused(f"cannot listen on {host}:{port} for metrics "
                                     f"(server.metrics_port): {e.strerror or e}") from None

    def collect(self) -> Iterable[Any]:
        source = self._source
        return source.collect() if source is not None else ()

    def read_directory(self, path: str) -> None:
        from prometheus_client.multiprocess import MultiProcessCollector

        self._source = MultiProcessCollector(None, path=path)  # type: ignore[no-untyped-call]

    def attach(self, app: Any) -> None:
        """Serve the registry of the app this process runs (one process, no directory)."""
        self._source = app.extensions["pllm.metrics"].registry

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def export_metrics(settings: Settings) -> Iterator[MetricsPort | None]:
    """Around the whole server: the directory (workers) and the metrics port, if any."""
    server = settings.server
    folder: str | None = None
    port: MetricsPort | None = None
    if server.workers > 1:
        folder = tempfile.mkdtemp(prefix="pllm-metrics-")
        os.environ[MULTIPROC_ENV] = folder
    else:
        os.environ.pop(MULTIPROC_ENV, None)
    try:
        if server.metrics_port is not None:
            port = MetricsPort(server.host, server.metrics_port)
            if folder is not None:
                port.read_directory(folder)
        yield port
    finally:
        if port is not None:
            port.close()
        if folder is not None:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(folder, ignore_errors=True)
