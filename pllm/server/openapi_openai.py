"""The client-facing part of pllm's OpenAPI document: OpenAI's chat completions, completions,
embeddings and models, Anthropic's Messages API, and the health probes.

Required request fields come from the parsers the handlers use (`requests._REQUIRED`,
`inbound.anthropic`), the usage object from `schema.Usage`, the error object from
`ApiError.body()`. Request bodies are open (`additionalProperties`): pllm forwards parameters
it does not know to OpenAI-compatible upstreams unchanged.
"""

from __future__ import annotations

from typing import Any

from pllm.errors import ApiError
from pllm.inbound.anthropic import _ERROR_TYPES as ANTHROPIC_ERROR_TYPES
from pllm.schema import Usage
from pllm.server.inference import ROUTES
from pllm.server.openapi_types import (
    Schema,
    arr,
    error_responses,
    json_content,
    nullable,
    obj,
    ref,
    string_enum,
)
from pllm.server.requests import _REQUIRED as REQUIRED

__all__ = ["ALIASES", "HEADERS", "operations", "schemas"]

STR, INT, NUM, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "number"}, \
    {"type": "boolean"}
ANY_OBJECT: Schema = {"type": "object", "additionalProperties": True}
INFERENCE_ERRORS = (400, 401, 403, 404, 413, 429, 500, 501, 502, 503, 504)
STREAM_DOC = ("With `\"stream\": true` the answer is a server-sent event stream: one `data:` "
              "line per chunk ({chunk}), a last chunk with `usage` when "
              "`stream_options.include_usage` is set, then `data: [DONE]`. An upstream failure "
              "after the stream started ends it with `data: {{\"error\": {{...}}}}`.")


ALIASES = {"/health/liveliness": "/health", "/health/liveness": "/health",
           "/health/readiness": "/ready"}
"""Health probes under LiteLLM's names (the `/v1`-less paths are aliases too)."""


def _described(schema: Schema, text: str) -> Schema:
    return {**schema, "description": text}


def _header(text: str, schema: Schema | None = None) -> dict[str, Any]:
    return {"description": text, "schema": schema or STR}


HEADERS: dict[str, Any] = {
    "RequestId": _header("Your `x-request-id` echoed when it is a sane token (1-128 of "
                         "`A-Za-z0-9._:-`), else a new id; also in the audit trail."),
    "Deployment": _header("The deployment that served the request (its id, never a key)."),
    "Attempts": _header("How many upstream attempts the request took (retries and "
                        "failovers included).", INT),
    "Fallback": _header("The model group that answered when a fallback served the request."),
    "OverheadMs": _header("pllm's own time in milliseconds: total minus upstream time.", NUM),
    "Cost": _header("What the request cost in USD (8 decimals), from the deployment's prices."),
    "BudgetRemaining": _header("USD left in the tightest budget that applies to the caller."),
    "RetryAfter": _header("Seconds to wait before retrying (integer, at least 1).", INT),
    "ShouldRetry": _header("`false` when a retry cannot succeed before the budget period "
                           "resets."),
    **{f"RateLimit{part.title()}{kind.title()}": _header(
        f"OpenAI's `x-ratelimit-{part}-{kind}`, where a {kind} limit applies to the caller.")
       for kind in ("requests", "tokens") for part in ("limit", "remaining", "reset")},
}
_RATE_HEADERS = {f"x-ratelimit-{part}-{kind}":
                 {"$ref": f"#/components/headers/RateLimit{part.title()}{kind.title()}"}
                 for kind in ("requests", "tokens") for part in ("limit", "remaining", "reset")}


def _routing_headers(cost: bool) -> dict[str, Any]:
    names = {"x-request-id": "RequestId", "x-pllm-model": "Deployment",
             "x-pllm-attempts": "Attempts", "x-pllm-fallback": "Fallback",
             "x-pllm-overhead-ms": "OverheadMs"}
    if cost:
        names["x-pllm-cost"] = "Cost"
    names["x-pllm-budget-remaining"] = "BudgetRemaining"
    out: dict[str, Any] = {h: {"$ref": f"#/components/headers/{n}"} for h, n in names.items()}
    return {**out, **_RATE_HEADERS}


def _usage_schema() -> Schema:
    """The keys `Usage.to_openai()` writes: the three totals always, the details when
    non-zero."""
    full = Usage(1, 1, 2, cached_tokens=1, reasoning_tokens=1).to_openai()
    always = Usage().to_openai()

    def of(value: Any) -> Schema:
        if isinstance(value, dict):
            return obj({k: of(v) for k, v in value.items()}, value)
        return dict(INT)

    return obj({k: of(v) for k, v in full.items()}, always,
               description="Token counts. The details appear when non-zero.")


def _error_schema() -> Schema:
    inner = ApiError("x").body()["error"]
    kinds = {"message": STR, "type": STR, "param": nullable(STR), "code": nullable(STR)}
    return obj({"error": obj({k: kinds[k] for k in inner}, inner)}, ["error"],
               description="OpenAI's error shape; every error pllm answers has it.")


_STOP = {"anyOf": [STR, arr(STR), {"type": "null"}],
         "description": "Up to 4 sequences where generation stops."}
_SAMPLING: dict[str, Schema] = {
    "temperature": nullable({"type": "number", "minimum": 0, "maximum": 2}),
    "top_p": nullable({"type": "number", "minimum": 0, "maximum": 1}),
    "n": nullable({"type": "integer", "minimum": 1}),
    "max_tokens": nullable(INT),
    "stop": _STOP,
    "presence_penalty": nullable({"type": "number", "minimum": -2, "maximum": 2}),
    "frequency_penalty": nullable({"type": "number", "minimum": -2, "maximum": 2}),
    "logit_bias": nullable({"type": "object", "additionalProperties": NUM}),
    "seed": nullable(INT),
    "user": _described(STR, "An end-user id, also recorded in the audit trail."),
    "stream": {"type": "boolean", "default": False},
    "stream_options": nullable(obj({"include_usage": BOOL})),
}
_TOOL_CALL = obj({"id": STR, "type": string_enum(["function"]),
                  "function": obj({"name": STR, "arguments": _described(
                      STR, "JSON-encoded arguments.")}, ["name", "arguments"])},
                 ["id", "type", "function"])
_CONTENT_PART = obj({
    "type": string_enum(["text", "image_url", "input_audio", "file"]),
    "text": STR,
    "image_url": obj({"url": _described(STR, "An https URL or a `data:` URL."),
                      "detail": string_enum(["auto", "low", "high"])}, ["url"]),
}, ["type"], extra=True)


def _chat_schemas() -> dict[str, Schema]:
    message = obj({
        "role": string_enum(["system", "developer", "user", "assistant", "tool", "function"]),
        "content": {"anyOf": [STR, arr(ref("ContentPart")), {"type": "null"}]},
        "name": STR, "tool_calls": arr(ref("ToolCall")), "tool_call_id": STR,
    }, ["role"], extra=True)
    tool = obj({"type": string_enum(["function"]), "function": obj({
        "name": STR, "description": STR,
        "parameters": _described(ANY_OBJECT, "A JSON Schema for the arguments."),
        "strict": nullable(BOOL)}, ["name"])}, ["type", "function"])
    response_format = obj({
        "type": string_enum(["text", "json_object", "json_schema"]),
        "json_schema": obj({"name": STR, "description": STR, "schema": ANY_OBJECT,
                            "strict": nullable(BOOL)}, ["name"])}, ["type"])
    request = obj({
        "model": _described(STR, "A model group from `GET /v1/models`, an alias, or a name "
                            "a wildcard deployment matches."),
        "messages": {**arr(ref("ChatMessage")), "minItems": 1},
        **_SAMPLING,
        "max_completion_tokens": nullable(INT),
        "logprobs": nullable(BOOL), "top_logprobs": nullable({"type": "integer", "minimum": 0,
                                                               "maximum": 20}),
        "tools": arr(ref("Tool")),
        "tool_choice": {"anyOf": [string_enum(["none", "auto", "required"]), obj(
            {"type": string_enum(["function"]), "function": obj({"name": STR}, ["name"])},
            ["type", "function"])]},
        "parallel_tool_calls": nullable(BOOL),
        "response_format": ref("ResponseFormat"),
        "reasoning_effort": nullable(STR),
        "metadata": nullable({"type": "object", "additionalProperties": STR}),
    }, ["model", *REQUIRED["chat"]], extra=True,
        description="OpenAI's chat completion request. Parameters not listed here are "
                    "passed on to OpenAI-compatible upstreams unchanged.")
    finish = nullable(string_enum(["stop", "length", "tool_calls", "content_filter",
                                   "function_call"]))
    answer = obj({"role": string_enum(["assistant"]), "content": nullable(STR),
                  "refusal": nullable(STR), "tool_calls": arr(ref("ToolCall"))},
                 ["role", "content"], extra=True)
    completion = obj({
        "id": STR, "object": string_enum(["chat.completion"]), "created": INT, "model": STR,
        "system_fingerprint": nullable(STR),
        "choices": arr(obj({"index": INT, "message": answer, "finish_reason": finish,
                            "logprobs": nullable(ANY_OBJECT)}, ["index", "message",
                                                                "finish_reason"])),
        "usage": ref("Usage"),
    }, ["id", "object", "created", "model", "choices"], extra=True)
    delta_call = obj({"index": INT, "id": STR, "type": string_enum(["function"]),
                      "function": obj({"name": STR, "arguments": STR})}, ["index"])
    chunk = obj({
        "id": STR, "object": string_enum(["chat.completion.chunk"]), "created": INT,
        "model": STR, "system_fingerprint": nullable(STR),
        "choices": arr(obj({"index": INT, "delta": obj({
            "role": string_enum(["assistant"]), "content": nullable(STR),
            "refusal": nullable(STR), "tool_calls": arr(delta_call)}, extra=True),
            "finish_reason": finish, "logprobs": nullable(ANY_OBJECT)}, ["index", "delta"])),
        "usage": nullable(ref("Usage")),
    }, ["id", "object", "created", "model", "choices"], extra=True,
        description="One `data:` event of a streamed chat completion.")
    return {"ChatCompletionRequest": request, "ChatMessage": message,
            "ContentPart": _CONTENT_PART, "Tool": tool, "ToolCall": _TOOL_CALL,
            "ResponseFormat": response_format, "ChatCompletion": completion,
            "ChatCompletionChunk": chunk}


def _other_schemas() -> dict[str, Schema]:
    tokens = {"anyOf": [STR, arr(STR), arr(INT), arr(arr(INT))]}
    completion_request = obj({
        "model": STR, "prompt": tokens, "suffix": nullable(STR), "echo": nullable(BOOL),
        "best_of": nullable(INT), "logprobs": nullable(INT), **_SAMPLING,
    }, ["model", *REQUIRED["completions"]], extra=True,
        description="OpenAI's legacy completion request.")
    text_choice = obj({"text": STR, "index": INT, "logprobs": nullable(ANY_OBJECT),
                       "finish_reason": nullable(STR)}, ["text", "index", "finish_reason"])
    completion = obj({"id": STR, "object": string_enum(["text_completion"]), "created": INT,
                      "model": STR, "choices": arr(text_choice), "usage": ref("Usage")},
                     ["id", "object", "created", "model", "choices"], extra=True)
    embedding_request = obj({
        "model": STR, "input": {**tokens, "description": "Text, texts, or token arrays."},
        "encoding_format": string_enum(["float", "base64"]),
        "dimensions": nullable({"type": "integer", "minimum": 1}), "user": STR,
    }, ["model", *REQUIRED["embeddings"]], extra=True,
        description="OpenAI's embeddings request (`stream` does not apply).")
    embedding = obj({"object": string_enum(["embedding"]), "index": INT,
                     "embedding": {"anyOf": [arr(NUM), _described(STR, "base64 float32")]}},
                    ["object", "index", "embedding"])
    embeddings = obj({"object": string_enum(["list"]), "data": arr(embedding), "model": STR,
                      "usage": obj({"prompt_tokens": INT, "total_tokens": INT},
                                   ["prompt_tokens", "total_tokens"])},
                     ["object", "data", "model"], extra=True)
    model = obj({"id": STR, "object": string_enum(["model"]), "created": INT,
                 "owned_by": STR}, ["id", "object", "created", "owned_by"])
    return {"CompletionRequest": completion_request, "Completion": completion,
            "EmbeddingRequest": embedding_request, "Embeddings": embeddings, "Model": model,
            "ModelList": obj({"object": string_enum(["list"]), "data": arr(ref("Model"))},
                             ["object", "data"]),
            "Usage": _usage_schema(), "Error": _error_schema()}


def _anthropic_schemas() -> dict[str, Schema]:
    block = obj({"type": STR, "text": STR}, ["type"], extra=True,
                description="A content block: text, image, tool_use or tool_result.")
    content = {"anyOf": [STR, arr(block)]}
    request = obj({
        "model": STR, "max_tokens": {"type": "integer", "minimum": 1},
        "messages": arr(obj({"role": string_enum(["user", "assistant"]), "content": content},
                            ["role", "content"])),
        "system": content, "stream": BOOL, "temperature": NUM, "top_p": NUM, "top_k": INT,
        "stop_sequences": arr(STR), "tools": arr(obj({
            "name": STR, "description": STR, "input_schema": ANY_OBJECT}, ["name"],
            extra=True)),
        "tool_choice": ANY_OBJECT, "metadata": ANY_OBJECT,
    }, ["model", "max_tokens", "messages"], extra=True,
        description="Anthropic's Messages request, answered by any configured model.")
    message = obj({
        "id": STR, "type": string_enum(["message"]), "role": string_enum(["assistant"]),
        "model": STR, "content": arr(block),
        "stop_reason": nullable(string_enum(["end_turn", "max_tokens", "stop_sequence",
                                             "tool_use"])),
        "stop_sequence": nullable(STR),
        "usage": obj({"input_tokens": INT, "output_tokens": INT},
                     ["input_tokens", "output_tokens"], extra=True),
    }, ["id", "type", "role", "model", "content", "stop_reason", "usage"])
    kinds = sorted({*ANTHROPIC_ERROR_TYPES.values(), "api_error"})
    error = obj({"type": string_enum(["error"]), "error": obj(
        {"type": string_enum(kinds), "message": STR}, ["type", "message"])},
        ["type", "error"], description="Anthropic's error shape (used on /v1/messages).")
    count_request = obj({"model": STR, "messages": request["properties"]["messages"],
                         "system": content, "tools": request["properties"]["tools"]},
                        ["model", "messages"], extra=True)
    return {"AnthropicMessagesRequest": request, "AnthropicMessage": message,
            "AnthropicError": error, "AnthropicCountTokensRequest": count_request,
            "AnthropicTokenCount": obj({"input_tokens": INT}, ["input_tokens"])}


def schemas() -> dict[str, Schema]:
    """The component schemas of this part, by name."""
    return {**_chat_schemas(), **_other_schemas(), **_anthropic_schemas()}

_ENDPOINT_DOCS = {
    "chat": ("Create a chat completion", "ChatCompletionRequest", "ChatCompletion",
             "ChatCompletionChunk"),
    "completions": ("Create a completion (legacy)", "CompletionRequest", "Completion",
                    "Completion"),
    "embeddings": ("Create embeddings", "EmbeddingRequest", "Embeddings", None),
}
_EXAMPLES: dict[str, dict[str, Any]] = {
    "chat": {"messages": [{"role": "user", "content": "Hello!"}]},
    "completions": {"prompt": "Say this is a test", "max_tokens": 16},
    "embeddings": {"input": "The food was delicious"},
}


def _inference(endpoint: str, model: str) -> dict[str, Any]:
    summary, request, answer, chunk = _ENDPOINT_DOCS[endpoint]
    content: dict[str, Any] = json_content(ref(answer))
    description = ("Routed to a deployment of the requested model group (failover, retries "
                   "and fallbacks included) and translated to and from its provider.")
    if chunk is not None:
        content["text/event-stream"] = {"schema": _described(STR, STREAM_DOC.format(
            chunk=f"`{chunk}`"))}
        description += " " + STREAM_DOC.format(chunk=f"`{chunk}`")
    return {
        "tags": ["inference"], "summary": summary, "description": description,
        "parameters": [{"$ref": "#/components/parameters/RequestIdHeader"}],
        "requestBody": {"required": True, "content": json_content(
            ref(request), {"model": model, **_EXAMPLES[endpoint]})},
        "responses": {"200": {"description": "The answer (a JSON body, or an SSE stream).",
                              "headers": _routing_headers(cost=True), "content": content},
                      **error_responses(INFERENCE_ERRORS, upstream=True)},
    }


def _json_op(tags: str, summary: str, schema: str, description: str = "",
             errors: tuple[int, ...] = (401, 429), secure: bool = True,
             upstream: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"tags": [tags], "summary": summary, "responses": {
        "200": {"description": "OK", "content": json_content(ref(schema) if schema else
                                                             ANY_OBJECT)},
        **error_responses(errors, upstream=upstream)}}
    if description:
        op["description"] = description
    if not secure:
        op["security"] = []
    return op


def _messages(model: str) -> dict[str, Any]:
    op = _json_op("anthropic", "Create a message (Anthropic Messages API)", "AnthropicMessage",
                  "Any configured model answers in Anthropic's format; with `stream: true` "
                  "as Anthropic's event sequence (`message_start`, `content_block_start`, "
                  "`content_block_delta`, `content_block_stop`, `message_delta`, "
                  "`message_stop`; `error` on a mid-stream failure). Authenticate with "
                  "`x-api-key` or `Authorization: Bearer`; any `anthropic-version`.",
                  errors=INFERENCE_ERRORS, upstream=True)
    op["requestBody"] = {"required": True, "content": json_content(
        ref("AnthropicMessagesRequest"),
        {"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": "Hi"}]})}
    op["responses"]["200"]["content"]["text/event-stream"] = {
        "schema": _described(STR, "Anthropic's message stream events.")}
    op["responses"]["200"]["headers"] = _routing_headers(cost=False)
    for status, response in op["responses"].items():
        if status != "200":
            response["content"] = json_content(ref("AnthropicError"))
    return op


def _count_tokens(model: str) -> dict[str, Any]:
    op = _json_op("anthropic", "Count input tokens", "AnthropicTokenCount",
                  "Anthropic's own counter for models served by Anthropic's API, else an "
                  "estimate with no upstream call.", errors=(400, 401, 403, 404, 502),
                  upstream=True)
    op["requestBody"] = {"required": True, "content": json_content(
        ref("AnthropicCountTokensRequest"),
        {"model": model, "messages": [{"role": "user", "content": "Hi"}]})}
    for status, response in op["responses"].items():
        if status != "200":
            response["content"] = json_content(ref("AnthropicError"))
    return op


def operations(model: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Known operations by (method, OpenAPI path). `model`: a served model name, for the
    examples that "try it out" sends."""
    ops: dict[tuple[str, str], dict[str, Any]] = {
        ("post", path): _inference(endpoint, model) for path, endpoint in ROUTES.items()}
    model_param = {"name": "model_id", "in": "path", "required": True, "schema": STR,
                   "example": model, "description": "A model name (it may contain `/`)."}
    for prefix in ("/v1", ""):
        ops[("get", f"{prefix}/models")] = _json_op(
            "models", "List the models", "ModelList",
            "Model groups (wildcard patterns as written) the caller's key may use.")
        ops[("get", f"{prefix}/models/{{model_id}}")] = {
            **_json_op("models", "Retrieve a model", "Model", errors=(401, 404, 429)),
            "parameters": [model_param]}
    ops[("post", "/v1/messages")] = _messages(model)
    ops[("post", "/v1/messages/count_tokens")] = _count_tokens(model)
    live = _json_op("health", "Liveness", "", "The process answers: no auth, no upstream "
                    "calls.", errors=(), secure=False)
    live["responses"]["200"]["content"] = json_content(
        obj({"status": string_enum(["ok"])}, ["status"]), {"status": "ok"})
    ready = _json_op("health", "Readiness", "", "Configuration loaded and the upstream client "
                     "started.", errors=(), secure=False)
    ready["responses"]["200"]["content"] = json_content(obj(
        {"status": string_enum(["ready"]), "models": INT, "deployments": INT,
         "config": nullable(_described(STR, "The config file served, if any."))},
        ["status", "models", "deployments", "config"]))
    for path in ("/health", "/health/liveliness", "/health/liveness"):
        ops[("get", path)] = live
    for path in ("/ready", "/health/readiness"):
        ops[("get", path)] = ready
    return ops
