"""Reading an OpenAI chat request for translation into a native one. Shared, pure helpers.

Every native translator needs the same readings of OpenAI's shapes: the system prompt out of
`system`/`developer` messages, text and images out of content parts, tool-call arguments as
objects, the names behind `tool_call_id`s, `max_tokens` under either name, `stop` as a list;
and the same policy for parameters a provider cannot take (400 naming it, or dropped with
`drop_params`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from pllm.errors import InvalidRequest, UnsupportedParam

__all__ = [
    "OPENAI_CHAT_PARAMS",
    "Image",
    "check_params",
    "image_of",
    "max_tokens",
    "split_system",
    "stop_list",
    "text_of",
    "tool_arguments",
    "tool_names",
]

# Every request parameter of OpenAI's chat completions (besides model/messages/stream).
OPENAI_CHAT_PARAMS = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "n", "stop", "seed",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
    "response_format", "tools", "tool_choice", "parallel_tool_calls", "user", "stream_options",
    "reasoning_effort", "verbosity", "service_tier", "store", "metadata", "modalities", "audio",
    "prediction", "web_search_options", "safety_identifier", "prompt_cache_key",
    "prompt_cache_retention", "functions", "function_call",
})
# Parameters that carry no meaning for a provider that does not support them: never a 400.
_HARMLESS = frozenset({"user", "stream_options", "store", "metadata", "safety_identifier",
                       "prompt_cache_key", "prompt_cache_retention", "service_tier"})


def check_params(body: dict[str, Any], supported: Iterable[str], provider: str,
                 drop: bool) -> dict[str, Any]:
    """The OpenAI parameters in `body` this provider cannot take: a 400 naming the first one,
    or (with drop_params) a copy of the body without them. Parameters that are not OpenAI's
    are left alone for the translator to pass on as provider-specific ones."""
    supported = frozenset(supported)
    bad = [k for k in body if k in OPENAI_CHAT_PARAMS and k not in supported
           and k not in _HARMLESS and body[k] is not None and not _default(k, body[k])]
    if not bad:
        return body
    if not drop:
        raise UnsupportedParam(
            f"{provider} does not support the parameter '{bad[0]}'; remove it, or set "
            "drop_params: true to have pllm drop it", param=bad[0])
    return {k: v for k, v in body.items() if k not in bad}


_DEFAULTS: dict[str, Any] = {"n": 1, "logprobs": False, "parallel_tool_calls": True}


def _default(key: str, value: Any) -> bool:
    """Values equal to OpenAI's defaults ask for nothing a provider could refuse."""
    return key in _DEFAULTS and value == _DEFAULTS[key] and type(value) is type(_DEFAULTS[key])


def text_of(content: Any) -> str:
    """The text of a message's `content`: a string, or the `text` parts of a list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content
                       if isinstance(p, dict) and p.get("type") in ("text", "input_text")
                       and isinstance(p.get("text"), str))
    raise InvalidRequest("message content must be a string or a list of content parts")


def split_system(messages: list[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """(the `system`/`developer` messages' text joined by blank lines, the other messages)."""
    system = [text_of(m.get("content")) for m in messages
              if m.get("role") in ("system", "developer")]
    rest = [m for m in messages if m.get("role") not in ("system", "developer")]
    return ("\n\n".join(s for s in system if s) or None), rest


@dataclass(frozen=True, slots=True)
class Image:
    """An image part: either inline (`media_type` + base64 `data`) or a remote `url`."""

    media_type: str | None = None
    data: str | None = None
    url: str | None = None


_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<b64>;base64)?,(?P<data>.*)",
                       re.DOTALL)


def image_of(part: dict[str, Any]) -> Image:
    """An OpenAI `image_url` part (`{"url": ...}` or, as some clients send, the bare URL)."""
    spec = part.get("image_url")
    url = spec.get("url") if isinstance(spec, dict) else spec
    if not isinstance(url, str) or not url:
        raise InvalidRequest("an image_url part needs a url")
    m = _DATA_URL.fullmatch(url)
    if m is not None:
        if not m.group("b64"):
            raise InvalidRequest("image data URLs must be base64 encoded")
        return Image(media_type=m.group("mime") or "image/png", data=m.group("data"))
    if url.startswith(("http://", "https://", "gs://")):
        return Image(url=url)
    raise InvalidRequest("an image url must be http(s), gs:// or a data: URL")


def tool_arguments(arguments: Any, where: str) -> dict[str, Any]:
    """An assistant tool call's `arguments` (a JSON string) as an object."""
    if isinstance(arguments, dict):
        return arguments
    if arguments in (None, ""):
        return {}
    try:
        parsed = orjson.loads(arguments)
    except (orjson.JSONDecodeError, TypeError):
        raise InvalidRequest(f"{where}: function.arguments is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise InvalidRequest(f"{where}: function.arguments must be a JSON object")
    return parsed


def tool_names(messages: list[dict[str, Any]]) -> dict[str, str]:
    """tool_call_id -> function name, from the assistant turns (Gemini needs the name)."""
    out: dict[str, str] = {}
    for m in messages:
        for call in m.get("tool_calls") or []:
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                out[str(call.get("id"))] = str(call["function"].get("name", ""))
    return out


def max_tokens(body: dict[str, Any]) -> int | None:
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest("max_tokens must be a positive integer", param="max_tokens")
    return value


def stop_list(body: dict[str, Any]) -> list[str] | None:
    stop = body.get("stop")
    if stop is None:
        return None
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return list(stop)
    raise InvalidRequest("stop must be a string or a list of strings", param="stop")
