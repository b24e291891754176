"""The live admin feed the dashboard (`pllm tui`) reads: `GET /admin/stats` (one snapshot),
`GET /admin/events` (server-sent events: a snapshot every second and the requests that ended
since the last one), `GET /admin/requests` (recent requests, filtered) and `GET /admin/config`
(the loaded config, secrets masked). Admin or viewer role.

Per-deployment rows, rates, latencies and recent requests are this process's own (with
`--workers N`, the worker that answered); today's totals come from the audit trail, which every
worker writes, summed incrementally in a thread (`Today`) at most every two seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from quart import Blueprint, Quart, Response, request

from pllm.config.render import settings_to_dict
from pllm.errors import InvalidRequest
from pllm.redaction import redact
from pllm.server.events import RequestDone
from pllm.server.livestats import LiveStats
from pllm.server.state import Gateway, gateway
from pllm.server.stats_view import request_view, snapshot
from pllm.sse import encode_event
from pllm.store import Store, period_start

__all__ = ["Feed", "Today", "install"]

log = logging.getLogger(__name__)
blueprint = Blueprint("stats", __name__)

TICK_S = 1.0
SERIES_MINUTES = 5
_REFRESH_S = 2.0
_SHARE_S = 0.5
_INITIAL_REQUESTS = 50
_MAX_LIMIT = 1000


class Today:
    """Requests, failures, tokens and cost since the start of today (in the budget time zone)
    from the audit trail: summed once, then only the rows committed since (by id)."""

    def __init__(self, store: Store, tz: str, clock: Callable[[], float] = time.time) -> None:
        self.store, self.tz, self.clock = store, tz, clock
        self.day = 0.0
        self.last_id = 0
        self.sums = {"requests": 0, "failed": 0, "prompt_tokens": 0, "completion_tokens": 0,
                     "cost_usd": 0.0}
        self.at = 0.0
        self.ok = False
        self._lock = asyncio.Lock()

    def _refresh(self) -> None:
        now = self.clock()
        day = period_start("daily", now, self.tz)
        if day != self.day:
            self.day, self.last_id = day, 0
            self.sums = dict.fromkeys(self.sums, 0)
            self.sums["cost_usd"] = 0.0
        t = self.store.audit_totals(since=day, after_id=self.last_id)
        self.last_id = t.last_id
        for name in ("requests", "failed", "prompt_tokens", "completion_tokens", "cost_usd"):
            self.sums[name] += getattr(t, name)
        self.at = now

    async def get(self) -> dict[str, Any]:
        async with self._lock:
            if self.clock() - self.at >= _REFRESH_S:
                try:
                    await asyncio.to_thread(self._refresh)
                    self.ok = True
                except Exception as e:  # a closing or busy store: keep the last figures
                    if self.ok or not self.at:  # once per outage, not every refresh
                        log.warning("could not read today's totals from the audit trail: %s",
                                    e)
                    self.ok = False
                    self.at = self.clock()
        s = self.sums
        return {**s, "cost_usd": round(float(s["cost_usd"]), 6),
                "tokens": s["prompt_tokens"] + s["completion_tokens"], "since": self.day,
                "as_of": self.at, "source": "audit" if self.ok else "unavailable"}


class Feed:
    """What the routes share: the observer, today's totals, and the open event streams."""

    def __init__(self, live: LiveStats, today: Today) -> None:
        self.live = live
        self.today = today
        self.clients = 0
        self._cache: tuple[float, bytes] | None = None

    async def snapshot(self, gw: Gateway, minutes: int = SERIES_MINUTES) -> dict[str, Any]:
        self.live.forget(d.id for d in gw.settings.deployments)
        return snapshot(gw, self.live, await self.today.get(), minutes=minutes,
                        clients=self.clients)

    async def snapshot_bytes(self, gw: Gateway) -> bytes:
        """The default snapshot, shared by every event stream within half a second: however
        many dashboards are open, it is built at most twice a second."""
        now = time.monotonic()
        cached = self._cache
        if cached is not None and now - cached[0] < _SHARE_S:
            return cached[1]
        body = orjson.dumps(await self.snapshot(gw))
        self._cache = (now, body)
        return body


def install(app: Quart, gw: Gateway) -> None:
    """Register this module's routes, serving hooks and request observers on `app`."""
    live = LiveStats()
    feed = Feed(live, Today(gw.store, gw.settings.access.budget_timezone))
    app.extensions["pllm.stats"] = feed
    gw.observers.add(live)
    app.register_blueprint(blueprint)


def _feed() -> Feed:
    from quart import current_app

    return current_app.extensions["pllm.stats"]  # type: ignore[no-any-return]


async def _reader() -> Gateway:
    gw = gateway()
    (await gw.gate.authenticate(request.headers, request.remote_addr)).check_read()
    return gw


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), content_type="application/json")


def _int_arg(name: str, default: int, high: int) -> int:
    value = request.args.get(name)
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= high:
        raise InvalidRequest(f"{name}: expected a whole number from 1 to {high}", param=name)
    return int(value)


@blueprint.get("/admin/stats")
async def stats() -> Response:
    """One snapshot: per-deployment rows, totals, the last `minutes` (default 5) of
    per-second series. Admin or viewer."""
    gw = await _reader()
    feed = _feed()
    minutes = _int_arg("minutes", SERIES_MINUTES, feed.live.window_s // 60)
    return _json(await feed.snapshot(gw, minutes))


def status_filter(spec: str | None) -> Callable[[int], bool]:
    """`200`, `2xx`, `4xx`, `5xx`, `ok` (below 400) or `error` (400 and above)."""
    if spec is None or spec in ("", "all"):
        return lambda s: True
    if spec == "ok":
        return lambda s: s < 400
    if spec in ("error", "failed"):
        return lambda s: s >= 400
    if len(spec) == 3 and spec[0] in "12345" and spec[1:].lower() == "xx":
        hundred = int(spec[0])
        return lambda s: s // 100 == hundred
    if spec.isdigit():
        code = int(spec)
        return lambda s: s == code
    raise InvalidRequest("status: expected a code (429), a class (5xx), ok or error",
                         param="status")


def request_filter(status: str | None, model: str | None,
                   key: str | None) -> Callable[[RequestDone], bool]:
    by_status = status_filter(status)
    model_part = (model or "").lower()
    key_part = (key or "").lower()

    def keep(e: RequestDone) -> bool:
        if not by_status(e.status):
            return False
        if model_part and not any(model_part in (v or "").lower()
                                  for v in (e.model, e.model_group, e.deployment)):
            return False
        return not key_part or any(key_part in (v or "").lower()
                                   for v in (e.key_name, e.key_id))

    return keep


@blueprint.get("/admin/requests")
async def recent_requests() -> Response:
    """This process's recent requests, newest first, filtered by `status`, `model`, `key`;
    at most `limit` (default 100). Admin or viewer."""
    await _reader()
    feed = _feed()
    limit = _int_arg("limit", 100, _MAX_LIMIT)
    keep = request_filter(request.args.get("status"), request.args.get("model"),
                          request.args.get("key"))
    rows = [request_view(seq, e) for seq, e in feed.live.recent(limit, keep)]
    return _json({"requests": rows, "seq": feed.live.seq})


@blueprint.get("/admin/config")
async def loaded_config() -> Response:
    """The configuration being served, secrets masked. Admin or viewer."""
    gw = await _reader()
    settings = gw.settings
    data = settings_to_dict(settings)
    # environment_variables are often keys: their names are enough.
    data["environment"] = {name: "********" for name in data.get("environment") or {}}
    secrets = settings.secrets()
    return _json(_scrub(data, secrets))


def _scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    """Every string, wherever it sits, through the same redaction as logs and errors."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {str(k): _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v, secrets) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(str(value), secrets)


@blueprint.get("/admin/events")
async def events() -> Response:
    """Server-sent events: a `stats` snapshot every second and the `requests` that ended
    since the last one. Admin or viewer."""
    gw = await _reader()
    feed = _feed()
    response = Response(_stream(gw, feed), content_type="text/event-stream",
                        headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
    response.timeout = None  # endless: it ends when the client leaves or the server stops
    return response


async def _stream(gw: Gateway, feed: Feed) -> AsyncIterator[bytes]:
    feed.clients += 1
    try:
        yield b"retry: 2000\n\n"
        seq = max(0, feed.live.seq - _INITIAL_REQUESTS)
        while not gw.stopping.is_set():  # one event, shared by every config generation
            # A config reload makes a new gateway: each tick reads the newest.
            yield encode_event("stats", await feed.snapshot_bytes(gw.latest()))
            new = feed.live.after(seq, _MAX_LIMIT)
            if new:
                seq = new[-1][0]
                rows = [request_view(n, e) for n, e in new]
                yield encode_event("requests", orjson.dumps({"requests": rows}))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gw.stopping.wait(), TICK_S)
    finally:  # the client went away (the task is cancelled) or the server is stopping
        feed.clients -= 1
