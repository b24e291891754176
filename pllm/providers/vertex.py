"""Google Vertex AI (LiteLLM's `vertex_ai/`): Gemini models through the Gemini translator in
`gemini.py`, with Vertex's URLs, OAuth2 tokens and embeddings; Claude models (`claude-*`)
through `vertex_anthropic.py` (rawPredict).

    POST {origin}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:{verb}
    verb: generateContent | streamGenerateContent?alt=sse | predict (embeddings)
    numeric model names (deployed, e.g. tuned, endpoints): .../endpoints/{id}:{verb}

`origin` is https://{location}-aiplatform.googleapis.com; `global` uses aiplatform.googleapis.com
and the multi-regions `us`/`eu` use aiplatform.{us|eu}.rep.googleapis.com (google-genai's
`_api_client.py`). `api_base` replaces the origin, as google-genai's `http_options.base_url`
does. The version is v1 (GA) unless the deployment sets `api_version` (google-genai uses
v1beta1). Tokens come from `vertex_credentials` (a service-account JSON, inline or a file path)
or Application Default Credentials: the upstream layer fetches and refreshes them
(`GoogleOAuth` signer).

Embeddings use `:predict` (`{"instances": [{"content": text}], "parameters":
{"outputDimensionality"}}` -> `predictions[].embeddings.values`, tokens from
`statistics.token_count`), which text-embedding-* and gemini-embedding-001 both serve.
"""

from __future__ import annotations

from typing import Any

from pllm.config.model import Deployment, Secret
from pllm.errors import DeploymentError, NotImplementedByPllm, ProviderError
from pllm.providers.base import GoogleOAuth, Target
from pllm.providers.gemini import (
    GoogleGenAI,
    GoogleTarget,
    embedding_dimensions,
    embedding_inputs,
    path_segment,
)
from pllm.providers.gemini_response import loads
from pllm.providers.vertex_anthropic import VertexAnthropic
from pllm.schema import Usage

__all__ = ["Vertex"]

DEFAULT_LOCATION = "us-central1"
_MULTI_REGIONS = frozenset({"us", "eu"})


def vertex_origin(location: str) -> str:
    if location == "global":
        return "https://aiplatform.googleapis.com"
    if location in _MULTI_REGIONS:
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


class Vertex(GoogleGenAI):
    name = "vertex_ai"
    vertex = True

    def prepare(self, dep: Deployment) -> Target:
        target = self._prepare_google(dep)
        if _publisher(dep.model) == "anthropic":
            # Claude's target carries its own translator: the dispatcher calls that one.
            return VertexAnthropic(target).prepare(dep)
        return target

    def _prepare_google(self, dep: Deployment) -> GoogleTarget:
        project = dep.params.get("vertex_project")
        if not isinstance(project, str) or not project:
            raise DeploymentError("vertex_ai needs vertex_project (or VERTEXAI_PROJECT / "
                                  "GOOGLE_CLOUD_PROJECT in the environment)")
        location = dep.params.get("vertex_location") or DEFAULT_LOCATION
        if not isinstance(location, str):
            raise DeploymentError("vertex_location must be a string")
        credentials = dep.params.get("vertex_credentials")
        if credentials is not None and not isinstance(credentials, Secret):
            credentials = Secret(str(credentials))
        origin = (dep.api_base or vertex_origin(location)).rstrip("/")
        base = (f"{origin}/{dep.api_version or 'v1'}/projects/{path_segment(project)}"
                f"/locations/{path_segment(location)}")
        headers = {"content-type": "application/json", **dep.extra_headers}
        return GoogleTarget(dep, self, base, headers,
                            signer=GoogleOAuth(credentials=credentials))

    def model_url(self, target: Target, model: str, verb: str) -> str:
        if _publisher(model) == "anthropic":
            # Only a wildcard deployment gets here: its translator was chosen before the name.
            raise NotImplementedByPllm("Claude on Vertex AI needs its own deployment "
                                       "(model: vertex_ai/claude-...), not a wildcard")
        if model.isdigit():  # a deployed (e.g. tuned) model's endpoint id
            return f"{target.base_url}/endpoints/{model}:{verb}"
        return f"{target.base_url}/publishers/google/models/{path_segment(model)}:{verb}"

    def embeddings_request(self, body: dict[str, Any], model: str) -> tuple[str, dict[str, Any]]:
        instances: list[dict[str, Any]] = [{"content": t} for t in embedding_inputs(body)]
        if isinstance(body.get("task_type"), str):
            for inst in instances:
                inst["task_type"] = body["task_type"]
        native: dict[str, Any] = {"instances": instances}
        dims = embedding_dimensions(body)
        if dims is not None:
            native["parameters"] = {"outputDimensionality": dims}
        return "predict", native

    def embeddings_answer(self, body: bytes) -> tuple[list[list[float]], Usage | None]:
        data = loads(body)
        preds = data.get("predictions") if isinstance(data, dict) else None
        if not isinstance(preds, list):
            raise ProviderError("Vertex AI answered embeddings without 'predictions'",
                                upstream_status=502, provider=self.name)
        vectors: list[list[float]] = []
        tokens = 0
        for p in preds:
            emb = p.get("embeddings") if isinstance(p, dict) else None
            emb = emb if isinstance(emb, dict) else {}
            vectors.append(list(emb.get("values") or []))
            stats = emb.get("statistics")
            count = stats.get("token_count") if isinstance(stats, dict) else None
            if isinstance(count, (int, float)) and not isinstance(count, bool):
                tokens += int(count)
        return vectors, Usage(prompt_tokens=tokens, total_tokens=tokens)


def _publisher(model: str) -> str:
    """Which Vertex publisher serves a model name (the dispatch the Claude path extends)."""
    return "anthropic" if model.startswith("claude") else "google"
