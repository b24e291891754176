"""The operator-facing part of pllm's OpenAPI document: `/admin/...` (health, keys, budgets,
limits, audit) and LiteLLM's `/key/...` routes (the operating routes are in
`openapi_operate`).

Records are described from the dataclasses the handlers serialise (`KeyRecord`,
`BudgetRecord`, `LimitRecord`, `AuditRow`, `AdminEvent`, `Principal`), request fields from the
handlers' own field lists (`admin_keys._KEY_FIELDS`, LiteLLM's budget periods) and the store's
enumerations (roles, scopes, periods, endpoints).
"""

from __future__ import annotations

from typing import Any

from pllm.access.principal import Principal
from pllm.server.admin_keys import _KEY_FIELDS as KEY_FIELDS
from pllm.server.litellm_keys import _PERIODS as LITELLM_PERIODS
from pllm.server.openapi_types import (
    Schema,
    arr,
    dataclass_schema,
    error_responses,
    field_schemas,
    json_content,
    nullable,
    obj,
    ref,
    string_enum,
    type_schema,
)
from pllm.store.records import (
    AUDIT_FIELDS,
    BUDGET_SCOPES,
    ENDPOINTS,
    LIMIT_SCOPES,
    PERIODS,
    AdminEvent,
    AuditRow,
    BudgetRecord,
    KeyRecord,
    KeyStatus,
    LimitRecord,
)

__all__ = ["READ", "READ_ERRORS", "WRITE", "op", "operations", "param", "query", "schemas"]

STR, INT, NUM, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "number"}, \
    {"type": "boolean"}
READ = "Needs the admin or viewer role (the master key is admin)."
WRITE = "Needs the admin role (the master key is admin)."
READ_ERRORS = (401, 403, 429, 503)
WRITE_ERRORS = (400, 401, 403, 404, 413, 429, 503)
_EXPIRES = {"anyOf": [STR, NUM, {"type": "null"}], "description": "A duration (`30d`, `12h`), "
            "an ISO date or datetime, or unix seconds; null for no expiry."}


def _key_schemas() -> dict[str, Schema]:
    key = dataclass_schema(KeyRecord, omit=["key_hash"], extra={
        "status": type_schema(KeyStatus)},
        description="A virtual key as stored: never its secret, never its hash.")
    fields = field_schemas(KeyRecord, KEY_FIELDS)
    create = obj({**fields, "expires": _EXPIRES,
                  "budget": nullable({**NUM, "description": "A USD budget for this key."}),
                  "budget_period": string_enum(PERIODS)}, ["name"],
                 description="A new key; `models` null means every model.")
    patch = obj({**fields, "expires": _EXPIRES},
                description="Only the fields sent change.")
    created = {"allOf": [ref("Key"), obj({"key": {
        **STR, "description": "The secret (`sk-pllm-...`), shown this once."}}, ["key"])]}
    me = obj(field_schemas(Principal, ["kind", "role", "user_id", "team_id", "models"]),
             ["kind", "role"], description="The caller when it is not a virtual key "
             "(the master key, a JWT, or anyone on an open gateway).")
    budget = dataclass_schema(BudgetRecord, extra={
        "remaining_usd": NUM,
        "next_reset": nullable({**NUM, "description": "Unix time the period ends; null for "
                                "`total`."})})
    budget_put = obj({"scope": string_enum(BUDGET_SCOPES), "subject": nullable({
        **STR, "description": "The key, user or team id (none for `global`)."}),
        "max_usd": {**NUM, "minimum": 0}, "soft_usd": nullable(NUM),
        "period": string_enum(PERIODS)}, ["max_usd"],
        description="Create or replace the budget of a scope and subject.")
    limit_put = obj({"scope": string_enum(LIMIT_SCOPES), "subject": {
        **STR, "description": "user or team id; model group; `<key_id>:<model>`; or an "
        f"endpoint ({', '.join(ENDPOINTS)})."}, "rpm": nullable(INT), "tpm": nullable(INT)},
        ["scope", "subject"], description="Create or replace a rate limit.")
    return {"Key": key, "CreateKeyRequest": create, "UpdateKeyRequest": patch,
            "CreatedKey": created, "Caller": me, "Budget": budget,
            "PutBudgetRequest": budget_put, "Limit": dataclass_schema(LimitRecord),
            "PutLimitRequest": limit_put, "AuditRow": dataclass_schema(AuditRow,
                                                                        only=AUDIT_FIELDS),
            "AdminEvent": dataclass_schema(AdminEvent)}


def _litellm_schemas() -> dict[str, Schema]:
    duration = string_enum(sorted(LITELLM_PERIODS), "Budget reset period; absent for a "
                           "lifetime budget.")
    common: dict[str, Schema] = {
        "key_alias": STR, "models": arr(STR), "user_id": nullable(STR),
        "team_id": nullable(STR), "metadata": {"type": "object", "additionalProperties": True},
        "rpm_limit": nullable(INT), "tpm_limit": nullable(INT),
        "duration": nullable({**STR, "description": "Expiry, e.g. `30d`."}),
        "max_budget": nullable(NUM), "budget_duration": nullable(duration)}
    info = obj({"token": {**STR, "description": "sha256 of the secret, as LiteLLM shows it"},
                "key_name": STR, "key_alias": STR, "id": STR, "user_id": nullable(STR),
                "team_id": nullable(STR), "models": arr(STR), "rpm_limit": nullable(INT),
                "tpm_limit": nullable(INT), "metadata": {"type": "object",
                                                          "additionalProperties": True},
                "expires": nullable(STR), "created_at": nullable(STR), "spend": NUM,
                "max_budget": nullable(NUM), "budget_duration": nullable(STR),
                "blocked": BOOL, "status": type_schema(KeyStatus)},
               ["token", "id", "status"])
    generated = obj({"key": STR, "key_name": STR, "key_alias": STR, "id": STR, "token": STR,
                     "expires": nullable(STR), "user_id": nullable(STR),
                     "team_id": nullable(STR), "models": arr(STR),
                     "max_budget": nullable(NUM), "budget_duration": nullable(STR),
                     "rpm_limit": nullable(INT), "tpm_limit": nullable(INT),
                     "metadata": {"type": "object", "additionalProperties": True}},
                    ["key", "id", "token"])
    return {"LiteLLMGenerateRequest": obj(common, extra=True),
            "LiteLLMUpdateRequest": obj({"key": STR, **common}, ["key"], extra=True),
            "LiteLLMKeyInfo": info, "LiteLLMGeneratedKey": generated}


def _health_schema() -> Schema:
    nnum = nullable(NUM)
    row = obj({
        "id": STR, "model_name": STR, "provider": STR, "model": STR,
        "health": {**NUM, "minimum": 0, "maximum": 100, "description": "Health score 0-100."},
        "circuit": obj({"state": string_enum(["closed", "open", "half_open"]),
                        "consecutive_failures": INT, "open_for_s": NUM},
                       ["state", "consecutive_failures", "open_for_s"]),
        "in_flight": INT, "latency_ms": nnum, "ttft_ms": nnum, "success_rate": nnum,
        "requests_last_minute": INT, "tokens_last_minute": INT, "rpm": nullable(INT),
        "tpm": nullable(INT), "total_requests": INT, "total_failures": INT})
    row["required"] = list(row["properties"])
    return obj({"strategy": STR, "deployments": arr(row)}, ["strategy", "deployments"])


def schemas() -> dict[str, Schema]:
    """The component schemas of this part, by name."""
    return {**_key_schemas(), **_litellm_schemas(), "DeploymentsHealth": _health_schema()}


def op(tag: str, summary: str, answer: Schema | None, *, role: str = READ,
        body: str | None = None, errors: tuple[int, ...] = READ_ERRORS, status: int = 200,
        params: list[dict[str, Any]] | None = None, secure: bool = True,
        content_type: str = "application/json") -> dict[str, Any]:
    content = ({content_type: {"schema": answer}} if content_type != "application/json"
               else json_content(answer)) if answer is not None else None
    ok: dict[str, Any] = {"description": "OK" if status == 200 else "Created"}
    if content is not None:
        ok["content"] = content
    op: dict[str, Any] = {"tags": [tag], "summary": summary, "responses": {
        str(status): ok, **error_responses(errors, store=True)}}
    if role:
        op["description"] = role
    if body is not None:
        op["requestBody"] = {"required": True, "content": json_content(ref(body))}
    if params:
        op["parameters"] = params
    if not secure:
        op["security"] = []
    return op


def query(name: str, text: str, schema: Schema | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema or STR,
            "description": text}


def param(name: str, text: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": STR, "description": text}


def _list(name: str, item: str) -> Schema:
    return obj({name: arr(ref(item))}, [name])


def _admin_ops() -> dict[tuple[str, str], dict[str, Any]]:
    key_id = [param("key_id", "The key's id (`key_...`).")]
    budget_id = [param("budget_id", "`global`, or `<scope>:<subject>` (e.g. `key:key_...`).")]
    owner = [query("user_id", "Only this user's keys."), query("team_id", "Only this team's keys.")]
    page = [query("since", "Unix seconds, an ISO time, or a duration back from now (`1h`)."),
            query("after_id", "Only rows after this id (to follow).", INT),
            query("limit", "At most this many rows (default 100).", INT)]
    deleted = obj({"deleted": STR}, ["deleted"])
    return {
        ("get", "/admin/health"): op("admin", "Deployments' live health",
                                      ref("DeploymentsHealth")),
        ("get", "/admin/keys"): op("keys", "List keys", _list("keys", "Key"), params=owner),
        ("post", "/admin/keys"): op("keys", "Create a key", ref("CreatedKey"), role=WRITE,
                                     body="CreateKeyRequest", errors=WRITE_ERRORS, status=201),
        ("get", "/admin/keys/me"): op(
            "keys", "The caller's own key", {"anyOf": [ref("Key"), ref("Caller")]},
            role="Any valid key.", errors=(401, 429)),
        ("get", "/admin/keys/{key_id}"): op("keys", "Show a key", ref("Key"), params=key_id,
                                             errors=(*READ_ERRORS, 404)),
        ("patch", "/admin/keys/{key_id}"): op("keys", "Update a key", ref("Key"), role=WRITE,
                                               body="UpdateKeyRequest", params=key_id,
                                               errors=WRITE_ERRORS),
        ("delete", "/admin/keys/{key_id}"): op("keys", "Revoke a key", ref("Key"), role=WRITE,
                                                params=key_id, errors=WRITE_ERRORS),
        ("post", "/admin/keys/{key_id}/rotate"): {**op(
            "keys", "Rotate a key", ref("CreatedKey"), role=WRITE, params=key_id,
            errors=WRITE_ERRORS, status=201), "requestBody": {"required": False, "content":
            json_content(obj({"grace": {"anyOf": [STR, NUM], "description":
                              "How long the old secret keeps working (`1h`, or seconds)."}}))}},
        ("get", "/admin/budgets"): op("budgets", "List budgets", _list("budgets", "Budget")),
        ("put", "/admin/budgets"): op("budgets", "Set a budget", ref("Budget"), role=WRITE,
                                       body="PutBudgetRequest", errors=WRITE_ERRORS),
        ("post", "/admin/budgets/{budget_id}/reset"): op(
            "budgets", "Reset a budget's spend", ref("Budget"), role=WRITE, params=budget_id,
            errors=WRITE_ERRORS),
        ("delete", "/admin/budgets/{budget_id}"): op(
            "budgets", "Delete a budget", deleted, role=WRITE, params=budget_id,
            errors=WRITE_ERRORS),
        ("get", "/admin/limits"): op("limits", "List rate limits", _list("limits", "Limit")),
        ("put", "/admin/limits"): op("limits", "Set a rate limit", ref("Limit"), role=WRITE,
                                      body="PutLimitRequest", errors=WRITE_ERRORS),
        ("delete", "/admin/limits/{scope}/{subject}"): op(
            "limits", "Delete a rate limit", deleted, role=WRITE, errors=WRITE_ERRORS,
            params=[{**param("scope", "The limit's scope."), "schema": string_enum(LIMIT_SCOPES)},
                    param("subject", "The limit's subject (it may contain `/`).")]),
        ("get", "/admin/audit"): op("audit", "Audited requests", _list("rows", "AuditRow"),
                                     params=page, errors=(400, *READ_ERRORS)),
        ("get", "/admin/audit/events"): op("audit", "Admin changes",
                                            _list("events", "AdminEvent"), params=page,
                                            errors=(400, *READ_ERRORS)),
    }


def _litellm_ops() -> dict[tuple[str, str], dict[str, Any]]:
    info = obj({"key": STR, "info": ref("LiteLLMKeyInfo")}, ["key", "info"])
    listed = obj({"keys": {"anyOf": [arr(STR), arr(ref("LiteLLMKeyInfo"))]},
                  "total_count": INT, "current_page": INT, "total_pages": INT},
                 ["keys", "total_count"])
    updated = {"allOf": [ref("LiteLLMKeyInfo"), obj({"key": STR}, ["key"])]}
    ref_doc = "The secret, the pllm id (`key_...`) or the token (sha256)."
    return {
        ("post", "/key/generate"): op("litellm", "Generate a key (LiteLLM)",
                                       ref("LiteLLMGeneratedKey"), role=WRITE,
                                       body="LiteLLMGenerateRequest", errors=WRITE_ERRORS),
        ("get", "/key/info"): op("litellm", "Key info (LiteLLM)", info,
                                  role="A key may read itself; others need admin or viewer.",
                                  params=[query("key", ref_doc + " Default: the caller's key.")],
                                  errors=(400, *READ_ERRORS, 404)),
        ("post", "/key/delete"): {**op(
            "litellm", "Delete keys (LiteLLM)", obj({"deleted_keys": arr(STR)}),
            role=WRITE, errors=WRITE_ERRORS), "requestBody": {"required": True, "content":
            json_content(obj({"keys": {**arr(STR), "minItems": 1, "description": ref_doc}},
                             ["keys"]))}},
        ("post", "/key/update"): op("litellm", "Update a key (LiteLLM)", updated, role=WRITE,
                                     body="LiteLLMUpdateRequest", errors=WRITE_ERRORS),
        ("get", "/key/list"): op("litellm", "List keys (LiteLLM)", listed, params=[
            query("user_id", "Only this user's keys."), query("team_id", "Only this team's keys."),
            query("return_full_object", "`true`: key info objects instead of tokens.", BOOL)]),
    }


def operations() -> dict[tuple[str, str], dict[str, Any]]:
    """Known operations by (method, OpenAPI path)."""
    return {**_admin_ops(), **_litellm_ops()}
