"""Reading Bedrock Runtime answers: token usage, stop reasons, and errors (HTTP error answers and
the exception frames inside an event stream). Shared by the chat, stream and embeddings halves
of the Bedrock translator (`bedrock.py`, `bedrock_stream.py`, `bedrock_embed.py`).

Error codes come as botocore reads them (botocore/parsers.py, rest-json): the `x-amzn-ErrorType`
header up to its first ':', else the body's `code`/`Code`, else `__type` (after any '#'); the
message is the body's `message` or `Message`. Statuses follow the service model
(bedrock-runtime 2023-09-30): Validation 400, AccessDenied 403, ResourceNotFound 404,
ModelTimeout 408, ModelError 424, Throttling/ModelNotReady 429, InternalServer 500,
ServiceUnavailable 503.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from pllm.errors import ProviderError
from pllm.providers.chunks import FinishReason
from pllm.providers.errors import error_type_for, is_context_overflow, retry_after
from pllm.schema import Usage

__all__ = ["PROVIDER", "finish_reason", "http_error", "json_object", "stream_error", "usage_of"]

PROVIDER = "bedrock"

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


def finish_reason(stop: Any, has_tool_calls: bool) -> FinishReason:
    """OpenAI's finish_reason for a Bedrock `stopReason`. `malformed_model_output` and
    `malformed_tool_use` (and reasons added later) have no OpenAI equivalent: the answer ended,
    so `stop` (or `tool_calls` when calls were produced, as OpenAI reports them)."""
    reason = _FINISH.get(stop) if isinstance(stop, str) else None
    if reason is None:
        return "tool_calls" if has_tool_calls else "stop"
    return reason


def usage_of(usage: Any) -> Usage | None:
    """Bedrock `TokenUsage` -> OpenAI usage. Bedrock's `inputTokens` leaves out the tokens read
    from or written to the prompt cache; OpenAI's `prompt_tokens` counts every prompt token and
    reports the cached ones inside it, so both cache counts are added back."""
    if not isinstance(usage, dict):
        return None
    read = _int(usage.get("cacheReadInputTokens"))
    written = _int(usage.get("cacheWriteInputTokens"))
    prompt = _int(usage.get("inputTokens")) + read + written
    completion = _int(usage.get("outputTokens"))
    total = max(_int(usage.get("totalTokens")), prompt + completion)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total,
                 cached_tokens=read, cache_write_tokens=written)


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else 0


def json_object(body: bytes, what: str) -> dict[str, Any]:
    """A JSON object from Bedrock, or a 502 saying which answer was malformed."""
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise ProviderError(f"Bedrock sent a {what} that is not a JSON object",
                            upstream_status=502, provider=PROVIDER)
    return data


# Status for each Bedrock exception; stream exception frames name them in lowerCamelCase.
_STATUS = {
    "ValidationException": 400,
    "ServiceQuotaExceededException": 400,
    "AccessDeniedException": 403,
    "UnrecognizedClientException": 403,
    "InvalidSignatureException": 403,
    "ExpiredTokenException": 403,
    "MissingAuthenticationTokenException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ModelStreamErrorException": 424,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}
# Bedrock's own wordings for an over-long prompt, beyond the generic ones is_context_overflow
# knows ("Input is too long for requested model.", Claude's "prompt is too long: N tokens > M"):
# Titan's "Too many input tokens. Max input tokens: N", InvokeModel's schema check "Malformed
# input request: expected maxLength: N, actual: M".
_TOO_LONG = re.compile(r"too many input tokens|input token count|max(?:imum)? input tokens|"
                       r"input (?:text )?length|exceeds? (?:the )?max(?:imum)? (?:input )?"
                       r"(?:token|length)|expected maxLength: \d+, actual", re.IGNORECASE)


def http_error(status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
    """A Bedrock error answer (any operation) as a ProviderError."""
    err = _body(body)
    code = headers.get("x-amzn-errortype") or _text(err.get("code")) or \
        _text(err.get("Code")) or _text(err.get("__type"))
    if code:
        code = code.split(":", 1)[0].rsplit("#", 1)[-1]
    message = _text(err.get("message")) or _text(err.get("Message"))
    if not message:
        raw = body.decode("utf-8", "replace").strip()
        message = raw[:500] if raw and not raw.startswith(("{", "<")) else ""
    return _error(code or None, message, status, retry_after(headers))


def stream_error(name: str, payload: bytes) -> ProviderError:
    """An `exception` frame (`exception:<type>`, JSON payload) or an `error` frame
    (`error:<code>`, the message as payload) inside a ConverseStream answer."""
    kind, _, code = name.partition(":")
    if kind == "error":
        message = payload.decode("utf-8", "replace")
        return _error(code or "InternalFailure", message, 500, None)
    err = _body(payload)
    message = _text(err.get("message")) or _text(err.get("Message")) or ""
    original = _text(err.get("originalMessage"))
    if original and original not in message:
        message = f"{message} ({original})" if message else original
    code = code[:1].upper() + code[1:]  # throttlingException -> ThrottlingException
    return _error(code, message, _STATUS.get(code, 500), None)


def _error(code: str | None, message: str, status: int,
           wait: float | None) -> ProviderError:
    text = f"Bedrock {code}: {message}" if code and message else \
        message or f"Bedrock answered {code or f'HTTP {status}'}"
    if status == 429 and code == "ModelNotReadyException":
        return ProviderError(text, upstream_status=429, provider=PROVIDER,
                             error_type="rate_limit_error", code="model_not_ready",
                             retry_after=wait)
    if status == 429:
        return ProviderError(text, upstream_status=429, provider=PROVIDER,
                             error_type="rate_limit_error", code="rate_limit_exceeded",
                             retry_after=wait)
    if code == "ServiceQuotaExceededException":
        # A quota, not a rate: OpenAI's 429 insufficient_quota, and waiting will not help.
        return ProviderError(text, upstream_status=400, provider=PROVIDER, status=429,
                             error_type="insufficient_quota", code="insufficient_quota",
                             retryable=False)
    if status == 400 and (is_context_overflow(message) or _TOO_LONG.search(message)):
        return ProviderError(text, upstream_status=400, provider=PROVIDER,
                             error_type="invalid_request_error",
                             code="context_length_exceeded", param="messages")
    if status == 424:
        # The model itself failed (ModelError/ModelStreamError): a bad upstream, worth
        # another deployment, not the client's fault.
        return ProviderError(text, upstream_status=424, provider=PROVIDER, status=502,
                             error_type="api_error", code="upstream_model_error",
                             retryable=True)
    return ProviderError(text, upstream_status=status, provider=PROVIDER,
                         error_type=_type(status), retry_after=wait)


def _type(status: int) -> str:
    # 429 never gets here (answered above), so only 408 reads differently.
    return "timeout" if status == 408 else error_type_for(status)


def _body(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _text(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None
