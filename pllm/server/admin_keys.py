"""The admin REST API for keys, budgets, limits and the audit trail (`/admin/...`).

Reads need the admin or viewer role, writes the admin role (the master key is admin). A `user`
key may read its own key (`GET /admin/keys/me`). Store calls are blocking SQLite: they run in
a worker thread. After a change this process reloads its directory at once, so the change
applies here immediately and in other processes within the store poll interval.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from quart import Blueprint, Response, request

from pllm.access.principal import Principal
from pllm.errors import InvalidRequest
from pllm.server.state import Gateway, gateway
from pllm.store import KeyRecord
from pllm.store.durations import parse_duration, parse_time

__all__ = ["blueprint", "create_key", "json_body", "run_store"]

blueprint = Blueprint("admin_keys", __name__)
T = TypeVar("T")
_JSON = "application/json"
_KEY_FIELDS = ("name", "models", "rpm", "tpm", "user_id", "team_id", "role", "metadata")


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status=status, content_type=_JSON)


async def run_store(gw: Gateway, call: Callable[[], T], *, changes: bool = False) -> T:
    result = await asyncio.to_thread(call)
    if changes:
        await gw.directory.refresh()
    return result


async def json_body() -> dict[str, Any]:
    raw = await request.get_data(cache=False, as_text=False)
    try:
        data = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object")
    return data


async def _caller(read: bool = True) -> tuple[Gateway, Principal]:
    gw = gateway()
    p = await gw.gate.authenticate(request.headers, request.remote_addr)
    if read:
        p.check_read()
    else:
        p.check_write()
    return gw, p


def expiry(value: Any, now: float) -> float | None:
    """`30d`, an ISO date or datetime, or unix seconds; None for no expiry."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return parse_time(value, now=now, direction="future")
    raise InvalidRequest("expires: expected a duration such as 30d, a date, or unix seconds",
                         param="expires")


def key_view(k: KeyRecord, now: float) -> dict[str, Any]:
    return k.to_dict(now)


async def create_key(gw: Gateway, p: Principal, body: dict[str, Any]) -> dict[str, Any]:
    """Shared by `POST /admin/keys` and LiteLLM's `/key/generate`."""
    now = time.time()
    fields = {k: body[k] for k in _KEY_FIELDS if body.get(k) is not None}
    if "name" not in fields:
        raise InvalidRequest("name: Field required", param="name")
    fields["expires_at"] = expiry(body.get("expires"), now)
    budget = body.get("budget")
    store = gw.store

    def create() -> tuple[KeyRecord, str]:
        record, secret = store.create_key(actor=p.actor, **fields)
        if budget is not None:
            store.set_budget("key", record.id, max_usd=float(budget), actor=p.actor,
                             period=str(body.get("budget_period") or "total"))
        return record, secret

    record, secret = await run_store(gw, create, changes=True)
    return {"key": secret, **key_view(record, now)}


@blueprint.get("/admin/keys")
async def list_keys() -> Response:
    gw, _ = await _caller()
    now = time.time()
    keys = await run_store(gw, gw.store.list_keys)
    user, team = request.args.get("user_id"), request.args.get("team_id")
    rows = [key_view(k, now) for k in keys
            if (user is None or k.user_id == user) and (team is None or k.team_id == team)]
    return _json({"keys": rows})


@blueprint.post("/admin/keys")
async def post_key() -> Response:
    gw, p = await _caller(read=False)
    return _json(await create_key(gw, p, await json_body()), 201)


@blueprint.get("/admin/keys/me")
async def my_key() -> Response:
    gw = gateway()
    p = await gw.gate.authenticate(request.headers, request.remote_addr)
    if p.key_id is None:
        return _json({"kind": p.kind, "role": p.role, "user_id": p.user_id,
                      "team_id": p.team_id, "models": p.models})
    return _json(key_view(await _key(gw, p.key_id), time.time()))


async def _key(gw: Gateway, key_id: str) -> KeyRecord:
    from pllm.store import RecordNotFound

    record = await run_store(gw, lambda: gw.store.get_key(key_id))
    if record is None:
        raise RecordNotFound(f"No key with id '{key_id}'")
    return record


@blueprint.get("/admin/keys/<key_id>")
async def get_key(key_id: str) -> Response:
    gw, _ = await _caller()
    return _json(key_view(await _key(gw, key_id), time.time()))


@blueprint.patch("/admin/keys/<key_id>")
async def patch_key(key_id: str) -> Response:
    gw, p = await _caller(read=False)
    body = await json_body()
    changes = {k: body[k] for k in _KEY_FIELDS if k in body}
    if "expires" in body:
        changes["expires_at"] = expiry(body["expires"], time.time())
    record = await run_store(gw, lambda: gw.store.update_key(key_id, actor=p.actor, **changes),
                             changes=True)
    return _json(key_view(record, time.time()))


@blueprint.delete("/admin/keys/<key_id>")
async def revoke_key(key_id: str) -> Response:
    gw, p = await _caller(read=False)
    record = await run_store(gw, lambda: gw.store.revoke_key(key_id, actor=p.actor),
                             changes=True)
    return _json(key_view(record, time.time()))


@blueprint.post("/admin/keys/<key_id>/rotate")
async def rotate_key(key_id: str) -> Response:
    gw, p = await _caller(read=False)
    body = await json_body()
    grace = body.get("grace", 0)
    grace_s = parse_duration(grace) if isinstance(grace, str) else float(grace or 0)
    record, secret = await run_store(
        gw, lambda: gw.store.rotate_key(key_id, grace_s=grace_s, actor=p.actor), changes=True)
    return _json({"key": secret, **key_view(record, time.time())}, 201)


# -- budgets and limits ------------------------------------------------------------------------
@blueprint.get("/admin/budgets")
async def list_budgets() -> Response:
    gw, _ = await _caller()
    now = time.time()
    budgets = await run_store(gw, gw.store.list_budgets)
    return _json({"budgets": [b.to_dict(now) for b in budgets]})


@blueprint.put("/admin/budgets")
async def put_budget() -> Response:
    gw, p = await _caller(read=False)
    body = await json_body()
    if body.get("max_usd") is None:
        raise InvalidRequest("max_usd: Field required", param="max_usd")
    record = await run_store(gw, lambda: gw.store.set_budget(
        str(body.get("scope") or "global"), body.get("subject"), max_usd=float(body["max_usd"]),
        period=str(body.get("period") or "total"), soft_usd=body.get("soft_usd"),
        actor=p.actor), changes=True)
    return _json(record.to_dict(time.time()))


@blueprint.post("/admin/budgets/<budget_id>/reset")
async def reset_budget(budget_id: str) -> Response:
    gw, p = await _caller(read=False)
    record = await run_store(gw, lambda: gw.store.reset_budget(budget_id, actor=p.actor),
                             changes=True)
    return _json(record.to_dict(time.time()))


@blueprint.delete("/admin/budgets/<budget_id>")
async def delete_budget(budget_id: str) -> Response:
    gw, p = await _caller(read=False)
    await run_store(gw, lambda: gw.store.delete_budget(budget_id, actor=p.actor), changes=True)
    return _json({"deleted": budget_id})


@blueprint.get("/admin/limits")
async def list_limits() -> Response:
    gw, _ = await _caller()
    limits = await run_store(gw, gw.store.list_limits)
    return _json({"limits": [lim.to_dict() for lim in limits]})


@blueprint.put("/admin/limits")
async def put_limit() -> Response:
    gw, p = await _caller(read=False)
    body = await json_body()
    record = await run_store(gw, lambda: gw.store.set_limit(
        str(body.get("scope")), str(body.get("subject")), rpm=body.get("rpm"),
        tpm=body.get("tpm"), actor=p.actor), changes=True)
    return _json(record.to_dict())


@blueprint.delete("/admin/limits/<scope>/<path:subject>")
async def delete_limit(scope: str, subject: str) -> Response:
    gw, p = await _caller(read=False)
    await run_store(gw, lambda: gw.store.delete_limit(scope, subject, actor=p.actor),
                    changes=True)
    return _json({"deleted": f"{scope}:{subject}"})


# -- audit -------------------------------------------------------------------------------------
def _since() -> float | None:
    value = request.args.get("since")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return parse_time(value, now=time.time(), direction="past")


def _int_arg(name: str, default: int | None) -> int | None:
    value = request.args.get(name)
    if value is None:
        return default
    if not value.isdigit():
        raise InvalidRequest(f"{name}: expected a whole number", param=name)
    return int(value)


@blueprint.get("/admin/audit")
async def audit() -> Response:
    gw, _ = await _caller()
    since, after, limit = _since(), _int_arg("after_id", None), _int_arg("limit", 100)
    rows = await run_store(gw, lambda: gw.store.audit_rows(since=since, after_id=after,
                                                           limit=limit))
    return _json({"rows": [r.to_dict() for r in rows]})


@blueprint.get("/admin/audit/events")
async def admin_events() -> Response:
    gw, _ = await _caller()
    since, after, limit = _since(), _int_arg("after_id", None), _int_arg("limit", 100)
    events = await run_store(gw, lambda: gw.store.admin_events(since=since, after_id=after,
                                                               limit=limit))
    return _json({"events": [e.to_dict() for e in events]})
