"""`model_list` (and `credential_list`) -> Deployment objects.

Accepts LiteLLM's entries unchanged (`model_name`, `litellm_params`, `model_info`), pllm's
`priority`/`weight` beside them, and a compact form with several `deployments:` under one
`model_name`. A list of `organization`s expands into one deployment each, as LiteLLM does.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import orjson

from pllm.config.catalog import (
    KNOWN_PROVIDERS,
    PROVIDER_ENV,
    env_providers,
    infer_providers,
    split_model,
)
from pllm.config.litellm_names import LITELLM_PARAMS_KEYS, MODEL_INFO_KEYS, MODEL_LIST_ENTRY_KEYS
from pllm.config.model import Deployment, FrozenDict, Origin, Secret
from pllm.config.reader import MISSING, UNSET_PREFIX, Reader, suggest
from pllm.config.yamlsrc import LDict, LList, Mark

__all__ = ["parse_credentials", "parse_model_list"]

# Parameters of the OpenAI request a deployment may preset; the client's own values win.
REQUEST_DEFAULTS = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "n", "stop", "seed",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
    "response_format", "user", "tools", "tool_choice", "parallel_tool_calls",
    "reasoning_effort", "service_tier", "modalities", "audio", "prediction", "verbosity",
    "web_search_options", "safety_identifier", "prompt_cache_key", "store", "top_k",
    "thinking", "extra_body",
})
# Provider settings handed to the translator/upstream layer as they are.
PROVIDER_PARAMS = frozenset({
    "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_region_name",
    "aws_profile_name", "aws_role_name", "aws_session_name", "aws_web_identity_token",
    "aws_sts_endpoint", "aws_bedrock_runtime_endpoint", "aws_external_id", "aws_bearer_token",
    "vertex_project", "vertex_location", "vertex_credentials", "vertex_ai_project",
    "vertex_ai_location", "azure_ad_token", "tenant_id", "client_id", "client_secret",
    "azure_username", "azure_password", "azure_scope", "region_name",
    "mock_response", "mock_latency_ms", "mock_token_delay_ms",
    "input_cost_per_token", "output_cost_per_token",
    "input_cost_per_second", "output_cost_per_second", "use_in_pass_through",
})
SECRET_PARAMS = frozenset({
    "aws_secret_access_key", "aws_session_token", "aws_web_identity_token", "aws_bearer_token",
    "azure_ad_token", "client_secret", "azure_password", "vertex_credentials",
})
_CORE = frozenset({
    "model", "api_key", "api_base", "base_url", "api_version", "organization", "timeout",
    "stream_timeout", "max_retries", "rpm", "tpm", "order", "weight", "priority",
    "drop_params", "extra_headers", "headers", "litellm_credential_name", "custom_llm_provider",
})
USED_PARAMS = _CORE | REQUEST_DEFAULTS | PROVIDER_PARAMS
# Credentials that stand in for an api_key (Entra ID tokens, AWS bearer tokens, the mock).
_OTHER_CREDENTIALS = frozenset({"azure_ad_token", "client_secret", "azure_password",
                                "aws_bearer_token", "mock_response"})
_ENTRY_KEYS = frozenset({"model_name", "litellm_params", "model_info", "priority", "weight",
                         "deployments"})


def parse_credentials(r: Reader, seq: LList | None) -> dict[str, LDict]:
    """`credential_list` -> {credential_name: credential_values} (resolved per use)."""
    out: dict[str, LDict] = {}
    for i, item in enumerate(seq or []):
        path = f"credential_list[{i}]"
        if not isinstance(item, LDict):
            r.error("expected a mapping with credential_name and credential_values", path,
                    seq.at(i) if seq else None)
            continue
        r.check_keys(item, path, {"credential_name", "credential_values", "credential_info"})
        name = r.string(item, "credential_name", path, required=True)
        values = r.mapping(item, "credential_values", path)
        if name and values is not None:
            out[name] = values
    return out


def parse_model_list(
    r: Reader, seq: LList, credentials: dict[str, LDict], *, drop_params: bool
) -> list[Deployment]:
    deps: list[Deployment] = []
    for i, entry in enumerate(seq):
        path = f"model_list[{i}]"
        if not isinstance(entry, LDict):
            r.error("expected a mapping with model_name and litellm_params", path, seq.at(i))
            continue
        r.check_keys(entry, path, _ENTRY_KEYS, tolerated=MODEL_LIST_ENTRY_KEYS - _ENTRY_KEYS)
        deps.extend(_entry(r, entry, path, credentials, drop_params))
    return _unique_ids(deps)


def _entry(
    r: Reader, entry: LDict, path: str, creds: dict[str, LDict], drop_params: bool
) -> list[Deployment]:
    name = r.string(entry, "model_name", path, required=True)
    info = r.mapping(entry, "model_info", path)
    if info is not None:  # free-form, as in LiteLLM: unknown keys are kept, with a warning
        r.check_keys(info, f"{path}.model_info", MODEL_INFO_KEYS | {"id"},
                     tolerated=set(info) - MODEL_INFO_KEYS,
                     tolerated_note="not a key LiteLLM defines for model_info; kept as given")
    model_info = r.resolve(info, f"{path}.model_info", entry.at("model_info")) if info else {}
    common = {
        "priority": r.integer(entry, "priority", path, minimum=None),
        "weight": r.number(entry, "weight", path),
    }
    if "deployments" in entry:
        if "litellm_params" in entry:
            r.error("give either litellm_params or deployments, not both", path, entry.mark)
        items = r.sequence(entry, "deployments", path) or LList(entry.mark)
        params = [(p, f"{path}.deployments[{j}]", items.at(j)) for j, p in enumerate(items)]
    else:
        lp = r.mapping(entry, "litellm_params", path)
        if lp is None:
            r.error("'litellm_params' is required", f"{path}.litellm_params", entry.mark)
            return []
        params = [(lp, f"{path}.litellm_params", entry.at("litellm_params"))]
    out: list[Deployment] = []
    for lp, lp_path, mark in params:
        if not isinstance(lp, LDict):
            r.error("expected a mapping of litellm_params", lp_path, mark)
            continue
        if name is not None:
            out.extend(_deployments(r, name, lp, lp_path, model_info, common, creds,
                                    drop_params))
    return out


def _deployments(
    r: Reader, name: str, lp: LDict, path: str, model_info: Mapping[str, Any],
    common: dict[str, Any], creds: dict[str, LDict], drop_params: bool,
) -> list[Deployment]:
    lp = _with_credential(r, lp, path, creds)
    r.check_keys(lp, path, USED_PARAMS, tolerated=LITELLM_PARAMS_KEYS - USED_PARAMS)
    model = r.string(lp, "model", path, required=True)
    targets = _targets(r, model, lp, path) if model is not None else []
    given = r.string_list(lp, "organization", path)
    orgs: list[str | None] = list(given) if given else [None]
    fields = _fields(r, lp, path, common)
    defaults = _present(r, lp, path, REQUEST_DEFAULTS)
    params = {k: _param(k, v) for k, v in _present(r, lp, path, PROVIDER_PARAMS).items()}
    headers = _headers(r, lp, path)
    drop = _drop(r, lp, path, drop_params)
    mark = lp.mark
    if not targets:  # still read the credentials, to report unset variables too
        _env_defaults(r, "", lp, path, mark, is_pattern=True)
    out = []
    for provider, upstream in targets:
        env = _env_defaults(r, provider, lp, path, mark, is_pattern=upstream == "*")
        native = _provider_params(r.env, provider, params)
        if provider == "bedrock":
            if env["api_base"] is None and \
                    isinstance(native.get("aws_bedrock_runtime_endpoint"), str):
                env["api_base"] = native["aws_bedrock_runtime_endpoint"].rstrip("/")
            if "aws_region_name" not in native and env["api_base"] is None:
                native["aws_region_name"] = _BEDROCK_DEFAULT_REGION
                r.warn(f"no aws_region_name and no AWS_REGION in the environment: using "
                       f"{_BEDROCK_DEFAULT_REGION} (LiteLLM's default)", f"{path}.model",
                       lp.at("model"))
        for org in orgs:
            out.append(Deployment(
                id=str(model_info.get("id") or ""),
                model_name=name, provider=provider, model=upstream,
                organization=org, drop_params=drop, infer_provider=model == "*",
                extra_headers=FrozenDict(headers), defaults=FrozenDict(defaults),
                params=FrozenDict(native), model_info=FrozenDict(model_info),
                origin=Origin(f"{mark.file}:{mark.line}:{mark.column} ({path})", mark.file,
                              mark.line, mark.column, path),
                **env, **fields,
            ))
    return out


# Provider settings read from the environment when litellm_params leave them out (LiteLLM's
# and the provider SDKs' variable names), and LiteLLM's alternative spellings.
_PARAM_ENV: dict[str, dict[str, tuple[str, ...]]] = {
    "bedrock": {"aws_region_name": ("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION"),
                "aws_bearer_token": ("AWS_BEARER_TOKEN_BEDROCK",)},
    "vertex_ai": {"vertex_project": ("VERTEXAI_PROJECT", "VERTEX_PROJECT",
                                     "GOOGLE_CLOUD_PROJECT"),
                  "vertex_location": ("VERTEXAI_LOCATION", "VERTEX_LOCATION",
                                      "GOOGLE_CLOUD_LOCATION"),
                  "vertex_credentials": ("VERTEXAI_CREDENTIALS",)},
}
_ALIASES = {"vertex_ai_project": "vertex_project", "vertex_ai_location": "vertex_location"}
_BEDROCK_DEFAULT_REGION = "us-west-2"


def _provider_params(env: Mapping[str, str], provider: str,
                     params: dict[str, Any]) -> dict[str, Any]:
    out = {_ALIASES.get(k, k): v for k, v in params.items()}
    for key, names in _PARAM_ENV.get(provider, {}).items():
        if key not in out:
            found = next((env[n] for n in names if env.get(n)), None)
            if found is not None:
                out[key] = _param(key, found)
    return out


def _present(r: Reader, lp: LDict, path: str, keys: frozenset[str]) -> dict[str, Any]:
    values = {k: r.get(lp, k, path) for k in keys if k in lp}
    return {k: v for k, v in values.items() if v is not MISSING}


def _with_credential(r: Reader, lp: LDict, path: str, creds: dict[str, LDict]) -> LDict:
    cred_name = r.string(lp, "litellm_credential_name", path)
    if cred_name is None:
        return lp
    values = creds.get(cred_name)
    if values is None:
        r.error(f"no credential named '{cred_name}' in credential_list{suggest(cred_name, creds)}",
                f"{path}.litellm_credential_name", lp.at("litellm_credential_name"))
        return lp
    merged = LDict(lp.mark)
    for source in (values, lp):  # the deployment's own values win
        for k, v in source.items():
            merged[k] = v
            merged.key_marks[k] = source.key_marks[k]
            merged.value_marks[k] = source.value_marks[k]
    return merged


def _targets(r: Reader, model: str, lp: LDict, path: str) -> list[tuple[str, str]]:
    """(provider, upstream model) pairs; `model: "*"` binds one per provider with credentials."""
    at = lp.at("model")
    explicit = r.string(lp, "custom_llm_provider", path)
    if explicit:
        if explicit not in KNOWN_PROVIDERS:
            r.error(f"unknown provider '{explicit}'{suggest(explicit, KNOWN_PROVIDERS)}",
                    f"{path}.custom_llm_provider", lp.at("custom_llm_provider"))
            return []
        return [(explicit, split_model(model)[1] if model.startswith(explicit + "/") else model)]
    if model == "*":
        if "api_key" in lp or "api_base" in lp:
            r.error("model '*' takes each provider's credentials from the environment; "
                    "write '<provider>/*' to give api_key or api_base", f"{path}.model", at)
            return []
        found = [(p, "*") for p in env_providers(r.env)]
        if not found:
            r.warn("model '*' matches nothing: no provider API key is set in the environment",
                   f"{path}.model", at)
        return found
    provider, rest = split_model(model)
    if provider is not None:
        if not rest:
            r.error(f"'{model}' names no model after the provider", f"{path}.model", at)
            return []
        return [(provider, rest)]
    prefix, sep, _ = model.partition("/")
    if sep:
        r.error(f"unknown provider '{prefix}'{suggest(prefix, KNOWN_PROVIDERS)}",
                f"{path}.model", at)
        return []
    inferred = infer_providers(model)
    if not inferred:
        r.error(f"cannot tell which provider serves '{model}': write it as '<provider>/{model}'"
                " (e.g. openai/, anthropic/, azure/)", f"{path}.model", at)
        return []
    return [(inferred[0], model)]


def _fields(r: Reader, lp: LDict, path: str, common: dict[str, Any]) -> dict[str, Any]:
    timeout = r.number(lp, "timeout", path, positive=True)
    priority = r.integer(lp, "priority", path, minimum=None)
    weight = r.number(lp, "weight", path)
    return {
        "timeout": timeout,
        "stream_timeout": r.number(lp, "stream_timeout", path, positive=True),
        "max_retries": r.integer(lp, "max_retries", path),
        "rpm": r.integer(lp, "rpm", path),
        "tpm": r.integer(lp, "tpm", path),
        "order": r.integer(lp, "order", path, minimum=1),
        "weight": weight if weight is not None else common["weight"],
        "priority": priority if priority is not None else common["priority"],
    }


def _env_defaults(
    r: Reader, provider: str, lp: LDict, path: str, mark: Mark, *, is_pattern: bool
) -> dict[str, Any]:
    """api_key / api_base / api_version, falling back to the provider's environment variables."""
    spec = PROVIDER_ENV.get(provider)
    key = r.secret(lp, "api_key", path)
    base = r.string(lp, "api_base", path) or r.string(lp, "base_url", path)
    version = r.string(lp, "api_version", path)
    if spec is not None:
        if key is None and spec.key and r.env.get(spec.key):
            key = Secret(r.env[spec.key])
        if base is None and spec.base and r.env.get(spec.base):
            base = r.env[spec.base]
        if version is None and spec.version and r.env.get(spec.version):
            version = r.env[spec.version]
        other_credential = any(k in lp for k in _OTHER_CREDENTIALS | {"api_key"})
        if key is None and spec.key_required and not other_credential and not is_pattern:
            msg = f"no api_key given and {spec.key} is not set"
            (r.warn if r.allow_missing_env else r.error)(msg, f"{path}.api_key", mark)
    if base is not None and not _is_url(base) and not base.startswith(UNSET_PREFIX):
        where = "api_base" if "api_base" in lp else "base_url" if "base_url" in lp else "model"
        r.error(f"api_base must be an http(s) URL, got '{base}'", f"{path}.{where}",
                lp.at(where))
    return {"api_key": key, "api_base": base.rstrip("/") if base else None,
            "api_version": version}


def _is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _headers(r: Reader, lp: LDict, path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key in ("headers", "extra_headers"):
        v = r.get(lp, key, path)
        if v is MISSING:
            continue
        if not isinstance(v, dict) or not all(isinstance(x, (str, int, float)) for x in v.values()):
            r.error("expected a mapping of header names to values", f"{path}.{key}", lp.at(key))
            continue
        out.update({str(k): str(x) for k, x in v.items()})
    return out


def _drop(r: Reader, lp: LDict, path: str, default: bool) -> bool:
    v = r.boolean(lp, "drop_params", path)
    return default if v is None else v


def _param(key: str, value: Any) -> Any:
    if key in SECRET_PARAMS and isinstance(value, str):
        return Secret(value)
    if key == "vertex_credentials" and isinstance(value, dict):
        return Secret(_json(value))
    return value


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def _unique_ids(deps: list[Deployment]) -> list[Deployment]:
    """Give every deployment without model_info.id a stable id: same config, same id."""
    seen: dict[str, int] = {}
    out = []
    for d in deps:
        dep_id = d.id or _stable_id(d)
        n = seen.get(dep_id, 0) + 1
        seen[dep_id] = n
        if n > 1:
            dep_id = f"{dep_id}-{n}"
        out.append(_replace_id(d, dep_id))
    return out


def _stable_id(d: Deployment) -> str:
    key_digest = hashlib.sha256(d.api_key.value.encode()).hexdigest() if d.api_key else ""
    material = "|".join([d.model_name, d.provider, d.model, d.api_base or "",
                         d.api_version or "", d.organization or "", key_digest])
    digest = hashlib.sha256(material.encode()).hexdigest()[:8]
    slug = _SLUG.sub("-", d.model_name.replace("*", "any")).strip("-") or "model"
    return f"{slug}.{d.provider}.{digest}"


def _replace_id(d: Deployment, dep_id: str) -> Deployment:
    return replace(d, id=dep_id)
