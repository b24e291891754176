"""Anthropic's Messages format as a way *in*: `POST /v1/messages` requests become OpenAI chat
requests (the gateway's canonical form, so any configured model can answer), and OpenAI answers
become Anthropic messages. Pure functions; the stream encoder is in `anthropic_stream.py`.

Kept across the round trip: system prompts (with `cache_control`), text, images, tool
definitions, `tool_use`/`tool_result` history, `tool_choice`, stop sequences, sampling knobs,
`metadata.user_id`, and `thinking` (as OpenAI's `reasoning_effort`: budgets of 4096 tokens and
more are "high", 2048 "medium", less "low"). Thinking blocks in the history are dropped: only
the provider that produced them could verify their signatures. `top_k` is passed on as is
(OpenAI-format upstreams that do not know it will say so).
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from pllm.errors import ApiError, InvalidRequest

__all__ = [
    "anthropic_error_body",
    "anthropic_message",
    "estimate_input_tokens",
    "openai_request",
    "stop_reason",
]

_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
         "content_filter": "refusal"}
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                429: "rate_limit_error", 503: "overloaded_error", 529: "overloaded_error",
                504: "timeout_error"}
_SAMPLING = ("temperature", "top_p", "top_k")


def stop_reason(finish_reason: str | None) -> str:
    return _STOP.get(finish_reason or "stop", "end_turn")


def openai_request(body: Any) -> dict[str, Any]:
    """An Anthropic Messages request -> the equivalent OpenAI chat request."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object")
    for field in ("model", "max_tokens", "messages"):
        if field not in body:
            raise InvalidRequest(f"{field}: Field required", param=field)
    if not isinstance(body["messages"], list):
        raise InvalidRequest("messages: Input should be a valid list", param="messages")
    out: dict[str, Any] = {"model": body["model"], "max_tokens": body["max_tokens"]}
    messages = _system(body.get("system"))
    for i, m in enumerate(body["messages"]):
        messages.extend(_message(m, f"messages.{i}"))
    out["messages"] = messages
    for key in _SAMPLING:
        if body.get(key) is not None:
            out[key] = body[key]
    if body.get("stop_sequences"):
        out["stop"] = body["stop_sequences"]
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}  # Anthropic streams always carry usage
    if body.get("tools"):
        out["tools"] = [_tool(t) for t in body["tools"]]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        out.update(_tool_choice(choice))
    user = (body.get("metadata") or {}).get("user_id")
    if user:
        out["user"] = user
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = int(thinking.get("budget_tokens") or 0)
        out["reasoning_effort"] = "high" if budget >= 4096 else \
            "medium" if budget >= 2048 else "low"
    return out


def _system(system: Any) -> list[dict[str, Any]]:
    if not system:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    if isinstance(system, list):
        return [{"role": "system", "content": [_text_part(b) for b in system
                                               if isinstance(b, dict)]}]
    raise InvalidRequest("system: must be a string or a list of text blocks", param="system")


def _text_part(block: dict[str, Any]) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "text", "text": str(block.get("text", ""))}
    if "cache_control" in block:
        part["cache_control"] = block["cache_control"]
    return part


def _message(m: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
        raise InvalidRequest(f"{where}.role: Input should be 'user' or 'assistant'", param=where)
    content = m.get("content")
    if isinstance(content, str):
        return [{"role": m["role"], "content": content}]
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}.content: must be a string or a list of blocks",
                             param=where)
    if m["role"] == "assistant":
        return [_assistant(content)]
    return _user(content, where)


def _assistant(blocks: list[Any]) -> dict[str, Any]:
    texts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for b in blocks:
        if not isinstance(b, dict):
            continue
        if b.get("type") == "text":
            texts.append(_text_part(b))
        elif b.get("type") == "tool_use":
            calls.append({"id": str(b.get("id", "")), "type": "function", "function": {
                "name": str(b.get("name", "")),
                "arguments": orjson.dumps(b.get("input") or {}).decode()}})
    out: dict[str, Any] = {"role": "assistant", "content": texts or None}
    if calls:
        out["tool_calls"] = calls
    return out


def _user(blocks: list[Any], where: str) -> list[dict[str, Any]]:
    """Tool results become `tool` messages (first, as OpenAI orders them); the rest one user
    message."""
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for b in blocks:
        if not isinstance(b, dict):
            continue
        kind = b.get("type")
        if kind == "tool_result":
            tools.append({"role": "tool", "tool_call_id": str(b.get("tool_use_id", "")),
                          "content": _tool_result_text(b)})
        elif kind == "text":
            parts.append(_text_part(b))
        elif kind == "image":
            parts.append(_image(b, where))
    out = list(tools)
    if parts:
        out.append({"role": "user", "content": parts})
    return out


def _tool_result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, list):
        text = "".join(c.get("text", "") for c in content
                       if isinstance(c, dict) and c.get("type") == "text")
    else:
        text = str(content or "")
    return f"Error: {text}" if block.get("is_error") else text


def _image(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    elif source.get("type") == "url":
        url = str(source.get("url", ""))
    else:
        raise InvalidRequest(f"{where}: image source must be base64 or url", param=where)
    part: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
    if "cache_control" in block:
        part["cache_control"] = block["cache_control"]
    return part


def _tool(t: Any) -> dict[str, Any]:
    if not isinstance(t, dict) or "name" not in t:
        raise InvalidRequest("tools: each tool needs a name", param="tools")
    fn: dict[str, Any] = {"name": t["name"],
                          "parameters": t.get("input_schema") or {"type": "object"}}
    if t.get("description"):
        fn["description"] = t["description"]
    out: dict[str, Any] = {"type": "function", "function": fn}
    if "cache_control" in t:
        out["cache_control"] = t["cache_control"]
    return out


def _tool_choice(choice: dict[str, Any]) -> dict[str, Any]:
    kind = choice.get("type")
    out: dict[str, Any] = {}
    if kind == "any":
        out["tool_choice"] = "required"
    elif kind == "none":
        out["tool_choice"] = "none"
    elif kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif kind == "auto":
        out["tool_choice"] = "auto"
    if choice.get("disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False
    return out


def anthropic_message(completion: dict[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI chat.completion -> an Anthropic Message for the model name asked for."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("reasoning_content"):
        content.append({"type": "thinking", "thinking": message["reasoning_content"],
                        "signature": ""})
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        try:
            args = orjson.loads(fn.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            args = {}
        content.append({"type": "tool_use", "id": call.get("id", ""),
                        "name": fn.get("name", ""), "input": args})
    return {
        "id": "msg_" + str(completion.get("id", "")).removeprefix("msg_"),
        "type": "message", "role": "assistant", "model": model, "content": content,
        "stop_reason": stop_reason(choice.get("finish_reason")), "stop_sequence": None,
        "usage": anthropic_usage(completion.get("usage")),
    }


def anthropic_usage(usage: Any) -> dict[str, int]:
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0)
    return {"input_tokens": max(0, int(usage.get("prompt_tokens") or 0) - cached),
            "output_tokens": int(usage.get("completion_tokens") or 0),
            "cache_read_input_tokens": cached, "cache_creation_input_tokens": 0}


def anthropic_error_body(error: ApiError) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(error.status, "api_error" if error.status >= 500
                            else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": error.message}}


_WORD = re.compile(r"\w+|[^\w\s]")


def estimate_input_tokens(body: Any) -> int:
    """`/v1/messages/count_tokens` without an upstream counter: the larger of a word-and-
    punctuation count and a quarter of the characters, over the system prompt, the messages'
    text and the tool definitions. An estimate, and documented as one."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object")
    texts: list[str] = []
    system = body.get("system")
    if system:
        texts.append(system if isinstance(system, str) else orjson.dumps(system).decode())
    for m in body.get("messages") or []:
        content = m.get("content") if isinstance(m, dict) else None
        texts.append(content if isinstance(content, str) else orjson.dumps(content).decode())
    if body.get("tools"):
        texts.append(orjson.dumps(body["tools"]).decode())
    text = "\n".join(t for t in texts if t)
    return max(len(_WORD.findall(text)), math.ceil(len(text) / 4))
