"""Anthropic's Messages API: OpenAI chat requests as `POST {api_base}/v1/messages`, and back.

`api_base` is the anthropic SDK's `base_url` (default `https://api.anthropic.com`; a base that
already ends in `/v1/messages`, as some LiteLLM configs give it, is used as it is). Headers:
`x-api-key`, `anthropic-version: 2023-06-01`, plus the deployment's extra_headers (e.g.
`anthropic-beta`). Answers, streams and errors are read in `anthropic_stream.py` (re-exported
here); Claude on Vertex AI reuses `anthropic_body` and those readers.

Request mapping (OpenAI -> Anthropic):
- system/developer messages -> top-level `system` (one string; a block list when a part or the
  message carries `cache_control`); consecutive same-role turns merged; `tool` messages ->
  `tool_result` blocks in one user turn; assistant `tool_calls` -> `tool_use` blocks (and
  LiteLLM's `thinking_blocks` are sent back first); images: data URLs -> base64 source,
  http(s) -> url source; `file` parts with a PDF or text data URL -> document blocks.
- `cache_control` on content parts, on messages (-> their last block) and on tools is kept.
- `tool_choice` auto/required/none/named -> auto/any/none/tool; `parallel_tool_calls: false` ->
  `disable_parallel_tool_use`; `stop` -> `stop_sequences`; `user` (or `safety_identifier`) ->
  `metadata.user_id`; `response_format` json_schema -> `output_config.format`.
- `max_tokens` is required by Anthropic. Without one from the client, the model's maximum
  output (OpenAI's own default is "as much as fits"), from its name; see `default_max_tokens`.
- `reasoning_effort` -> extended thinking: `thinking.budget_tokens` minimal/low 1024, medium 2048,
  high 4096, xhigh 8192 (LiteLLM's mapping), max_tokens raised by the budget when it would not
  exceed it; models from Claude 4.6 on take `{"type": "adaptive"}` + `output_config.effort`
  instead (Opus 4.7+ and the Claude 5 family reject budgets with a 400); `none` -> no thinking.
- Sampling: OpenAI's temperature is 0..2, Anthropic's 0..1: values above 1 are clamped to 1
  (the most random Anthropic allows). Models from Claude 4.7 on reject temperature/top_p/top_k
  with a 400, and with thinking on older models reject temperature != 1, top_k and top_p < 0.95:
  such values are refused here naming the parameter (or dropped with drop_params), defaults
  silently left out.
- Not available: `n` > 1, `logprobs`, `logit_bias`, penalties, `seed`, JSON mode
  (`response_format` json_object): 400 naming the parameter, or dropped with drop_params.
  Anthropic-only fields in the body (`top_k`, `thinking`, `output_config`, `container`, ...)
  are passed on.

Messages, content parts and tools are converted in `anthropic_messages.py`; answers, streams
and errors are read in `anthropic_stream.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from pllm.config.model import Deployment
from pllm.errors import InvalidRequest, ProviderError, UnsupportedParam
from pllm.providers.anthropic_messages import convert_messages, tool_choice_of, tools_of
from pllm.providers.anthropic_stream import (
    AnthropicStreamDecoder,
    completion_from_anthropic,
    error_from_anthropic,
    usage_from_anthropic,
)
from pllm.providers.base import Target, UpstreamRequest, UpstreamResponse
from pllm.providers.convert import check_params, max_tokens, stop_list
from pllm.providers.relay import EventRelay
from pllm.schema import Completion, Endpoint, GatewayRequest

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE",
    "Anthropic",
    "AnthropicStreamDecoder",
    "Claude",
    "anthropic_body",
    "claude_model",
    "completion_from_anthropic",
    "default_max_tokens",
    "error_from_anthropic",
    "usage_from_anthropic",
]

API_VERSION = "2023-06-01"
DEFAULT_BASE = "https://api.anthropic.com"
MESSAGES_PATH = "/v1/messages"
FALLBACK_MAX_TOKENS = 4096
THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096, "xhigh": 8192}
_EFFORTS = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh"}
_SUPPORTED = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "tools",
    "tool_choice", "parallel_tool_calls", "response_format", "reasoning_effort",
})  # user, metadata, service_tier, stream_options: check_params lets them through
# Anthropic request fields a client may add to an OpenAI request (the openai SDK's extra_body).
_NATIVE = ("container", "context_management", "mcp_servers", "inference_geo", "speed",
           "cache_control", "diagnostics")
_SERVICE_TIERS = {"auto": "auto", "default": "standard_only", "standard_only": "standard_only"}


class Anthropic:
    """The Anthropic Messages translator (chat only)."""

    name = "anthropic"
    endpoints: frozenset[Endpoint] = frozenset({"chat"})

    def prepare(self, dep: Deployment) -> Target:
        base = (dep.api_base or DEFAULT_BASE).rstrip("/")
        url = base if base.endswith(MESSAGES_PATH) else base + MESSAGES_PATH
        headers = {"content-type": "application/json", "anthropic-version": API_VERSION}
        if dep.api_key:
            headers["x-api-key"] = dep.api_key.value
        for key, value in dep.extra_headers.items():
            for same in [h for h in headers if h.lower() == key.lower()]:
                del headers[same]  # an extra header replaces ours whatever its case
            headers[key] = str(value)
        return Target(dep, self, url, headers)

    def build_request(self, req: GatewayRequest, target: Target, model: str) -> UpstreamRequest:
        body = anthropic_body(req, model, target.deployment)
        return UpstreamRequest("POST", target.base_url, target.headers, orjson.dumps(body),
                               stream=req.stream)

    def parse_response(self, req: GatewayRequest, resp: UpstreamResponse) -> Completion:
        try:
            data = orjson.loads(resp.body)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict) and data.get("type") == "error":  # a 200 from some proxies
            raise error_from_anthropic(500, resp.headers, resp.body)
        if not isinstance(data, dict):
            raise ProviderError("anthropic answered with a body that is not a message",
                                upstream_status=502, provider=self.name)
        return completion_from_anthropic(req, data)

    def parse_error(self, resp: UpstreamResponse) -> ProviderError:
        return error_from_anthropic(resp.status, resp.headers, resp.body)

    def stream_relay(self, req: GatewayRequest, target: Target) -> EventRelay:
        return EventRelay(AnthropicStreamDecoder(req))

    def count_tokens_request(self, body: dict[str, Any], target: Target,
                             model: str) -> UpstreamRequest:
        """Anthropic's own counter (`/v1/messages/count_tokens`) for an Anthropic-format body,
        as pllm's `/v1/messages/count_tokens` receives it; only the model name changes."""
        fields = ("system", "messages", "tools", "tool_choice", "thinking")
        native = {"model": model, **{k: body[k] for k in fields if k in body}}
        url = target.base_url.removesuffix(MESSAGES_PATH) + MESSAGES_PATH + "/count_tokens"
        return UpstreamRequest("POST", url, target.headers, orjson.dumps(native))


# -- models -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Claude:
    """A Claude model as its name tells it: family and version (0 where the name has none)."""

    family: str
    major: int
    minor: int

    @property
    def version(self) -> tuple[int, int]:
        return self.major, self.minor


# claude-sonnet-4-5-20250929, claude-opus-4-1@20250805, anthropic.claude-opus-4-6-v1,
# claude-3-5-haiku-latest, claude-fable-5-1, claude-mythos-preview. A two-digit limit keeps a
# date (claude-sonnet-4-20250514) from reading as a minor version.
_NAME = re.compile(
    r"claude-(?:(?P<fam>opus|sonnet|haiku|fable|mythos)(?:-(?P<maj>\d+)(?:[-.](?P<min>\d{1,2})"
    r"(?!\d))?)?|(?P<maj2>\d+)(?:[-.](?P<min2>\d{1,2})(?!\d))?-(?P<fam2>opus|sonnet|haiku))")


def claude_model(name: str | None) -> Claude | None:
    m = _NAME.search(name or "")
    if m is None:
        return None
    family = m.group("fam") or m.group("fam2")
    major = m.group("maj") or m.group("maj2") or "0"
    minor = m.group("min") or m.group("min2") or "0"
    return Claude(family, int(major), int(minor))


def default_max_tokens(model: str | None) -> int:
    """The max_tokens sent when the client gives none: the model's maximum output, per
    Anthropic's models overview (and the SDK's model list for the newest names):

        claude-3 haiku/sonnet/opus 4096        claude-3-5-* 8192       claude-3-7-sonnet 64000
        opus-4, opus-4-1 32000                 sonnet-4 64000          *-4-5 64000
        opus-4-6/4-7/4-8 128000                sonnet-4-6 64000 (sources disagree: the lower)
        opus/sonnet/fable 5.x 128000           haiku 5.x, mythos 64000 (not published: lower)
        anything else (not a Claude name we can read) 4096

    Claude 3.7 and 4.0/4.1 reject input + max_tokens above the 200K window, so very long
    prompts to them need an explicit, smaller max_tokens; later models stop with
    `model_context_window_exceeded` instead."""
    c = claude_model(model)
    if c is None:
        return FALLBACK_MAX_TOKENS
    v = c.version
    if c.family == "mythos" or (c.family == "haiku" and v >= (5, 0)):
        return 64_000
    if c.family == "fable" or v >= (5, 0):
        return 128_000
    if v >= (4, 6):
        return 128_000 if c.family == "opus" else 64_000
    if v >= (4, 5):
        return 64_000
    if v >= (4, 0):
        return 32_000 if c.family == "opus" else 64_000
    if v >= (3, 7):
        return 64_000
    return 8_192 if v >= (3, 5) else 4_096


def _adaptive_thinking(c: Claude | None) -> bool:
    return c is not None and (c.family in ("fable", "mythos") or c.version >= (4, 6))


def _fixed_sampling(c: Claude | None) -> bool:
    return c is not None and (c.family == "fable" or c.version >= (4, 7))


# -- request ----------------------------------------------------------------------------------
def anthropic_body(req: GatewayRequest, model: str | None, dep: Deployment, *,
                   model_name: str | None = None) -> dict[str, Any]:
    """The Messages request body for an OpenAI chat request. `model=None` leaves `model` out
    (Vertex AI takes it in the URL); per-model choices then go by `model_name`, else
    `dep.model`."""
    src = req.body
    if dep.defaults:
        src = {**{k: v for k, v in dep.defaults.items() if k not in src}, **src}
    body = check_params(src, _SUPPORTED, "anthropic", dep.drop_params)
    name = model_name or model or dep.model
    claude = claude_model(name)
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise InvalidRequest("messages must be a list", param="messages")
    system, turns = convert_messages(messages)
    thinking, effort = _thinking(body, claude)

    out: dict[str, Any] = {} if model is None else {"model": model}
    limit = max_tokens(body) or default_max_tokens(name)
    budget = thinking.get("budget_tokens") if thinking else None
    if isinstance(budget, int) and limit <= budget:
        limit += budget  # Anthropic wants max_tokens > budget; the client's limit stays for text
    out["max_tokens"] = limit
    out["messages"] = turns
    if system:
        out["system"] = system
    out.update(_sampling(body, name, claude, thinking, dep.drop_params))
    stop = stop_list(body)
    if stop:
        out["stop_sequences"] = stop
    tools = tools_of(body.get("tools"))
    if tools:
        out["tools"] = tools
        choice = tool_choice_of(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            out["tool_choice"] = choice
    if thinking:
        out["thinking"] = thinking
    config = dict(body["output_config"]) if isinstance(body.get("output_config"), dict) else {}
    fmt = _response_format(body.get("response_format"), dep.drop_params)
    if fmt is not None:
        config["format"] = fmt
    if effort is not None:
        config["effort"] = effort
    if config:
        out["output_config"] = config
    user = _user(body)
    if user:
        out["metadata"] = {"user_id": user}
    tier = body.get("service_tier")
    if isinstance(tier, str) and tier in _SERVICE_TIERS:
        out["service_tier"] = _SERVICE_TIERS[tier]  # OpenAI's flex/priority have no equal
    for key in _NATIVE:
        if body.get(key) is not None:
            out[key] = body[key]
    if req.stream:
        out["stream"] = True
    return out


def _thinking(body: dict[str, Any], c: Claude | None) -> tuple[dict[str, Any] | None, str | None]:
    """(`thinking`, `output_config.effort`): Anthropic's own `thinking` wins when sent."""
    native = body.get("thinking")
    if isinstance(native, dict):
        return native, None
    effort = body.get("reasoning_effort")
    if effort is None or effort == "none":
        return None, None
    if effort not in THINKING_BUDGETS:
        raise InvalidRequest(f"reasoning_effort must be one of none, {', '.join(THINKING_BUDGETS)}",
                             param="reasoning_effort")
    if _adaptive_thinking(c):
        return {"type": "adaptive"}, _EFFORTS[effort]
    return {"type": "enabled", "budget_tokens": THINKING_BUDGETS[effort]}, None


def _sampling(body: dict[str, Any], name: str, c: Claude | None,
              thinking: dict[str, Any] | None, drop: bool) -> dict[str, Any]:
    fixed = _fixed_sampling(c)
    thinks = thinking is not None and thinking.get("type") in ("enabled", "adaptive")
    out: dict[str, Any] = {}

    def refuse(param: str) -> None:
        if drop:
            return
        why = f"for {name}" if fixed else "together with extended thinking (reasoning_effort)"
        raise UnsupportedParam(f"anthropic does not support the parameter '{param}' {why}; "
                               "remove it, or set drop_params: true to have pllm drop it",
                               param=param)

    temperature, top_p, top_k = (_number(body, k) for k in ("temperature", "top_p", "top_k"))
    if temperature is not None:
        if not fixed and not thinks:
            out["temperature"] = min(temperature, 1)  # OpenAI's 0..2 onto Anthropic's 0..1
        elif temperature != 1:  # 1 is the default: leaving it out asks for the same
            refuse("temperature")
    if top_p is not None:
        if not fixed and (not thinks or 0.95 <= top_p <= 1):
            out["top_p"] = top_p
        elif top_p != 1:
            refuse("top_p")
    if top_k is not None:
        if fixed or thinks:
            refuse("top_k")
        else:
            out["top_k"] = top_k
    return out


def _number(body: dict[str, Any], key: str) -> float | int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequest(f"{key} must be a number", param=key)
    return value


def _user(body: dict[str, Any]) -> str | None:
    for value in (body.get("user"), body.get("safety_identifier")):
        if isinstance(value, str) and value:
            return value
    meta = body.get("metadata")
    value = meta.get("user_id") if isinstance(meta, dict) else None
    return value if isinstance(value, str) and value else None


def _response_format(fmt: Any, drop: bool) -> dict[str, Any] | None:
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise InvalidRequest("response_format.json_schema.schema must be an object",
                                 param="response_format")
        return {"type": "json_schema", "schema": schema}
    if fmt.get("type") == "json_object":
        if drop:
            return None
        raise UnsupportedParam(
            "anthropic does not support the parameter 'response_format' of type json_object "
            "(JSON mode); send a json_schema, or set drop_params: true to have pllm drop it",
            param="response_format")
    raise InvalidRequest(f"unknown response_format type {fmt.get('type')!r}",
                         param="response_format")
