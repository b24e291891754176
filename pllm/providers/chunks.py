"""Building OpenAI-shaped answers from native ones: whole chat completions, embeddings lists, and
stream chunks. Shared by every native translator so each emits exactly OpenAI's shapes.

Stream rules (as OpenAI sends them): the first chunk carries `delta.role`; text arrives as
`delta.content`, reasoning as `delta.reasoning_content`; each tool call gets an `index` (its
position in the final `tool_calls`), its first fragment carries `id`, `type` and
`function.name` with `arguments: ""`, later fragments only `index` and argument text; one
finish chunk with an empty delta; then, only when the client asked, a `choices: []` usage chunk.
"""

from __future__ import annotations

from typing import Any, Literal

from pllm.schema import Chunk, Completion, GatewayRequest, Usage

__all__ = ["ChunkWriter", "FinishReason", "chat_completion", "embeddings_list", "tool_call"]

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


def chat_completion(
    req: GatewayRequest,
    *,
    id: str,
    content: str | None,
    finish_reason: FinishReason,
    usage: Usage | None,
    tool_calls: list[dict[str, Any]] | None = None,
    reasoning: str | None = None,
) -> Completion:
    """A `chat.completion` for the model name the client asked for."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = tool_calls
    data: dict[str, Any] = {
        "id": id, "object": "chat.completion", "created": req.created, "model": req.model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": finish_reason}],
    }
    if usage is not None:
        data["usage"] = usage.to_openai()
    return Completion(data=data)


def tool_call(id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}


def embeddings_list(req: GatewayRequest, vectors: list[Any], usage: Usage | None) -> Completion:
    """An OpenAI embeddings `list`; vectors are float lists, or base64 strings when the client
    asked for `encoding_format: base64` (the translator encodes)."""
    data: dict[str, Any] = {
        "object": "list", "model": req.model,
        "data": [{"object": "embedding", "index": i, "embedding": v}
                 for i, v in enumerate(vectors)],
        "usage": {"prompt_tokens": usage.prompt_tokens if usage else 0,
                  "total_tokens": usage.prompt_tokens if usage else 0},
    }
    return Completion(data=data)


class ChunkWriter:
    """Emits OpenAI chunks for one streamed answer (choice 0).

    Native decoders call `text`, `reasoning`, `tool_call`, `finish` as events arrive and `end`
    when the stream is over; each returns the chunks to send (possibly none). Tool calls are
    keyed by the provider's own block index and numbered 0, 1, ... in order of appearance.
    """

    __slots__ = ("_base", "_finished", "_req", "_started", "_tools", "finish_reason")

    def __init__(self, req: GatewayRequest, id: str = "") -> None:
        self._req = req
        self._base: dict[str, Any] = {"id": id, "object": "chat.completion.chunk",
                                      "created": req.created, "model": req.model}
        self._started = False
        self._finished = False
        self._tools: dict[Any, int] = {}
        self.finish_reason: FinishReason | None = None

    def set_id(self, id: str) -> None:
        if id and not self._started:
            self._base["id"] = id

    @property
    def has_tool_calls(self) -> bool:
        return bool(self._tools)

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> Chunk:
        return Chunk(data={**self._base, "choices": [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})

    def start(self) -> list[Chunk]:
        """The role chunk, once; every other method calls it first."""
        if self._started:
            return []
        self._started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def text(self, text: str) -> list[Chunk]:
        if not text:
            return self.start()
        return [*self.start(), self._chunk({"content": text})]

    def reasoning(self, text: str) -> list[Chunk]:
        if not text:
            return self.start()
        return [*self.start(), self._chunk({"reasoning_content": text})]

    def tool_call(self, key: Any, *, id: str | None = None, name: str | None = None,
                  arguments: str = "") -> list[Chunk]:
        """A tool call's first fragment (give `id` and `name`) or a later argument fragment."""
        out = self.start()
        index = self._tools.get(key)
        if index is None:
            index = self._tools[key] = len(self._tools)
            out.append(self._chunk({"tool_calls": [{
                "index": index, "id": id or f"call_{index}", "type": "function",
                "function": {"name": name or "", "arguments": arguments}}]}))
            return out
        if arguments:
            out.append(self._chunk({"tool_calls": [
                {"index": index, "function": {"arguments": arguments}}]}))
        return out

    def finish(self, reason: FinishReason) -> list[Chunk]:
        """The finish chunk, once."""
        if self._finished:
            return []
        self._finished = True
        self.finish_reason = reason
        return [*self.start(), self._chunk({}, reason)]

    def end(self, usage: Usage | None) -> list[Chunk]:
        """Close the answer: the finish chunk if none was sent (tool calls -> `tool_calls`,
        else `stop`), then the usage chunk when the client asked for one."""
        out = self.finish("tool_calls" if self._tools else "stop")
        if self._req.include_usage and usage is not None:
            out.append(Chunk(data={**self._base, "choices": [], "usage": usage.to_openai()}))
        return out
