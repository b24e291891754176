"""Azure OpenAI: OpenAI's wire format at deployment-scoped URLs with a dated `api-version`, or the
newer `/openai/v1` routes, authenticated by an `api-key` header (or an Entra ID bearer token)."""

from __future__ import annotations

import re
from urllib.parse import quote

from pllm.config.model import Deployment, Secret
from pllm.errors import DeploymentError, InvalidRequest
from pllm.providers.base import Target, UpstreamRequest
from pllm.providers.openai import ENDPOINT_PATHS, OpenAICompatible
from pllm.schema import GatewayRequest

__all__ = ["DEFAULT_API_VERSION", "Azure"]

DEFAULT_API_VERSION = "2024-10-21"
# The first GA/preview versions that accept stream_options (Azure rejects it before).
_STREAM_USAGE_SINCE = "2024-09-01"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


class Azure(OpenAICompatible):
    def __init__(self, name: str = "azure") -> None:
        super().__init__(name)

    def prepare(self, dep: Deployment) -> Target:
        if not dep.api_base:
            raise DeploymentError("azure needs api_base (https://<resource>.openai.azure.com), "
                                  "or AZURE_API_BASE in the environment")
        base = dep.api_base.rstrip("/")
        headers = {"content-type": "application/json"}
        token = dep.params.get("azure_ad_token")
        if dep.api_key:
            headers["api-key"] = dep.api_key.value
        elif isinstance(token, Secret):
            headers["authorization"] = f"Bearer {token.value}"
        else:
            raise DeploymentError("azure needs api_key (or AZURE_API_KEY) or azure_ad_token")
        headers.update(dep.extra_headers)
        if base.endswith("/openai/v1"):
            query = f"api-version={quote(dep.api_version)}" if dep.api_version else ""
            return Target(dep, self, base, headers, query)
        version = dep.api_version or DEFAULT_API_VERSION
        return Target(dep, self, base, headers, f"api-version={quote(version)}")

    def build_request(self, req: GatewayRequest, target: Target, model: str) -> UpstreamRequest:
        dep = target.deployment
        if target.base_url.endswith("/openai/v1"):
            url = target.base_url + ENDPOINT_PATHS[req.endpoint]
            body_model = model
        else:
            if not _SAFE_NAME.fullmatch(model):
                raise InvalidRequest(f"'{model}' is not a valid Azure deployment name",
                                     param="model")
            url = f"{target.base_url}/openai/deployments/{model}{ENDPOINT_PATHS[req.endpoint]}"
            body_model = req.body.get("model", model)
        if target.query:
            url += "?" + target.query
        body = self.request_body(req, dep, body_model,
                                 stream_usage=_supports_stream_usage(dep, target))
        return UpstreamRequest("POST", url, target.headers, body, stream=req.stream)


def _supports_stream_usage(dep: Deployment, target: Target) -> bool:
    if target.base_url.endswith("/openai/v1"):
        return True
    version = dep.api_version or DEFAULT_API_VERSION
    return version[:10] >= _STREAM_USAGE_SINCE
