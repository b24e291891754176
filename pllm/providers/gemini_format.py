"""OpenAI chat request -> Gemini `GenerateContentRequest` (camelCase JSON), shared by the Gemini
Developer API and Vertex AI (`gemini.py`, `vertex.py`).

Choices made here, each checked against google-genai (`models.py`, `types.py`):
- Tool parameters go out as `parametersJsonSchema` and `json_schema` response formats as
  `responseJsonSchema`: both APIs take JSON Schema natively there (google-genai's
  `Schema.json_schema` note), so OpenAI's schemas pass unchanged instead of being squeezed into
  the OpenAPI subset that `parameters`/`responseSchema` accept.
- `reasoning_effort` -> `thinkingConfig`: Gemini 3 models take `thinkingLevel` (the effort name
  upper-cased; `none` -> MINIMAL, as Gemini 3 cannot switch thinking off); older models take
  `thinkingBudget` tokens: none 0, minimal 128, low 1024, medium 2048, high 4096 (LiteLLM's
  figures, so migrated configs behave alike), xhigh 16384 (within every 2.5 model's range).
  Thoughts are asked for (`includeThoughts`) unless the effort is `none`, so they come back as
  `reasoning_content`. Anthropic-style `thinking: {type: enabled, budget_tokens}` is also read.
- Tool-call ids: Gemini's own `functionCall.id` is echoed back; ids pllm synthesised
  (`call_<i>_<name>`) are not sent. A Gemini 3 `thoughtSignature` travels inside the id after
  `__thought__` (LiteLLM's convention; also read from `extra_content.google.thought_signature`,
  Google's OpenAI-compatible layer) because Gemini 3 rejects function calls in history without it.
- http(s) image URLs go as `fileData` with a MIME type from the extension (image/jpeg when the
  URL has none): both APIs fetch public URLs given as `fileUri`. `gs://` URIs likewise.
- Tool results: a JSON-object string is sent as that object, any other text as
  `{"content": text}` (`functionResponse.response` must be an object).
- No Gemini equivalent (400, or dropped with drop_params): logit_bias, logprobs/top_logprobs,
  parallel_tool_calls=false, modalities/audio, prediction, web_search_options, verbosity,
  functions/function_call; `n > 1` with stream. Gemini's own fields pass through: top_k,
  safety_settings, cached_content, generationConfig, labels (Vertex only).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from pllm.errors import InvalidRequest, UnsupportedParam
from pllm.providers import convert

__all__ = ["SIGNATURE_SEP", "chat_body", "split_call_id", "synthetic_id"]

SIGNATURE_SEP = "__thought__"
_SUPPORTED = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "n", "stop",
              "seed", "presence_penalty", "frequency_penalty", "response_format", "tools",
              "tool_choice", "reasoning_effort")
_BUDGETS = {"none": 0, "minimal": 128, "low": 1024, "medium": 2048, "high": 4096,
            "xhigh": 16384}
_LEVELS = {"none": "MINIMAL", "minimal": "MINIMAL", "low": "LOW", "medium": "MEDIUM",
           "high": "HIGH", "xhigh": "XHIGH"}
# Gemini's built-in tools, accepted as given in `tools` (LiteLLM users write them this way).
_NATIVE_TOOLS = frozenset({
    "googleSearch", "google_search", "codeExecution", "code_execution", "urlContext",
    "url_context", "googleSearchRetrieval", "google_search_retrieval", "googleMaps",
    "google_maps", "enterpriseWebSearch", "enterprise_web_search", "retrieval", "computerUse",
    "computer_use", "fileSearch", "file_search",
})
_MIME_BY_EXT = {
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
    "webp": "image/webp", "heic": "image/heic", "heif": "image/heif", "bmp": "image/bmp",
    "pdf": "application/pdf", "mp3": "audio/mp3", "wav": "audio/wav", "flac": "audio/flac",
    "ogg": "audio/ogg", "mp4": "video/mp4", "mov": "video/mov", "webm": "video/webm",
    "txt": "text/plain",
}
_SYNTHETIC = re.compile(r"call_\d+_(?P<name>.*)", re.DOTALL)


def synthetic_id(index: int, name: str) -> str:
    """The id of a function call Gemini gave none: deterministic, so a replay answers alike."""
    return f"call_{index}_{name}"


def split_call_id(call_id: str) -> tuple[str, str | None]:
    """(the id, the thought signature carried in it, if any)."""
    base, sep, signature = call_id.partition(SIGNATURE_SEP)
    return base, (signature or None) if sep else None


def chat_body(body: dict[str, Any], model: str, *, provider: str, drop: bool,
              stream: bool, vertex: bool) -> dict[str, Any]:
    """The native request for an OpenAI chat body (deployment defaults already applied)."""
    body = convert.check_params(body, _SUPPORTED, provider, drop)
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise InvalidRequest("'messages' must be an array", param="messages")
    system, rest = convert.split_system(messages)
    out: dict[str, Any] = {"contents": _contents(rest)}
    if system:
        out["systemInstruction"] = {"parts": [{"text": system}]}
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
    tool_config = _tool_config(body.get("tool_choice"))
    if tool_config:
        out["toolConfig"] = tool_config
    config = _generation_config(body, model, provider=provider, drop=drop, stream=stream)
    if config:
        out["generationConfig"] = config
    _native_extras(body, out, vertex=vertex)
    return out


# -- messages -----------------------------------------------------------------------------
def _contents(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = convert.tool_names(messages)
    contents: list[dict[str, Any]] = []
    last_kind = ""
    for i, m in enumerate(messages):
        role = m.get("role")
        where = f"messages[{i}]"
        if role == "tool":
            parts, kind = [_function_response(m, names, where)], "tool"
        elif role == "user":
            parts, kind = _user_parts(m.get("content"), where), "user"
        elif role == "assistant":
            parts, kind = _assistant_parts(m, where), "model"
        elif role == "function":
            raise InvalidRequest(f"{where}: the legacy 'function' role is not supported; "
                                 "use tool messages", param=where)
        else:
            raise InvalidRequest(f"{where}: unknown role {role!r}", param=where)
        if not parts:
            continue  # Gemini rejects turns without parts
        gemini_role = "model" if kind == "model" else "user"
        # Consecutive tool results form one user turn; so do runs of one role, which Gemini
        # wants alternating. A user message after tool results stays its own turn.
        if contents and kind == last_kind:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": gemini_role, "parts": parts})
        last_kind = kind
    return contents


def _user_parts(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if content is None:
        return []
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}: content must be a string or an array of parts",
                             param=where)
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "input_text"):
            if part.get("text"):
                parts.append({"text": str(part["text"])})
        elif kind == "image_url":
            parts.append(_image(convert.image_of(part)))
        elif kind == "input_audio":
            parts.append(_audio(part.get("input_audio"), f"{where}.content[{j}]"))
        elif kind == "file":
            parts.append(_file(part.get("file"), f"{where}.content[{j}]"))
        else:
            raise InvalidRequest(f"{where}.content[{j}]: content part type {kind!r} is not "
                                 "supported by Gemini", param=f"{where}.content[{j}]")
    return parts


def _image(image: convert.Image) -> dict[str, Any]:
    if image.data is not None:
        return {"inlineData": {"mimeType": image.media_type or "image/png", "data": image.data}}
    url = image.url or ""
    return {"fileData": {"mimeType": _mime_of(url, "image/jpeg"), "fileUri": url}}


def _mime_of(url: str, default: str) -> str:
    path = url.split("?", 1)[0].split("#", 1)[0]
    last = path.rsplit("/", 1)[-1]
    ext = last.rsplit(".", 1)[-1].lower() if "." in last else ""
    return _MIME_BY_EXT.get(ext, default)


def _audio(spec: Any, where: str) -> dict[str, Any]:
    if not isinstance(spec, dict) or not isinstance(spec.get("data"), str):
        raise InvalidRequest(f"{where}: input_audio needs base64 'data'", param=where)
    fmt = str(spec.get("format") or "wav").lower()
    return {"inlineData": {"mimeType": f"audio/{fmt}", "data": spec["data"]}}


def _file(spec: Any, where: str) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise InvalidRequest(f"{where}: a file part needs a 'file' object", param=where)
    data = spec.get("file_data")
    if isinstance(data, str) and data.startswith("data:"):
        img = convert.image_of({"image_url": {"url": data}})
        return {"inlineData": {"mimeType": img.media_type or "application/pdf",
                               "data": img.data}}
    uri = spec.get("file_id") or data
    if isinstance(uri, str) and uri.startswith(("gs://", "https://", "http://")):
        name = str(spec.get("filename") or uri)
        return {"fileData": {"mimeType": str(spec.get("format") or
                                             _mime_of(name, "application/pdf")),
                             "fileUri": uri}}
    raise InvalidRequest(f"{where}: Gemini takes files as data: URLs or gs:// / https URIs",
                         param=where)


def _assistant_parts(m: dict[str, Any], where: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    text = convert.text_of(m.get("content"))
    if text:
        parts.append({"text": text})
    for k, call in enumerate(m.get("tool_calls") or []):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not fn.get("name"):
            raise InvalidRequest(f"{where}.tool_calls[{k}] needs function.name", param=where)
        name = str(fn["name"])
        fc: dict[str, Any] = {"name": name,
                              "args": convert.tool_arguments(fn.get("arguments"),
                                                             f"{where}.tool_calls[{k}]")}
        call_id, signature = split_call_id(str(call.get("id") or ""))
        if call_id and not _is_synthetic(call_id, name):
            fc["id"] = call_id
        part: dict[str, Any] = {"functionCall": fc}
        signature = signature or _extra_signature(call)
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _is_synthetic(call_id: str, name: str) -> bool:
    m = _SYNTHETIC.fullmatch(call_id)
    return m is not None and m.group("name") == name


def _extra_signature(call: dict[str, Any]) -> str | None:
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, dict) else None
    sig = google.get("thought_signature") if isinstance(google, dict) else None
    return sig if isinstance(sig, str) and sig else None


def _function_response(m: dict[str, Any], names: dict[str, str], where: str) -> dict[str, Any]:
    raw_id = str(m.get("tool_call_id") or "")
    name = names.get(raw_id) or m.get("name")
    if not name:
        raise InvalidRequest(f"{where}: tool_call_id {raw_id!r} matches no earlier assistant "
                             "tool call (Gemini needs the function's name)", param=where)
    text = convert.text_of(m.get("content"))
    response: Any = None
    if text.lstrip().startswith("{"):
        try:
            response = orjson.loads(text)
        except orjson.JSONDecodeError:
            response = None
    if not isinstance(response, dict):
        response = {"content": text}
    fr: dict[str, Any] = {"name": str(name), "response": response}
    call_id, _sig = split_call_id(raw_id)
    if call_id and not _is_synthetic(call_id, str(name)):
        fr["id"] = call_id
    return {"functionResponse": fr}


# -- tools --------------------------------------------------------------------------------
def _tools(tools: Any) -> list[dict[str, Any]]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be an array", param="tools")
    declarations: list[dict[str, Any]] = []
    native: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise InvalidRequest(f"tools[{i}] must be an object", param=f"tools[{i}]")
        if tool.get("type") == "function":
            declarations.append(_declaration(tool.get("function"), i))
        elif "type" not in tool and tool and set(tool) <= _NATIVE_TOOLS:
            native.append(tool)
        else:
            raise InvalidRequest(f"tools[{i}]: tool type {tool.get('type')!r} is not "
                                 "supported by Gemini", param=f"tools[{i}]")
    out = [{"functionDeclarations": declarations}] if declarations else []
    return out + native


def _declaration(fn: Any, i: int) -> dict[str, Any]:
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise InvalidRequest(f"tools[{i}].function needs a name", param=f"tools[{i}]")
    out: dict[str, Any] = {"name": fn["name"]}
    if fn.get("description"):
        out["description"] = str(fn["description"])
    params = fn.get("parameters")
    if isinstance(params, dict) and params:
        out["parametersJsonSchema"] = params
    return out


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice in ("auto", "none", "required"):
        mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice]
        return {"functionCallingConfig": {"mode": mode}}
    if isinstance(choice, dict) and choice.get("type") == "function":
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        if isinstance(name, str) and name:
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    raise InvalidRequest("tool_choice must be 'auto', 'none', 'required' or a named function",
                         param="tool_choice")


# -- generation config --------------------------------------------------------------------
def _generation_config(body: dict[str, Any], model: str, *, provider: str, drop: bool,
                       stream: bool) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    for src, dst in (("temperature", "temperature"), ("top_p", "topP"), ("seed", "seed"),
                     ("presence_penalty", "presencePenalty"),
                     ("frequency_penalty", "frequencyPenalty"), ("top_k", "topK")):
        if body.get(src) is not None:
            cfg[dst] = body[src]
    limit = convert.max_tokens(body)
    if limit is not None:
        cfg["maxOutputTokens"] = limit
    stop = convert.stop_list(body)
    if stop:
        cfg["stopSequences"] = stop
    n = body.get("n")
    if n is not None and n != 1:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidRequest("n must be a positive integer", param="n")
        if not stream:
            cfg["candidateCount"] = n
        elif not drop:
            # Streams are relayed as choice 0 only (one ChunkWriter per answer).
            raise UnsupportedParam(f"{provider} does not support n > 1 with stream through "
                                   "pllm; remove it, or set drop_params: true", param="n")
    _response_format(body.get("response_format"), cfg)
    thinking = _thinking(body, model)
    if thinking:
        cfg["thinkingConfig"] = thinking
    extra = body.get("generationConfig", body.get("generation_config"))
    if isinstance(extra, dict):
        cfg.update(extra)
    return cfg


def _response_format(fmt: Any, cfg: dict[str, Any]) -> None:
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return
    if kind == "json_object":
        cfg["responseMimeType"] = "application/json"
        return
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        cfg["responseMimeType"] = "application/json"
        if isinstance(schema, dict):
            cfg["responseJsonSchema"] = schema
        return
    raise InvalidRequest("response_format.type must be text, json_object or json_schema",
                         param="response_format")


def _thinking(body: dict[str, Any], model: str) -> dict[str, Any] | None:
    effort = body.get("reasoning_effort")
    if effort is not None:
        if effort not in _BUDGETS:
            raise InvalidRequest(f"reasoning_effort {effort!r} is not one of "
                                 f"{', '.join(_BUDGETS)}", param="reasoning_effort")
        out: dict[str, Any] = {"includeThoughts": effort != "none"}
        if "gemini-3" in model:
            out["thinkingLevel"] = _LEVELS[effort]
        else:
            out["thinkingBudget"] = _BUDGETS[effort]
        return out
    thinking = body.get("thinking")
    if isinstance(thinking, dict):
        if thinking.get("type") == "disabled":
            return {"thinkingBudget": 0}
        budget = thinking.get("budget_tokens")
        out = {"includeThoughts": True}
        if isinstance(budget, int) and not isinstance(budget, bool):
            out["thinkingBudget"] = budget
        return out
    return None


def _native_extras(body: dict[str, Any], out: dict[str, Any], *, vertex: bool) -> None:
    """Gemini's own request fields, for clients that send them (as LiteLLM passes them on)."""
    for names, dst in ((("safety_settings", "safetySettings"), "safetySettings"),
                       (("cached_content", "cachedContent"), "cachedContent")):
        for name in names:
            if body.get(name) is not None:
                out[dst] = body[name]
    if vertex and isinstance(body.get("labels"), dict):
        out["labels"] = body["labels"]
