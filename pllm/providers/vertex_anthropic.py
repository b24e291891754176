"""Claude on Vertex AI (`vertex_ai/claude-...`): Anthropic's Messages format through Vertex's
`rawPredict` / `streamRawPredict`, authenticated with Google OAuth2 tokens.

    POST {origin}/v1/projects/{project}/locations/{location}
         /publishers/anthropic/models/{model}:rawPredict
    POST ...:streamRawPredict   (when streaming)

The body is the Anthropic request from `anthropic.anthropic_body` without `model` (it is in the
URL) and with `"anthropic_version": "vertex-2023-10-16"` (the anthropic SDK's Vertex client);
no `x-api-key`, no `anthropic-version` header. Answers and streams are Anthropic's; errors are
Anthropic-shaped from the model and Google RPC-shaped from Vertex's front end (auth, quota), so
both are read. Project, location, credentials and `api_base` work as for Gemini on Vertex.
"""

from __future__ import annotations

import orjson

from pllm.config.model import Deployment
from pllm.errors import InvalidRequest, ProviderError
from pllm.providers.anthropic import (
    AnthropicStreamDecoder,
    anthropic_body,
    completion_from_anthropic,
    error_from_anthropic,
)
from pllm.providers.base import Target, UpstreamRequest, UpstreamResponse
from pllm.providers.gemini import GoogleTarget, path_segment
from pllm.providers.gemini_response import error_of, loads
from pllm.providers.relay import EventRelay
from pllm.schema import Completion, Endpoint, GatewayRequest

__all__ = ["VERTEX_ANTHROPIC_VERSION", "VertexAnthropic"]

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"


class VertexAnthropic:
    name = "vertex_ai"
    endpoints: frozenset[Endpoint] = frozenset({"chat"})

    def __init__(self, google_target: GoogleTarget) -> None:
        self._google = google_target

    def prepare(self, dep: Deployment) -> Target:
        t = self._google
        return GoogleTarget(dep, self, t.base_url, t.headers, signer=t.signer)

    def build_request(self, req: GatewayRequest, target: Target, model: str) -> UpstreamRequest:
        if req.endpoint != "chat":
            raise InvalidRequest("Claude on Vertex AI serves chat only")
        body = anthropic_body(req, None, target.deployment, model_name=model)
        body["anthropic_version"] = VERTEX_ANTHROPIC_VERSION
        verb = "streamRawPredict" if req.stream else "rawPredict"
        url = f"{target.base_url}/publishers/anthropic/models/{path_segment(model)}:{verb}"
        signer = target.signer if isinstance(target, GoogleTarget) else None
        return UpstreamRequest("POST", url, target.headers, orjson.dumps(body),
                               stream=req.stream, signer=signer)

    def parse_response(self, req: GatewayRequest, resp: UpstreamResponse) -> Completion:
        data = loads(resp.body)
        if not isinstance(data, dict):
            raise ProviderError("Vertex AI answered with a body that is not a JSON object",
                                upstream_status=502, provider=self.name)
        return completion_from_anthropic(req, data)

    def parse_error(self, resp: UpstreamResponse) -> ProviderError:
        data = loads(resp.body)
        if isinstance(data, dict) and data.get("type") == "error":
            return error_from_anthropic(resp.status, resp.headers, resp.body)
        return error_of(resp.status, resp.headers, resp.body, self.name)

    def stream_relay(self, req: GatewayRequest, target: Target) -> EventRelay:
        return EventRelay(AnthropicStreamDecoder(req))
