"""OpenAI chat request -> Bedrock Converse request body (`ConverseRequest` in botocore's
bedrock-runtime service model; the same body serves ConverseStream).

Mapping, and the choices made where Converse has no equivalent:
- `system`/`developer` messages -> `system: [{"text"}]`; a `cache_control` on any of them adds a
  `cachePoint` after the system text (LiteLLM's convention for prompt caching on Bedrock).
- user/assistant/tool messages -> alternating `user`/`assistant` turns: consecutive messages of
  one role are merged, `tool` results become `toolResult` blocks of a user turn, assistant
  `tool_calls` become `toolUse` blocks with the arguments parsed. Tool-call ids are mapped into
  Bedrock's id alphabet (`[a-zA-Z0-9_.:-]{1,64}`) the same way on both sides of a round trip.
- images: `data:` URLs -> `image.source.bytes` (base64 as sent, format from the mime type);
  `s3://` URLs -> `image.source.s3Location`. Bedrock cannot fetch http(s) URLs and translators
  do no I/O, so those are a 400 (or, with drop_params, the image part is left out).
  `file` parts with a `data:` URL -> `document` blocks.
- `max_tokens`/`max_completion_tokens`, `temperature`, `top_p`, `stop` -> `inferenceConfig`.
- `tools` -> `toolConfig.tools[].toolSpec`; `tool_choice` auto/required/{function} ->
  `toolChoice` auto/any/tool. Converse has no "none" choice: the tools are left out, except
  when the history holds toolUse/toolResult blocks, which Bedrock refuses without a toolConfig
  ("The toolConfig field must be defined when using toolUse and toolResult content blocks."):
  then the declared tools are kept (no toolChoice), so the model can still read its earlier
  calls; with no tools declared at all, one inert placeholder tool is sent instead.
- `response_format` json_schema -> `outputConfig.textFormat` (schema as a JSON string);
  `json_object` has no Converse equivalent (400, or dropped with drop_params).
- `service_tier` flex/priority/default -> `serviceTier`.
- Converse's own top-level members (`guardrailConfig`, `performanceConfig`, ...) pass as sent;
  any other non-OpenAI key (`top_k`, `thinking`, ...) goes to `additionalModelRequestFields`.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from pllm.errors import InvalidRequest, UnsupportedParam
from pllm.providers.bedrock_wire import PROVIDER
from pllm.providers.convert import (
    OPENAI_CHAT_PARAMS,
    check_params,
    image_of,
    max_tokens,
    split_system,
    stop_list,
    text_of,
    tool_arguments,
)

__all__ = ["SUPPORTED", "converse_body", "tool_use_id"]

SUPPORTED = frozenset({"temperature", "top_p", "max_tokens", "max_completion_tokens", "stop",
                       "tools", "tool_choice", "response_format", "service_tier"})
# ConverseRequest members a client may set directly (botocore service model).
# `inferenceConfig`/`outputConfig` objects are merged over what pllm mapped; the others replace.
_NATIVE = frozenset({"guardrailConfig", "performanceConfig", "requestMetadata",
                     "additionalModelResponseFieldPaths", "promptVariables", "serviceTier",
                     "outputConfig", "inferenceConfig"})
# LiteLLM per-request settings meant for the gateway, never for the model.
_GATEWAY = frozenset({"fallbacks", "context_window_fallbacks", "num_retries", "mock_response",
                      "caching", "cache", "tags", "timeout", "api_key", "api_base",
                      "extra_headers", "litellm_metadata", "drop_params"})
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg",
                  "image/gif": "gif", "image/webp": "webp"}
_IMAGE_EXT = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "gif": "gif", "webp": "webp"}
_DOC_FORMATS = {
    "application/pdf": "pdf", "text/csv": "csv", "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html", "text/plain": "txt", "text/markdown": "md",
}
_PLACEHOLDER_TOOL = {"toolSpec": {
    "name": "no_tools_available",
    "description": "Placeholder: no tools are available for this turn. Do not call it.",
    "inputSchema": {"json": {"type": "object", "properties": {}}}}}
_CACHE_POINT = {"cachePoint": {"type": "default"}}
_ID_BAD = re.compile(r"[^a-zA-Z0-9_.:-]")
_NAME_BAD = re.compile(r"[^A-Za-z0-9\s()\[\]-]")


def tool_use_id(call_id: Any) -> str:
    """An OpenAI tool-call id as a Bedrock toolUseId (the same input always gives the same id)."""
    text = _ID_BAD.sub("_", str(call_id or "call"))
    return text[:64] or "call"


def converse_body(src: dict[str, Any], drop: bool) -> dict[str, Any]:
    """The Converse request for an OpenAI chat body (deployment defaults already merged)."""
    body = check_params(src, SUPPORTED, PROVIDER, drop)
    system, rest = split_system(body["messages"])
    turns, tool_history = _turns(rest, drop)
    out: dict[str, Any] = {"messages": turns}
    if system:
        out["system"] = [{"text": system}]
        if any(_cached(m) for m in body["messages"] if m.get("role") in ("system", "developer")):
            out["system"].append(_CACHE_POINT)
    inference = _inference(body)
    if inference:
        out["inferenceConfig"] = inference
    tool_config = _tool_config(body, tool_history, drop)
    if tool_config:
        out["toolConfig"] = tool_config
    output = _output_config(body.get("response_format"), drop)
    if output:
        out["outputConfig"] = output
    tier = body.get("service_tier")
    if tier in ("flex", "priority", "default"):
        out["serviceTier"] = {"type": tier}
    extra: dict[str, Any] = {}
    for key, value in body.items():
        if key in ("model", "messages", "stream") or key in OPENAI_CHAT_PARAMS or \
                key in _GATEWAY:
            continue
        if key in _NATIVE:
            out[key] = _merge(out.get(key), value)
        elif key == "additionalModelRequestFields" and isinstance(value, dict):
            extra.update(value)
        else:
            extra[key] = value
    if extra:
        out["additionalModelRequestFields"] = extra
    return out


def _merge(ours: Any, theirs: Any) -> Any:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return {**ours, **theirs}
    return theirs


def _cached(m: dict[str, Any]) -> bool:
    content = m.get("content")
    return "cache_control" in m or (isinstance(content, list) and any(
        isinstance(p, dict) and "cache_control" in p for p in content))


# -- messages -------------------------------------------------------------------------------
def _turns(messages: list[dict[str, Any]], drop: bool) -> tuple[list[dict[str, Any]], bool]:
    """(alternating Converse turns, whether any toolUse/toolResult block was written)."""
    turns: list[dict[str, Any]] = []
    tool_history = False
    for i, m in enumerate(messages):
        role = m.get("role")
        where = f"messages[{i}]"
        if role == "user":
            blocks, turn_role = _user_blocks(m.get("content"), where, drop), "user"
        elif role == "assistant":
            blocks, turn_role = _assistant_blocks(m, where), "assistant"
        elif role in ("tool", "function"):
            call_id = m.get("tool_call_id") if role == "tool" else m.get("name")
            if not call_id:
                raise InvalidRequest(f"{where}: a tool message needs tool_call_id",
                                     param=f"{where}.tool_call_id")
            blocks = [{"toolResult": {"toolUseId": tool_use_id(call_id),
                                      "content": [{"text": text_of(m.get("content"))}]}}]
            turn_role = "user"
        else:
            raise InvalidRequest(f"{where}: unsupported role '{role}'", param=f"{where}.role")
        if not blocks:
            continue  # an empty message: Bedrock refuses blank content, and it says nothing
        tool_history = tool_history or any("toolUse" in b or "toolResult" in b for b in blocks)
        if turns and turns[-1]["role"] == turn_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": turn_role, "content": blocks})
    return turns, tool_history


def _user_blocks(content: Any, where: str, drop: bool) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []
    if not isinstance(content, list):
        text = text_of(content)  # raises for anything that is not content
        return [{"text": text}] if text.strip() else []
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            raise InvalidRequest(f"{where}.content[{j}] must be an object")
        kind = part.get("type")
        block: dict[str, Any] | None
        if kind in ("text", "input_text"):
            value = part.get("text")
            block = {"text": value} if isinstance(value, str) and value.strip() else None
        elif kind == "image_url":
            block = _image(part, f"{where}.content[{j}]", drop)
        elif kind == "file":
            block = _document(part, f"{where}.content[{j}]", len(blocks))
        else:
            if not drop:
                raise UnsupportedParam(f"{where}.content[{j}]: Bedrock Converse does not take "
                                       f"'{kind}' content parts", param=f"{where}.content")
            block = None
        if block is not None:
            blocks.append(block)
            if "cache_control" in part:
                blocks.append(_CACHE_POINT)
    return blocks


def _image(part: dict[str, Any], where: str, drop: bool) -> dict[str, Any] | None:
    spec = part.get("image_url")
    url = spec.get("url") if isinstance(spec, dict) else spec
    if isinstance(url, str) and url.startswith("s3://"):
        ext = url.rsplit(".", 1)[-1].lower()
        if ext not in _IMAGE_EXT:
            raise InvalidRequest(f"{where}: cannot tell the image format of {url!r} (Bedrock "
                                 "takes .png, .jpeg, .gif, .webp)", param=where)
        return {"image": {"format": _IMAGE_EXT[ext], "source": {"s3Location": {"uri": url}}}}
    image = image_of(part)
    if image.url is not None:
        if drop:
            return None
        raise InvalidRequest(
            f"{where}: Bedrock cannot fetch image URLs ({image.url.split(':', 1)[0]}://...) and "
            "pllm does not download them; send the image as a base64 data: URL (or an s3:// "
            "URL), or set drop_params: true to leave such images out", param=where)
    fmt = _IMAGE_FORMATS.get((image.media_type or "").lower())
    if fmt is None:
        raise InvalidRequest(f"{where}: Bedrock takes png, jpeg, gif and webp images, not "
                             f"{image.media_type}", param=where)
    return {"image": {"format": fmt, "source": {"bytes": image.data}}}


def _document(part: dict[str, Any], where: str, n: int) -> dict[str, Any]:
    file = part.get("file")
    spec: dict[str, Any] = file if isinstance(file, dict) else {}
    data = spec.get("file_data")
    m = re.fullmatch(r"data:([\w.+/-]+);base64,(.*)", data, re.DOTALL) \
        if isinstance(data, str) else None
    if m is None:
        raise InvalidRequest(f"{where}: Bedrock needs files inline as a base64 data: URL in "
                             "file.file_data (file ids cannot be resolved)", param=where)
    fmt = _DOC_FORMATS.get(m.group(1).lower())
    if fmt is None:
        raise InvalidRequest(f"{where}: Bedrock does not take {m.group(1)} documents",
                             param=where)
    stem = str(spec.get("filename") or "").rsplit(".", 1)[0]
    name = " ".join(_NAME_BAD.sub("-", stem).split())[:200] or f"document-{n + 1}"
    return {"document": {"format": fmt, "name": name, "source": {"bytes": m.group(2)}}}


def _assistant_blocks(m: dict[str, Any], where: str) -> list[dict[str, Any]]:
    text = text_of(m.get("content"))
    blocks: list[dict[str, Any]] = [{"text": text}] if text.strip() else []
    for k, call in enumerate(m.get("tool_calls") or []):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not fn.get("name"):
            raise InvalidRequest(f"{where}.tool_calls[{k}] needs function.name",
                                 param=f"{where}.tool_calls")
        blocks.append({"toolUse": {
            "toolUseId": tool_use_id(call.get("id")), "name": str(fn["name"]),
            "input": tool_arguments(fn.get("arguments"), f"{where}.tool_calls[{k}]")}})
    return blocks


# -- parameters -----------------------------------------------------------------------------
def _inference(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    limit = max_tokens(body)
    if limit is not None:
        out["maxTokens"] = limit
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP")):
        value = body.get(ours)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidRequest(f"{ours} must be a number", param=ours)
            out[theirs] = value
    stops = [s for s in stop_list(body) or [] if s]  # Converse refuses empty sequences
    if stops:
        out["stopSequences"] = stops
    return out


def _tool_config(body: dict[str, Any], tool_history: bool, drop: bool) -> dict[str, Any] | None:
    tools = [_tool(t, i) for i, t in enumerate(body.get("tools") or [])]
    choice = body.get("tool_choice")
    if choice == "none":
        return {"tools": tools or [_PLACEHOLDER_TOOL]} if tool_history else None
    if not tools:
        return {"tools": [_PLACEHOLDER_TOOL]} if tool_history else None
    out: dict[str, Any] = {"tools": tools}
    if choice is None:
        return out
    if choice == "auto":
        out["toolChoice"] = {"auto": {}}
    elif choice == "required":
        out["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict) and choice.get("type") == "function" and \
            isinstance(choice.get("function"), dict) and choice["function"].get("name"):
        out["toolChoice"] = {"tool": {"name": str(choice["function"]["name"])}}
    elif not drop:
        raise UnsupportedParam("Bedrock Converse takes tool_choice 'auto', 'required', 'none' "
                               "or one named function", param="tool_choice")
    return out


def _tool(tool: Any, i: int) -> dict[str, Any]:
    fn = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(tool, dict) or tool.get("type", "function") != "function" or \
            not isinstance(fn, dict) or not fn.get("name"):
        raise InvalidRequest(f"tools[{i}]: Bedrock takes function tools with a name",
                             param=f"tools[{i}]")
    params = fn.get("parameters")
    spec: dict[str, Any] = {
        "name": str(fn["name"]),
        "inputSchema": {"json": params if isinstance(params, dict) else
                        {"type": "object", "properties": {}}},
    }
    if fn.get("description"):
        spec["description"] = str(fn["description"])
    if fn.get("strict") is True:
        spec["strict"] = True
    return {"toolSpec": spec}


def _output_config(fmt: Any, drop: bool) -> dict[str, Any] | None:
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("json_schema"), dict):
        spec = fmt["json_schema"]
        schema = spec.get("schema") if isinstance(spec.get("schema"), dict) else \
            {"type": "object"}
        definition: dict[str, Any] = {"schema": orjson.dumps(schema).decode()}
        if spec.get("name"):
            definition["name"] = str(spec["name"])
        if spec.get("description"):
            definition["description"] = str(spec["description"])
        return {"textFormat": {"type": "json_schema",
                               "structure": {"jsonSchema": definition}}}
    if drop:
        return None
    raise UnsupportedParam(
        f"Bedrock Converse does not support response_format type '{fmt.get('type')}' (only "
        "json_schema); remove it, or set drop_params: true to have pllm drop it",
        param="response_format")
