"""Google Gemini: the translator shared with Vertex AI (`GoogleGenAI`) and the Gemini Developer API
provider (`Gemini`, LiteLLM's `gemini/`).

Wire format as google-genai sends it (`_api_client.py`, `models.py`):
    POST {base}/{version}/models/{model}:generateContent
    POST {base}/{version}/models/{model}:streamGenerateContent?alt=sse
    POST {base}/{version}/models/{model}:batchEmbedContents
with `x-goog-api-key` (never the `?key=` query, which would put the key in URLs and logs).
`base` defaults to https://generativelanguage.googleapis.com and `api_base` replaces it the way
google-genai's `http_options.base_url` does (a path prefix on it is kept); `version` is v1beta
(google-genai's default) unless the deployment sets `api_version`.

Request translation lives in `gemini_format.py`, answers and errors in `gemini_response.py`,
streams in `gemini_stream.py`; this module adds URLs, auth and embeddings.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from pllm.config.model import Deployment
from pllm.errors import DeploymentError, InvalidRequest, ProviderError
from pllm.providers.base import (
    GoogleOAuth,
    Target,
    UpstreamRequest,
    UpstreamResponse,
)
from pllm.providers.chunks import embeddings_list
from pllm.providers.gemini_format import chat_body
from pllm.providers.gemini_response import completion_of, error_of, loads
from pllm.providers.gemini_stream import GeminiStreamDecoder
from pllm.providers.relay import EventRelay
from pllm.schema import Completion, Endpoint, GatewayRequest, Usage

__all__ = ["Gemini", "GoogleGenAI", "GoogleTarget", "embedding_dimensions", "embedding_inputs",
           "encode_vectors", "path_segment"]

GEMINI_BASE = "https://generativelanguage.googleapis.com"
_ENDPOINTS: frozenset[Endpoint] = frozenset({"chat", "embeddings"})


@dataclass(frozen=True, slots=True)
class GoogleTarget(Target):
    """A Target that also knows how to authenticate (Vertex's OAuth tokens)."""

    signer: GoogleOAuth | None = None


def path_segment(value: str) -> str:
    """A model, project or location name made safe for a URL path (sent as given)."""
    return quote(value, safe="@")


class GoogleGenAI:
    """What the Gemini API and Vertex AI share: the generateContent translation. Subclasses give
    `prepare`, `model_url` and the embeddings request/answer."""

    name = "gemini"
    endpoints: frozenset[Endpoint] = _ENDPOINTS
    vertex = False

    def prepare(self, dep: Deployment) -> Target:
        raise NotImplementedError

    def model_url(self, target: Target, model: str, verb: str) -> str:
        raise NotImplementedError

    def build_request(self, req: GatewayRequest, target: Target, model: str) -> UpstreamRequest:
        dep = target.deployment
        body = {**dep.defaults, **req.body} if dep.defaults else req.body
        if req.endpoint == "embeddings":
            verb, native = self.embeddings_request(body, model)
            url = self.model_url(target, model, verb)
            stream = False
        else:
            if req.endpoint != "chat":
                raise InvalidRequest(f"{self.name} serves chat and embeddings only")
            native = chat_body(body, model, provider=self.name, drop=dep.drop_params,
                               stream=req.stream, vertex=self.vertex)
            stream = req.stream
            url = self.model_url(target, model,
                                 "streamGenerateContent" if stream else "generateContent")
            if stream:
                url += "?alt=sse"
        signer = target.signer if isinstance(target, GoogleTarget) else None
        return UpstreamRequest("POST", url, target.headers, orjson.dumps(native), stream=stream,
                               signer=signer)

    def parse_response(self, req: GatewayRequest, resp: UpstreamResponse) -> Completion:
        if req.endpoint == "embeddings":
            vectors, usage = self.embeddings_answer(resp.body)
            return embeddings_list(req, encode_vectors(vectors, req.body), usage)
        return completion_of(req, resp.body)

    def parse_error(self, resp: UpstreamResponse) -> ProviderError:
        return error_of(resp.status, resp.headers, resp.body, self.name)

    def stream_relay(self, req: GatewayRequest, target: Target) -> EventRelay:
        return EventRelay(GeminiStreamDecoder(req, self.name))

    # -- embeddings (per API) -------------------------------------------------------------
    def embeddings_request(self, body: dict[str, Any], model: str) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def embeddings_answer(self, body: bytes) -> tuple[list[list[float]], Usage | None]:
        raise NotImplementedError


class Gemini(GoogleGenAI):
    """The Gemini Developer API (AI Studio keys)."""

    name = "gemini"

    def prepare(self, dep: Deployment) -> Target:
        if dep.api_key is None and not dep.api_base:
            raise DeploymentError("gemini needs api_key (or GEMINI_API_KEY in the environment)")
        base = (dep.api_base or GEMINI_BASE).rstrip("/")
        headers = {"content-type": "application/json"}
        if dep.api_key is not None:
            headers["x-goog-api-key"] = dep.api_key.value
        headers.update(dep.extra_headers)
        return GoogleTarget(dep, self, f"{base}/{dep.api_version or 'v1beta'}", headers)

    def model_url(self, target: Target, model: str, verb: str) -> str:
        return f"{target.base_url}/{_resource(model)}:{verb}"

    def embeddings_request(self, body: dict[str, Any], model: str) -> tuple[str, dict[str, Any]]:
        texts = embedding_inputs(body)
        resource = _resource(model)
        extra: dict[str, Any] = {}
        dims = embedding_dimensions(body)
        if dims is not None:
            extra["outputDimensionality"] = dims
        if isinstance(body.get("task_type"), str):
            extra["taskType"] = body["task_type"]
        requests = [{"model": resource, "content": {"parts": [{"text": t}]}, **extra}
                    for t in texts]
        return "batchEmbedContents", {"requests": requests}

    def embeddings_answer(self, body: bytes) -> tuple[list[list[float]], Usage | None]:
        data = loads(body)
        items = data.get("embeddings") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ProviderError("Gemini answered embeddings without 'embeddings'",
                                upstream_status=502, provider=self.name)
        vectors = [list(e.get("values") or []) if isinstance(e, dict) else [] for e in items]
        meta = data.get("usageMetadata") if isinstance(data, dict) else None
        tokens = meta.get("promptTokenCount") if isinstance(meta, dict) else None
        usage = Usage(prompt_tokens=tokens, total_tokens=tokens) \
            if isinstance(tokens, int) else None
        return vectors, usage


def _resource(model: str) -> str:
    """google-genai's `t_model` for the Gemini API: bare names live under `models/`."""
    if model.startswith(("models/", "tunedModels/")):
        kind, _, rest = model.partition("/")
        return f"{kind}/{path_segment(rest)}"
    return f"models/{path_segment(model)}"


def embedding_inputs(body: dict[str, Any]) -> list[str]:
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidRequest("Gemini embeddings take 'input' as a string or an array of strings "
                         "(token arrays are not supported)", param="input")


def embedding_dimensions(body: dict[str, Any]) -> int | None:
    dims = body.get("dimensions")
    if dims is None:
        return None
    if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
        raise InvalidRequest("dimensions must be a positive integer", param="dimensions")
    return dims


def encode_vectors(vectors: list[list[float]], body: dict[str, Any]) -> list[Any]:
    """Float lists, or OpenAI's base64 (little-endian float32) when the client asked for it."""
    fmt = body.get("encoding_format")
    if fmt in (None, "float"):
        return vectors
    if fmt != "base64":
        raise InvalidRequest("encoding_format must be 'float' or 'base64'",
                             param="encoding_format")
    return [base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() for v in vectors]
