"""LiteLLM's key management routes, so existing LiteLLM tooling keeps working against pllm:
`POST /key/generate`, `GET /key/info`, `POST /key/delete`, `POST /key/update`, `GET /key/list`.

LiteLLM's main fields are accepted and answered under LiteLLM's names: `models`,
`max_budget` + `budget_duration` (1d/24h, 7d/1w, 30d/1mo, or none for a lifetime budget),
`duration` (expiry), `key_alias`, `user_id`, `team_id`, `metadata`, `rpm_limit`, `tpm_limit`.
A key is named by its secret, its pllm id (`key_...`) or its `token` (the sha256 LiteLLM
shows).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
from quart import Blueprint, Response, request

from pllm.errors import InvalidRequest
from pllm.server.admin_keys import create_key, expiry, json_body, run_store
from pllm.server.state import Gateway, gateway
from pllm.store import BudgetRecord, KeyRecord, RecordNotFound, hash_secret

__all__ = ["blueprint"]

blueprint = Blueprint("litellm_keys", __name__)
_PERIODS = {"1d": "daily", "24h": "daily", "daily": "daily", "7d": "weekly", "1w": "weekly",
            "weekly": "weekly", "30d": "monthly", "1mo": "monthly", "monthly": "monthly"}


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), content_type="application/json")


def _period(value: Any) -> str:
    if value in (None, ""):
        return "total"
    period = _PERIODS.get(str(value))
    if period is None:
        raise InvalidRequest(f"budget_duration '{value}' is not supported: use 1d, 7d or 30d "
                             "(pllm budgets reset on calendar days, weeks and months)",
                             param="budget_duration")
    return period


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts is not None else None


def _info(k: KeyRecord, budget: BudgetRecord | None, now: float) -> dict[str, Any]:
    return {
        "token": k.key_hash, "key_name": k.prefix, "key_alias": k.name, "id": k.id,
        "user_id": k.user_id, "team_id": k.team_id, "models": list(k.models or []),
        "rpm_limit": k.rpm, "tpm_limit": k.tpm, "metadata": dict(k.metadata),
        "expires": _iso(k.expires_at), "created_at": _iso(k.created_at),
        "spend": budget.spend_at(now) if budget else 0.0,
        "max_budget": budget.max_usd if budget else None,
        "budget_duration": budget.period if budget and budget.period != "total" else None,
        "blocked": k.status(now) != "active" and k.status(now) != "grace",
        "status": k.status(now),
    }


def _pllm_fields(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for theirs, ours in (("key_alias", "name"), ("models", "models"), ("user_id", "user_id"),
                         ("team_id", "team_id"), ("metadata", "metadata"),
                         ("rpm_limit", "rpm"), ("tpm_limit", "tpm")):
        if theirs in body:
            out[ours] = body[theirs] if not (ours == "models" and body[theirs] == []) else None
    return out


def _find(gw: Gateway, ref: str) -> KeyRecord:
    store = gw.store
    if ref.startswith("sk-"):
        record = store.key_by_hash(hash_secret(ref))
    elif ref.startswith("key_"):
        record = store.get_key(ref)
    else:
        record = store.key_by_hash(ref)
    if record is None:
        raise RecordNotFound("No such key")  # never echo what was sent: it may be a secret
    return record


@blueprint.post("/key/generate")
async def generate() -> Response:
    gw = gateway()
    p = await gw.gate.authenticate(request.headers, request.remote_addr)
    p.check_write()
    body = await json_body()
    fields = _pllm_fields(body)
    fields.setdefault("name", body.get("key_alias") or "litellm-key")
    if body.get("duration"):
        fields["expires"] = body["duration"]
    if body.get("max_budget") is not None:
        fields["budget"] = body["max_budget"]
        fields["budget_period"] = _period(body.get("budget_duration"))
    created = await create_key(gw, p, fields)
    return _json({"key": created["key"], "key_name": created["prefix"],
                  "key_alias": created["name"], "id": created["id"],
                  "token": hash_secret(created["key"]),
                  "expires": _iso(created["expires_at"]), "user_id": created["user_id"],
                  "team_id": created["team_id"], "models": created["models"] or [],
                  "max_budget": body.get("max_budget"),
                  "budget_duration": body.get("budget_duration"),
                  "rpm_limit": created["rpm"], "tpm_limit": created["tpm"],
                  "metadata": created["metadata"]})


@blueprint.get("/key/info")
async def info() -> Response:
    gw = gateway()
    p = await gw.gate.authenticate(request.headers, request.remote_addr)
    ref = request.args.get("key")
    now = time.time()

    def read() -> tuple[KeyRecord, BudgetRecord | None]:
        if ref is None:
            if p.key_id is None:
                raise InvalidRequest("key: Field required (the master key has no key info)",
                                     param="key")
            record = gw.store.get_key(p.key_id)
            if record is None:
                raise RecordNotFound("No such key")
        else:
            record = _find(gw, ref)
            if record.id != p.key_id:
                p.check_read()
        return record, gw.store.get_budget(record.budget_id)

    record, budget = await run_store(gw, read)
    return _json({"key": ref or record.prefix, "info": _info(record, budget, now)})


@blueprint.post("/key/delete")
async def delete() -> Response:
    gw = gateway()
    p = await gw.gate.authenticate(request.headers, request.remote_addr)
    p.check_write()
    body = await json_body()
    refs = body.get("keys") or []
    if not isinstance(refs, list) or not refs:
        raise InvalidRequest("keys: a non-empty list of keys is required", param="keys")

    def revoke() -> list[str]:
        records = [_find(gw, str(ref)) for ref in refs]
        for r in records:
            gw.store.revoke_key(r.id, actor=p.actor)
        return [str(ref) for ref in refs]

    deleted = await run_store(gw, revoke, changes=True)
    return _json({"deleted_keys": deleted})


@blueprint.post("/key/update")
async def update() -> Response:
    gw = gateway()
    p = await gw.gate.authenticate(request.headers, request.remote_addr)
    p.check_write()
    body = await json_body()
    ref = body.get("key")
    if not isinstance(ref, str):
        raise InvalidRequest("key: Field required", param="key")
    changes = _pllm_fields(body)
    if body.get("duration"):
        changes["expires_at"] = expiry(body["duration"], time.time())
    now = time.time()

    def apply() -> tuple[KeyRecord, BudgetRecord | None]:
        record = _find(gw, ref)
        if changes:
            record = gw.store.update_key(record.id, actor=p.actor, **changes)
        if body.get("max_budget") is not None:
            gw.store.set_budget("key", record.id, max_usd=float(body["max_budget"]),
                                period=_period(body.get("budget_duration")), actor=p.actor)
        return record, gw.store.get_budget(record.budget_id)

    record, budget = await run_store(gw, apply, changes=True)
    return _json({"key": ref, **_info(record, budget, now)})


@blueprint.get("/key/list")
async def list_keys() -> Response:
    gw = gateway()
    (await gw.gate.authenticate(request.headers, request.remote_addr)).check_read()
    now = time.time()
    records = await run_store(gw, gw.store.list_keys)
    user, team = request.args.get("user_id"), request.args.get("team_id")
    records = [r for r in records if r.revoked_at is None
               and (user is None or r.user_id == user) and (team is None or r.team_id == team)]
    full = request.args.get("return_full_object", "").lower() == "true"
    keys: list[Any] = [_info(r, None, now) for r in records] if full else \
        [r.key_hash for r in records]
    return _json({"keys": keys, "total_count": len(keys), "current_page": 1, "total_pages": 1})
