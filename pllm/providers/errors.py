"""Reading provider error answers: shared by every translator.

OpenAI-compatible servers disagree on the error body (`{"error": {...}}` with string or integer
`code`, vLLM's older flat `{"object": "error", ...}`, Ollama's `{"error": "text"}`, Azure's
`code: "429"` without `type`); this turns all of them into one ProviderError with OpenAI's
fields, the status a client should see, whether another deployment may be tried, and the
provider's `retry-after`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from pllm.errors import ProviderError

__all__ = ["error_from_body", "error_type_for", "is_context_overflow", "retry_after"]

_CONTEXT = re.compile(
    r"context.length|context window|maximum context|too many tokens|prompt is too long|"
    r"exceeds? the (?:available )?context|input is too long|reduce the length",
    re.IGNORECASE,
)


def is_context_overflow(message: str, code: str | None = None, etype: str | None = None) -> bool:
    if code == "context_length_exceeded" or etype == "exceed_context_size_error":
        return True
    return bool(_CONTEXT.search(message))


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from `retry-after-ms` or `retry-after` (numeric forms; an HTTP-date
    needs a clock and is left to the caller)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    secs = headers.get("retry-after")
    if secs:
        try:
            return max(0.0, float(secs))
        except ValueError:
            return None
    return None


def error_from_body(provider: str, status: int, headers: Mapping[str, str],
                    body: bytes) -> ProviderError:
    err = _error_object(body)
    message = _text(err.get("message")) or _text(err.get("detail"))
    if not message:
        message = f"{provider} answered HTTP {status}"
    etype = _text(err.get("type"))
    code = _text(err.get("code"))
    param = _text(err.get("param"))
    retryable: bool | None = None
    if code == "insufficient_quota" or etype == "insufficient_quota":
        retryable = False  # a quota, not a rate: waiting will not help
    if status == 400 and is_context_overflow(message, code, etype):
        code = "context_length_exceeded"
    if code is not None and code.isdigit():
        code = None  # Azure's "429", vLLM's integer codes: the status already says it
    if status == 429 and code is None:
        code = "rate_limit_exceeded"
    if etype is None or etype[:1].isupper():  # vLLM's "BadRequestError"
        etype = error_type_for(status)
    return ProviderError(
        message, upstream_status=status, provider=provider, error_type=etype, code=code,
        param=param, retry_after=retry_after(headers), retryable=retryable,
    )


def _error_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return {"message": text[:500]} if text and not text.startswith("<") else {}
    if isinstance(parsed, dict):
        inner = parsed.get("error")
        if isinstance(inner, dict):
            return inner
        if isinstance(inner, str):
            return {"message": inner}
        return parsed
    return {}


def _text(v: Any) -> str | None:
    if v is None or isinstance(v, (dict, list)):
        return None
    return str(v)


def error_type_for(status: int) -> str:
    """OpenAI's error `type` for an upstream HTTP status that says nothing more."""
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 404:
        return "not_found_error"
    if status == 429:
        return "rate_limit_error"
    if 400 <= status < 500:
        return "invalid_request_error"
    return "api_error"
