"""The built-in mock provider (`mock/<name>`): a deterministic OpenAI-compatible upstream that
answers in-process, for `pllm serve --demo`, benchmarks and tests.

The translator is the OpenAI one; the "server" is `respond()` below, which the upstream layer
calls instead of the network (`mock://` URLs). It answers with the deployment's `mock_response`
or a reply built from the prompt, calls the first tool when tools are offered, honours `n`,
JSON mode, streaming with usage, legacy completions and embeddings. Token counts are real counts
of the texts under a simple word-and-punctuation tokenizer (documented in docs/providers.md).
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from pllm.config.model import Deployment
from pllm.providers.base import Target, UpstreamRequest
from pllm.providers.openai import ENDPOINT_PATHS, OpenAICompatible
from pllm.schema import GatewayRequest

__all__ = ["MockAnswer", "MockProvider", "count_tokens", "respond"]

_TOKEN = re.compile(r"\w+|[^\w\s]")
_PIECE = re.compile(r"\s*\S+")
_CREATED = 1_700_000_000


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


class MockProvider(OpenAICompatible):
    def __init__(self) -> None:
        super().__init__("mock", "mock://local")

    def prepare(self, dep: Deployment) -> Target:
        params = {k: str(v) for k, v in dep.params.items()
                  if k in ("mock_response", "mock_latency_ms", "mock_token_delay_ms")}
        return Target(dep, self, f"mock://{dep.id}", params)

    def build_request(self, req: GatewayRequest, target: Target, model: str) -> UpstreamRequest:
        url = target.base_url + ENDPOINT_PATHS[req.endpoint]
        body = self.request_body(req, target.deployment, model)
        return UpstreamRequest("POST", url, target.headers, body, stream=req.stream,
                               stream_format="local")


@dataclass(frozen=True, slots=True)
class MockAnswer:
    status: int
    body: bytes = b""
    events: tuple[bytes, ...] = ()
    """For streams: the SSE payloads, `[DONE]` last."""
    latency_s: float = 0.0
    token_delay_s: float = 0.0


def respond(path: str, settings: Mapping[str, str], body: bytes) -> MockAnswer:
    """Answer one request the way OpenAI would."""
    latency = float(settings.get("mock_latency_ms", 0) or 0) / 1000.0
    delay = float(settings.get("mock_token_delay_ms", 0) or 0) / 1000.0
    try:
        req = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _error(400, "the request body is not valid JSON")
    if not isinstance(req, dict):
        return _error(400, "the request body must be a JSON object")
    model = str(req.get("model", "mock"))
    if path.endswith("/embeddings"):
        return MockAnswer(200, orjson.dumps(_embeddings(req, model)), latency_s=latency)
    legacy = path.endswith("/completions") and not path.endswith("/chat/completions")
    texts = _prompt_texts(req, legacy)
    prompt_tokens = sum(count_tokens(t) for t in texts)
    n_given = req.get("n")
    n = n_given if isinstance(n_given, int) and n_given > 0 else 1
    fixed = settings.get("mock_response")
    call = None if legacy or fixed else _tool_call(req)
    reply = fixed if fixed is not None else _reply(req, texts)
    if req.get("stream"):
        events = _chat_stream(req, model, reply, call, n, prompt_tokens, legacy)
        return MockAnswer(200, events=events, latency_s=latency, token_delay_s=delay)
    out = _completion(model, reply, call, n, prompt_tokens, legacy)
    return MockAnswer(200, orjson.dumps(out), latency_s=latency)


def _error(status: int, message: str) -> MockAnswer:
    err = {"error": {"message": message, "type": "invalid_request_error", "param": None,
                     "code": None}}
    return MockAnswer(status, orjson.dumps(err))


def _prompt_texts(req: dict[str, Any], legacy: bool) -> list[str]:
    if legacy:
        prompt = req.get("prompt", "")
        return [p for p in (prompt if isinstance(prompt, list) else [prompt])
                if isinstance(p, str)]
    out = []
    for m in req.get("messages") or []:
        if isinstance(m, dict):
            out.append(_text(m.get("content")))
    return out


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content
                        if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _reply(req: dict[str, Any], texts: list[str]) -> str:
    messages = [m for m in req.get("messages") or [] if isinstance(m, dict)]
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        reply = f"The tool returned: {_text(last.get('content'))[:200]}"
    else:
        asked = texts[-1] if texts else ""
        reply = f"This is a mock reply to: {asked[:200]}"
    rf = req.get("response_format")
    if isinstance(rf, dict) and rf.get("type") in ("json_object", "json_schema"):
        return orjson.dumps({"mock": True, "reply": reply}).decode()
    return reply


def _tool_call(req: dict[str, Any]) -> dict[str, Any] | None:
    tools = req.get("tools")
    messages = req.get("messages") or []
    if not isinstance(tools, list) or not tools or req.get("tool_choice") == "none":
        return None
    if not messages or not isinstance(messages[-1], dict) or messages[-1].get("role") != "user":
        return None
    fn = tools[0].get("function", {}) if isinstance(tools[0], dict) else {}
    props = (fn.get("parameters") or {}).get("properties") or {}
    args = {name: "mock" for name in props}
    name = str(fn.get("name", "tool"))
    digest = hashlib.sha256(orjson.dumps(messages)).hexdigest()[:24]
    return {"id": f"call_{digest}", "type": "function",
            "function": {"name": name, "arguments": orjson.dumps(args).decode()}}


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _completion(model: str, reply: str, call: dict[str, Any] | None, n: int,
                prompt_tokens: int, legacy: bool) -> dict[str, Any]:
    rid = "mock-" + hashlib.sha256(f"{model}{reply}".encode()).hexdigest()[:24]
    out_tokens = count_tokens(call["function"]["arguments"]) if call else count_tokens(reply)
    if legacy:
        choices: list[dict[str, Any]] = [
            {"text": reply, "index": i, "logprobs": None, "finish_reason": "stop"}
            for i in range(n)]
        obj = "text_completion"
    else:
        message: dict[str, Any] = {"role": "assistant", "content": None if call else reply,
                                   "refusal": None}
        if call:
            message["tool_calls"] = [call]
        finish = "tool_calls" if call else "stop"
        choices = [{"index": i, "message": message, "logprobs": None, "finish_reason": finish}
                   for i in range(n)]
        obj = "chat.completion"
    return {"id": rid, "object": obj, "created": _CREATED, "model": model, "choices": choices,
            "usage": _usage(prompt_tokens, out_tokens * n)}


def _chat_stream(req: dict[str, Any], model: str, reply: str, call: dict[str, Any] | None,
                 n: int, prompt_tokens: int, legacy: bool) -> tuple[bytes, ...]:
    rid = "mock-" + hashlib.sha256(f"{model}{reply}".encode()).hexdigest()[:24]
    opts = req.get("stream_options")
    with_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
    obj = "text_completion" if legacy else "chat.completion.chunk"
    head: dict[str, Any] = {"id": rid, "object": obj, "created": _CREATED, "model": model}
    if with_usage:
        head["usage"] = None

    def chunk(index: int, delta: dict[str, Any] | str, finish: str | None = None) -> bytes:
        if legacy:
            choice: dict[str, Any] = {"text": delta, "index": index, "logprobs": None,
                                      "finish_reason": finish}
        else:
            choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return orjson.dumps({**head, "choices": [choice]})

    events: list[bytes] = []
    pieces = [call["function"]["arguments"]] if call else _PIECE.findall(reply)
    for i in range(n):
        if not legacy:
            events.append(chunk(i, {"role": "assistant", "content": "", "refusal": None}))
        if call:
            first = {"index": 0, "id": call["id"], "type": "function",
                     "function": {"name": call["function"]["name"], "arguments": ""}}
            events.append(chunk(i, {"tool_calls": [first]}))
            events.extend(chunk(i, {"tool_calls": [{"index": 0, "function": {"arguments": p}}]})
                          for p in pieces)
        else:
            events.extend(chunk(i, p if legacy else {"content": p}) for p in pieces)
        events.append(chunk(i, "" if legacy else {}, "tool_calls" if call else "stop"))
    if with_usage:
        out_tokens = sum(count_tokens(p) for p in pieces) * n
        usage = {**head, "choices": [], "usage": _usage(prompt_tokens, out_tokens)}
        events.append(orjson.dumps(usage))
    events.append(b"[DONE]")
    return tuple(events)


def _embeddings(req: dict[str, Any], model: str) -> dict[str, Any]:
    raw = req.get("input", "")
    inputs = raw if isinstance(raw, list) else [raw]
    dims_given = req.get("dimensions")
    dims = dims_given if isinstance(dims_given, int) else 64
    as_b64 = req.get("encoding_format") == "base64"
    data = []
    tokens = 0
    for i, item in enumerate(inputs):
        text = item if isinstance(item, str) else orjson.dumps(item).decode()
        tokens += count_tokens(text) if isinstance(item, str) else len(item or [])
        vec = _vector(text, max(1, dims))
        emb: Any = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode() if as_b64 \
            else vec
        data.append({"object": "embedding", "index": i, "embedding": emb})
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _vector(text: str, dims: int) -> list[float]:
    out: list[float] = []
    counter = 0
    while len(out) < dims:
        block = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        out.extend((b - 127.5) / 127.5 for b in block)
        counter += 1
    vec = out[:dims]
    norm = sum(v * v for v in vec) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in vec]
