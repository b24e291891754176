"""Gemini answers -> OpenAI: whole `GenerateContentResponse`s, usage numbers, finish reasons, and
Google RPC error envelopes. Shared by the Gemini API and Vertex AI translators and the stream
decoder (`gemini_stream.py`).

Mappings (google-genai `types.py` enums):
- finishReason: STOP -> stop (tool_calls when the candidate holds functionCall parts: Gemini says
  STOP there), MAX_TOKENS -> length, the safety family (SAFETY, RECITATION, BLOCKLIST,
  PROHIBITED_CONTENT, SPII, IMAGE_SAFETY, IMAGE_PROHIBITED_CONTENT, IMAGE_RECITATION,
  MODEL_ARMOR) -> content_filter, anything else -> stop. A prompt blocked before generation
  (`promptFeedback.blockReason`, no candidates) -> one content_filter choice with "" content.
- usage: prompt = promptTokenCount + toolUsePromptTokenCount; completion = candidatesTokenCount
  + thoughtsTokenCount (thinking is billed as output); cached = cachedContentTokenCount (already
  inside promptTokenCount, as OpenAI counts cached tokens); reasoning = thoughtsTokenCount.
- errors: `{"error": {code, message, status, details}}` (or a one-element array of it).
  RESOURCE_EXHAUSTED keeps 429 with `retryDelay` from a google.rpc.RetryInfo detail (else the
  retry-after header); INVALID_ARGUMENT about the input token count -> context_length_exceeded;
  the Gemini API's 400 API_KEY_INVALID -> 401 invalid_api_key, as OpenAI answers a bad key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from pllm.errors import ProviderError
from pllm.providers.chunks import FinishReason, chat_completion, tool_call
from pllm.providers.errors import is_context_overflow, retry_after
from pllm.providers.gemini_format import SIGNATURE_SEP, synthetic_id
from pllm.schema import Completion, GatewayRequest, Usage

__all__ = ["completion_of", "error_of", "finish_of", "function_call", "loads", "usage_of"]

_FILTERED = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                       "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION",
                       "MODEL_ARMOR"})
_RPC_STATUS = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
               "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404,
               "ALREADY_EXISTS": 409, "ABORTED": 409, "RESOURCE_EXHAUSTED": 429,
               "CANCELLED": 499, "INTERNAL": 500, "UNKNOWN": 500, "DATA_LOSS": 500,
               "UNIMPLEMENTED": 501, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504}
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 429: "rate_limit_error"}
_TOKEN_COUNT = re.compile(r"input token count|exceeds the maximum number of tokens|"
                          r"maximum number of tokens allowed", re.IGNORECASE)
_DELAY = re.compile(r"(?P<secs>\d+(?:\.\d+)?)s")


def loads(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None


# -- answers ------------------------------------------------------------------------------
def finish_of(reason: Any, has_calls: bool) -> FinishReason:
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return "tool_calls" if has_calls else "stop"


def function_call(fc: dict[str, Any], index: int, signature: Any) -> dict[str, Any]:
    """An OpenAI tool call for a Gemini functionCall part (the `index`-th of its candidate)."""
    name = str(fc.get("name") or "")
    call_id = str(fc.get("id") or "") or synthetic_id(index, name)
    if isinstance(signature, str) and signature:
        call_id += SIGNATURE_SEP + signature
    args = fc.get("args")
    return tool_call(call_id, name, orjson.dumps(args if isinstance(args, dict) else {}).decode())


def usage_of(meta: Any) -> Usage | None:
    if not isinstance(meta, dict) or not any(
            k in meta for k in ("promptTokenCount", "candidatesTokenCount", "totalTokenCount")):
        return None  # early stream chunks carry only e.g. trafficType
    prompt = _int(meta.get("promptTokenCount")) + _int(meta.get("toolUsePromptTokenCount"))
    thoughts = _int(meta.get("thoughtsTokenCount"))
    completion = _int(meta.get("candidatesTokenCount")) + thoughts
    return Usage(prompt_tokens=prompt, completion_tokens=completion,
                 total_tokens=prompt + completion,
                 cached_tokens=_int(meta.get("cachedContentTokenCount")),
                 reasoning_tokens=thoughts)


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def answer_id(data: dict[str, Any], req: GatewayRequest) -> str:
    rid = data.get("responseId")
    return f"chatcmpl-{rid}" if isinstance(rid, str) and rid else f"chatcmpl-{req.request_id}"


def parts_text(part: dict[str, Any]) -> str | None:
    """The text a non-thought part contributes (code execution rendered as Markdown)."""
    if isinstance(part.get("text"), str):
        return str(part["text"])
    code = part.get("executableCode")
    if isinstance(code, dict):
        lang = str(code.get("language") or "").lower().replace("language_unspecified", "")
        return f"\n```{lang}\n{code.get('code', '')}\n```\n"
    result = part.get("codeExecutionResult")
    if isinstance(result, dict):
        return f"\n```output\n{result.get('output', '')}\n```\n"
    return None


def completion_of(req: GatewayRequest, body: bytes) -> Completion:
    data = loads(body)
    if not isinstance(data, dict):
        raise ProviderError("Gemini answered with a body that is not a JSON object",
                            upstream_status=502, provider="gemini")
    if "error" in data:
        raise error_of(200, {}, body)
    usage = usage_of(data.get("usageMetadata"))
    cid = answer_id(data, req)
    candidates = [c for c in data.get("candidates") or [] if isinstance(c, dict)]
    if not candidates:
        # The prompt was blocked (promptFeedback.blockReason) or nothing came back.
        blocked = isinstance(data.get("promptFeedback"), dict) and \
            data["promptFeedback"].get("blockReason")
        return chat_completion(req, id=cid, content="", usage=usage,
                               finish_reason="content_filter" if blocked else "stop")
    choices = [_choice(c) for c in candidates]
    first = choices[0]
    out = chat_completion(req, id=cid, content=first["content"], usage=usage,
                          finish_reason=first["finish"], tool_calls=first["calls"],
                          reasoning=first["reasoning"])
    if len(choices) > 1:
        answer = out.data()
        template = answer["choices"][0]
        for i, ch in enumerate(choices[1:], start=1):
            message: dict[str, Any] = {"role": "assistant", "content": ch["content"],
                                       "refusal": None}
            if ch["reasoning"]:
                message["reasoning_content"] = ch["reasoning"]
            if ch["calls"]:
                message["tool_calls"] = ch["calls"]
            answer["choices"].append({**template, "index": i, "message": message,
                                      "finish_reason": ch["finish"]})
    return out


def _choice(candidate: dict[str, Any]) -> dict[str, Any]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        fc = part.get("functionCall")
        if isinstance(fc, dict):
            calls.append(function_call(fc, len(calls), part.get("thoughtSignature")))
            continue
        text = parts_text(part)
        if text is None:
            continue
        (thoughts if part.get("thought") is True else texts).append(text)
    text = "".join(texts)
    return {"content": text if text or not calls else None,
            "reasoning": "".join(thoughts) or None, "calls": calls or None,
            "finish": finish_of(candidate.get("finishReason"), bool(calls))}


# -- errors -------------------------------------------------------------------------------
def error_of(status: int, headers: Mapping[str, str], body: bytes,
             provider: str = "gemini") -> ProviderError:
    """A Google RPC error envelope (HTTP error or in-stream) as a ProviderError."""
    data = loads(body)
    if isinstance(data, list) and data:
        data = data[0]
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        text = body.decode("utf-8", "replace").strip()
        message = text[:500] if text and not text.startswith("<") else \
            f"{provider} answered HTTP {status}"
        return ProviderError(message, upstream_status=status if status >= 400 else 502,
                             provider=provider, error_type=_TYPES.get(status, "api_error"),
                             retry_after=retry_after(headers))
    message = str(err.get("message") or f"{provider} answered HTTP {status}")
    rpc = str(err.get("status") or "")
    if status < 400:  # an error inside a 200 stream: its own code says what happened
        code = err.get("code")
        status = code if isinstance(code, int) and code >= 400 else _RPC_STATUS.get(rpc, 500)
    details = [d for d in err.get("details") or [] if isinstance(d, dict)]
    reasons = {str(d.get("reason")) for d in details if d.get("reason")}
    etype = _TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
    client_status: int | None = None
    ecode: str | None = None
    retryable: bool | None = None
    if status == 429 or rpc == "RESOURCE_EXHAUSTED":
        ecode = "rate_limit_exceeded"
    elif status == 400 and (_TOKEN_COUNT.search(message) or is_context_overflow(message)):
        ecode = "context_length_exceeded"
    elif "API_KEY_INVALID" in reasons or status == 401:
        client_status, etype, ecode, retryable = 401, "authentication_error", \
            "invalid_api_key", False
    wait = _retry_delay(details)
    return ProviderError(message, upstream_status=status, provider=provider, status=client_status,
                         error_type=etype, code=ecode, retryable=retryable,
                         retry_after=wait if wait is not None else retry_after(headers))


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    for d in details:
        if str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
            m = _DELAY.fullmatch(str(d.get("retryDelay") or ""))
            if m:
                return float(m.group("secs"))
    return None
