"""`pllm bench --mock`: a mock upstream and a `pllm serve` in front of it, on loopback, from a
temporary directory, needing no keys, no network and no configuration of the user's.

Both run as subprocesses of this Python (`python -m pllm.bench.mockserver`,
`python -m pllm serve`): the bench layer talks to the gateway only over HTTP, as any client
would. The gateway gets a generated config (one model group on the mock, a random master key
the bench uses and never prints) and its own SQLite file in the temporary directory; the
environment's provider keys and `PLLM_*` settings are not passed on.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from pllm.bench.pool import BenchError
from pllm.bench.spec import Endpoint, Target

__all__ = ["MockStack"]

START_TIMEOUT_S = 30.0
MODEL = "bench"
UPSTREAM_MODEL = "bench-upstream"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MockStack:
    """Context manager: `.gateway` (pllm) and `.direct` (the mock itself) are the two targets."""

    def __init__(self, workers: int = 1, token_delay_ms: float = 0.0) -> None:
        self.workers = workers
        self.token_delay_ms = token_delay_ms
        self._tmp = tempfile.TemporaryDirectory(prefix="pllm-bench-")
        self.dir = Path(self._tmp.name)
        self._mock: subprocess.Popen[bytes] | None = None
        self._pllm: subprocess.Popen[bytes] | None = None
        self._log = self.dir / "pllm.log"
        self.gateway: Target | None = None
        self.direct: Target | None = None

    def __enter__(self) -> MockStack:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PLLM_") and not k.endswith(("_API_KEY", "_API_BASE"))}
        env["PLLM_DB"] = str(self.dir / "pllm.db")
        return env

    def _start(self) -> None:
        self._mock = subprocess.Popen(
            [sys.executable, "-m", "pllm.bench.mockserver", "--port", "0",
             "--token-delay-ms", str(self.token_delay_ms)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self._env(), cwd=self.dir,
            start_new_session=True)
        assert self._mock.stdout is not None
        line = self._mock.stdout.readline().decode().split()
        if len(line) != 2 or line[0] != "ready":
            raise BenchError("the mock upstream did not start")
        mock_port = int(line[1])
        master = "sk-bench-" + secrets.token_urlsafe(18)
        upstream_key = "sk-bench-upstream-" + secrets.token_hex(8)
        config = self.dir / "config.yaml"
        config.write_text(
            "model_list:\n"
            f"  - model_name: {MODEL}\n"
            "    litellm_params:\n"
            f"      model: openai/{UPSTREAM_MODEL}\n"
            f"      api_base: http://127.0.0.1:{mock_port}/v1\n"
            f"      api_key: {upstream_key}\n"
            "general_settings:\n"
            f"  master_key: {master}\n")
        port = _free_port()
        with open(self._log, "wb") as log:
            self._pllm = subprocess.Popen(
                [sys.executable, "-m", "pllm", "serve", "--config", str(config), "--port",
                 str(port), "--workers", str(self.workers), "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT, env=self._env(), cwd=self.dir,
                start_new_session=True)
        self._wait_healthy(f"http://127.0.0.1:{port}/health")
        self.gateway = Target("target", Endpoint.parse(f"http://127.0.0.1:{port}/v1"), master,
                              MODEL, "pllm")
        self.direct = Target("baseline", Endpoint.parse(f"http://127.0.0.1:{mock_port}/v1"),
                             upstream_key, UPSTREAM_MODEL, "mock, direct")

    def _wait_healthy(self, url: str) -> None:
        start = time.monotonic()
        while time.monotonic() - start < START_TIMEOUT_S:
            assert self._pllm is not None
            if self._pllm.poll() is not None:
                raise BenchError(f"pllm serve exited with {self._pllm.returncode}:\n"
                                 + self.log_tail())
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise BenchError(f"pllm serve did not answer {url} within {START_TIMEOUT_S:g} s:\n"
                         + self.log_tail())

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self._log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        for proc in (self._pllm, self._mock):
            if proc is None or proc.poll() is not None:
                continue
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
            except ProcessLookupError:
                pass
        if self._mock is not None and self._mock.stdout is not None:
            self._mock.stdout.close()
        self._tmp.cleanup()
