"""OpenAI `/v1/embeddings` on Bedrock: InvokeModel (`POST /model/{id}/invoke`) bodies for the two
embedding families pllm serves, and their answers back as an OpenAI embeddings list.

- Amazon Titan Text Embeddings (`amazon.titan-embed-text-v1`, `amazon.titan-embed-g1-text-02`,
  `amazon.titan-embed-text-v2:0`): `{"inputText": str, "dimensions"?: n, "normalize"?: bool}` ->
  `{"embedding": [...], "inputTextTokenCount": n}`. One text per call: a list of several inputs
  is a 400 (one upstream request per client request). `dimensions` only on v2.
- Cohere Embed (`cohere.embed-*`): `{"texts": [...], "input_type": "search_document"}` ->
  `{"embeddings": [[...]]}` (or `{"embeddings": {"float": [[...]]}}` when `embedding_types` was
  sent). The body has no token count; Bedrock reports it in the
  `x-amzn-bedrock-input-token-count` header. `dimensions` -> `output_dimension` (v4 only).

Non-OpenAI keys of the client's body (`input_type`, `truncate`, `normalize`, ...) are passed on
as model parameters. `encoding_format: base64` is produced here: float32 little-endian bytes,
base64, as OpenAI encodes them.
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Mapping
from typing import Any

import orjson

from pllm.errors import InvalidRequest, NotImplementedByPllm, UnsupportedParam
from pllm.providers.bedrock_wire import json_object
from pllm.providers.chunks import embeddings_list
from pllm.schema import Completion, GatewayRequest, Usage

__all__ = ["embedding_body", "parse_embeddings"]

_TITAN = re.compile(r"(?:^|[./])amazon\.titan-embed-(?:text|g1-text)")
_TITAN_V2 = re.compile(r"amazon\.titan-embed-text-v2")
_COHERE = re.compile(r"(?:^|[./])cohere\.embed-")
_COHERE_DIMS = re.compile(r"cohere\.embed-v4")
_OPENAI_EMBEDDING_PARAMS = frozenset({"model", "input", "encoding_format", "dimensions", "user"})


def embedding_body(body: dict[str, Any], model: str, drop: bool) -> bytes:
    """The InvokeModel body for an OpenAI embeddings request to `model`."""
    texts = _texts(body.get("input"))
    fmt = body.get("encoding_format")
    if fmt not in (None, "float", "base64"):
        raise InvalidRequest("encoding_format must be 'float' or 'base64'",
                             param="encoding_format")
    dims = body.get("dimensions")
    if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int) or dims < 1):
        raise InvalidRequest("dimensions must be a positive integer", param="dimensions")
    extra = {k: v for k, v in body.items() if k not in _OPENAI_EMBEDDING_PARAMS}
    if _TITAN.search(model):
        if len(texts) != 1:
            raise InvalidRequest(
                f"{model} embeds one text per request and this request has {len(texts)}; send "
                "one input at a time, or use a Cohere embed model for batches", param="input")
        out: dict[str, Any] = {"inputText": texts[0]}
        if dims is not None:
            if _TITAN_V2.search(model):
                out["dimensions"] = dims
            elif not drop:
                raise UnsupportedParam(f"{model} does not support the parameter 'dimensions' "
                                       "(Titan v2 does); remove it, or set drop_params: true",
                                       param="dimensions")
    elif _COHERE.search(model):
        out = {"texts": texts, "input_type": "search_document"}
        if dims is not None:
            if _COHERE_DIMS.search(model):
                out["output_dimension"] = dims
            elif not drop:
                raise UnsupportedParam(f"{model} does not support the parameter 'dimensions' "
                                       "(Cohere Embed v4 does); remove it, or set "
                                       "drop_params: true", param="dimensions")
    else:
        raise NotImplementedByPllm(
            f"pllm serves Bedrock embeddings for amazon.titan-embed-text-* and cohere.embed-* "
            f"models, not {model}")
    out.update(extra)
    return orjson.dumps(out)


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, list) and not value:
        raise InvalidRequest("input must not be empty", param="input")
    raise InvalidRequest("Bedrock embedding models take text: input must be a string or a list "
                         "of strings (token-id arrays are not supported)", param="input")


def parse_embeddings(req: GatewayRequest, status_headers: Mapping[str, str],
                     body: bytes) -> Completion:
    """An InvokeModel embeddings answer (either family, told apart by its shape)."""
    data = json_object(body, "embeddings answer")
    if isinstance(data.get("embedding"), list):  # Titan
        vectors = [data["embedding"]]
        tokens = data.get("inputTextTokenCount")
    else:
        embeddings = data.get("embeddings")
        if isinstance(embeddings, dict):  # Cohere, embeddings_by_type
            embeddings = embeddings.get("float")
        if not isinstance(embeddings, list) or not all(isinstance(v, list) for v in embeddings):
            raise InvalidRequest("the Bedrock model answered without float embeddings (set "
                                 "embedding_types to include 'float')")
        vectors = embeddings
        tokens = None
    if not isinstance(tokens, int) or isinstance(tokens, bool):
        tokens = _header_int(status_headers.get("x-amzn-bedrock-input-token-count"))
    usage = Usage(prompt_tokens=tokens, total_tokens=tokens) if tokens is not None else None
    if req.body.get("encoding_format") == "base64":
        vectors = [_base64(v) for v in vectors]
    return embeddings_list(req, vectors, usage)


def _header_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _base64(vector: list[Any]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
