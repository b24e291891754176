"""Run the real `pllm serve` in a subprocess on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

__all__ = ["PllmServer", "free_port", "serving"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PllmServer:
    """`pllm serve` with the given config text; with no config, `--demo` or (demo=False)
    models discovered from the environment."""

    def __init__(self, tmp: Path, config: str | None = None, *, demo: bool = False,
                 args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"pllm-{self.port}.log"
        cmd = [sys.executable, "-m", "pllm", "serve", "--port", str(self.port)]
        if demo:
            cmd.append("--demo")
        if config is not None:
            self.config_path = tmp / f"config-{self.port}.yaml"
            self.config_path.write_text(config)
            cmd += ["--config", str(self.config_path)]
        self.cmd = cmd + list(args)
        base = {k: v for k, v in os.environ.items()
                if not k.endswith("_API_KEY") and not k.startswith(("PLLM_", "AZURE_"))}
        # Each server gets its own database unless the test shares one on purpose.
        self.db_path = tmp / f"pllm-{self.port}.db"
        self.env = {**base, "PLLM_DB": str(self.db_path), **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> PllmServer:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed by stop())
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=self.tmp)
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 15.0) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"pllm exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        return time.monotonic() - start
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"pllm did not become healthy:\n{self.logs()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:  # idempotent: tests may have stopped it already
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode

    def logs(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> PllmServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


@contextmanager
def serving(server: PllmServer, secrets: Iterable[str]) -> Iterator[PllmServer]:
    """Run `server`; once it has stopped, none of `secrets` may appear in its logs."""
    with server:
        yield server
    logs = server.logs()
    for secret in secrets:
        assert secret not in logs, "a secret reached the logs"
