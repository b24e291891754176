"""Mock OpenAI, Azure OpenAI and Groq upstreams for pllm's end-to-end tests.

`MockUpstream` is a real HTTP server (aiohttp, own thread and event loop, 127.0.0.1, free port) that
speaks one provider's wire format (bodies built in openai_payloads.py), checks the API key the way the
provider does, rejects malformed requests like the real API, and records every request it receives.
`Fault` scripts misbehaviour for the next matching request: error statuses with the providers' real
bodies and headers, delays, stalls, slow streams, dropped connections and streams cut short.

    with MockUpstream("openai") as upstream:
        upstream.enqueue(Fault.rate_limit(retry_after=7))
        ...  # point the gateway at upstream.url, then inspect upstream.requests
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from . import openai_payloads as p
from .base import MockServer
from .openai_payloads import Json, Profile, Rejection

__all__ = ["Fault", "MockUpstream", "Recorded"]

_SUFFIX = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
    "models": "/models",
    "model": "/models/(?P<model>.+)",
}
_ID_PREFIX = {"chat": "chatcmpl", "completions": "cmpl", "embeddings": "emb"}
_Route = tuple[str, dict[str, str]]  # operation name, path parameters


def _routes(prefix: str, ops: str) -> list[tuple[str, str, re.Pattern[str]]]:
    """(method, operation, path pattern) for each operation served under `prefix`."""
    return [
        ("GET" if op.startswith("model") else "POST", op, re.compile(prefix + _SUFFIX[op]))
        for op in ops.split()
    ]


_ROUTES: dict[Profile, list[tuple[str, str, re.Pattern[str]]]] = {
    "openai": _routes("/v1", "chat completions embeddings models model"),
    "azure": _routes("/openai/deployments/(?P<deployment>[^/]+)", "chat completions embeddings")
    + _routes("/openai/v1", "chat completions embeddings"),
    "groq": _routes("/openai/v1", "chat models model"),
}


@dataclass(frozen=True)
class Recorded:
    """One request as the mock received it. Header names are lower-cased."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any
    deployment: str | None  # Azure: the path's deployment, or the body's model on /openai/v1 routes


@dataclass(frozen=True)
class Fault:
    """Scripted behaviour for the next request whose path contains `path_contains` (any path if None).

    - `status` (+ `body`, a dict sent as JSON or raw bytes, and `headers` added to the provider's usual
      ones): answer with this instead of the normal reply.
    - `delay_s`: send nothing at all for this long, then answer.
    - `stall_s`: send the status line and headers at once, then hold the first body byte this long.
    - `chunk_delay_s`: pause between SSE events (lets a test see incremental delivery).
    - `disconnect`: close the connection without any response.
    - `die_mid_stream=K`: send the headers and the first K body parts (SSE events; a JSON body is one
      part), then close the connection, so no [DONE] arrives.
    """

    status: int | None = None
    body: Json | bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    stall_s: float = 0.0
    chunk_delay_s: float = 0.0
    disconnect: bool = False
    die_mid_stream: int | None = None
    path_contains: str | None = None

    def matches(self, path: str) -> bool:
        return self.path_contains is None or self.path_contains in path

    @classmethod
    def rate_limit(
        cls, retry_after: int = 7, *, profile: Profile = "openai", path_contains: str | None = None
    ) -> Fault:
        """429 with the profile's real body, `retry-after` (Azure also `retry-after-ms`) and x-ratelimit-*."""
        headers = {"retry-after": str(retry_after)}
        if profile == "azure":
            body = p.azure_error(
                "429",
                "Requests to the ChatCompletions_Create Operation under Azure "
                "OpenAI API version 2024-10-21 have exceeded token rate limit of "
                "your current OpenAI S0 pricing tier. Please retry after "
                f"{retry_after} seconds. Please go here: "
                "https://aka.ms/oai/quotaincrease if you would like to further "
                "increase the default rate limit.",
            )
            headers |= {
                "retry-after-ms": str(retry_after * 1000),
                "x-ratelimit-remaining-tokens": "0",
            }
        elif profile == "groq":
            body = p.error(
                profile,
                "Rate limit reached for model `llama-3.3-70b-versatile` in organization "
                "`org_mock` service tier `on_demand` on tokens per minute (TPM): Limit "
                f"6000, Used 5800, Requested 400. Please try again in {retry_after}s. "
                "Visit https://console.groq.com/docs/rate-limits for more information.",
                kind="tokens",
                code="rate_limit_exceeded",
            )
            headers |= {
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": f"{retry_after}s",
            }
        else:
            body = p.error(
                profile,
                "Rate limit reached for gpt-4o-mini in organization org-mock on requests "
                "per min (RPM): Limit 500, Used 500, Requested 1. Please try again in "
                f"{retry_after}s. Visit https://platform.openai.com/account/rate-limits "
                "to learn more.",
                kind="requests",
                code="rate_limit_exceeded",
            )
            headers |= {
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": f"{retry_after}s",
            }
        return cls(status=429, body=body, headers=headers, path_contains=path_contains)

    @classmethod
    def context_length(cls, *, path_contains: str | None = None) -> Fault:
        """400 context_length_exceeded (OpenAI's body; Azure sends the same)."""
        body = p.error(
            "openai",
            "This model's maximum context length is 16385 tokens. However, your "
            "messages resulted in 16468 tokens. Please reduce the length of the "
            "messages.",
            param="messages",
            code="context_length_exceeded",
        )
        return cls(status=400, body=body, path_contains=path_contains)

    @classmethod
    def server_error(cls, *, path_contains: str | None = None) -> Fault:
        """500 server_error."""
        body = p.error(
            "openai",
            "The server had an error while processing your request. Sorry about that!",
            kind="server_error",
        )
        return cls(status=500, body=body, path_contains=path_contains)

    @classmethod
    def overloaded(cls, *, path_contains: str | None = None) -> Fault:
        """503 "model is currently overloaded"."""
        body = p.error(
            "openai",
            "That model is currently overloaded with other requests. You can retry your "
            "request, or contact us through our help center at help.openai.com if the "
            "error persists.",
            kind="server_error",
        )
        return cls(status=503, body=body, path_contains=path_contains)

    @classmethod
    def tool_use_failed(cls, *, path_contains: str | None = None) -> Fault:
        """Groq's 400 tool_use_failed with `failed_generation`."""
        body = p.error(
            "groq",
            "Failed to call a function. Please adjust your prompt. See "
            "'failed_generation' for more details.",
            code="tool_use_failed",
        )
        body["error"]["failed_generation"] = '<function=get_weather>"location": "Paris"}</function>'
        return cls(status=400, body=body, path_contains=path_contains)

    @classmethod
    def content_filter(cls, *, path_contains: str | None = None) -> Fault:
        """Azure's 400 for a prompt its content filter blocked (with `innererror`)."""
        body = {
            "error": {
                "message": "The response was filtered due to the prompt triggering Azure OpenAI's content "
                "management policy. Please modify your prompt and retry.",
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": {
                        **p.SAFE_FILTER,
                        "violence": {"filtered": True, "severity": "medium"},
                    },
                },
            }
        }
        return cls(status=400, body=body, path_contains=path_contains)


_NO_FAULT = Fault()


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: CIMultiDict[str]
    parts: list[bytes]
    stream: bool


class MockUpstream(MockServer[Recorded, Fault]):
    """A local OpenAI / Azure OpenAI / Groq server; see the module docstring. Thread-safe."""

    def __init__(
        self, profile: Profile, api_key: str = "sk-upstream-test", api_version_required: bool = True
    ) -> None:
        super().__init__(f"mock-{profile}")
        self.profile: Profile = profile
        self.api_key = api_key
        self.api_version_required = api_version_required
        self._aborted = 0

    @property
    def aborted(self) -> int:
        """Replies the client hung up on before the last byte (a cancelled stream counts)."""
        with self._lock:
            return self._aborted

    def _take_fault(self, path: str) -> Fault:
        fault = self._pop_fault(path)
        return _NO_FAULT if fault is None else fault

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        parsed = _parse_json(raw)
        route = self._route(request)
        self._record(request, raw, parsed, route)
        fault = _NO_FAULT
        try:
            self._authorize(request)
            fault = self._take_fault(request.path)
            await asyncio.sleep(fault.delay_s)
            if fault.disconnect:
                _hang_up(request)
                return web.Response()
            if fault.status is not None:
                reply = self._scripted(fault)
            else:
                reply = self._answer(request, route, parsed)
        except Rejection as rejection:
            reply = self._json(rejection.status, rejection.body)
        response, finished = await _emit(request, reply, fault)
        if not finished:
            with self._lock:
                self._aborted += 1
        return response

    def _route(self, request: web.Request) -> _Route | None:
        for method, op, pattern in _ROUTES[self.profile]:
            match = pattern.fullmatch(request.path)
            if match and request.method == method:
                return op, match.groupdict()
        return None

    def _record(self, request: web.Request, raw: bytes, parsed: Any, route: _Route | None) -> None:
        deployment = None
        if self.profile == "azure" and route is not None:
            from_body = parsed.get("model") if isinstance(parsed, dict) else None
            deployment = route[1].get("deployment") or from_body
        recorded = Recorded(
            request.method,
            request.path,
            dict(request.query),
            {k.lower(): v for k, v in request.headers.items()},
            raw,
            parsed,
            deployment,
        )
        with self._lock:
            self._requests.append(recorded)

    def _authorize(self, request: web.Request) -> None:
        """openai/groq: `Authorization: Bearer`; azure: `api-key` (Bearer too on /openai/v1 routes)."""
        auth = request.headers.get("Authorization")
        bearer = auth.removeprefix("Bearer ") if auth is not None else None
        offered = [bearer]
        if self.profile == "azure":
            v1_route = request.path.startswith("/openai/v1/")
            offered = [request.headers.get("api-key"), *(offered if v1_route else [])]
        if self.api_key not in offered:
            presented = next((key for key in offered if key is not None), None)
            raise Rejection(401, p.unauthorized(self.profile, presented))

    def _answer(self, request: web.Request, route: _Route | None, parsed: Any) -> _Reply:
        """The provider's normal reply to a request that passed auth and carries no fault."""
        if route is None:
            raise p.unknown_url(self.profile, request.method, request.path)
        op, params = route
        if op == "models":
            return self._json(200, p.model_list(self.profile))
        if op == "model":
            return self._json(200, p.model_card(self.profile, params["model"]))
        classic = "deployment" in params
        if classic and self.api_version_required:
            p.check_api_version(request.query.get("api-version"))
        body = p.check_body(self.profile, parsed)
        p.check_request(self.profile, op, body, model_required=not classic)
        stamp = p.new_stamp(self.profile, body, op, _ID_PREFIX[op])
        if op == "embeddings":
            return self._json(200, p.embeddings(self.profile, body, stamp))
        whole, chunks = {
            "chat": (p.chat_completion, p.chat_chunks),
            "completions": (p.text_completion, p.completion_chunks),
        }[op]
        if body.get("stream") is True:
            return self._sse(chunks(self.profile, body, stamp))
        return self._json(200, whole(self.profile, body, stamp))

    def _scripted(self, fault: Fault) -> _Reply:
        body = (
            fault.body
            if fault.body is None or isinstance(fault.body, bytes)
            else orjson.dumps(fault.body)
        )
        headers = self._headers("application/json")
        headers.update(fault.headers)
        return _Reply(fault.status or 200, headers, [body or b""], stream=False)

    def _json(self, status: int, body: Json) -> _Reply:
        return _Reply(status, self._headers("application/json"), [orjson.dumps(body)], stream=False)

    def _sse(self, chunks: list[Json]) -> _Reply:
        parts = [b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks] + [
            b"data: [DONE]\n\n"
        ]
        return _Reply(200, self._headers("text/event-stream; charset=utf-8"), parts, stream=True)

    def _headers(self, content_type: str) -> CIMultiDict[str]:
        headers = CIMultiDict(p.base_headers(self.profile))
        headers["Content-Type"] = content_type
        return headers


def _parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


def _hang_up(request: web.Request) -> None:
    """Close the client connection (buffered bytes are still flushed, then FIN)."""
    if request.transport is not None:
        request.transport.close()


async def _emit(
    request: web.Request, reply: _Reply, fault: Fault
) -> tuple[web.StreamResponse, bool]:
    """Send a reply part by part (one write, hence one flush, per SSE event), applying the fault's
    timing; also says whether the client stayed to the end."""
    response = web.StreamResponse(status=reply.status, headers=reply.headers)
    if not reply.stream:
        response.content_length = sum(map(len, reply.parts))
    try:
        await response.prepare(request)
        await asyncio.sleep(fault.stall_s)
        for index, part in enumerate(reply.parts):
            if index == fault.die_mid_stream:
                _hang_up(request)
                return response, True
            if index:
                await asyncio.sleep(fault.chunk_delay_s)
            await response.write(part)
        await response.write_eof()
    except ConnectionError:  # the client went away; nothing left to do
        return response, False
    return response, True
