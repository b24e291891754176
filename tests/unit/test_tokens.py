"""Prompt token estimates: the tiktoken path against tiktoken itself (and OpenAI's cookbook), the
cheap estimate's bound against tiktoken on English, CJK and code, and the body shapes of each
endpoint."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import tiktoken

from pllm.limits import tokens
from pllm.limits.tokens import (
    ENCODING,
    MEDIA_TOKENS,
    estimate_prompt_tokens,
    estimate_text_tokens,
)

ENC = tiktoken.get_encoding(ENCODING)
ROOT = Path(__file__).parents[2]


def n(text: str) -> int:
    return len(ENC.encode_ordinary(text))


def chat(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": list(messages), **extra}


def test_tiktoken_path_counts_like_tiktoken() -> None:
    body = chat({"role": "user", "content": "Hello, world! How are you today?"})
    assert estimate_prompt_tokens(body, "chat", "openai") == 3 + 3 + n("user") + n(
        "Hello, world! How are you today?")


def test_openai_cookbook_example_is_129_tokens() -> None:
    """The example of OpenAI's "How to count tokens with tiktoken" (gpt-4-0613: 129 prompt
    tokens, as the API reported)."""
    messages = [
        {"role": "system", "content": "You are a helpful, pattern-following assistant that "
                                      "translates corporate jargon into plain English."},
        {"role": "system", "name": "example_user",
         "content": "New synergies will help drive top-line growth."},
        {"role": "system", "name": "example_assistant",
         "content": "Things working well together will increase revenue."},
        {"role": "system", "name": "example_user",
         "content": "Let's circle back when we have more bandwidth to touch base on "
                    "opportunities for increased leverage."},
        {"role": "system", "name": "example_assistant",
         "content": "Let's talk later when we're less busy about how to do better."},
        {"role": "user", "content": "This late pivot means we don't have time to boil the "
                                    "ocean for the client deliverable."},
    ]
    assert estimate_prompt_tokens(chat(*messages), "chat", "azure") == 129


ENGLISH = [
    "The quick brown fox jumps over the lazy dog while the farmer watches from the porch.",
    "Budgets reset on calendar boundaries in UTC, so a monthly budget that is exhausted on the "
    "thirtieth gives its owner a fresh allowance a day later; reservations are released when "
    "the request ends, whether it succeeds or fails.",
    "In 1969, Apollo 11 landed on the Moon. Neil Armstrong and Buzz Aldrin spent about two and "
    "a quarter hours together outside the spacecraft, collecting 47.5 pounds of lunar material.",
]
CJK = [
    "人工智能是计算机科学的一个分支，它企图了解智能的实质，并生产出一种新的能以人类智能相似的"
    "方式做出反应的智能机器。该领域的研究包括机器人、语言识别、图像识别、自然语言处理和专家系统等。",
    "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした"
    "所でニャーニャー泣いていた事だけは記憶している。吾輩はここで始めて人間というものを見た。",
    "대한민국은 동아시아의 한반도 남부에 위치한 민주공화국이다. 수도는 서울특별시이며, 국기는 "
    "태극기, 국가는 애국가, 공용어는 한국어이다. 인구는 약 오천만 명이다.",
    "파이썬은 배우기 쉽고, 강력한 프로그래밍 언어입니다. 파이썬은 효율적인 고수준 데이터 구조와 "
    "간단하지만 효율적인 객체지향프로그래밍을 지원합니다.",
]
CODE = [
    (ROOT / "pllm" / "limits" / "tokens.py").read_text(),
    (ROOT / "pllm" / "limits" / "pricing.py").read_text(),
    'def add(a: int, b: int) -> int:\n    """Add two numbers."""\n    return a + b\n',
    '{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",'
    ' "properties": {"city": {"type": "string"}}, "required": ["city"]}}}',
]


@pytest.mark.parametrize("text", ENGLISH + CJK + CODE,
                         ids=[f"en{i}" for i in range(len(ENGLISH))]
                         + [f"cjk{i}" for i in range(len(CJK))]
                         + [f"code{i}" for i in range(len(CODE))])
def test_estimate_is_never_far_below_tiktoken(text: str) -> None:
    real = n(text)
    estimate = estimate_text_tokens(text)
    assert 0.9 * real <= estimate <= 2.0 * real, (estimate, real)


def test_non_openai_providers_get_the_estimate() -> None:
    body = chat({"role": "system", "content": ENGLISH[1]}, {"role": "user", "content": CJK[0]})
    cheap = estimate_prompt_tokens(body, "chat", "anthropic")
    exact = estimate_prompt_tokens(body, "chat", "openai")
    assert cheap == 3 + 2 * 3 + sum(map(estimate_text_tokens,
                                        ["system", ENGLISH[1], "user", CJK[0]]))
    assert cheap >= 0.9 * exact


def test_past_the_exact_limit_openai_prompts_are_estimated() -> None:
    body = chat({"role": "user", "content": ENGLISH[0] * 10})
    assert estimate_prompt_tokens(body, "chat", "openai", exact_limit=100) == \
        estimate_prompt_tokens(body, "chat", "groq")
    assert estimate_prompt_tokens(body, "chat", "openai") < \
        estimate_prompt_tokens(body, "chat", "groq")


def test_content_parts_media_and_names() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 50_000}}
    body = chat({"role": "user", "name": "bob",
                 "content": [{"type": "text", "text": "What is this?"}, image]})
    assert estimate_prompt_tokens(body, "chat", "openai") == \
        3 + 3 + n("user") + n("bob") + 1 + n("What is this?") + MEDIA_TOKENS


def test_tool_calls_and_tools_count_as_json() -> None:
    call = {"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}
    plain = chat({"role": "assistant", "content": None})
    with_call = chat({"role": "assistant", "content": None, "tool_calls": [call]})
    with_tools = chat({"role": "assistant", "content": None}, tools=[tool])
    base = estimate_prompt_tokens(plain, "chat", "openai")
    assert estimate_prompt_tokens(with_call, "chat", "openai") > base + n("get_weather")
    assert estimate_prompt_tokens(with_tools, "chat", "openai") > base + n("get_weather")


def test_anthropic_messages_body() -> None:
    body = {
        "model": "claude", "max_tokens": 100,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "Sunny, 21C"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                             "data": "A" * 10_000}}]},
        ],
    }
    total = estimate_prompt_tokens(body, "messages", "anthropic")
    texts = ["Be brief.", "user", "Weather in Paris?", "assistant", "user", "Sunny, 21C"]
    floor = 3 + 3 * 3 + MEDIA_TOKENS + sum(map(estimate_text_tokens, texts))
    assert floor < total < floor + 50  # + the tool_use block's JSON


@pytest.mark.parametrize(("prompt", "expected"), [
    ("Say this is a test", n("Say this is a test")),
    (["one", "two three"], n("one") + n("two three")),
    ([1, 2, 3, 4], 4),
    ([[1, 2], [3, 4, 5]], 5),
    (None, 0),
])
def test_completion_prompts_and_embedding_inputs(prompt: Any, expected: int) -> None:
    assert estimate_prompt_tokens({"prompt": prompt}, "completions", "openai") == expected
    assert estimate_prompt_tokens({"input": prompt}, "embeddings", "openai") == expected


def test_awkward_text_does_not_raise() -> None:
    for provider in ("openai", "anthropic"):
        body = chat({"role": "user", "content": "<|endoftext|> and a lone \ud800 surrogate"})
        assert estimate_prompt_tokens(body, "chat", provider) > 6
        deep: Any = "x"
        for _ in range(200):
            deep = [deep]
        assert estimate_prompt_tokens(chat({"role": "user", "content": deep}), "chat",
                                      provider) >= 6
        huge = {"type": "custom", "value": 2**70}  # orjson cannot encode it
        assert estimate_prompt_tokens(chat({"role": "user", "content": [huge]}), "chat",
                                      provider) >= 6


def test_without_the_encoding_openai_prompts_are_estimated(
        monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tokens._Tokenizer()

    def unknown_encoding(name: str) -> Any:
        raise ValueError(f"Unknown encoding {name}")

    monkeypatch.setattr(tiktoken, "get_encoding", unknown_encoding)
    monkeypatch.setattr(tokens, "_TOKENIZER", broken)
    body = chat({"role": "user", "content": ENGLISH[2]})
    assert not tokens.preload()
    assert estimate_prompt_tokens(body, "chat", "openai") == \
        estimate_prompt_tokens(body, "chat", "anthropic")


def test_the_encoding_loads_once_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = tokens._Tokenizer()
    loads: list[int] = []
    real_load = tokens._Tokenizer._load

    def counted() -> Any:
        loads.append(1)
        return real_load()

    monkeypatch.setattr(fresh, "_load", counted)
    monkeypatch.setattr(tokens, "_TOKENIZER", fresh)
    threads = [threading.Thread(target=tokens.preload) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == [1]
    assert tokens.tokenizer_available()
