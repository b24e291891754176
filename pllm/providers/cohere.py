"""Cohere: OpenAI chat and embeddings requests as Cohere's v2 Chat (`POST {base}/v2/chat`, the
same path streamed with `"stream": true`) and v2 Embed (`POST {base}/v2/embed`), and back.

`api_base` is what the cohere SDK calls `base_url` (default `https://api.cohere.com`); the key
goes as `Authorization: Bearer`. Streams are decoded in `cohere_stream.py`.

Mapping choices (Cohere v2 is close to OpenAI's shapes, so most fields move as they are):
- system/developer messages stay messages (role `system`); images stay `image_url` parts
  (http(s) and `data:` URLs); assistant `tool_calls` keep their string arguments; tool results
  are one `tool` message each (Cohere needs no merging).
- `tool_choice`: `required` -> `REQUIRED`, `none` -> `NONE`, `auto` -> omitted. A *named*
  function has no Cohere equivalent: `tools` is cut down to that one function and the choice
  is `REQUIRED`, so the model can only call it (same for `allowed_tools`). A function with
  `strict: true` turns on Cohere's `strict_tools`.
- `top_p` -> `p`, `stop` -> `stop_sequences`, `response_format` json_object/json_schema ->
  `{"type": "json_object", "json_schema"?: <schema>}`, `reasoning_effort` -> `thinking`
  (`none` disables it, any other effort enables it with the model's own budget: Cohere's
  OpenAI-compatible endpoint maps `none`/`high` the same way).
- `n` > 1, `logit_bias`, `top_logprobs`, `parallel_tool_calls: false`: not supported (400, or
  dropped with drop_params). Native keys (`k`, `documents`, `citation_options`, `safety_mode`,
  `strict_tools`, `priority`, `thinking`) pass through; `top_k` is sent as `k`.
- Errors: 401 and 498 (invalid token) -> 401 `invalid_api_key`; 429 `rate_limit_exceeded`;
  400 "too many tokens" -> `context_length_exceeded` (but "max tokens must be ..." is an
  invalid `max_tokens`); 499 "request cancelled" -> 502, retryable: when pllm reads it, pllm
  had not hung up (otherwise no one would read it), so Cohere dropped the request itself and the
  client is not at fault; 5xx as ProviderError maps them.
- Answers: see `cohere_stream.py` (tool_plan -> reasoning_content, TIMEOUT -> length, ERROR ->
  ProviderError).
- Embeddings: `input` -> `texts`, `input_type` `search_document` unless the request carries a
  (non-OpenAI) `input_type`, float vectors always requested and base64-encoded here (float32
  little-endian, as OpenAI does) for `encoding_format: base64`; `dimensions` ->
  `output_dimension`.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson

from pllm.config.model import Deployment
from pllm.errors import InvalidRequest, ProviderError
from pllm.providers.base import Target, UpstreamRequest, UpstreamResponse
from pllm.providers.chunks import embeddings_list
from pllm.providers.cohere_stream import CohereStreamDecoder, as_dict, completion
from pllm.providers.convert import (
    check_params,
    image_of,
    max_tokens,
    stop_list,
    text_of,
    tool_arguments,
)
from pllm.providers.errors import error_from_body
from pllm.providers.relay import EventRelay
from pllm.schema import Completion, Endpoint, GatewayRequest, Usage

__all__ = ["DEFAULT_BASE", "Cohere", "chat_body", "embed_body"]

DEFAULT_BASE = "https://api.cohere.com"
_SUPPORTED = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed",
    "presence_penalty", "frequency_penalty", "logprobs", "response_format", "tools",
    "tool_choice", "reasoning_effort",
})  # n=1 and parallel_tool_calls=true are defaults check_params lets through
_NATIVE_CHAT = ("k", "documents", "citation_options", "safety_mode", "strict_tools",
                "priority", "thinking")
_NATIVE_EMBED = ("truncate", "max_tokens", "priority")
_EFFORTS = frozenset({"minimal", "low", "medium", "high"})


class Cohere:
    """The Cohere v2 translator (registered as `cohere` and `cohere_chat`)."""

    name = "cohere"
    endpoints: frozenset[Endpoint] = frozenset({"chat", "embeddings"})

    def prepare(self, dep: Deployment) -> Target:
        base = (dep.api_base or DEFAULT_BASE).rstrip("/")
        headers = {"content-type": "application/json"}
        if dep.api_key:
            headers["authorization"] = f"Bearer {dep.api_key.value}"
        headers.update(dep.extra_headers)
        return Target(dep, self, base, headers)

    def build_request(self, req: GatewayRequest, target: Target, model: str) -> UpstreamRequest:
        dep = target.deployment
        body = {**{k: v for k, v in dep.defaults.items() if k not in req.body}, **req.body}
        if req.endpoint == "embeddings":
            payload, path = embed_body(body, model), "/v2/embed"
        elif req.endpoint == "chat":
            payload = chat_body(body, model, drop=dep.drop_params, stream=req.stream)
            path = "/v2/chat"
        else:
            raise InvalidRequest(f"cohere does not serve the {req.endpoint} endpoint")
        return UpstreamRequest("POST", target.base_url + path, target.headers,
                               orjson.dumps(payload), stream=req.stream)

    def parse_response(self, req: GatewayRequest, resp: UpstreamResponse) -> Completion:
        data = _json_object(resp.body)
        if req.endpoint == "embeddings":
            return _embeddings(req, data)
        return completion(req, data)

    def parse_error(self, resp: UpstreamResponse) -> ProviderError:
        err = error_from_body(self.name, resp.status, resp.headers, resp.body)
        if resp.status in (401, 498):
            return ProviderError(err.message, upstream_status=resp.status, provider=self.name,
                                 status=401, error_type="invalid_request_error",
                                 code="invalid_api_key")
        if resp.status == 499:
            return ProviderError(err.message, upstream_status=499, provider=self.name,
                                 status=502, error_type="api_error", code="upstream_error",
                                 retryable=True)
        if resp.status == 400 and "max tokens must be" in err.message.lower():
            return ProviderError(err.message, upstream_status=400, provider=self.name,
                                 error_type="invalid_request_error", code="invalid_value",
                                 param="max_tokens")
        return err

    def stream_relay(self, req: GatewayRequest, target: Target) -> EventRelay:
        return EventRelay(CohereStreamDecoder(req))


# -- chat request -----------------------------------------------------------------------------
def chat_body(body: dict[str, Any], model: str, *, drop: bool = False,
              stream: bool = False) -> dict[str, Any]:
    """The v2 Chat request for an OpenAI chat request body."""
    body = check_params(body, _SUPPORTED, "cohere", drop)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list", param="messages")
    out: dict[str, Any] = {"model": model,
                           "messages": [_message(m, f"messages[{i}]")
                                        for i, m in enumerate(messages)]}
    tools, choice, strict = _tools(body.get("tools"), body.get("tool_choice"))
    if tools:
        out["tools"] = tools
        if strict:
            out["strict_tools"] = True
    if choice is not None:
        out["tool_choice"] = choice
    limit = max_tokens(body)
    if limit is not None:
        out["max_tokens"] = limit
    stop = stop_list(body)
    if stop:
        out["stop_sequences"] = stop
    for src, dst in (("temperature", "temperature"), ("top_p", "p"), ("seed", "seed"),
                     ("presence_penalty", "presence_penalty"),
                     ("frequency_penalty", "frequency_penalty"), ("top_k", "k")):
        if body.get(src) is not None:
            out[dst] = body[src]
    if body.get("logprobs") is True:
        out["logprobs"] = True
    fmt = _response_format(body.get("response_format"))
    if fmt is not None:
        out["response_format"] = fmt
    thinking = _thinking(body.get("reasoning_effort"))
    if thinking is not None:
        out["thinking"] = thinking
    for key in _NATIVE_CHAT:  # the client's own Cohere settings win over mapped ones
        if body.get(key) is not None:
            out[key] = body[key]
    if stream:
        out["stream"] = True
    return out


def _message(m: Any, where: str) -> dict[str, Any]:
    if not isinstance(m, dict):
        raise InvalidRequest(f"{where} must be an object", param="messages")
    role = m.get("role")
    if role in ("system", "developer"):
        return {"role": "system", "content": text_of(m.get("content"))}
    if role == "user":
        return {"role": "user", "content": _user_content(m.get("content"), where)}
    if role == "assistant":
        return _assistant(m, where)
    if role == "tool":
        call_id = m.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise InvalidRequest(f"{where}: a tool message needs tool_call_id", param="messages")
        return {"role": "tool", "tool_call_id": call_id, "content": text_of(m.get("content"))}
    raise InvalidRequest(f"{where}: cohere does not support the role {role!r}", param="messages")


def _user_content(content: Any, where: str) -> Any:
    if not isinstance(content, list):
        return text_of(content)
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "input_text"):
            parts.append({"type": "text", "text": text_of([part])})
        elif kind == "image_url":
            image = image_of(part)
            if image.url is not None and not image.url.startswith(("http://", "https://")):
                raise InvalidRequest(f"{where}: cohere takes images as http(s) or data: URLs",
                                     param="messages")
            spec = part["image_url"]
            url = spec["url"] if isinstance(spec, dict) else spec
            image_url: dict[str, Any] = {"url": url}
            if isinstance(spec, dict) and spec.get("detail") in ("auto", "low", "high"):
                image_url["detail"] = spec["detail"]
            parts.append({"type": "image_url", "image_url": image_url})
        else:
            raise InvalidRequest(f"{where}: cohere does not support {kind!r} content parts",
                                 param="messages")
    return parts


def _assistant(m: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant"}
    text = text_of(m.get("content"))
    calls = m.get("tool_calls")
    if calls:
        if not isinstance(calls, list):
            raise InvalidRequest(f"{where}: tool_calls must be a list", param="messages")
        out["tool_calls"] = [_call(c, f"{where}.tool_calls[{i}]") for i, c in enumerate(calls)]
        plan = m.get("reasoning_content")
        if isinstance(plan, str) and plan:  # our own surfacing of Cohere's tool_plan, sent back
            out["tool_plan"] = plan
    if text or not calls:
        out["content"] = text
    return out


def _call(call: Any, where: str) -> dict[str, Any]:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise InvalidRequest(f"{where} needs function.name", param="messages")
    args = fn.get("arguments")
    tool_arguments(args, where)  # 400 for arguments that are not a JSON object
    text = args if isinstance(args, str) and args else orjson.dumps(args or {}).decode()
    return {"id": str(call.get("id") or ""), "type": "function",
            "function": {"name": fn["name"], "arguments": text}}


def _tools(tools: Any, choice: Any) -> tuple[list[dict[str, Any]], str | None, bool]:
    """(Cohere tools, Cohere tool_choice, strict_tools)."""
    if tools is None:
        tools = []
    if not isinstance(tools, list):
        raise InvalidRequest("tools must be a list", param="tools")
    out: list[dict[str, Any]] = []
    strict = False
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type", "function") != "function" or \
                not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise InvalidRequest(f"tools[{i}]: cohere takes only function tools with a name",
                                 param="tools")
        spec: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            spec["description"] = fn["description"]
        # Cohere requires `parameters`; OpenAI lets a function without arguments omit it.
        spec["parameters"] = fn.get("parameters") or {"type": "object", "properties": {}}
        strict = strict or fn.get("strict") is True
        out.append({"type": "function", "function": spec})
    if choice is None or choice == "auto":
        return out, None, strict
    if choice == "none":
        return out, ("NONE" if out else None), strict
    if choice == "required":
        return out, "REQUIRED", strict
    if isinstance(choice, dict) and choice.get("type") == "function":
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        return _only(out, [name], strict)
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        spec = as_dict(choice.get("allowed_tools"))
        names = [t.get("function", {}).get("name") if isinstance(t.get("function"), dict)
                 else t.get("name") for t in spec.get("tools") or [] if isinstance(t, dict)]
        picked, _, strict = _only(out, names, strict)
        return picked, ("REQUIRED" if spec.get("mode") == "required" else None), strict
    raise InvalidRequest("tool_choice must be auto, none, required or a function",
                         param="tool_choice")


def _only(tools: list[dict[str, Any]], names: list[Any],
          strict: bool) -> tuple[list[dict[str, Any]], str | None, bool]:
    """A forced choice among `names`: the other tools are withheld, the call is REQUIRED."""
    picked = [t for t in tools if t["function"]["name"] in names]
    missing = [n for n in names if n not in {t["function"]["name"] for t in picked}]
    if missing or not picked:
        raise InvalidRequest(f"tool_choice names the function {(missing or names)[0]!r}, which "
                             "is not in tools", param="tool_choice")
    return picked, "REQUIRED", strict


def _response_format(fmt: Any) -> dict[str, Any] | None:
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema" and isinstance(fmt, dict):
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if isinstance(schema, dict):
            return {"type": "json_object", "json_schema": schema}
        return {"type": "json_object"}
    raise InvalidRequest("response_format must be text, json_object or json_schema for cohere",
                         param="response_format")


def _thinking(effort: Any) -> dict[str, Any] | None:
    if effort is None:
        return None
    if effort == "none":
        return {"type": "disabled"}
    if effort in _EFFORTS:
        return {"type": "enabled"}
    raise InvalidRequest("reasoning_effort must be none, minimal, low, medium or high",
                         param="reasoning_effort")


# -- embeddings -------------------------------------------------------------------------------
def embed_body(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The v2 Embed request for an OpenAI embeddings request body."""
    given = body.get("input")
    texts = [given] if isinstance(given, str) else given
    if not isinstance(texts, list) or not texts or \
            not all(isinstance(t, str) for t in texts):
        raise InvalidRequest("cohere embeds text: input must be a string or a non-empty list "
                             "of strings", param="input")
    if body.get("encoding_format") not in (None, "float", "base64"):
        raise InvalidRequest("encoding_format must be float or base64", param="encoding_format")
    input_type = body.get("input_type")
    out: dict[str, Any] = {
        "model": model, "texts": texts,
        "input_type": input_type if isinstance(input_type, str) else "search_document",
        "embedding_types": ["float"],
    }
    dims = body.get("dimensions")
    if dims is not None:
        if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
            raise InvalidRequest("dimensions must be a positive integer", param="dimensions")
        out["output_dimension"] = dims
    for key in _NATIVE_EMBED:
        if body.get(key) is not None:
            out[key] = body[key]
    return out


def _embeddings(req: GatewayRequest, data: dict[str, Any]) -> Completion:
    found = data.get("embeddings")
    vectors = found.get("float") if isinstance(found, dict) else None
    if not isinstance(vectors, list):
        raise ProviderError("cohere answered without float embeddings", upstream_status=502,
                            provider="cohere")
    if req.body.get("encoding_format") == "base64":
        vectors = [base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode("ascii")
                   for v in vectors]
    tokens = as_dict(as_dict(data.get("meta")).get("billed_units")).get("input_tokens")
    count = int(tokens) if isinstance(tokens, (int, float)) and not isinstance(tokens, bool) \
        else 0
    return embeddings_list(req, vectors, Usage(prompt_tokens=count, total_tokens=count))


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ProviderError("cohere answered with a body that is not JSON", upstream_status=502,
                            provider="cohere") from None
    if not isinstance(data, dict):
        raise ProviderError("cohere answered with JSON that is not an object",
                            upstream_status=502, provider="cohere")
    return data
