"""Cohere v2 Chat answers -> OpenAI: whole answers (`completion`), the stream decoder, and what
both read the same way (finish reasons, usage, logprobs).

Cohere streams SSE events whose `event:` name equals the payload's `type`, then `data: [DONE]`:

    message-start   id                      -> the role chunk (the chunk id is Cohere's id)
    content-start / content-delta           -> `content`, or `reasoning_content` for thinking
    tool-plan-delta                         -> `reasoning_content` (see below)
    tool-call-start (an object, not a list) -> a tool call's first fragment (id, name)
    tool-call-delta                         -> its argument fragments
    message-end     finish_reason, usage    -> the finish chunk and, if asked, the usage chunk
    content-end, tool-call-end, citation-*, debug -> nothing

Decisions (the same for whole answers):
- `tool_plan` (the model's plan before it calls tools) is surfaced as `reasoning_content`; the
  translator sends it back as `tool_plan` when an assistant turn with tool calls carries it.
- `TIMEOUT` maps to `length`: Cohere cut the answer short, and what was generated is kept
  (already streamed, in a stream) rather than thrown away by an error.
- `ERROR` (in-stream: `message-end.delta.error`) raises ProviderError (client status 502).
- Tool-call indexes are our own counter: Cohere's `index` restarts per block type.
"""

from __future__ import annotations

from typing import Any

import orjson

from pllm.errors import ProviderError
from pllm.providers.chunks import ChunkWriter, FinishReason, chat_completion, tool_call
from pllm.schema import Chunk, Completion, GatewayRequest, Usage

__all__ = ["CohereStreamDecoder", "as_dict", "completion", "finish_reason", "logprobs_of",
           "usage_of"]

_FINISH: dict[str, FinishReason] = {
    "COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls", "TIMEOUT": "length",
}


def finish_reason(reason: Any, error: Any = None, *, has_tools: bool = False) -> FinishReason:
    """Cohere's `finish_reason` as OpenAI's; `ERROR` raises. Unknown (newer) reasons end the
    answer normally rather than failing a request that produced output."""
    if reason == "ERROR" or (reason is None and error):
        raise ProviderError(
            str(error or "cohere stopped generating with finish_reason ERROR"),
            upstream_status=500, provider="cohere", error_type="api_error")
    found = _FINISH.get(reason) if isinstance(reason, str) else None
    if found is None:
        return "tool_calls" if has_tools else "stop"
    return found


def _count(v: Any) -> int | None:
    # The schema types token counts as numbers (floats allowed); OpenAI's are integers.
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return int(v)


def usage_of(usage: Any) -> Usage | None:
    """`usage.tokens` (what the model processed, the rendered prompt included) when present,
    else `usage.billed_units`; `cached_tokens` as OpenAI's cached prompt tokens."""
    if not isinstance(usage, dict):
        return None
    tokens, billed = as_dict(usage.get("tokens")), as_dict(usage.get("billed_units"))

    def pick(key: str) -> int | None:
        found = _count(tokens.get(key))
        return found if found is not None else _count(billed.get(key))

    prompt, completion = pick("input_tokens"), pick("output_tokens")
    if prompt is None and completion is None:
        return None
    prompt, completion = prompt or 0, completion or 0
    return Usage(prompt_tokens=prompt, completion_tokens=completion,
                 total_tokens=prompt + completion,
                 cached_tokens=_count(usage.get("cached_tokens")) or 0)


def logprobs_of(items: Any) -> dict[str, Any] | None:
    """Cohere's logprob items (a text piece, its token ids and each token's logprob) as OpenAI
    `logprobs.content`: one entry per piece, its logprob the sum of its tokens' (the piece's
    own probability). Cohere has no alternatives, so `top_logprobs` is empty."""
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not items:
        return None
    content = []
    for item in items:
        if not isinstance(item, dict):
            continue
        text = item["text"] if isinstance(item.get("text"), str) else ""
        lps = [x for x in item.get("logprobs") or [] if isinstance(x, (int, float))]
        content.append({"token": text, "logprob": float(sum(lps)),
                        "bytes": list(text.encode("utf-8")), "top_logprobs": []})
    return {"content": content, "refusal": None}


def completion(req: GatewayRequest, data: dict[str, Any]) -> Completion:
    """A whole v2 Chat answer as a `chat.completion`."""
    msg = as_dict(data.get("message"))
    text: list[str] = []
    reasoning: list[str] = []
    for block in msg.get("content") or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            text.append(block["text"])
        elif block.get("type") == "thinking" and isinstance(block.get("thinking"), str):
            reasoning.append(block["thinking"])
    if isinstance(msg.get("tool_plan"), str) and msg["tool_plan"]:
        reasoning.append(msg["tool_plan"])
    calls: list[dict[str, Any]] = []
    for call in msg.get("tool_calls") or []:
        fn = as_dict(call).get("function")
        if isinstance(fn, dict):
            args = fn.get("arguments")
            calls.append(tool_call(str(call.get("id") or f"call_{len(calls)}"),
                                   str(fn.get("name") or ""),
                                   args if isinstance(args, str) and args else "{}"))
    reason = finish_reason(data.get("finish_reason"), has_tools=bool(calls))
    out = chat_completion(
        req, id=str(data.get("id") or f"chatcmpl-{req.request_id}"),
        content="".join(text) if text or not calls else None, finish_reason=reason,
        usage=usage_of(data.get("usage")), tool_calls=calls or None,
        reasoning="\n\n".join(reasoning) or None)
    lp = logprobs_of(data.get("logprobs"))
    if lp is not None:
        out.data()["choices"][0]["logprobs"] = lp
    return out


def as_dict(v: Any) -> dict[str, Any]:
    """`v` if it is a JSON object, else {} (Cohere omits what it has nothing for)."""
    return v if isinstance(v, dict) else {}


def _message(data: dict[str, Any]) -> dict[str, Any]:
    """`delta.message` of an event ({} when absent)."""
    delta = data.get("delta")
    msg = delta.get("message") if isinstance(delta, dict) else None
    return msg if isinstance(msg, dict) else {}


class CohereStreamDecoder:
    """One Cohere v2 chat stream -> OpenAI chunks (see the module docstring)."""

    __slots__ = ("_args", "_current", "_ended", "_open", "_seq", "_writer", "usage")

    def __init__(self, req: GatewayRequest) -> None:
        self._writer = ChunkWriter(req, f"chatcmpl-{req.request_id}")
        self.usage: Usage | None = None
        self._open: dict[Any, int] = {}  # Cohere's tool-call index -> our tool-call key
        self._seq = 0
        self._current: int | None = None
        self._args: set[int] = set()  # tool calls that have had argument text
        self._ended = False

    def feed(self, event: bytes, name: str | None = None) -> list[Chunk]:
        if not event or event == b"[DONE]" or self._ended:
            return []
        try:
            data = orjson.loads(event)
        except orjson.JSONDecodeError:
            raise ProviderError("cohere sent a stream event that is not JSON",
                                upstream_status=502, provider="cohere") from None
        if not isinstance(data, dict):
            return []
        kind = data.get("type") or name
        w = self._writer
        if kind == "message-start":
            if isinstance(data.get("id"), str):
                w.set_id(data["id"])
            return w.start()
        if kind in ("content-start", "content-delta"):
            return self._content(data)
        if kind == "tool-plan-delta":
            plan = _message(data).get("tool_plan")
            return w.reasoning(plan if isinstance(plan, str) else "")
        if kind == "tool-call-start":
            return self._tool_start(data)
        if kind == "tool-call-delta":
            return self._tool_delta(data)
        if kind == "tool-call-end":
            return self._no_args(self._open.get(data.get("index"), self._current))
        if kind == "message-end":
            return self._end(data)
        return []  # content-end, citation-start/end, debug

    def _content(self, data: dict[str, Any]) -> list[Chunk]:
        content = _message(data).get("content")
        if not isinstance(content, dict):
            return self._writer.start()
        thinking = content.get("thinking")
        if isinstance(thinking, str) and thinking:
            return self._writer.reasoning(thinking)
        text = content.get("text")
        out = self._writer.text(text if isinstance(text, str) else "")
        lp = logprobs_of(data.get("logprobs"))
        if lp is not None and out and out[-1].data is not None and "content" in \
                out[-1].data["choices"][0]["delta"]:
            out[-1].data["choices"][0]["logprobs"] = lp
        return out

    def _tool_start(self, data: dict[str, Any]) -> list[Chunk]:
        call = _message(data).get("tool_calls")
        if isinstance(call, list):  # the documented shape is an object; tolerate a list of one
            call = call[0] if call else None
        if not isinstance(call, dict):
            return self._writer.start()
        fn = as_dict(call.get("function"))
        key = self._current = self._seq
        self._seq += 1
        self._open[data.get("index")] = key
        args = fn["arguments"] if isinstance(fn.get("arguments"), str) else ""
        if args:
            self._args.add(key)
        return self._writer.tool_call(key, id=str(call.get("id") or "") or None,
                                      name=str(fn.get("name") or ""), arguments=args)

    def _tool_delta(self, data: dict[str, Any]) -> list[Chunk]:
        call = _message(data).get("tool_calls")
        if isinstance(call, list):
            call = call[0] if call else None
        fn = call.get("function") if isinstance(call, dict) else None
        args = fn.get("arguments") if isinstance(fn, dict) else None
        key = self._open.get(data.get("index"), self._current)
        if key is None or not isinstance(args, str) or not args:
            return []
        self._args.add(key)
        return self._writer.tool_call(key, arguments=args)

    def _no_args(self, key: int | None) -> list[Chunk]:
        """A call to a function without parameters streams no argument text; OpenAI clients
        parse the joined fragments as JSON, so give them `{}` as OpenAI itself sends."""
        if key is None or key in self._args:
            return []
        self._args.add(key)
        return self._writer.tool_call(key, arguments="{}")

    def _end(self, data: dict[str, Any]) -> list[Chunk]:
        delta = as_dict(data.get("delta"))
        reason = finish_reason(delta.get("finish_reason"), delta.get("error"),
                               has_tools=self._writer.has_tool_calls)
        self.usage = usage_of(delta.get("usage"))
        self._ended = True
        out = [c for key in range(self._seq) for c in self._no_args(key)]
        return out + self._writer.finish(reason) + self._writer.end(self.usage)

    def flush(self) -> list[Chunk]:
        if not self._ended:
            # Without message-end the answer may be cut short: say so rather than finish it.
            raise ProviderError("the cohere stream ended before its message-end event",
                                upstream_status=502, provider="cohere")
        return []
