"""Wire payloads of the OpenAI-family mock upstream (see openai_family.py).

Pure functions from a request body to the JSON an OpenAI, Azure OpenAI or Groq server would send:
chat completions (whole and as stream chunks), legacy completions, embeddings, model lists, the checks
the real APIs apply to requests, and the providers' real error bodies and headers
(docs: /work/shared/providers/{openai,azure,groq}.md).

Answers are deterministic and derived from the request so tests can tell what the gateway forwarded:
"echo: <last user text>", a tool call to the first tool, "tool said: <tool result>", or a JSON object.

Token rule (all usage numbers): a token is a whitespace-separated word. prompt_tokens = words in the text
of every message's content (string content, or the "text" of content parts; images and tool calls count
0); for legacy completions and embeddings, words in every prompt/input (token-id arrays: one per id).
completion_tokens = words in the answer (for a tool call, in its arguments string), summed over choices.
total_tokens = prompt_tokens + completion_tokens.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import orjson

Profile = Literal["openai", "azure", "groq"]
Json = dict[str, Any]

FINGERPRINT = "fp_mock0001"
AZURE_MODELS = {
    "chat": "gpt-4o-2024-08-06",
    "completions": "gpt-35-turbo-instruct-0914",
    "embeddings": "text-embedding-3-small",
}
SAFE_FILTER: Json = {
    name: {"filtered": False, "severity": "safe"}
    for name in ("hate", "self_harm", "sexual", "violence")
}
MODELS: dict[str, list[Json]] = {  # served by the openai and groq profiles
    "openai": [
        {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
        {"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"},
        {
            "id": "text-embedding-3-small",
            "object": "model",
            "created": 1705948997,
            "owned_by": "system",
        },
    ],
    "groq": [
        {
            "id": "llama-3.3-70b-versatile",
            "object": "model",
            "created": 1733447754,
            "owned_by": "Meta",
            "active": True,
            "context_window": 131072,
            "public_apps": None,
            "max_completion_tokens": 32768,
        },
    ],
}
_SAMPLES: dict[str, Any] = {
    "string": "Paris",
    "integer": 1,
    "number": 1.5,
    "boolean": True,
    "array": [],
}
_ARGUMENT_PIECE = 8  # characters of tool-call arguments per stream fragment
_LEGACY_MAX_TOKENS = 16  # OpenAI's default max_tokens for /v1/completions
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
    "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
    "valid JSON. If you have trouble figuring out how to fix this, please contact us through our "
    "help center at help.openai.com.)"
)


@dataclass
class Rejection(Exception):
    """A request the real API refuses: HTTP status plus the provider's JSON error body."""

    status: int
    body: Json


@dataclass(frozen=True)
class Stamp:
    """Per-response identity: id, created time, reported model, Groq request id."""

    id: str
    created: int
    model: str
    request_id: str


@dataclass(frozen=True)
class Answer:
    """What each choice says: text or one tool call, why it ended, and its completion tokens."""

    content: str | None
    tool_call: Json | None
    finish_reason: str
    tokens: int


def new_stamp(profile: Profile, body: Json, op: str, prefix: str) -> Stamp:
    """A fresh response identity; Azure reports the deployed model, the others echo the request."""
    model = AZURE_MODELS[op] if profile == "azure" else str(body.get("model", ""))
    return Stamp(
        f"{prefix}-{uuid.uuid4().hex[:24]}", int(time.time()), model, f"req_{uuid.uuid4().hex[:26]}"
    )


def words(text: str) -> int:
    """Token count under the module's word rule."""
    return len(text.split())


def _text_of(value: Any) -> str:
    """Plain text of message content, content parts, a prompt, or a token-id array."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return str(value.get("text", ""))
    if isinstance(value, list):
        return " ".join(t for t in map(_text_of, value) if t)
    return "" if value is None else str(value)


def _inputs_of(value: Any) -> list[str]:
    """Split a prompt/input field (string, strings, token ids, or token-id arrays) into items."""
    if isinstance(value, list) and value and not all(isinstance(v, int) for v in value):
        return [_text_of(v) for v in value]
    return [_text_of(value)]


def _truncate(text: str, limit: Any) -> tuple[str, str]:
    """Cut text to `limit` words (max_tokens semantics); returns the text and its finish_reason."""
    if isinstance(limit, int) and words(text) > limit:
        return " ".join(text.split()[:limit]), "length"
    return text, "stop"


def _word_pieces(text: str) -> list[str]:
    """Stream pieces of a text, one word each, that concatenate back to it exactly."""
    return [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]


def _usage(profile: Profile, prompt: int, completion: int) -> Json:
    """A usage object with the profile's extras (OpenAI detail objects, Groq timings in seconds)."""
    out: Json = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if profile == "openai":
        out["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
        out["completion_tokens_details"] = {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        }
    elif profile == "groq":
        prompt_time, completion_time = round(prompt * 1e-4, 6), round(completion * 1e-3, 6)
        out.update(
            queue_time=0.0125,
            prompt_time=prompt_time,
            completion_time=completion_time,
            total_time=round(prompt_time + completion_time, 6),
        )
    return out


def _sample(schema: Any) -> Any:
    """A value satisfying a simple JSON Schema: the first enum value, else a fixed value per type."""
    spec = schema if isinstance(schema, dict) else {}
    if spec.get("enum"):
        return spec["enum"][0]
    kind = spec.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in spec:
        return {name: _sample(sub) for name, sub in (spec.get("properties") or {}).items()}
    return _SAMPLES.get(str(kind), "Paris")


def _last_user_text(messages: list[Json]) -> str:
    return next(
        (_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
    )


def _tool_answer(tool: Json, messages: list[Json]) -> Answer:
    """A call of `tool` with arguments sampled from its parameter schema; the id hashes name and prompt."""
    function = tool.get("function") or tool
    name = str(function.get("name", "tool"))
    arguments = orjson.dumps(
        _sample({"type": "object", **(function.get("parameters") or {})})
    ).decode()
    call_id = (
        "call_" + hashlib.sha256(f"{name}|{_last_user_text(messages)}".encode()).hexdigest()[:24]
    )
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    return Answer(None, call, "tool_calls", words(arguments))


def _text_answer(body: Json, messages: list[Json]) -> str:
    last = messages[-1] if messages else {}
    response_format = body.get("response_format") or {}
    if last.get("role") == "tool":
        return "tool said: " + _text_of(last.get("content"))
    if response_format.get("type") == "json_schema":
        return orjson.dumps(
            _sample((response_format.get("json_schema") or {}).get("schema"))
        ).decode()
    if response_format.get("type") == "json_object":
        return orjson.dumps({"echo": _last_user_text(messages)}).decode()
    return "echo: " + _last_user_text(messages)


def chat_answer(body: Json) -> Answer:
    """The deterministic reply to a chat request (the same for every choice)."""
    messages: list[Json] = body["messages"]
    tools = body.get("tools") or []
    if tools and messages and messages[-1].get("role") == "user":
        return _tool_answer(tools[0], messages)
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    text, finish = _truncate(_text_answer(body, messages), limit)
    return Answer(text, None, finish, words(text))


def _chat_usage(profile: Profile, body: Json, answer: Answer) -> Json:
    prompt = sum(words(_text_of(m.get("content"))) for m in body["messages"])
    return _usage(profile, prompt, answer.tokens * (body.get("n") or 1))


def _top_extras(profile: Profile, stamp: Stamp) -> Json:
    """Provider-specific top-level fields of a non-streamed body."""
    if profile == "azure":
        return {
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": SAFE_FILTER}]
        }
    if profile == "groq":
        return {"service_tier": "on_demand", "x_groq": {"id": stamp.request_id}}
    return {"service_tier": "default"}


def chat_completion(profile: Profile, body: Json, stamp: Stamp) -> Json:
    """A complete `chat.completion` object with `n` identical choices."""
    answer = chat_answer(body)
    message: Json = {"role": "assistant", "content": answer.content}
    if profile != "groq":
        message["refusal"] = None
    if profile == "openai":
        message["annotations"] = []
    if answer.tool_call:
        message["tool_calls"] = [answer.tool_call]
    choices = []
    for index in range(body.get("n") or 1):
        choice: Json = {
            "index": index,
            "message": message,
            "logprobs": None,
            "finish_reason": answer.finish_reason,
        }
        if profile == "azure":
            choice["content_filter_results"] = SAFE_FILTER
        choices.append(choice)
    return {
        "id": stamp.id,
        "object": "chat.completion",
        "created": stamp.created,
        "model": stamp.model,
        "choices": choices,
        "usage": _chat_usage(profile, body, answer),
        "system_fingerprint": FINGERPRINT,
        **_top_extras(profile, stamp),
    }


def _deltas(answer: Answer) -> list[Json]:
    """Deltas of one choice before its finish chunk: role first, then words or call fragments."""
    if answer.tool_call is None:
        return [
            {"role": "assistant", "content": ""},
            *({"content": piece} for piece in _word_pieces(answer.content or "")),
        ]
    call, arguments = answer.tool_call, answer.tool_call["function"]["arguments"]
    head = {
        "index": 0,
        "id": call["id"],
        "type": "function",
        "function": {"name": call["function"]["name"], "arguments": ""},
    }
    pieces = [arguments[i : i + _ARGUMENT_PIECE] for i in range(0, len(arguments), _ARGUMENT_PIECE)]
    return [
        {"role": "assistant", "content": None, "tool_calls": [head]},
        *({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]} for piece in pieces),
    ]


def _chunk(profile: Profile, stamp: Stamp, index: int, delta: Json, finish: str | None) -> Json:
    choice: Json = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
    if profile == "azure":
        choice["content_filter_results"] = SAFE_FILTER if delta.get("content") else {}
    return {
        "id": stamp.id,
        "object": "chat.completion.chunk",
        "created": stamp.created,
        "model": stamp.model,
        "system_fingerprint": FINGERPRINT,
        "choices": [choice],
    }


def _with_usage_chunk(
    chunks: list[Json], stamp: Stamp, object_name: str, total: Json
) -> list[Json]:
    """OpenAI's include_usage framing: `usage: null` on every chunk, then a `choices: []` usage chunk."""
    for chunk in chunks:
        chunk["usage"] = None
    return [
        *chunks,
        {
            "id": stamp.id,
            "object": object_name,
            "created": stamp.created,
            "model": stamp.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [],
            "usage": total,
        },
    ]


def _wants_usage(body: Json) -> bool:
    return bool((body.get("stream_options") or {}).get("include_usage"))


def chat_chunks(profile: Profile, body: Json, stamp: Stamp) -> list[Json]:
    """Every `chat.completion.chunk` of a streamed answer, in wire order ([DONE] not included).

    Choices are interleaved step by step when n > 1. Azure starts with its empty-choices
    prompt_filter_results chunk. Groq puts `x_groq.id` on the first chunk and `x_groq.usage` on the
    finish chunk, and never sends OpenAI's usage chunk (a gateway has to synthesize it).
    """
    answer, n = chat_answer(body), body.get("n") or 1
    chunks = [_chunk(profile, stamp, i, delta, None) for delta in _deltas(answer) for i in range(n)]
    chunks += [_chunk(profile, stamp, i, {}, answer.finish_reason) for i in range(n)]
    total = _chat_usage(profile, body, answer)
    if profile == "groq":
        chunks[0]["x_groq"] = {"id": stamp.request_id}
        chunks[-1]["x_groq"] = {"id": stamp.request_id, "usage": total}
        return chunks
    if profile == "azure":
        chunks.insert(
            0,
            {
                "id": "",
                "object": "",
                "created": 0,
                "model": "",
                "choices": [],
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
            },
        )
    return (
        _with_usage_chunk(chunks, stamp, "chat.completion.chunk", total)
        if _wants_usage(body)
        else chunks
    )


def _legacy_answers(body: Json) -> list[tuple[str, str, str]]:
    """(prompt, text, finish_reason) per prompt; max_tokens defaults to 16 as on OpenAI."""
    limit = body.get("max_tokens", _LEGACY_MAX_TOKENS)
    prompts = _inputs_of(body.get("prompt", "<|endoftext|>"))
    return [(prompt, *_truncate("echo: " + prompt, limit)) for prompt in prompts]


def _legacy_usage(profile: Profile, answers: list[tuple[str, str, str]]) -> Json:
    return _usage(
        profile, sum(words(p) for p, _, _ in answers), sum(words(t) for _, t, _ in answers)
    )


def _legacy_choice(profile: Profile, index: int, text: str, finish: str | None) -> Json:
    choice: Json = {"text": text, "index": index, "logprobs": None, "finish_reason": finish}
    if profile == "azure":
        choice["content_filter_results"] = SAFE_FILTER if text else {}
    return choice


def text_completion(profile: Profile, body: Json, stamp: Stamp) -> Json:
    """A complete `text_completion` object with one choice per prompt."""
    answers = _legacy_answers(body)
    out: Json = {
        "id": stamp.id,
        "object": "text_completion",
        "created": stamp.created,
        "model": stamp.model,
        "system_fingerprint": FINGERPRINT,
        "usage": _legacy_usage(profile, answers),
        "choices": [
            _legacy_choice(profile, i, text, end) for i, (_, text, end) in enumerate(answers)
        ],
    }
    if profile == "azure":
        out.update(_top_extras(profile, stamp))
    return out


def completion_chunks(profile: Profile, body: Json, stamp: Stamp) -> list[Json]:
    """A streamed legacy completion: word chunks, then an empty-text chunk carrying finish_reason."""
    answers = _legacy_answers(body)
    chunks = [
        {
            "id": stamp.id,
            "object": "text_completion",
            "created": stamp.created,
            "model": stamp.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [_legacy_choice(profile, index, piece, finish)],
        }
        for index, (_, text, end) in enumerate(answers)
        for piece, finish in [*((w, None) for w in _word_pieces(text)), ("", end)]
    ]
    if _wants_usage(body):
        return _with_usage_chunk(chunks, stamp, "text_completion", _legacy_usage(profile, answers))
    return chunks


def vector(text: str, dims: int) -> list[float]:
    """A unit-length vector of float32 values derived from sha256 of the text."""
    blocks = math.ceil(dims * 2 / 32)
    raw = b"".join(hashlib.sha256(f"{block}:{text}".encode()).digest() for block in range(blocks))
    values = [int.from_bytes(raw[2 * i : 2 * i + 2], "little") / 32767.5 - 1.0 for i in range(dims)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return list(struct.unpack(f"<{dims}f", struct.pack(f"<{dims}f", *(v / norm for v in values))))


def embeddings(profile: Profile, body: Json, stamp: Stamp) -> Json:
    """An embeddings list: 8 dims unless `dimensions`; base64 is little-endian float32 bytes."""
    items, dims = _inputs_of(body["input"]), int(body.get("dimensions") or 8)
    data = []
    for index, item in enumerate(items):
        encoded: Any = vector(item, dims)
        if body.get("encoding_format") == "base64":
            encoded = base64.b64encode(struct.pack(f"<{dims}f", *encoded)).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    prompt = sum(words(item) for item in items)
    return {
        "object": "list",
        "data": data,
        "model": stamp.model,
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    }


def model_list(profile: Profile) -> Json:
    return {"object": "list", "data": MODELS[profile]}


def model_card(profile: Profile, model: str) -> Json:
    """One model object, or the 404 model_not_found Rejection."""
    for card in MODELS[profile]:
        if card["id"] == model:
            return card
    message = f"The model `{model}` does not exist or you do not have access to it."
    raise Rejection(404, error(profile, message, code="model_not_found"))


def check_body(profile: Profile, parsed: Any) -> Json:
    """The request JSON object, or the 400 the API gives for a body that is not one."""
    if not isinstance(parsed, dict):
        raise Rejection(400, error(profile, _BAD_JSON))
    return parsed


def check_request(profile: Profile, op: str, body: Json, model_required: bool) -> None:
    """Reject what the real API rejects: no model/messages/input, bad `n`, stream_options without stream."""
    if model_required and not body.get("model"):
        raise Rejection(400, error(profile, "you must provide a model parameter"))
    required = {"chat": "messages", "embeddings": "input"}.get(op)
    if required and required not in body:
        raise Rejection(
            400,
            error(
                profile,
                f"Missing required parameter: '{required}'.",
                param=required,
                code="missing_required_parameter",
            ),
        )
    messages = body.get("messages", [])
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise Rejection(
            400,
            error(
                profile,
                "Invalid type for 'messages': expected an array of objects.",
                param="messages",
                code="invalid_type",
            ),
        )
    if body.get("stream_options") is not None and body.get("stream") is not True:
        raise Rejection(
            400,
            error(
                profile,
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
            ),
        )
    if profile == "groq":
        _check_groq(body, messages)
    elif "n" in body and not (isinstance(body["n"], int) and 1 <= body["n"] <= 128):
        raise Rejection(
            400,
            error(
                profile,
                "Invalid 'n': expected an integer between 1 and 128.",
                param="n",
                code="invalid_value",
            ),
        )


def _check_groq(body: Json, messages: list[Json]) -> None:
    """Groq's documented 400s: logprobs/logit_bias/top_logprobs, n != 1, messages[].name."""
    for name in ("logprobs", "logit_bias", "top_logprobs"):
        if body.get(name) is not None and body[name] is not False:
            raise Rejection(400, error("groq", f"`{name}` is not supported with this model"))
    n = body.get("n", 1)
    if n is not None and n != 1:
        bound = "at most" if isinstance(n, int) and n > 1 else "at least"
        raise Rejection(400, error("groq", f"'n' : number must be {bound} 1"))
    for i, message in enumerate(messages):
        if "name" in message:
            raise Rejection(
                400,
                error(
                    "groq",
                    f"'messages.{i}' : for 'role:{message.get('role')}' the "
                    f"following must be satisfied[('messages.{i}.name' : "
                    "property 'name' is unsupported)]",
                ),
            )


def check_api_version(version: str | None) -> None:
    """Azure deployment routes: no api-version is a 404, a malformed one a 400."""
    if version is None:
        raise Rejection(404, azure_error("404", "Resource not found"))
    if not _API_VERSION.fullmatch(version):
        raise Rejection(400, azure_error("BadRequest", "API version not supported"))


def error(
    profile: Profile,
    message: str,
    kind: str | None = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> Json:
    """OpenAI's error envelope (all four keys); Groq leaves out a null `param` or `code`."""
    body: Json = {"message": message, "type": kind, "param": param, "code": code}
    if profile == "groq":
        body = {k: v for k, v in body.items() if v is not None or k not in ("param", "code")}
    return {"error": body}


def azure_error(code: str, message: str) -> Json:
    """Azure's gateway-level envelope: a string `code` and no `type`."""
    return {"error": {"code": code, "message": message}}


def _mask(key: str) -> str:
    return key[:3] + "*" * max(len(key) - 7, 4) + key[-4:] if len(key) > 12 else "*" * len(key)


def unauthorized(profile: Profile, presented: str | None) -> Json:
    """The 401 body for a missing or wrong key; a presented key only ever appears masked."""
    if profile == "azure":
        if presented is None:
            return azure_error(
                "401",
                "Access denied due to missing subscription key. Make sure to include "
                "subscription key when making requests to an API.",
            )
        return azure_error(
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. "
            "Make sure to provide a valid key for an active subscription and use a "
            "correct regional API endpoint for your resource.",
        )
    if profile == "groq":
        return error(profile, "Invalid API Key", code="invalid_api_key")
    if presented is None:
        return error(
            profile,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). "
            "You can obtain an API key from https://platform.openai.com/account/api-keys.",
        )
    return error(
        profile,
        f"Incorrect API key provided: {_mask(presented)}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        code="invalid_api_key",
    )


def unknown_url(profile: Profile, method: str, path: str) -> Rejection:
    """What each provider answers for a route it does not serve."""
    if profile == "azure":
        return Rejection(404, azure_error("404", "Resource not found"))
    if profile == "groq":
        return Rejection(
            404,
            error(
                profile,
                f"Unknown request URL: {method} {path}. Please check the URL "
                "for typos, or see the docs at https://console.groq.com/docs/",
                code="unknown_url",
            ),
        )
    return Rejection(404, error(profile, f"Invalid URL ({method} {path})"))


def base_headers(profile: Profile) -> dict[str, str]:
    """Headers the provider sends on every response, the x-ratelimit family included."""
    request_id = uuid.uuid4().hex
    if profile == "azure":
        return {
            "apim-request-id": request_id,
            "x-request-id": request_id,
            "x-ms-region": "East US",
            "x-ratelimit-limit-requests": "300",
            "x-ratelimit-limit-tokens": "30000",
            "x-ratelimit-remaining-requests": "299",
            "x-ratelimit-remaining-tokens": "29976",
        }
    limits = {
        "groq": ("14400", "6000", "14399", "5976", "6s", "240ms"),
        "openai": ("5000", "160000", "4999", "159976", "12ms", "9ms"),
    }[profile]
    names = [
        f"x-ratelimit-{kind}-{unit}"
        for kind in ("limit", "remaining", "reset")
        for unit in ("requests", "tokens")
    ]
    headers = {"x-request-id": f"req_{request_id}", **dict(zip(names, limits, strict=True))}
    if profile == "openai":
        headers |= {
            "openai-processing-ms": "12",
            "openai-version": "2020-10-01",
            "openai-organization": "org-mock",
        }
    return headers
