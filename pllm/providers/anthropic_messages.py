"""OpenAI messages, content parts and tools -> Anthropic's (the conversions behind
`anthropic.anthropic_body`): system extraction, merged turns, `tool_result` turns, images,
documents, `cache_control` kept where the client put it, and the tool definitions and choice.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from pllm.errors import InvalidRequest
from pllm.providers.convert import image_of, tool_arguments

__all__ = ["convert_messages", "tool_choice_of", "tools_of"]


def tools_of(tools: Any) -> list[dict[str, Any]]:
    if not tools:
        return []
    if not isinstance(tools, list):
        raise InvalidRequest("tools must be a list", param="tools")
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise InvalidRequest(f"tools[{i}] must be an object", param="tools")
        fn = tool.get("function")
        if tool.get("type") != "function" or not isinstance(fn, dict):
            out.append(tool)  # already Anthropic's (a client tool, or a server tool)
            continue
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"tools[{i}].function.name is required", param="tools")
        schema = fn.get("parameters")
        schema = dict(schema) if isinstance(schema, dict) else {"properties": {}}
        schema.setdefault("type", "object")
        spec: dict[str, Any] = {"name": name}
        if fn.get("description"):
            spec["description"] = fn["description"]
        spec["input_schema"] = schema
        if fn.get("strict") is True:
            spec["strict"] = True
        cache = tool.get("cache_control") or fn.get("cache_control")
        if cache:
            spec["cache_control"] = cache
        out.append(spec)
    return out


def tool_choice_of(choice: Any, parallel: Any) -> dict[str, Any] | None:
    out: dict[str, Any] | None
    if choice is None:
        out = None
    elif choice in ("auto", "none"):
        out = {"type": choice}
    elif choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        out = {"type": "tool", "name": choice["function"].get("name")}
    elif isinstance(choice, dict) and choice.get("type") in ("auto", "any", "tool", "none"):
        out = dict(choice)  # Anthropic's own shape
    else:
        raise InvalidRequest("tool_choice must be auto, required, none or a named function",
                             param="tool_choice")
    if parallel is False and (out is None or out["type"] != "none"):
        out = {**(out or {"type": "auto"}), "disable_parallel_tool_use": True}
    return out


# -- messages ---------------------------------------------------------------------------------
def convert_messages(messages: list[Any]) -> tuple[str | list[dict[str, Any]] | None,
                                           list[dict[str, Any]]]:
    """(top-level `system`, `messages`) for OpenAI messages."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise InvalidRequest(f"{where} must be an object", param="messages")
        role = m.get("role")
        if role in ("system", "developer"):
            blocks = _parts(m.get("content"), where, text_only=True)
            _cache(blocks, m.get("cache_control"))
            system.extend(blocks)
            continue
        if role == "user":
            blocks = _parts(m.get("content"), where)
        elif role == "assistant":
            role, blocks = "assistant", _assistant(m, where)
        elif role == "tool":
            role, blocks = "user", [_tool_result(m, where)]
        else:
            raise InvalidRequest(f"{where}: anthropic does not take the role {role!r}",
                                 param="messages")
        _cache(blocks, m.get("cache_control"))
        if not blocks:
            continue  # Anthropic rejects empty turns (an assistant turn with content "")
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)  # tool results, then the user's text: one turn
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        blocks = turn["content"]
        if len(blocks) == 1 and blocks[0].keys() == {"type", "text"} and \
                blocks[0]["type"] == "text":
            turn["content"] = blocks[0]["text"]
    if system and all("cache_control" not in b for b in system):
        return "\n\n".join(b["text"] for b in system), turns
    return system or None, turns


def _cache(blocks: list[dict[str, Any]], cache_control: Any) -> None:
    """A message's `cache_control` marks its last block: the end of the cached prefix."""
    if cache_control and blocks:
        blocks[-1] = {**blocks[-1], "cache_control": cache_control}


def _parts(content: Any, where: str, *, text_only: bool = False) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}.content must be a string or a list of parts",
                             param="messages")
    out: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            raise InvalidRequest(f"{where}.content[{j}] must be an object", param="messages")
        kind = part.get("type")
        if kind in ("text", "input_text"):
            if not part.get("text"):
                continue
            block: dict[str, Any] = {"type": "text", "text": str(part["text"])}
        elif text_only:
            continue  # OpenAI takes only text in system messages
        elif kind == "image_url":
            block = _image(part, f"{where}.content[{j}]")
        elif kind == "file":
            block = _document(part, f"{where}.content[{j}]")
        elif kind in ("image", "document", "search_result"):
            out.append(part)  # already Anthropic's block
            continue
        else:
            raise InvalidRequest(f"{where}.content[{j}]: anthropic does not take {kind!r} "
                                 "content", param="messages")
        if part.get("cache_control"):
            block["cache_control"] = part["cache_control"]
        out.append(block)
    return out


def _image(part: dict[str, Any], where: str) -> dict[str, Any]:
    image = image_of(part)
    if image.url is not None:
        if not image.url.startswith(("http://", "https://")):
            raise InvalidRequest(f"{where}: anthropic fetches only http(s) and data: image URLs",
                                 param="messages")
        return {"type": "image", "source": {"type": "url", "url": image.url}}
    return {"type": "image", "source": {"type": "base64", "media_type": image.media_type,
                                        "data": image.data}}


_DATA = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)", re.DOTALL)


def _document(part: dict[str, Any], where: str) -> dict[str, Any]:
    spec = part.get("file")
    data = spec.get("file_data") if isinstance(spec, dict) else None
    m = _DATA.fullmatch(data) if isinstance(data, str) else None
    if m is None:
        raise InvalidRequest(f"{where}: anthropic takes files only as base64 data: URLs "
                             "(file_data), not uploaded file ids", param="messages")
    if m.group("mime") == "application/pdf":
        source = {"type": "base64", "media_type": "application/pdf", "data": m.group("data")}
    elif m.group("mime") == "text/plain":
        try:
            text = base64.b64decode(m.group("data"), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidRequest(f"{where}: the text file is not base64 UTF-8",
                                 param="messages") from None
        source = {"type": "text", "media_type": "text/plain", "data": text}
    else:
        raise InvalidRequest(f"{where}: anthropic takes PDF and plain-text files, not "
                             f"{m.group('mime')}", param="messages")
    block: dict[str, Any] = {"type": "document", "source": source}
    if isinstance(spec, dict) and spec.get("filename"):
        block["title"] = str(spec["filename"])
    return block


def _assistant(m: dict[str, Any], where: str) -> list[dict[str, Any]]:
    # Thinking blocks (LiteLLM's field) go back first and unchanged: Anthropic checks them.
    blocks = [b for b in m.get("thinking_blocks") or ()
              if isinstance(b, dict) and b.get("type") in ("thinking", "redacted_thinking")]
    blocks += _parts(m.get("content"), where, text_only=True)
    for k, call in enumerate(m.get("tool_calls") or ()):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not fn.get("name"):
            raise InvalidRequest(f"{where}.tool_calls[{k}] needs a function name",
                                 param="messages")
        blocks.append({"type": "tool_use", "id": str(call.get("id") or f"call_{k}"),
                       "name": fn["name"],
                       "input": tool_arguments(fn.get("arguments"), f"{where}.tool_calls[{k}]")})
    return blocks


def _tool_result(m: dict[str, Any], where: str) -> dict[str, Any]:
    call_id = m.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest(f"{where}: a tool message needs tool_call_id", param="messages")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    content = m.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    elif content is not None:
        block["content"] = _parts(content, where)
    return block
