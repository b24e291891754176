"""The mock provider's answers, the model table and the deployment picker."""

from __future__ import annotations

from typing import Any

import orjson

from pllm.config.model import Deployment, RouterSettings, Settings
from pllm.providers.mock import count_tokens, respond
from pllm.providers.registry import default_registry
from pllm.router.table import build_table


def body(**kw: Any) -> bytes:
    return orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hi there"}],
                         **kw})


def test_mock_chat_is_deterministic_and_counts_tokens() -> None:
    a = orjson.loads(respond("/chat/completions", {}, body()).body)
    b = orjson.loads(respond("/chat/completions", {}, body()).body)
    assert a == b
    text = a["choices"][0]["message"]["content"]
    assert text == "This is a mock reply to: hi there"
    assert a["usage"] == {"prompt_tokens": 2, "completion_tokens": count_tokens(text),
                          "total_tokens": 2 + count_tokens(text)}


def test_mock_fixed_response_stream_and_latency_settings() -> None:
    answer = respond("/chat/completions",
                     {"mock_response": "a b", "mock_latency_ms": "250",
                      "mock_token_delay_ms": "10"},
                     body(stream=True, stream_options={"include_usage": True}))
    assert (answer.latency_s, answer.token_delay_s) == (0.25, 0.01)
    events = [orjson.loads(e) for e in answer.events[:-1]]
    assert answer.events[-1] == b"[DONE]"
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events
                   if e["choices"]) == "a b"
    assert events[-1]["usage"]["completion_tokens"] == 2


def test_mock_tools_json_embeddings_and_legacy() -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}}}}]
    call = orjson.loads(respond("/chat/completions", {}, body(tools=tools)).body)
    tc = call["choices"][0]["message"]["tool_calls"][0]
    assert call["choices"][0]["finish_reason"] == "tool_calls"
    assert tc["function"] == {"name": "lookup", "arguments": '{"q":"mock"}'}
    js = orjson.loads(respond("/chat/completions", {},
                              body(response_format={"type": "json_object"})).body)
    assert orjson.loads(js["choices"][0]["message"]["content"])["mock"] is True
    emb = orjson.loads(respond("/embeddings", {}, orjson.dumps(
        {"model": "e", "input": ["a", "b"], "dimensions": 8})).body)
    assert [len(d["embedding"]) for d in emb["data"]] == [8, 8]
    legacy = orjson.loads(respond("/completions", {}, orjson.dumps(
        {"model": "i", "prompt": "say"})).body)
    assert legacy["object"] == "text_completion"
    assert respond("/chat/completions", {}, b"{nope").status == 400


def _dep(name: str, model: str, provider: str = "openai", **kw: Any) -> Deployment:
    return Deployment(id=f"{name}-{model}-{len(kw)}-{kw.get('api_base', '')}", model_name=name,
                      provider=provider, model=model, **kw)


def test_table_exact_wildcards_and_aliases() -> None:
    settings = Settings(
        deployments=(
            _dep("gpt-4o", "gpt-4o"),
            _dep("openai/*", "*"),
            _dep("team-*", "*", api_base="http://a"),
            _dep("*", "*", provider="groq", infer_provider=True),
            _dep("zephyr", "HuggingFaceH4/zephyr-7b-beta", provider="huggingface"),
        ),
        router=RouterSettings(model_group_alias={"gpt4": "gpt-4o"}),  # type: ignore[arg-type]
    )
    table, issues = build_table(settings, default_registry())
    assert [i.severity for i in issues] == ["warning"], "huggingface: recognised, not served"

    def models(name: str) -> tuple[str, ...] | None:
        m = table.resolve(name)
        return m.models if m else None

    assert models("gpt-4o") == ("gpt-4o",)
    assert models("gpt4") == ("gpt-4o",)
    assert models("openai/gpt-4.1") == ("gpt-4.1",)
    assert models("team-gpt-4o-mini") == ("gpt-4o-mini",)
    assert models("groq/llama-3") == ("llama-3",), "provider-bound '*' serves its prefix"
    assert models("gpt-5") is None, "'*' bound to groq does not take openai's names"
    zephyr = table.resolve("zephyr")
    assert zephyr is not None and not zephyr.targets and zephyr.unavailable
