"""A mock Google Gemini upstream: the Gemini Developer API and Vertex AI on one local server.

`GeminiMock` is a real HTTP server (aiohttp, own thread and event loop, 127.0.0.1, free port):

    Gemini API  POST /{v1beta|v1}/models/{model}:{verb}            x-goog-api-key required
    Vertex AI   POST /{v1|v1beta1}/projects/{p}/locations/{l}/publishers/google/models/{model}:{verb}
                                                                   Authorization: Bearer <token
                                                                   a GoogleTokenServer issued>
    verbs: generateContent, streamGenerateContent (?alt=sse: SSE with CRLF separators, as the
    real API sends; without it a streamed JSON array), embedContent, batchEmbedContents
    (Gemini API), predict (Vertex)

Requests are checked the way the real API checks them (unknown fields, roles, one data member
per part, functionResponse objects, Gemini 3's thought signatures on replayed function calls)
and rejected with Google's RPC error envelope. Answers are deterministic, derived from the
request: "echo: <last user text>" (plus a note per image), a call to the first declared function
when tools are given and the last turn is user text, "tool said: ..." after a functionResponse,
thoughts when `includeThoughts`, `maxOutputTokens`/`stopSequences`/`candidateCount` honoured,
usage counted in words. Every request is recorded; `Fault`s script errors.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from .base import MockServer
from .google_token import GoogleTokenServer

__all__ = ["Fault", "GeminiMock", "Recorded", "mock_vector"]

_GEMINI_PATH = re.compile(r"/(?P<ver>v1beta|v1)/(?P<kind>models|tunedModels)/(?P<model>[^/:]+):(?P<verb>\w+)")
_VERTEX_PATH = re.compile(
    r"/(?P<ver>v1|v1beta1)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/publishers/google/models/(?P<model>[^/:]+):(?P<verb>\w+)")
_VERBS = {"gemini": {"generateContent", "streamGenerateContent", "embedContent",
                     "batchEmbedContents"},
          "vertex": {"generateContent", "streamGenerateContent", "embedContent", "predict"}}
_TOP_KEYS = {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig",
             "safetySettings", "cachedContent"}
_GEN_KEYS = {"temperature", "topP", "topK", "candidateCount", "maxOutputTokens", "stopSequences",
             "presencePenalty", "frequencyPenalty", "seed", "responseMimeType", "responseSchema",
             "responseJsonSchema", "responseLogprobs", "logprobs", "responseModalities",
             "thinkingConfig", "mediaResolution", "speechConfig", "imageConfig"}
_DATA_KEYS = {"text", "inlineData", "fileData", "functionCall", "functionResponse",
              "executableCode", "codeExecutionResult"}
_PART_FLAGS = {"thought", "thoughtSignature", "videoMetadata", "partMetadata"}
_TOOL_KEYS = {"functionDeclarations", "googleSearch", "googleSearchRetrieval", "codeExecution",
              "urlContext", "retrieval", "googleMaps", "enterpriseWebSearch", "computerUse",
              "fileSearch"}
SIGNATURE = "c2lnbmF0dXJlLW9mLXRoZS1tb2Nr"  # base64("signature-of-the-mock")
# Values that are the caller's own data, not protobuf messages: their keys stay as sent.
_FREE_FORM = {"args", "response", "parametersJsonSchema", "responseJsonSchema", "labels",
              "parameters", "responseSchema", "metadata"}


def _camel(value: Any) -> Any:
    """The request with lowerCamelCase field names: protobuf's JSON parser accepts the original
    snake_case names too (google-genai sends e.g. `parameters_json_schema` as is)."""
    if isinstance(value, list):
        return [_camel(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, v in value.items():
        head, *rest = key.split("_")
        name = head + "".join(w[:1].upper() + w[1:] for w in rest)
        out[name] = v if name in _FREE_FORM else _camel(v)
    return out


def mock_vector(text: str, dims: int = 8) -> list[float]:
    """The embedding the mock answers for `text`."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round((digest[i % 32] - 128) / 128, 6) for i in range(dims)]


def rpc_error(code: int, status: str, message: str,
              details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        err["details"] = details
    return {"error": err}


class Rejection(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def _invalid(message: str) -> Rejection:
    return Rejection(400, rpc_error(400, "INVALID_ARGUMENT", message))


@dataclass(frozen=True)
class Recorded:
    """One request as received (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any
    api: str | None  # "gemini" | "vertex" | None (no route)
    model: str | None
    verb: str | None
    project: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class Fault:
    """Scripted behaviour for the next request whose path contains `path_contains`.

    `status` + `body`: answer with that error instead. `safety`: "prompt" answers a 200 whose
    prompt was blocked (promptFeedback, no candidates), "answer" a candidate stopped by SAFETY.
    `error_after=K`: a stream sends K events, then an in-stream error event.
    """

    status: int | None = None
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    safety: str | None = None
    error_after: int | None = None
    path_contains: str | None = None

    @classmethod
    def rate_limit(cls, retry_delay: str = "37s", **kw: Any) -> Fault:
        """The Gemini API's 429 quota error with Help and RetryInfo details."""
        return cls(status=429, body=rpc_error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.", [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
            {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}]), **kw)

    @classmethod
    def context_length(cls, **kw: Any) -> Fault:
        return cls(status=400, body=rpc_error(400, "INVALID_ARGUMENT", "The input token count (1200345) exceeds the maximum number of tokens allowed (1048576)."), **kw)

    @classmethod
    def unavailable(cls, **kw: Any) -> Fault:
        return cls(status=503, body=rpc_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."), **kw)

    @classmethod
    def safety_block(cls, where: str = "prompt", **kw: Any) -> Fault:
        return cls(safety=where, **kw)

    @classmethod
    def error_mid_stream(cls, after: int = 1, **kw: Any) -> Fault:
        return cls(error_after=after, **kw)


_NO_FAULT = Fault()


class GeminiMock(MockServer[Recorded, Fault]):
    """See the module docstring. Thread-safe."""

    def __init__(self, api_key: str = "gemini-upstream-key",
                 tokens: GoogleTokenServer | None = None) -> None:
        super().__init__("mock-gemini")
        self.api_key = api_key
        self.tokens = tokens

    def _take_fault(self, path: str) -> Fault:
        fault = self._pop_fault(path)
        return _NO_FAULT if fault is None else fault

    # -- handling -------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            parsed = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            parsed = None
        route = self._route(request.path)
        api, params = route if route else (None, {})
        self._record(request, raw, parsed, api, params)
        try:
            if api is None or request.method != "POST" or params["verb"] not in _VERBS[api]:
                raise Rejection(404, rpc_error(404, "NOT_FOUND", f"The requested URL {request.path} was not found on this server."))
            self._authorize(request, api)
            if params["model"].startswith("unknown-"):
                raise Rejection(404, rpc_error(404, "NOT_FOUND", f"models/{params['model']} is not found for API version {params['ver']}, or is not supported for {params['verb']}. Call ListModels to see the list of available models and their supported methods."))
            if not isinstance(parsed, dict):
                raise _invalid("Invalid JSON payload received. Expected an object.")
            parsed = _camel(parsed)
            fault = self._take_fault(request.path)
            if fault.status is not None:
                return _json(fault.status, fault.body or {}, fault.headers)
            verb = params["verb"]
            if verb in ("embedContent", "batchEmbedContents", "predict"):
                return _json(200, _embeddings(api, verb, params["model"], parsed))
            _check_generate(api, params["model"], parsed)
            chunks = _generate(api, params["model"], parsed, fault.safety)
            if verb == "generateContent":
                return _json(200, _merge(chunks))
            return await _stream(request, chunks, fault.error_after,
                                 sse=request.query.get("alt") == "sse")
        except Rejection as r:
            return _json(r.status, r.body)

    @staticmethod
    def _route(path: str) -> tuple[str, dict[str, str]] | None:
        m = _VERTEX_PATH.fullmatch(path)
        if m:
            return "vertex", m.groupdict()
        m = _GEMINI_PATH.fullmatch(path)
        return ("gemini", m.groupdict()) if m else None

    def _record(self, request: web.Request, raw: bytes, parsed: Any, api: str | None,
                params: dict[str, str]) -> None:
        rec = Recorded(request.method, request.path, dict(request.query),
                       {k.lower(): v for k, v in request.headers.items()}, raw, parsed, api,
                       params.get("model"), params.get("verb"), params.get("project"),
                       params.get("location"))
        with self._lock:
            self._requests.append(rec)

    def _authorize(self, request: web.Request, api: str) -> None:
        if api == "gemini":
            key = request.headers.get("x-goog-api-key") or request.query.get("key")
            if not key:
                raise Rejection(403, rpc_error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."))
            if key != self.api_key:
                raise Rejection(400, rpc_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
                    {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
                    {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": "API key not valid. Please pass a valid API key."}]))
            return
        if self.tokens is None or not self.tokens.valid(request.headers.get("Authorization")):
            raise Rejection(401, rpc_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.", [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED", "domain": "googleapis.com", "metadata": {"service": "aiplatform.googleapis.com", "method": "google.cloud.aiplatform.v1.PredictionService.GenerateContent"}}]))


# -- request checks ---------------------------------------------------------------------------
def _check_generate(api: str, model: str, body: dict[str, Any]) -> None:
    allowed = _TOP_KEYS | ({"labels"} if api == "vertex" else set())
    for key in body:
        if key not in allowed:
            raise _invalid(f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.')
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise _invalid("* GenerateContentRequest.contents: contents is not specified\n")
    for i, content in enumerate(contents):
        role = content.get("role") if isinstance(content, dict) else None
        if role not in ("user", "model") and not (role is None and api == "gemini"):
            raise _invalid(f"Please use a valid role: user, model. (contents[{i}].role={role!r})")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise _invalid(f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n")
        for j, part in enumerate(parts):
            _check_part(part, f"contents[{i}].parts[{j}]")
        calls = [p for p in parts if "functionCall" in p]
        if "gemini-3" in model and role == "model" and calls and "thoughtSignature" not in calls[0]:
            raise _invalid(f"Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:{calls[0]['functionCall'].get('name')}` , position {i + 1}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.")
    system = body.get("systemInstruction")
    if system is not None and (not isinstance(system, dict) or not isinstance(system.get("parts"), list)):
        raise _invalid("Invalid value at 'system_instruction' (type.googleapis.com/google.ai.generativelanguage.v1beta.Content)")
    config = body.get("generationConfig") or {}
    for key in config:
        if key not in _GEN_KEYS:
            raise _invalid(f'Invalid JSON payload received. Unknown name "{key}" at \'generation_config\': Cannot find field.')
    for i, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or len(tool) != 1 or next(iter(tool)) not in _TOOL_KEYS:
            raise _invalid(f"* GenerateContentRequest.tools[{i}].tool_type: required one_of 'tool_type' must have one initialized field\n")
        for k, decl in enumerate(tool.get("functionDeclarations") or []):
            if not decl.get("name"):
                raise _invalid(f"* GenerateContentRequest.tools[{i}].function_declarations[{k}].name: Name cannot be empty.\n")
            if "parameters" in decl and "parametersJsonSchema" in decl:
                raise _invalid(f"* GenerateContentRequest.tools[{i}].function_declarations[{k}]: parameters and parameters_json_schema are mutually exclusive.\n")
    fcc = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    if fcc.get("mode", "AUTO") not in ("AUTO", "ANY", "NONE", "VALIDATED"):
        raise _invalid(f"Invalid value at 'tool_config.function_calling_config.mode' ({fcc.get('mode')})")


def _check_part(part: Any, where: str) -> None:
    if not isinstance(part, dict):
        raise _invalid(f"Invalid value at '{where}': expected an object")
    data = [k for k in part if k in _DATA_KEYS]
    unknown = [k for k in part if k not in _DATA_KEYS | _PART_FLAGS]
    if unknown:
        raise _invalid(f'Invalid JSON payload received. Unknown name "{unknown[0]}" at \'{where}\': Cannot find field.')
    if len(data) != 1:
        raise _invalid(f"* GenerateContentRequest.{where}.data: required oneof field 'data' must have one initialized field\n")
    if "inlineData" in part:
        inline = part["inlineData"]
        try:
            base64.b64decode(inline.get("data", ""), validate=True)
        except (binascii.Error, ValueError):
            raise _invalid(f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 decoding failed") from None
        if not inline.get("mimeType"):
            raise _invalid(f"* GenerateContentRequest.{where}.inline_data.mime_type: mime_type is not specified\n")
    if "fileData" in part and not part["fileData"].get("fileUri"):
        raise _invalid(f"* GenerateContentRequest.{where}.file_data.file_uri: file_uri is not specified\n")
    if "functionResponse" in part:
        fr = part["functionResponse"]
        if not fr.get("name"):
            raise _invalid(f"* GenerateContentRequest.{where}.function_response.name: Name cannot be empty.\n")
        if not isinstance(fr.get("response"), dict):
            raise _invalid(f"Invalid value at '{where}.function_response.response' (type.googleapis.com/google.protobuf.Struct), expected an object")
    if "functionCall" in part:
        fc = part["functionCall"]
        if not fc.get("name") or not isinstance(fc.get("args", {}), dict):
            raise _invalid(f"Invalid value at '{where}.function_call'")


# -- answers ----------------------------------------------------------------------------------
def _words(text: str) -> int:
    return len(text.split())


def _prompt_tokens(body: dict[str, Any]) -> int:
    total = 0
    turns = [*(body.get("contents") or []), body.get("systemInstruction") or {}]
    for content in turns:
        for part in content.get("parts") or []:
            total += _words(part["text"]) if "text" in part else 1
    return max(total, 1)


def _answer_text(body: dict[str, Any]) -> tuple[str, str | None, dict[str, Any] | None]:
    """(answer text, the user text it echoes, the function call to make instead)."""
    last = body["contents"][-1]
    parts = last["parts"]
    responses = [p["functionResponse"] for p in parts if "functionResponse" in p]
    if responses:
        said = [r["response"]["content"] if isinstance(r["response"].get("content"), str)
                else orjson.dumps(r["response"]).decode() for r in responses]
        return "tool said: " + "; ".join(said), None, None
    text = " ".join(p["text"] for p in parts if "text" in p)
    decls = [d for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []]
    fcc = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    if decls and text and fcc.get("mode", "AUTO") != "NONE" and last.get("role", "user") == "user":
        allowed = fcc.get("allowedFunctionNames") or [d["name"] for d in decls]
        decl = next(d for d in decls if d["name"] == allowed[0])
        schema = decl.get("parametersJsonSchema") or decl.get("parameters") or {}
        props = list((schema.get("properties") or {}).keys())
        return "", text, {"name": decl["name"], "args": {props[0]: text} if props else {}}
    notes = []
    for p in parts:
        if "inlineData" in p:
            size = len(base64.b64decode(p["inlineData"]["data"]))
            notes.append(f" [inline {p['inlineData']['mimeType']}, {size} bytes]")
        elif "fileData" in p:
            notes.append(f" [file {p['fileData'].get('mimeType')} {p['fileData']['fileUri']}]")
    config = body.get("generationConfig") or {}
    if config.get("responseMimeType") == "application/json":
        return orjson.dumps({"echo": text}).decode(), text, None
    return "echo: " + text + "".join(notes), text, None


def _generate(api: str, model: str, body: dict[str, Any], safety: str | None) -> list[dict[str, Any]]:
    """The answer as stream chunks (a whole answer is their merge)."""
    stamp: dict[str, Any] = {"modelVersion": model, "responseId": "mock-" + hashlib.sha256(orjson.dumps(body)).hexdigest()[:16]}
    if api == "vertex":
        stamp["createTime"] = "2026-03-10T14:54:45.066123Z"
    prompt = _prompt_tokens(body)
    partial = {"trafficType": "ON_DEMAND"} if api == "vertex" else {"promptTokenCount": prompt, "totalTokenCount": prompt}
    if safety == "prompt":
        return [{"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]},
                 "usageMetadata": {"promptTokenCount": prompt, "totalTokenCount": prompt}, **stamp}]
    config = body.get("generationConfig") or {}
    text, echoed, call = _answer_text(body)
    thinking = (config.get("thinkingConfig") or {}).get("includeThoughts") is True
    thought = f"Thinking about: {echoed or 'the tool result'}" if thinking else ""
    finish = "SAFETY" if safety == "answer" else "STOP"
    if safety == "answer":
        text = ""
    for stop in config.get("stopSequences") or []:
        if stop in text:
            text = text[:text.index(stop)]
    words = text.split(" ") if text else []
    limit = config.get("maxOutputTokens")
    if isinstance(limit, int) and len(words) > limit:
        words, finish = words[:limit], "MAX_TOKENS"
    n = config.get("candidateCount") or 1
    completion = len([w for w in words if w]) + (1 if call else 0)
    thoughts = _words(thought)
    usage = {"promptTokenCount": prompt, "candidatesTokenCount": completion * n,
             "totalTokenCount": prompt + completion * n + thoughts * n}
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts * n
    if api == "vertex":
        usage |= {"trafficType": "ON_DEMAND", "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]}
    gemini3 = "gemini-3" in model
    chunks: list[dict[str, Any]] = []

    def emit(parts_by_candidate: list[list[dict[str, Any]]], last: bool) -> None:
        cands = []
        for i, parts in enumerate(parts_by_candidate):
            cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": i}
            if last:
                cand["finishReason"] = finish
                if finish == "SAFETY":
                    cand["safetyRatings"] = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True}]
            cands.append(cand)
        chunks.append({"candidates": cands, "usageMetadata": usage if last else partial, **stamp})

    if thought:
        emit([[{"text": thought, "thought": True}] for _ in range(n)], False)
    if call:
        fc: dict[str, Any] = dict(call)
        part: dict[str, Any] = {"functionCall": fc}
        if gemini3:
            fc["id"] = "fc-" + hashlib.sha256(orjson.dumps(call)).hexdigest()[:8]
            part["thoughtSignature"] = SIGNATURE
        emit([[part] for _ in range(n)], True)
        return chunks
    pieces = [" ".join(words[i:i + 2]) + (" " if i + 2 < len(words) else "") for i in range(0, len(words), 2)]
    for k, piece in enumerate(pieces):
        emit([[{"text": piece + (f" ({i + 1})" if i and k == len(pieces) - 1 else "")}] for i in range(n)], False)
    closing: dict[str, Any] = {"text": ""}
    if gemini3:
        closing["thoughtSignature"] = SIGNATURE
    emit([[closing] for _ in range(n)], True)
    return chunks


def _merge(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """A whole response from its stream chunks: parts concatenated per candidate."""
    whole = {k: v for k, v in chunks[-1].items() if k != "candidates"}
    if "candidates" not in chunks[-1]:
        return whole
    cands: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for cand in chunk.get("candidates", []):
            into = cands.setdefault(cand["index"], {"content": {"role": "model", "parts": []}, "index": cand["index"]})
            for part in cand["content"]["parts"]:
                prev = into["content"]["parts"][-1] if into["content"]["parts"] else None
                if prev and "text" in part and "text" in prev and prev.get("thought") == part.get("thought"):
                    prev["text"] += part["text"]
                    if "thoughtSignature" in part:
                        prev["thoughtSignature"] = part["thoughtSignature"]
                elif part.get("text") != "" or "thoughtSignature" in part:
                    into["content"]["parts"].append(dict(part))
            into.update({k: v for k, v in cand.items() if k not in ("content", "index")})
    for cand in cands.values():
        if not cand["content"]["parts"]:
            del cand["content"]  # e.g. stopped by SAFETY before any text, as the real API answers
    whole["candidates"] = [cands[i] for i in sorted(cands)]
    return whole


def _embeddings(api: str, verb: str, model: str, body: dict[str, Any]) -> dict[str, Any]:
    def vec(content: Any, dims: Any) -> list[float]:
        parts = content.get("parts") if isinstance(content, dict) else None
        if not parts or not all(isinstance(p.get("text"), str) for p in parts):
            raise _invalid("* BatchEmbedContentsRequest.requests[].content.parts: text parts required\n")
        return mock_vector(" ".join(p["text"] for p in parts), dims or 8)

    if verb == "predict":
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances or not all(isinstance(i.get("content"), str) for i in instances):
            raise _invalid("Invalid instances: each instance needs a 'content' string.")
        dims = (body.get("parameters") or {}).get("outputDimensionality")
        return {"predictions": [{"embeddings": {"values": mock_vector(i["content"], dims or 8), "statistics": {"truncated": False, "token_count": _words(i["content"])}}} for i in instances],
                "metadata": {"billableCharacterCount": sum(len(i["content"]) for i in instances)}}
    if verb == "embedContent":
        cfg = body.get("embedContentConfig") or body
        return {"embedding": {"values": vec(body.get("content"), cfg.get("outputDimensionality"))}}
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise _invalid("* BatchEmbedContentsRequest.requests: requests is not specified\n")
    for i, r in enumerate(requests):
        if r.get("model") != f"models/{model}":
            raise _invalid(f"* BatchEmbedContentsRequest.requests[{i}].model: Model names should start with `models/` and match the request's model ({r.get('model')!r}).\n")
    return {"embeddings": [{"values": vec(r.get("content"), r.get("outputDimensionality"))} for r in requests]}


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json",
                        headers=headers or None)


async def _stream(request: web.Request, chunks: list[dict[str, Any]], error_after: int | None,
                  *, sse: bool) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream" if sse else "application/json; charset=UTF-8"})
    await response.prepare(request)
    if error_after is not None:
        chunks = [*chunks[:error_after], rpc_error(500, "INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting")]
    try:
        for i, chunk in enumerate(chunks):
            data = orjson.dumps(chunk)
            if sse:
                await response.write(b"data: " + data + b"\r\n\r\n")
            else:
                await response.write((b"[" if i == 0 else b",\r\n") + data)
        if not sse:
            await response.write(b"]")
        await response.write_eof()
    except ConnectionError:
        pass
    return response
