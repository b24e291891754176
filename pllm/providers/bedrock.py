"""AWS Bedrock Runtime (`bedrock/<modelId>`): chat through Converse / ConverseStream, embeddings
through InvokeModel. The translator; the request body mapping is in `bedrock_request.py`, the
stream in `bedrock_stream.py`, embeddings in `bedrock_embed.py`, answers and errors in
`bedrock_wire.py`.

URLs: `{base}/model/{modelId}/converse`, `/converse-stream`, `/invoke`, with the model id
percent-encoded as botocore encodes a path label (`:` -> `%3A`, `/` -> `%2F`). `base` is
`https://bedrock-runtime.{region}.amazonaws.com`, or the deployment's `api_base` (LiteLLM's
`aws_bedrock_runtime_endpoint`), which means what boto3's `endpoint_url` means: the URL that
`/model/...` is appended to. LiteLLM's route prefixes `converse/` and `invoke/` are accepted and
dropped (chat always goes through Converse).

Auth: a Bedrock API key (`aws_bearer_token`, from AWS_BEARER_TOKEN_BEDROCK, or `api_key`) is
sent as `Authorization: Bearer`; otherwise the upstream layer signs with SigV4 (service
`bedrock`) from the deployment's keys, its profile, or botocore's default credential chain.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

import orjson

from pllm.config.model import Deployment, Secret
from pllm.errors import DeploymentError, NotImplementedByPllm, ProviderError
from pllm.providers.base import AwsSigV4, Target, UpstreamRequest, UpstreamResponse
from pllm.providers.bedrock_embed import embedding_body, parse_embeddings
from pllm.providers.bedrock_request import converse_body
from pllm.providers.bedrock_stream import ConverseStreamDecoder, EventStreamFramer
from pllm.providers.bedrock_wire import finish_reason, http_error, json_object, usage_of
from pllm.providers.chunks import chat_completion, tool_call
from pllm.providers.relay import EventRelay
from pllm.schema import Completion, Endpoint, GatewayRequest

__all__ = ["Bedrock"]

# The region inside an AWS endpoint host (regional, FIPS, dual-stack and VPC endpoint forms).
_REGION_IN_HOST = re.compile(
    r"bedrock-runtime(?:-fips)?\.(?:dualstack\.)?([a-z]{2}(?:-gov)?-[a-z]+-\d)\.")
# LiteLLM settings for credentials pllm cannot use (assuming roles needs STS calls).
_ASSUME_ROLE = ("aws_role_name", "aws_web_identity_token", "aws_sts_endpoint",
                "aws_external_id", "aws_session_name")


class Bedrock:
    name = "bedrock"
    endpoints: frozenset[Endpoint] = frozenset({"chat", "embeddings"})

    # -- deployment -------------------------------------------------------------------------
    def prepare(self, dep: Deployment) -> Target:
        params = dep.params
        region = _region(dep)
        if dep.api_base is None and region is None:
            raise DeploymentError(
                "a bedrock deployment needs a region: set aws_region_name (or AWS_REGION / "
                "AWS_DEFAULT_REGION in the environment), or api_base "
                "(aws_bedrock_runtime_endpoint)")
        roles = [k for k in _ASSUME_ROLE if params.get(k)]
        if roles:
            raise DeploymentError(
                f"pllm does not assume AWS roles ({roles[0]} is set): give keys, or an "
                "aws_profile_name whose profile assumes the role (role_arn in ~/.aws/config)")
        headers = {"content-type": "application/json"}
        bearer = _bearer(dep)
        if bearer is not None:
            headers["authorization"] = f"Bearer {bearer}"
        elif region is None:
            raise DeploymentError(
                "a bedrock deployment signed with AWS keys needs aws_region_name: the region "
                f"cannot be read from api_base {dep.api_base!r}")
        headers.update(dep.extra_headers)
        base = (dep.api_base or f"https://bedrock-runtime.{region}.amazonaws.com").rstrip("/")
        return Target(dep, self, base, headers)

    # -- request ----------------------------------------------------------------------------
    def build_request(self, req: GatewayRequest, target: Target, model: str) -> UpstreamRequest:
        dep = target.deployment
        model_id = _model_id(model)
        src = _with_defaults(req.body, dep)
        headers = target.headers
        if req.endpoint == "chat":
            op = "converse-stream" if req.stream else "converse"
            body = orjson.dumps(converse_body(src, dep.drop_params))
        elif req.endpoint == "embeddings":
            op = "invoke"
            body = embedding_body(src, model_id, dep.drop_params)
            headers = {**headers, "accept": "application/json"}
        else:
            raise NotImplementedByPllm(f"Bedrock does not serve the {req.endpoint} endpoint")
        url = f"{target.base_url}/model/{quote(model_id, safe='')}/{op}"
        return UpstreamRequest(
            "POST", url, headers, body, stream=req.stream and req.endpoint == "chat",
            stream_format="eventstream" if req.stream else "sse",
            signer=None if _bearer(dep) else _signer(dep))

    # -- answers ----------------------------------------------------------------------------
    def parse_response(self, req: GatewayRequest, resp: UpstreamResponse) -> Completion:
        if req.endpoint == "embeddings":
            return parse_embeddings(req, resp.headers, resp.body)
        data = json_object(resp.body, "Converse answer")
        output = data.get("output")
        message = output.get("message") if isinstance(output, dict) else None
        if not isinstance(message, dict):
            raise ProviderError("Bedrock answered without output.message",
                                upstream_status=502, provider=self.name)
        texts: list[str] = []
        reasoning: list[str] = []
        calls: list[dict[str, Any]] = []
        for block in message.get("content") or []:
            if not isinstance(block, dict):
                continue
            if isinstance(block.get("text"), str):
                texts.append(block["text"])
            elif isinstance(block.get("toolUse"), dict):
                use = block["toolUse"]
                calls.append(tool_call(str(use.get("toolUseId") or f"call_{len(calls)}"),
                                       str(use.get("name") or ""),
                                       orjson.dumps(use.get("input", {})).decode()))
            elif isinstance(block.get("reasoningContent"), dict):
                text = (block["reasoningContent"].get("reasoningText") or {}).get("text")
                if isinstance(text, str):
                    reasoning.append(text)
        content = "".join(texts)
        request_id = resp.headers.get("x-amzn-requestid") or req.request_id or "bedrock"
        return chat_completion(
            req, id=f"chatcmpl-{request_id}",
            content=content if content or not calls else None,
            finish_reason=finish_reason(data.get("stopReason"), bool(calls)),
            usage=usage_of(data.get("usage")), tool_calls=calls or None,
            reasoning="".join(reasoning) or None)

    def parse_error(self, resp: UpstreamResponse) -> ProviderError:
        return http_error(resp.status, resp.headers, resp.body)

    def stream_relay(self, req: GatewayRequest, target: Target) -> EventRelay:
        return EventRelay(ConverseStreamDecoder(req), framer=EventStreamFramer())


def _region(dep: Deployment) -> str | None:
    for key in ("aws_region_name", "region_name"):
        value = dep.params.get(key)
        if isinstance(value, str) and value:
            return value
    if dep.api_base:
        m = _REGION_IN_HOST.search(urlsplit(dep.api_base).hostname or "")
        if m:
            return m.group(1)
    return None


def _secret(value: Any) -> Secret | None:
    if isinstance(value, Secret):
        return value if value.value else None
    if isinstance(value, str) and value:
        return Secret(value)
    return None


def _bearer(dep: Deployment) -> str | None:
    token = _secret(dep.params.get("aws_bearer_token")) or _secret(dep.api_key)
    return token.value if token else None


def _signer(dep: Deployment) -> AwsSigV4:
    params = dep.params
    region = _region(dep)
    if region is None:  # prepare() refuses such deployments; kept for direct callers
        raise DeploymentError("a bedrock deployment signed with AWS keys needs aws_region_name")
    key_id = params.get("aws_access_key_id")
    profile = params.get("aws_profile_name")
    return AwsSigV4(
        region=region, service="bedrock",
        access_key_id=str(key_id) if key_id else None,
        secret_access_key=_secret(params.get("aws_secret_access_key")),
        session_token=_secret(params.get("aws_session_token")),
        profile=str(profile) if profile else None)


def _model_id(model: str) -> str:
    for prefix in ("converse/", "invoke/"):
        if model.startswith(prefix):
            return model[len(prefix):]
    return model


def _with_defaults(body: dict[str, Any], dep: Deployment) -> dict[str, Any]:
    """The client's body over the deployment's defaults; `extra_body` (LiteLLM) spread out."""
    if not dep.defaults and "extra_body" not in body:
        return body
    out = {**dep.defaults, **body}
    extra = out.pop("extra_body", None)
    if isinstance(extra, dict):
        out = {**extra, **out}
    return out
