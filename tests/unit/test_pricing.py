"""Prices and costs: config overrides, genai-prices lookups per provider and model-id form, cost
under OpenAI's and Anthropic's usage semantics, tiers, dated prices, caching, and agreement with
genai-prices' own calculation. Everything reads the snapshot bundled with genai-prices."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from genai_prices import Usage as GenaiUsage
from genai_prices import data_snapshot
from genai_prices.data import providers as bundled_providers
from genai_prices.data_snapshot import DataSnapshot

from pllm.config.model import Deployment, FrozenDict
from pllm.limits.pricing import DEFAULT_OUTPUT_CAP, Price, Pricing
from pllm.providers.anthropic_stream import usage_from_anthropic
from pllm.schema import Usage

NOON = datetime(2025, 9, 1, 12, 0, tzinfo=UTC).timestamp()  # a fixed day, DeepSeek peak hours


def dep(provider: str, model: str, *, info: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None, defaults: dict[str, Any] | None = None) -> Deployment:
    return Deployment(id="d1", model_name="group", provider=provider, model=model,
                      model_info=FrozenDict(info), params=FrozenDict(params),
                      defaults=FrozenDict(defaults))


@pytest.fixture(scope="module")
def snapshot() -> DataSnapshot:
    return DataSnapshot(providers=bundled_providers, from_auto_update=False)


@pytest.fixture
def pricing(snapshot: DataSnapshot) -> Pricing:
    return Pricing(lambda: NOON, snapshot=snapshot)


def usage(prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> Usage:
    return Usage(prompt_tokens=prompt, completion_tokens=completion,
                 total_tokens=prompt + completion, cached_tokens=cached,
                 reasoning_tokens=reasoning)


def test_model_info_prices_override_the_price_list(pricing: Pricing) -> None:
    d = dep("openai", "gpt-4o-mini", info={"input_cost_per_token": 1e-6,
                                           "output_cost_per_token": 2e-6})
    assert pricing.price(d, "gpt-4o-mini") == Price(1e-6, 2e-6, None, None, "config")
    assert pricing.cost(d, "gpt-4o-mini", usage(1000, 500)) == pytest.approx(1000e-6 + 1000e-6)


def test_litellm_params_prices_and_cache_rates(pricing: Pricing) -> None:
    d = dep("mock", "anything", params={
        "input_cost_per_token": 4e-6, "output_cost_per_token": 8e-6,
        "cache_read_input_token_cost": 1e-6, "cache_creation_input_token_cost": 5e-6})
    price = pricing.price(d, "anything")
    assert price == Price(4e-6, 8e-6, 1e-6, 5e-6, "config")
    # 1000 prompt tokens of which 600 read from the cache, 100 completion tokens.
    assert pricing.cost(d, "anything", usage(1000, 100, cached=600)) == pytest.approx(
        400 * 4e-6 + 600 * 1e-6 + 100 * 8e-6)


def test_model_info_wins_over_params_and_strings_are_read(pricing: Pricing) -> None:
    d = dep("openai", "gpt-4o", info={"input_cost_per_token": "1e-6"},
            params={"input_cost_per_token": 9e-6, "output_cost_per_token": 3e-6})
    assert pricing.price(d, "gpt-4o") == Price(1e-6, 3e-6, source="config")


def test_an_input_price_alone_prices_an_embedding_model(pricing: Pricing) -> None:
    d = dep("openai", "my-embedder", info={"input_cost_per_token": 1e-7})
    assert pricing.price(d, "my-embedder") == Price(1e-7, 0.0, source="config")
    assert pricing.cost(d, "my-embedder", usage(100, 0)) == pytest.approx(1e-5)


@pytest.mark.parametrize("bad", [-1e-6, True, "cheap", None])
def test_unusable_config_prices_are_ignored(pricing: Pricing, bad: Any) -> None:
    d = dep("openai", "gpt-4o-mini", info={"input_cost_per_token": bad})
    price = pricing.price(d, "gpt-4o-mini")
    assert price is not None and price.source == "genai-prices"


LOOKUPS = [
    # provider, model as configured, USD per million input / output tokens
    ("openai", "gpt-4o-mini", 0.15, 0.6),
    ("openai", "gpt-4o-mini-2024-07-18", 0.15, 0.6),
    ("anthropic", "claude-3-5-sonnet-20241022", 3, 15),
    ("anthropic", "claude-3-5-sonnet-latest", 3, 15),
    ("gemini", "gemini-2.0-flash", 0.1, 0.4),
    ("gemini", "models/gemini-2.0-flash-001", 0.1, 0.4),
    ("vertex_ai", "gemini-2.0-flash-001", 0.1, 0.4),
    ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", 3, 15),
    ("bedrock", "us.anthropic.claude-3-5-sonnet-20240620-v1:0", 3, 15),
    ("bedrock", "converse/eu.anthropic.claude-3-7-sonnet-20250219-v1:0", 3, 15),
    ("bedrock", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
                "us.anthropic.claude-3-haiku-20240307-v1:0", 0.25, 1.25),
    ("bedrock", "amazon.nova-pro-v1:0", 0.8, 3.2),
    ("vertex_ai", "claude-3-5-haiku@20241022", 0.8, 4),
    ("vertex_ai", "claude-3-5-sonnet-v2@20241022", 3, 15),
    ("azure", "gpt-4o", 2.5, 10),
    ("groq", "llama-3.3-70b-versatile", 0.59, 0.79),
    ("cohere", "command-r-plus", 2.5, 10),
    ("mistral", "mistral-large-latest", 2, 6),
    ("deepseek", "deepseek-chat", 0.27, 1.1),
    ("xai", "grok-3-mini", 0.3, 0.5),
    ("openrouter", "openai/gpt-4o-mini", 0.15, 0.6),
    ("together_ai", "meta-llama/Llama-3.3-70B-Instruct-Turbo", 0.88, 0.88),
]


@pytest.mark.parametrize(("provider", "model", "inp", "out"), LOOKUPS,
                         ids=[f"{p}:{m}" for p, m, _, _ in LOOKUPS])
def test_well_known_models_are_priced(pricing: Pricing, provider: str, model: str,
                                      inp: float, out: float) -> None:
    price = pricing.price(dep(provider, model), model)
    assert price is not None
    assert price.source == "genai-prices"
    assert price.input == pytest.approx(inp / 1e6)
    assert price.output == pytest.approx(out / 1e6)
    assert not pricing.unknown_models()


def test_azure_deployment_names_use_base_model(pricing: Pricing) -> None:
    d = dep("azure", "prod-chat-east", info={"base_model": "azure/gpt-4o-mini"})
    price = pricing.price(d, "prod-chat-east")
    assert price is not None and price.input == pytest.approx(0.15e-6)
    assert pricing.price(dep("azure", "prod-chat-east"), "prod-chat-east") is None


def test_anthropic_prices_carry_cache_rates(pricing: Pricing) -> None:
    price = pricing.price(dep("anthropic", "claude-3-5-sonnet-20241022"),
                          "claude-3-5-sonnet-20241022")
    assert price == Price(3e-6, 15e-6, 0.3e-6, 3.75e-6, "genai-prices")


def genai_total(provider_id: str, model: str, when: float, **counts: int) -> float:
    from genai_prices import calc_price

    result = calc_price(GenaiUsage(**counts), model, provider_id=provider_id,
                        genai_request_timestamp=datetime.fromtimestamp(when, UTC))
    return float(result.total_price)


def test_openai_cached_and_reasoning_tokens(pricing: Pricing) -> None:
    """OpenAI: prompt_tokens include cached_tokens; completion_tokens include reasoning."""
    d = dep("openai", "gpt-4o-mini")
    cost = pricing.cost(d, "gpt-4o-mini", usage(1000, 500, cached=400, reasoning=200))
    assert cost == pytest.approx(600 * 0.15e-6 + 400 * 0.075e-6 + 500 * 0.6e-6)
    assert cost == pytest.approx(genai_total("openai", "gpt-4o-mini", NOON, input_tokens=1000,
                                             cache_read_tokens=400, output_tokens=500))
    assert pricing.cost(d, "gpt-4o-mini", usage(1000, 500, cached=400)) == cost


def test_anthropic_usage_as_pllm_reports_it(pricing: Pricing) -> None:
    """pllm's Anthropic usage: prompt = input + cache writes + cache reads, cached = reads.
    Usage does not carry cache writes apart, so they cost the plain input price."""
    u = usage_from_anthropic({"input_tokens": 100, "cache_creation_input_tokens": 300,
                              "cache_read_input_tokens": 600, "output_tokens": 50})
    d = dep("anthropic", "claude-3-5-sonnet-20241022")
    cost = pricing.cost(d, "claude-3-5-sonnet-20241022", u)
    assert cost == pytest.approx(400 * 3e-6 + 600 * 0.3e-6 + 50 * 15e-6)
    assert cost == pytest.approx(genai_total(
        "anthropic", "claude-3-5-sonnet-20241022", NOON, input_tokens=1000,
        cache_read_tokens=600, output_tokens=50))


def test_cache_writes_passed_apart_cost_the_cache_write_price(pricing: Pricing) -> None:
    """The same request with its 300 cache-write tokens named: Anthropic bills them at 1.25x."""
    u = usage_from_anthropic({"input_tokens": 100, "cache_creation_input_tokens": 300,
                              "cache_read_input_tokens": 600, "output_tokens": 50})
    d = dep("anthropic", "claude-3-5-sonnet-20241022")
    cost = pricing.cost(d, d.model, u, cache_write_tokens=300)
    assert cost == pytest.approx(100 * 3e-6 + 300 * 3.75e-6 + 600 * 0.3e-6 + 50 * 15e-6)
    assert cost == pytest.approx(genai_total(
        "anthropic", "claude-3-5-sonnet-20241022", NOON, input_tokens=1000,
        cache_read_tokens=600, cache_write_tokens=300, output_tokens=50))
    # A model without a cache-write price bills writes as input; overlong counts are clamped.
    mini = dep("openai", "gpt-4o-mini")
    assert pricing.cost(mini, mini.model, usage(1000, 0, cached=400), cache_write_tokens=300) \
        == pricing.cost(mini, mini.model, usage(1000, 0, cached=400))
    assert pricing.cost(d, d.model, usage(1000, 0, cached=600), cache_write_tokens=5000) == \
        pytest.approx(400 * 3.75e-6 + 600 * 0.3e-6)


def test_reasoning_tokens_at_their_own_price(pricing: Pricing) -> None:
    """Perplexity's sonar-deep-research bills reasoning at $3/M against $8/M for the rest of
    the output; reasoning tokens are inside completion_tokens, so they are billed once."""
    d = dep("perplexity", "sonar-deep-research")
    price = pricing.price(d, d.model)
    assert price is not None and price.reasoning == pytest.approx(3e-6)
    cost = pricing.cost(d, d.model, usage(1000, 500, reasoning=200))
    assert cost == pytest.approx(1000 * 2e-6 + 300 * 8e-6 + 200 * 3e-6)
    assert cost == pytest.approx(genai_total("perplexity", "sonar-deep-research", NOON,
                                             input_tokens=1000, output_tokens=500,
                                             output_reasoning_tokens=200))
    # Elsewhere reasoning is output like any other (OpenAI's o-series, Gemini's thoughts).
    o3 = dep("openai", "o3")
    assert pricing.cost(o3, "o3", usage(1000, 500, reasoning=400)) == \
        pricing.cost(o3, "o3", usage(1000, 500))


def test_config_reasoning_and_cache_write_prices(pricing: Pricing) -> None:
    d = dep("mock", "m", info={"input_cost_per_token": 1e-6, "output_cost_per_token": 4e-6,
                               "cache_creation_input_token_cost": 2e-6,
                               "output_cost_per_reasoning_token": 6e-6})
    assert pricing.price(d, "m") == Price(1e-6, 4e-6, None, 2e-6, "config", 6e-6)
    assert pricing.cost(d, "m", usage(1000, 100, reasoning=40), cache_write_tokens=250) == \
        pytest.approx(750 * 1e-6 + 250 * 2e-6 + 60 * 4e-6 + 40 * 6e-6)
    assert pricing.max_cost(d, "m", 1000, 100) == pytest.approx(1000 * 2e-6 + 100 * 6e-6)


def test_a_model_without_a_cache_price_bills_cached_tokens_as_input(pricing: Pricing) -> None:
    d = dep("bedrock", "anthropic.claude-3-haiku-20240307-v1:0")
    price = pricing.price(d, d.model)
    assert price is not None and price.cached_input is None
    assert pricing.cost(d, d.model, usage(1000, 0, cached=500)) == pytest.approx(1000 * 0.25e-6)


def test_cached_tokens_beyond_the_prompt_are_clamped(pricing: Pricing) -> None:
    d = dep("openai", "gpt-4o-mini")
    assert pricing.cost(d, d.model, usage(100, 0, cached=500)) == pytest.approx(100 * 0.075e-6)


def test_tiers_follow_the_prompt_size(pricing: Pricing) -> None:
    d = dep("gemini", "gemini-2.5-pro")
    small = pricing.cost(d, d.model, usage(100_000, 1000))
    large = pricing.cost(d, d.model, usage(300_000, 1000, cached=50_000))
    assert small == pytest.approx(100_000 * 1.25e-6 + 1000 * 10e-6)
    assert large == pytest.approx(genai_total("google", "gemini-2.5-pro", NOON,
                                              input_tokens=300_000, cache_read_tokens=50_000,
                                              output_tokens=1000))
    assert large is not None and large > 300_000 * 1.25e-6 + 1000 * 10e-6


def test_per_request_fees_are_included(pricing: Pricing) -> None:
    d = dep("perplexity", "sonar")
    assert pricing.cost(d, "sonar", usage(1000, 1000)) == pytest.approx(
        genai_total("perplexity", "sonar", NOON, input_tokens=1000, output_tokens=1000))


def test_prices_that_change_by_time_of_day(snapshot: DataSnapshot) -> None:
    now = [NOON]
    pricing = Pricing(lambda: now[0], snapshot=snapshot)
    d = dep("deepseek", "deepseek-chat")
    peak = pricing.price(d, "deepseek-chat")
    now[0] = datetime(2025, 9, 1, 20, 0, tzinfo=UTC).timestamp()
    off_peak = pricing.price(d, "deepseek-chat")
    assert peak is not None and off_peak is not None
    assert off_peak.input == pytest.approx(peak.input / 2)


def test_prices_that_change_by_date(snapshot: DataSnapshot) -> None:
    before = Pricing(lambda: datetime(2025, 6, 1, tzinfo=UTC).timestamp(), snapshot=snapshot)
    after = Pricing(lambda: datetime(2025, 7, 1, tzinfo=UTC).timestamp(), snapshot=snapshot)
    d = dep("openai", "o3")
    assert before.cost(d, "o3", usage(1_000_000, 0)) == pytest.approx(10.0)
    assert after.cost(d, "o3", usage(1_000_000, 0)) == pytest.approx(2.0)


def test_same_result_as_genai_prices_for_every_token_priced_model(
        pricing: Pricing, snapshot: DataSnapshot) -> None:
    """The fast path reproduces genai-prices' calc_price over its whole price list."""
    from pllm.limits.pricing import _from_genai

    when = datetime.fromtimestamp(NOON, UTC)
    checked = 0
    for provider in snapshot.providers:
        for model in provider.models:
            entry = _from_genai(model.get_prices(when))
            if entry is None:
                continue
            for prompt, cached, completion in ((1000, 0, 500), (300_000, 100_000, 2000),
                                               (50, 50, 10)):
                want = model.calc_price(
                    GenaiUsage(input_tokens=prompt, cache_read_tokens=cached,
                               output_tokens=completion),
                    provider, genai_request_timestamp=when).total_price
                assert entry.cost(prompt, cached, completion) == pytest.approx(
                    float(want), rel=1e-9, abs=1e-15), (provider.id, model.id)
                checked += 1
    assert checked > 1000


def test_same_result_as_genai_prices_with_cache_writes_and_reasoning(
        snapshot: DataSnapshot) -> None:
    from pllm.limits.pricing import _from_genai

    when = datetime.fromtimestamp(NOON, UTC)
    checked = 0
    for provider in snapshot.providers:
        for model in provider.models:
            entry = _from_genai(model.get_prices(when))
            if entry is None:
                continue
            for prompt, cached, written, completion, thought in (
                    (1000, 200, 300, 500, 100), (300_000, 50_000, 100_000, 2000, 2000)):
                want = model.calc_price(
                    GenaiUsage(input_tokens=prompt, cache_read_tokens=cached,
                               cache_write_tokens=written, output_tokens=completion,
                               output_reasoning_tokens=thought),
                    provider, genai_request_timestamp=when).total_price
                assert entry.cost(prompt, cached, completion, written, thought) == \
                    pytest.approx(float(want), rel=1e-9, abs=1e-15), (provider.id, model.id)
                checked += 1
    assert checked > 1000


def test_max_cost_bounds_every_usage_within_the_caps(snapshot: DataSnapshot) -> None:
    """Random usages no larger than the reservation's counts never cost more than it, for
    every token-priced model (tiers, cache writes dearer than input, reasoning rates)."""
    import random

    from pllm.limits.pricing import _from_genai

    rng = random.Random(5)
    when = datetime.fromtimestamp(NOON, UTC)
    for provider in snapshot.providers:
        for model in provider.models:
            entry = _from_genai(model.get_prices(when))
            if entry is None:
                continue
            cap_prompt = rng.choice((1_000, 150_000, 300_000, 1_500_000))
            cap_output = rng.choice((256, 4096, 65_536))
            ceiling = entry.ceiling(cap_prompt, cap_output)
            for _ in range(20):
                prompt = rng.randint(0, cap_prompt)
                cached = rng.randint(0, prompt)
                written = rng.randint(0, prompt - cached)
                completion = rng.randint(0, cap_output)
                cost = entry.cost(prompt, cached, completion, written,
                                  rng.randint(0, completion))
                assert cost <= ceiling * (1 + 1e-12), (provider.id, model.id)


def test_unknown_models_have_no_price_and_are_reported_once(pricing: Pricing) -> None:
    d = dep("openai", "gpt-nonexistent-9")
    assert pricing.price(d, d.model) is None
    assert pricing.cost(d, d.model, usage(10, 10)) is None
    assert pricing.max_cost(d, d.model, 10, 10) is None
    assert pricing.price(dep("ollama", "llama3"), "llama3") is None  # self-hosted: no list price
    assert pricing.price(dep("groq", "whisper-large-v3"), "whisper-large-v3") is None  # per hour
    expected = [("groq", "whisper-large-v3"), ("ollama", "llama3"),
                ("openai", "gpt-nonexistent-9")]
    assert pricing.new_unknown() == expected
    assert pricing.new_unknown() == []
    assert pricing.unknown_models() == frozenset(expected)


def test_a_wildcard_is_not_a_model(pricing: Pricing) -> None:
    assert pricing.price(dep("openai", "*"), "*") is None


def test_free_models_cost_nothing(pricing: Pricing) -> None:
    d = dep("openrouter", "deepseek/deepseek-chat:free")
    assert pricing.cost(d, d.model, usage(1000, 1000)) == 0.0


def test_max_cost_prices_every_prompt_token_in_full(pricing: Pricing) -> None:
    d = dep("openai", "gpt-4o-mini")
    assert pricing.max_cost(d, d.model, 1000, 4096) == pytest.approx(
        1000 * 0.15e-6 + 4096 * 0.6e-6)
    g = dep("gemini", "gemini-2.5-pro")
    assert pricing.max_cost(g, g.model, 300_000, 1000) == pytest.approx(
        genai_total("google", "gemini-2.5-pro", NOON, input_tokens=300_000, output_tokens=1000))
    # Anthropic: a cache write (1.25x input) is the dearest way to spend a prompt token.
    a = dep("anthropic", "claude-3-5-sonnet-20241022")
    assert pricing.max_cost(a, a.model, 1000, 4096) == pytest.approx(
        1000 * 3.75e-6 + 4096 * 15e-6)


CAPS = [
    (dep("openai", "gpt-4o-mini"), 16_384),
    (dep("openai", "o3-mini"), 100_000),
    (dep("anthropic", "claude-3-5-haiku-20241022"), 8_192),
    (dep("anthropic", "claude-opus-4-1-20250805"), 32_000),
    (dep("anthropic", "claude-opus-4-5"), 64_000),
    (dep("bedrock", "us.anthropic.claude-3-5-sonnet-20240620-v1:0"), 8_192),
    (dep("vertex_ai", "claude-3-haiku@20240307"), 4_096),
    (dep("gemini", "gemini-2.5-flash"), 65_536),
    (dep("azure", "prod", info={"base_model": "azure/gpt-4.1"}), 32_768),
    (dep("openai", "gpt-4o", info={"max_output_tokens": 1234}), 1234),
    (dep("openai", "gpt-4o", info={"max_tokens": 2345}), 2345),
    (dep("openai", "gpt-4o", info={"max_tokens": 2345}, defaults={"max_tokens": 99}), 99),
    (dep("mock", "fake-model"), DEFAULT_OUTPUT_CAP),
]


@pytest.mark.parametrize(("d", "cap"), CAPS, ids=[f"{d.provider}:{d.model}" for d, _ in CAPS])
def test_output_cap(pricing: Pricing, d: Deployment, cap: int) -> None:
    assert pricing.output_cap(d, d.model) == cap


class Spy:
    def __init__(self, snapshot: DataSnapshot) -> None:
        self.snapshot = snapshot
        self.calls: list[str] = []

    def find_provider_model(self, ref: str, *args: Any) -> Any:
        self.calls.append(ref)
        return self.snapshot.find_provider_model(ref, *args)


def test_lookups_are_cached(snapshot: DataSnapshot) -> None:
    spy = Spy(snapshot)
    pricing = Pricing(lambda: NOON, snapshot=spy)  # type: ignore[arg-type]
    d = dep("openai", "gpt-4o-mini")
    unknown = dep("openai", "gpt-nonexistent-9")
    for _ in range(3):
        pricing.cost(d, d.model, usage(10, 10))
        pricing.max_cost(d, d.model, 10, 10)
        pricing.price(unknown, unknown.model)
    assert spy.calls == ["gpt-4o-mini", "gpt-nonexistent-9"]
    # Another deployment of the same model with its own prices is its own entry.
    priced = dep("openai", "gpt-4o-mini", info={"input_cost_per_token": 1e-6})
    price = pricing.price(priced, "gpt-4o-mini")
    assert price is not None and price.source == "config"
    assert len(spy.calls) == 2


def test_unhashable_settings_are_priced_uncached(pricing: Pricing) -> None:
    d = dep("openai", "gpt-4o-mini", info={"tags": {"a", "b"}, "max_output_tokens": 77})
    price = pricing.price(d, d.model)
    assert price is not None and price.input == pytest.approx(0.15e-6)
    assert pricing.output_cap(d, d.model) == 77


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("pricing tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


def test_only_the_bundled_price_list_is_read(monkeypatch: pytest.MonkeyPatch,
                                             no_network: None) -> None:
    """A snapshot installed process-wide (what genai-prices' UpdatePrices does after a fetch)
    is not used, and nothing connects anywhere."""
    monkeypatch.setattr(data_snapshot, "_custom_snapshot",
                        DataSnapshot(providers=[], from_auto_update=True))
    pricing = Pricing(lambda: NOON)
    pricing.preload()
    price = pricing.price(dep("openai", "gpt-4o-mini"), "gpt-4o-mini")
    assert price is not None and price.input == pytest.approx(0.15e-6)
