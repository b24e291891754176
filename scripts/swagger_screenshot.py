"""Open pllm's Swagger UI in headless Chromium: screenshot it, use "Try it out" with a bearer
key, and list every request the page made, to show that none leaves the gateway.

    python scripts/swagger_screenshot.py [--url http://127.0.0.1:8080 --key KEY] [--out swagger.png]

With no `--url` it starts `pllm serve --demo` on a free loopback port with a random master key
and stops it after. Chromium (Debian's `chromium` at /usr/bin/chromium, or `--chromium PATH`)
runs `--headless --no-sandbox --disable-gpu` and is driven over the DevTools protocol (with
aiohttp, a pllm dependency): the page's own network requests, console errors, Content-Security-
Policy violations and script exceptions are recorded (the browser's background traffic is not
the page's and is not counted). Steps: load `/swagger`, wait for the operations, screenshot
(`--out`); authorize with the key through the Authorize dialog, expand `GET /v1/models`, "Try it
out", "Execute", read the status Swagger UI shows, screenshot that (`<out>-try.png`); reload
and check the authorization was kept.

When Chromium is not installed it prints "skipped: ..." and exits 0 (`apt-get install
chromium` on Debian). Exit status 1: something above failed; each problem is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["CHROMIUM", "Report", "find_chromium", "inspect_swagger", "main"]

CHROMIUM = "/usr/bin/chromium"
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
          "--no-first-run", "--no-default-browser-check", "--disable-extensions",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--remote-debugging-port=0", "--remote-allow-origins=*"]
_OPERATION = "#operations-models-get_v1_models"


def find_chromium(path: str | None = None) -> str | None:
    """`path` if given (and executable); else $CHROMIUM, /usr/bin/chromium, or on $PATH."""
    candidates = [path] if path else [os.environ.get("CHROMIUM"), CHROMIUM,
                                      shutil.which("chromium"), shutil.which("chromium-browser")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class Report:
    """What the page did."""

    png: Path
    operations: int = 0
    requests: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Console errors, CSP violations, failed loads and uncaught exceptions."""
    try_status: str | None = None
    persisted: bool | None = None
    seconds: float = 0.0

    def problems(self) -> list[str]:
        """Empty when Swagger UI rendered, "try it out" got a 200, and nothing external or
        broken happened."""
        out = []
        if not self.png.is_file() or self.png.stat().st_size < 20_000:
            out.append(f"the screenshot is missing or nearly empty ({self.png})")
        if self.operations < 10:
            out.append(f"Swagger UI rendered {self.operations} operations")
        if self.external:
            out.append(f"requests outside the gateway: {self.external}")
        if self.errors:
            out.append(f"errors in the page: {self.errors}")
        if self.try_status is not None and self.try_status != "200":
            out.append(f"try it out answered {self.try_status!r}, not 200")
        if self.persisted is False:
            out.append("the authorization was not kept across a reload")
        return out


class _Tab:
    """One page over the DevTools protocol, with its network and console events recorded."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = 0
        self.session: str | None = None
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self.waiting:
                self.waiting.pop(data["id"]).set_result(data)
            else:
                self._event(data.get("method", ""), data.get("params", {}))

    def _event(self, method: str, p: dict[str, Any]) -> None:
        if method == "Network.requestWillBeSent":
            self.requests.append(p["request"]["url"])
        elif method == "Network.loadingFailed" and not p.get("canceled"):
            self.errors.append(f"load failed: {p.get('errorText')} {p.get('blockedReason', '')}")
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            self.errors.append(f"log: {p['entry'].get('text', '')[:300]}")
        elif method == "Runtime.consoleAPICalled" and p["type"] == "error":
            self.errors.append("console: " + " ".join(
                str(a.get("value", a.get("description", "")))[:300] for a in p["args"]))
        elif method == "Runtime.exceptionThrown":
            self.errors.append(f"exception: {p['exceptionDetails'].get('text', '')}")

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   browser: bool = False) -> dict[str, Any]:
        self.ids += 1
        message: dict[str, Any] = {"id": self.ids, "method": method, "params": params or {}}
        if not browser and self.session:
            message["sessionId"] = self.session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[self.ids] = future
        await self.ws.send_str(json.dumps(message))
        reply = await asyncio.wait_for(future, 30)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def js(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", {"expression": expression,
                                                      "returnByValue": True,
                                                      "awaitPromise": True})
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.js(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise TimeoutError(f"timed out waiting for {expression}")

    async def click(self, selector: str) -> None:
        await self.wait_for(f"!!document.querySelector({json.dumps(selector)})")
        await self.js(f"document.querySelector({json.dumps(selector)}).click()")

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", {"format": "png"})
        path.write_bytes(base64.b64decode(shot["data"]))


async def _launch(chromium: str, profile: str) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        chromium, *_FLAGS, f"--user-data-dir={profile}", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    while True:
        line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode(errors="replace")
        if not line:
            raise RuntimeError("chromium exited before it opened the DevTools port")
        found = re.search(r"ws://\S+", line)
        if found:
            return proc, found.group(0)


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stderr is not None
    while await proc.stderr.readline():
        pass


async def _authorize_and_try(tab: _Tab, key: str, report: Report) -> None:
    await tab.click(".btn.authorize")
    box = ("[...document.querySelectorAll('.auth-container')]"
           ".find(c => c.textContent.includes('bearerAuth'))")
    await tab.wait_for(f"!!{box}?.querySelector('input')")
    await tab.js(f"{box}.querySelector('input').focus()")
    await tab.send("Input.insertText", {"text": key})  # typed, as a person would
    await tab.js(f"{box}.querySelector('button.authorize').click()")
    await tab.wait_for(f"{box}.textContent.includes('Authorized')")
    await tab.click(".dialog-ux .close-modal")
    await tab.click(f"{_OPERATION} .opblock-summary-control")
    await tab.click(f"{_OPERATION} .try-out__btn")
    await tab.click(f"{_OPERATION} .execute")
    report.try_status = str(await tab.wait_for(
        f"document.querySelector('{_OPERATION} .live-responses-table tbody .response-col_status')"
        "?.textContent.trim().slice(0, 3)"))
    await tab.js(f"document.querySelector('{_OPERATION}').scrollIntoView()")
    await tab.screenshot(report.png.with_name(report.png.stem + "-try.png"))
    await tab.send("Page.reload")
    await tab.wait_for("document.querySelectorAll('.opblock').length")
    report.persisted = bool(await tab.js(
        "!!window.ui && window.ui.authSelectors.authorized().has('bearerAuth')"))


async def inspect_swagger(base: str, out: Path, *, key: str | None = None,
                          chromium: str = CHROMIUM, size: tuple[int, int] = (1280, 1600),
                          timeout: float = 90.0) -> Report:
    """Load `base`/swagger in headless Chromium and report what happened (see the module
    docstring); `key`: also authorize and "try it out" with it."""
    started = time.monotonic()
    report = Report(out)
    base = base.rstrip("/")
    with tempfile.TemporaryDirectory(prefix="pllm-chromium-") as profile:
        proc, ws_url = await _launch(chromium, profile)
        drain = asyncio.ensure_future(_drain(proc))
        try:
            async with aiohttp.ClientSession() as http, http.ws_connect(
                    ws_url, max_msg_size=0) as ws:
                tab = _Tab(ws)
                target = await tab.send("Target.createTarget", {"url": "about:blank"}, True)
                attached = await tab.send("Target.attachToTarget", {
                    "targetId": target["targetId"], "flatten": True}, True)
                tab.session = attached["sessionId"]
                for domain in ("Network", "Page", "Runtime", "Log"):
                    await tab.send(f"{domain}.enable")
                await tab.send("Emulation.setDeviceMetricsOverride", {
                    "width": size[0], "height": size[1], "deviceScaleFactor": 1,
                    "mobile": False})
                await tab.send("Page.navigate", {"url": base + "/swagger"})
                async with asyncio.timeout(timeout):
                    report.operations = int(await tab.wait_for(
                        "document.querySelectorAll('.opblock').length"))
                    await asyncio.sleep(0.3)  # fonts and icons settle
                    await tab.screenshot(out)
                    if key is not None:
                        await _authorize_and_try(tab, key, report)
                report.requests = list(tab.requests)
                report.errors = list(tab.errors)
                tab.reader.cancel()
        finally:
            if proc.returncode is None:
                proc.terminate()
            await proc.wait()
            drain.cancel()
    report.external = [u for u in report.requests
                       if not (u.startswith(base + "/") or u.startswith("data:"))]
    report.seconds = time.monotonic() - started
    return report


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _demo_server(workdir: str, key: str) -> tuple[Any, str]:
    import subprocess

    port = _free_port()
    env = {**os.environ, "PLLM_DB": str(Path(workdir) / "pllm.db"), "PLLM_MASTER_KEY": key}
    proc = subprocess.Popen([sys.executable, "-m", "pllm", "serve", "--demo", "--port",
                             str(port)], cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pllm serve --demo exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(base + "/health", timeout=1):
                return proc, base
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("pllm serve --demo did not become healthy")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--url", help="a running gateway (default: start pllm serve --demo)")
    ap.add_argument("--key", help="a key for try it out (default with --url: none, so no "
                    "try it out; without --url: the demo server's random master key)")
    ap.add_argument("--out", type=Path, default=Path("swagger.png"))
    ap.add_argument("--chromium", help=f"the browser binary (default {CHROMIUM})")
    args = ap.parse_args(argv)
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print("skipped: Chromium is not installed (apt-get install chromium)")
        return 0
    with tempfile.TemporaryDirectory(prefix="pllm-swagger-") as workdir:
        proc, base, key = None, args.url, args.key
        if base is None:
            key = key or "sk-master-" + secrets.token_hex(16)
            proc, base = _demo_server(workdir, key)
        try:
            report = asyncio.run(inspect_swagger(base, args.out.resolve(), key=key,
                                                 chromium=chromium))
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(30)
    print(f"screenshot: {report.png} ({report.png.stat().st_size} bytes, "
          f"{report.seconds:.1f} s)")
    print(f"operations rendered: {report.operations}")
    print(f"page requests: {len(report.requests)}, outside the gateway: "
          f"{len(report.external)}")
    if report.try_status is not None:
        print(f"try it out (GET /v1/models with the key): {report.try_status}; "
              f"kept across a reload: {report.persisted}")
    problems = report.problems()
    for p in problems:
        print(f"problem: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
