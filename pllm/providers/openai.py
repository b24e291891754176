"""OpenAI and every server that speaks its wire format (Groq, vLLM, Ollama's /v1, OpenRouter, ...).

The fast path of the gateway: requests are forwarded byte for byte unless something must change
(the model name, deployment defaults, a usage request for streams, a parameter the provider
rejects), and answers are passed through unparsed. Streams are framed per event only to read the
usage numbers, drop events a client should not see, and notice in-band errors.
"""

from __future__ import annotations

from typing import Any

import orjson

from pllm.config.model import Deployment
from pllm.errors import DeploymentError, ProviderError, UnsupportedParam
from pllm.providers.base import Target, UpstreamRequest, UpstreamResponse
from pllm.providers.errors import error_from_body
from pllm.providers.relay import encode_chunks
from pllm.schema import Chunk, Completion, Endpoint, GatewayRequest, Usage
from pllm.sse import SSEDecoder, normalize_newlines

__all__ = ["ENDPOINT_PATHS", "OpenAICompatible", "OpenAIRelay", "OpenAIStreamDecoder"]

ENDPOINT_PATHS: dict[Endpoint, str] = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
}
_ALL: frozenset[Endpoint] = frozenset(ENDPOINT_PATHS)


class OpenAICompatible:
    """One OpenAI-format provider. Instances differ only in data (see `registry.py`)."""

    def __init__(
        self,
        name: str,
        default_base: str = "",
        *,
        endpoints: frozenset[Endpoint] = _ALL,
        stream_usage: bool = True,
        unsupported: frozenset[str] = frozenset(),
        model_prefix: str = "",
        base_suffix: str = "",
    ) -> None:
        self.name = name
        self.default_base = default_base
        self.endpoints = endpoints
        self.stream_usage = stream_usage
        """Ask for `stream_options.include_usage` even when the client did not."""
        self.unsupported = unsupported
        self.model_prefix = model_prefix
        self.base_suffix = base_suffix
        """Appended to an api_base that lacks it (Ollama's `/v1`, as LiteLLM users write the
        bare host)."""

    # -- request ----------------------------------------------------------------------------
    def prepare(self, dep: Deployment) -> Target:
        base = (dep.api_base or self.default_base).rstrip("/")
        if not base:
            raise DeploymentError(f"provider '{self.name}' needs api_base (the URL that ends "
                                  "before /chat/completions)")
        if self.base_suffix and not base.endswith(self.base_suffix):
            base += self.base_suffix
        headers = {"content-type": "application/json"}
        if dep.api_key:
            headers["authorization"] = f"Bearer {dep.api_key.value}"
        if dep.organization:
            headers["openai-organization"] = dep.organization
        headers.update(dep.extra_headers)
        return Target(dep, self, base, headers)

    def build_request(self, req: GatewayRequest, target: Target, model: str) -> UpstreamRequest:
        url = target.base_url + ENDPOINT_PATHS[req.endpoint]
        if target.query:
            url += "?" + target.query
        body = self.request_body(req, target.deployment, self.model_prefix + model)
        return UpstreamRequest("POST", url, target.headers, body, stream=req.stream)

    def request_body(self, req: GatewayRequest, dep: Deployment, model: str, *,
                     stream_usage: bool | None = None) -> bytes:
        src = req.body
        if stream_usage is None:
            stream_usage = self.stream_usage
        changes: dict[str, Any] = {}
        if src.get("model") != model:
            changes["model"] = model
        for key, value in dep.defaults.items():
            if key not in src:
                changes[key] = value
        if req.stream and stream_usage and not req.include_usage:
            opts = src.get("stream_options")
            changes["stream_options"] = {**(opts if isinstance(opts, dict) else {}),
                                         "include_usage": True}
        drops = self._unsupported(src, dep)
        if not changes and not drops:
            return req.raw
        body = {**src, **changes}
        for key in drops:
            body.pop(key, None)
        return orjson.dumps(body)

    def _unsupported(self, body: dict[str, Any], dep: Deployment) -> list[str]:
        found = [p for p in self.unsupported if p in body and body[p] is not None]
        if "n" in self.unsupported and body.get("n") == 1:
            found.remove("n")  # n=1 is every provider's default
        if found and not dep.drop_params:
            raise UnsupportedParam(
                f"{self.name} does not support the parameter '{found[0]}'; remove it, or set "
                "drop_params: true to have pllm drop it", param=found[0])
        return found

    # -- response ---------------------------------------------------------------------------
    def parse_response(self, req: GatewayRequest, resp: UpstreamResponse) -> Completion:
        return Completion(raw=resp.body)

    def parse_error(self, resp: UpstreamResponse) -> ProviderError:
        return error_from_body(self.name, resp.status, resp.headers, resp.body)

    def stream_relay(self, req: GatewayRequest, target: Target) -> OpenAIRelay:
        return OpenAIRelay(self.name, client_wants_usage=req.include_usage)


# Events holding one of these need the decoder; all others are forwarded byte for byte.
_SPECIAL = (b"[DONE]", b'"choices":[]', b'"choices": []', b'"usage":{', b'"usage": {',
            b'"error"')
# Framing the fast path does not handle (named events): decode every event.
_UNUSUAL = (b"event:",)


class OpenAIRelay:
    """Relays an OpenAI-format SSE stream. Runs of plain content events are forwarded as received
    (no parsing, no re-encoding); only the few events that carry usage, an error or `[DONE]`
    (found with a handful of byte searches per network read) go through the decoder below."""

    __slots__ = ("_buf", "_events")

    def __init__(self, provider: str, *, client_wants_usage: bool) -> None:
        self._events = OpenAIStreamDecoder(provider, client_wants_usage=client_wants_usage)
        self._buf = b""

    @property
    def usage(self) -> Usage | None:
        return self._events.usage

    def feed(self, data: bytes) -> bytes:
        buf = self._buf + data if self._buf else data
        if b"\r" in buf:
            buf = normalize_newlines(buf)
        end = buf.rfind(b"\n\n")
        if end < 0:
            self._buf = buf
            return b""
        region, self._buf = buf[:end + 2], buf[end + 2:]
        if not region.startswith(b"data: ") or any(m in region for m in _UNUSUAL):
            return self._decode(region)
        if self._events.first is None:
            self._events.first = region[6:region.find(b"\n\n")]
        return self._relay(region)

    def flush(self) -> bytes:
        rest, self._buf = self._buf, b""
        out = self._decode(rest + b"\n\n") if rest.strip() else b""
        return out + encode_chunks(self._events.flush())

    def _relay(self, region: bytes) -> bytes:
        spans: list[tuple[int, int]] = []
        for marker in _SPECIAL:
            i = region.find(marker)
            while i >= 0:
                start = region.rfind(b"\n\n", 0, i)
                start = 0 if start < 0 else start + 2
                stop = region.find(b"\n\n", i) + 2
                spans.append((start, stop))
                i = region.find(marker, stop)
        if not spans:
            return region
        out: list[bytes] = []
        pos = 0
        for start, stop in sorted(spans):
            if start < pos:
                continue  # the same event holds two markers
            out.append(region[pos:start])
            out.append(self._decode(region[start:stop]))
            pos = stop
        out.append(region[pos:])
        return b"".join(out)

    def _decode(self, region: bytes) -> bytes:
        framer = SSEDecoder()
        chunks: list[Chunk] = []
        for ev in framer.feed(region) + framer.flush():
            chunks.extend(self._events.feed(ev.data, ev.event))
        return encode_chunks(chunks)


class OpenAIStreamDecoder:
    """OpenAI-format SSE payloads in, the same payloads out, minus what the client must not see.

    Drops: `[DONE]` (the server writes its own), chunks with no choices and no usage (Azure's
    leading prompt_filter_results), and the usage chunk when only the gateway asked for it.
    Reads usage from the usage chunk or Groq's `x_groq.usage`, and synthesises the usage chunk
    for a client that asked when the provider only reported it Groq's way.
    """

    __slots__ = ("_provider", "_usage_sent", "_wants_usage", "first", "usage")

    def __init__(self, provider: str, *, client_wants_usage: bool) -> None:
        self._provider = provider
        self._wants_usage = client_wants_usage
        self._usage_sent = False
        self.first: bytes | None = None
        """The first event, kept to give a synthesised usage chunk the stream's id and model."""
        self.usage: Usage | None = None

    def feed(self, event: bytes, name: str | None = None) -> list[Chunk]:
        if event == b"[DONE]" or not event:
            return []
        if event.startswith(b'{"error"'):
            raise self._in_band_error(event)
        has_usage = b'"usage":{' in event or b'"usage": {' in event
        if b'"choices":[]' in event or b'"choices": []' in event:
            if not has_usage:
                return []
            self._read_usage(event)
            if not self._wants_usage:
                return []
            self._usage_sent = True
            return [Chunk(raw=event)]
        if self.first is None:
            self.first = event
        if has_usage:
            self._read_usage(event)
        return [Chunk(raw=event)]

    def flush(self) -> list[Chunk]:
        if not self._wants_usage or self._usage_sent or self.usage is None:
            return []
        head = _loads(self.first or b"{}")
        data = {
            "id": head.get("id", ""), "object": "chat.completion.chunk",
            "created": head.get("created", 0), "model": head.get("model", ""),
            "choices": [], "usage": self.usage.to_openai(),
        }
        self._usage_sent = True
        return [Chunk(data=data)]

    def _read_usage(self, event: bytes) -> None:
        data = _loads(event)
        usage = data.get("usage")
        if not isinstance(usage, dict):
            xg = data.get("x_groq")
            usage = xg.get("usage") if isinstance(xg, dict) else None
        found = Usage.from_openai(usage)
        if found is not None:
            self.usage = found

    def _in_band_error(self, event: bytes) -> ProviderError:
        err = _loads(event).get("error")
        err = err if isinstance(err, dict) else {"message": str(err)}
        return ProviderError(
            str(err.get("message") or f"{self._provider} stream failed"),
            upstream_status=500, provider=self._provider, error_type=err.get("type"),
            code=err.get("code") if isinstance(err.get("code"), str) else None,
        )


def _loads(raw: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
