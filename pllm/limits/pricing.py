"""What a request costs: per-token prices, the cost of a finished request, the most a request can
cost (for budget reservations), and how many output tokens to assume when none are capped.

Prices come from the deployment's own config first (`model_info` then `litellm_params`, under
LiteLLM's names `input_cost_per_token`, `output_cost_per_token`, `cache_read_input_token_cost`,
`cache_creation_input_token_cost`, `output_cost_per_reasoning_token`), else from the price list
bundled with the `genai-prices` package. Only the bundled list is read: the package's
`UpdatePrices` fetcher is never started and its process-wide snapshot is not used, so nothing
here touches the network.

Pure: no I/O, no logging (prices nobody knows are collected for the caller to warn about once,
`Pricing.new_unknown()`), wall time from an injected clock (genai-prices has dated prices and
DeepSeek's off-peak hours). Lookups are cached per (provider, model, the deployment's settings):
after the first, a cost is a dict lookup and a few multiplications. genai-prices' own
`calc_price` costs ~48 µs a call here, so its rules (prompt tokens include cache reads and
writes, completion tokens include reasoning, each priced at its own rate where the model has one;
a tier, chosen by the prompt's size, prices every token; per-request fees) are reproduced below
and checked against it in tests/unit/test_pricing.py.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pllm.config.catalog import split_model
from pllm.config.model import Deployment
from pllm.schema import Usage

if TYPE_CHECKING:
    from genai_prices.data_snapshot import DataSnapshot
    from genai_prices.types import ModelInfo, ModelPrice

__all__ = ["DEFAULT_OUTPUT_CAP", "GENAI_PROVIDERS", "Price", "PriceSource", "Pricing"]

PriceSource = Literal["config", "genai-prices"]
DEFAULT_OUTPUT_CAP = 4096
"""Output tokens assumed when neither the deployment nor the model table below says more: the
most common cap of the last model generation. Newer models can write more; a reservation made
with it is then corrected when the request's real cost is booked."""

# pllm (LiteLLM) provider names -> genai-prices provider ids. Providers people run themselves
# (ollama, vllm, the mock) have no list price: they are absent, so their price is unknown.
GENAI_PROVIDERS: Mapping[str, str] = {
    "openai": "openai", "text-completion-openai": "openai", "chatgpt": "openai",
    "azure": "azure", "azure_text": "azure", "azure_ai": "azure",
    "anthropic": "anthropic", "anthropic_text": "anthropic",
    "bedrock": "aws", "bedrock_mantle": "aws",
    "vertex_ai": "google", "vertex_ai_beta": "google", "gemini": "google", "palm": "google",
    "groq": "groq", "cohere": "cohere", "cohere_chat": "cohere",
    "mistral": "mistral", "codestral": "mistral", "text-completion-codestral": "mistral",
    "deepseek": "deepseek", "xai": "x-ai", "openrouter": "openrouter",
    "together_ai": "together", "fireworks_ai": "fireworks", "cerebras": "cerebras",
    "perplexity": "perplexity", "databricks": "databricks", "moonshot": "moonshotai",
    "novita": "novita", "cloudflare": "cloudflare", "voyage": "voyageai",
    "github_copilot": "github-copilot", "baseten": "baseten", "ovhcloud": "ovhcloud",
    "minimax": "minimax", "zai": "zai", "meta_llama": "meta", "cursor": "cursor",
}

# The most output tokens a model may write, from the providers' model pages (2025), for when
# neither client nor deployment sets a limit. genai-prices has context windows but not this.
# The longest prefix of the bare model id (no Bedrock region/vendor, no Vertex @version) wins.
_OUTPUT_CAPS: Mapping[str, int] = {
    "gpt-5": 128_000, "gpt-4.1": 32_768, "gpt-4o": 16_384, "chatgpt-4o": 16_384,
    "gpt-4-turbo": 4_096, "gpt-4": 8_192, "gpt-3.5": 4_096, "gpt-35": 4_096,
    "o1-mini": 65_536, "o1": 100_000, "o3": 100_000, "o4-mini": 100_000,
    "claude-3-haiku": 4_096, "claude-3-opus": 4_096, "claude-3-sonnet": 4_096,
    "claude-3-5": 8_192, "claude-3-7": 64_000, "claude-sonnet-4": 64_000,
    "claude-haiku-4": 64_000, "claude-opus-4": 32_000, "claude-opus-4-5": 64_000,
    "gemini-1.5": 8_192, "gemini-2.0": 8_192, "gemini-2.5": 65_536,
    "deepseek-chat": 8_192, "deepseek-reasoner": 64_000,
}
_MODEL_INFO_CAPS = ("max_output_tokens", "max_tokens")
_DEFAULT_CAPS = ("max_completion_tokens", "max_tokens")
_BEDROCK_PREFIX = re.compile(r"^(?:(?:us|eu|apac|global|us-gov|jp|au)\.)?[a-z0-9-]+\.(?=[a-z])")
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?$")
_MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Price:
    """Per-token USD. `cached_input` and `cache_write` None mean "as `input`", `reasoning` None
    "as `output`". For models whose price rises with the prompt's size (Gemini 2.5 Pro past 200k
    tokens), the base tier; `cost` and `max_cost` apply the tiers."""

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    source: PriceSource = "config"
    reasoning: float | None = None


@dataclass(frozen=True, slots=True)
class _Rate:
    """One per-token price; `tiers` are (prompt tokens above which it applies, price), ascending.
    As in genai-prices, a tier prices every token of the request, not just those past it."""

    base: float
    tiers: tuple[tuple[int, float], ...] = ()

    def at(self, prompt_tokens: int) -> float:
        for start, price in reversed(self.tiers):
            if prompt_tokens > start:
                return price
        return self.base

    def most(self, prompt_tokens: int) -> float:
        """The dearest price a prompt of at most this size can meet."""
        return max([self.base, *(p for s, p in self.tiers if prompt_tokens > s)])


@dataclass(frozen=True, slots=True)
class _Entry:
    price: Price
    input: _Rate
    output: _Rate
    cached: _Rate
    write: _Rate
    reasoning: _Rate | None = None
    per_request: float = 0.0

    def cost(self, prompt: int, cached: int, completion: int, written: int = 0,
             reasoning: int = 0) -> float:
        """Cache reads and writes are part of `prompt`, reasoning of `completion` (OpenAI's
        usage): each billed once, at its own rate; counts beyond their total are clamped."""
        cached = min(max(cached, 0), prompt)
        written = min(max(written, 0), prompt - cached)
        total = ((prompt - cached - written) * self.input.at(prompt)
                 + cached * self.cached.at(prompt) + written * self.write.at(prompt)
                 + completion * self.output.at(prompt) + self.per_request)
        if self.reasoning is not None and reasoning > 0:
            extra = self.reasoning.at(prompt) - self.output.at(prompt)
            total += min(reasoning, completion) * extra
        return total

    def ceiling(self, prompt: int, completion: int) -> float:
        """At least `cost` of any usage within these counts (a cache write costs more than plain
        input at Anthropic; a tier is chosen by the real prompt, perhaps smaller)."""
        inp = max(self.input.most(prompt), self.cached.most(prompt), self.write.most(prompt))
        out = self.output.most(prompt)
        if self.reasoning is not None:
            out = max(out, self.reasoning.most(prompt))
        return prompt * inp + completion * out + self.per_request


class Pricing:
    """Prices for deployments, cached. `clock` returns unix seconds (prices can change by date
    and by time of day). Safe to share between threads: the caches only ever gain entries, and
    a race costs at most a repeated lookup."""

    def __init__(self, clock: Callable[[], float], *, snapshot: DataSnapshot | None = None,
                 default_output_cap: int = DEFAULT_OUTPUT_CAP) -> None:
        self._clock, self._default_cap = clock, default_output_cap
        self._snapshot = snapshot
        self._load_lock = threading.Lock()
        self._cache: dict[tuple[Any, ...], _Entry | ModelInfo | None] = {}
        self._dated: dict[int, tuple[ModelPrice, _Entry | None]] = {}
        self._caps: dict[tuple[Any, ...], int] = {}
        self._unknown: set[tuple[str, str]] = set()
        self._reported: set[tuple[str, str]] = set()
        self._unknown_lock = threading.Lock()

    def preload(self) -> None:
        """Import genai-prices and its price list (~120 ms) now rather than on the first
        request; the server calls this in a thread at startup."""
        self._prices()

    def price(self, dep: Deployment, model: str) -> Price | None:
        """The price of `model` (the upstream model the deployment calls; for a wildcard
        deployment, the name it substituted) at the clock's time; None when nobody knows it."""
        entry = self._entry(dep, model)
        return entry.price if entry else None

    def cost(self, dep: Deployment, model: str, usage: Usage, *,
             cache_write_tokens: int = 0) -> float | None:
        """USD for a finished request; None when the price is unknown. `usage` is OpenAI's:
        `prompt_tokens` includes `cached_tokens` and `cache_write_tokens` (pllm's Anthropic and
        Bedrock usage too), `completion_tokens` includes `reasoning_tokens`; none is counted
        twice. `Usage` has no cache-write count yet: until one is passed here, cache writes
        cost the plain input price (Anthropic bills them at 1.25x)."""
        entry = self._entry(dep, model)
        if entry is None:
            return None
        return entry.cost(usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens,
                          cache_write_tokens, usage.reasoning_tokens)

    def max_cost(self, dep: Deployment, model: str, prompt_tokens: int,
                 max_output_tokens: int) -> float | None:
        """The most a request of up to these counts can cost, for budget reservations: every
        prompt token at the dearest input-side rate (input, cache read or cache write), every
        output token at the dearer of output and reasoning; None when the price is unknown."""
        entry = self._entry(dep, model)
        if entry is None:
            return None
        return entry.ceiling(prompt_tokens, max_output_tokens)

    def output_cap(self, dep: Deployment, model: str) -> int:
        """Output tokens a request may produce when the client sets no max_tokens: the
        deployment's default max_completion_tokens/max_tokens (sent in its place), else
        model_info max_output_tokens/max_tokens, else the model table, else default_output_cap."""
        key = (dep.provider, model, dep.defaults, dep.model_info)
        try:
            cap = self._caps.get(key)
        except TypeError:  # unhashable settings, as above
            return _output_cap(dep, model, self._default_cap)
        if cap is None:
            cap = self._caps[key] = _output_cap(dep, model, self._default_cap)
        return cap

    def unknown_models(self) -> frozenset[tuple[str, str]]:
        """(provider, model) pairs asked about whose price nobody knows."""
        with self._unknown_lock:
            return frozenset(self._unknown)

    def new_unknown(self) -> list[tuple[str, str]]:
        """The unknown (provider, model) pairs not returned by an earlier call: warn about
        these once."""
        with self._unknown_lock:
            fresh = sorted(self._unknown - self._reported)
            self._reported.update(fresh)
        return fresh

    def _note_unknown(self, dep: Deployment, model: str) -> None:
        with self._unknown_lock:
            self._unknown.add((dep.provider, model))

    def _entry(self, dep: Deployment, model: str) -> _Entry | None:
        key = (dep.provider, model, dep.model_info, dep.params)
        try:
            found = self._cache[key]
        except KeyError:
            found = self._cache[key] = self._lookup(dep, model)
        except TypeError:  # a settings value that cannot be hashed (a YAML !!set): no caching
            found = self._lookup(dep, model)
        if found is None or isinstance(found, _Entry):
            return found
        entry = self._dated_entry(found)
        if entry is None:
            self._note_unknown(dep, model)
        return entry

    def _lookup(self, dep: Deployment, model: str) -> _Entry | ModelInfo | None:
        configured = _configured(dep)
        if configured is not None:
            return configured
        found = self._find(dep, model)
        if found is not None and not isinstance(found.prices, list):
            found_entry = _from_genai(found.prices)
            if found_entry is not None:
                return found_entry
            found = None
        if found is None:
            self._note_unknown(dep, model)
        return found

    def _find(self, dep: Deployment, model: str) -> ModelInfo | None:
        provider_id = GENAI_PROVIDERS.get(dep.provider)
        if provider_id is None or "*" in model:
            return None
        snapshot = self._prices()
        for ref in _refs(dep, model):
            try:
                return snapshot.find_provider_model(ref, None, provider_id, None)[1]
            except LookupError:
                continue
        return None

    def _dated_entry(self, model: ModelInfo) -> _Entry | None:
        """A model whose price depends on the date or the hour: pick today's price (cheap: a
        few comparisons), convert it once per price object."""
        prices = model.get_prices(datetime.fromtimestamp(self._clock(), UTC))
        known = self._dated.get(id(prices))
        if known is None or known[0] is not prices:
            known = self._dated[id(prices)] = (prices, _from_genai(prices))
        return known[1]

    def _prices(self) -> DataSnapshot:
        if self._snapshot is None:
            with self._load_lock:
                if self._snapshot is None:
                    from genai_prices.data import providers
                    from genai_prices.data_snapshot import DataSnapshot

                    self._snapshot = DataSnapshot(providers=providers, from_auto_update=False)
        return self._snapshot


def _configured(dep: Deployment) -> _Entry | None:
    """LiteLLM's per-deployment prices (model_info first, then litellm_params). Either of input
    and output may be left out (an embedding model has no output price): it then costs 0."""
    inp = _number(dep, "input_cost_per_token")
    out = _number(dep, "output_cost_per_token")
    if inp is None and out is None:
        return None
    price = Price(input=inp or 0.0, output=out or 0.0,
                  cached_input=_number(dep, "cache_read_input_token_cost"),
                  cache_write=_number(dep, "cache_creation_input_token_cost"), source="config",
                  reasoning=_number(dep, "output_cost_per_reasoning_token"))
    base = _Rate(price.input)
    return _Entry(price, base, _Rate(price.output), _optional(price.cached_input) or base,
                  _optional(price.cache_write) or base, _optional(price.reasoning))


def _optional(value: float | None) -> _Rate | None:
    return None if value is None else _Rate(value)


def _number(dep: Deployment, key: str) -> float | None:
    for where in (dep.model_info, dep.params):
        value = where.get(key)
        if isinstance(value, str):  # YAML reads `1e-6` (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                continue
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return float(value)
    return None


def _refs(dep: Deployment, model: str) -> list[str]:
    """Names to look the model up by, best first: model_info.base_model (an Azure deployment's
    name says nothing about its model), then the model id in the forms genai-prices lists."""
    refs: list[str] = []
    base = dep.model_info.get("base_model")
    if isinstance(base, str) and base:
        refs.append(split_model(base)[1])
    ref = model
    if dep.provider in ("bedrock", "bedrock_mantle"):
        ref = ref.removeprefix("converse/").removeprefix("invoke/")
        if ref.startswith("arn:"):  # an inference profile or provisioned model ARN
            ref = ref.rsplit("/", 1)[-1]
    elif dep.provider in ("gemini", "vertex_ai", "vertex_ai_beta"):
        ref = ref.removeprefix("models/")
    refs.append(ref)
    if dep.provider == "fireworks_ai" and not ref.startswith("accounts/"):
        refs.append(f"accounts/fireworks/models/{ref}")
    return refs


def _from_genai(prices: ModelPrice) -> _Entry | None:
    """A genai-prices price -> an entry; None for models not priced by the token (speech,
    OCR pages), whose cost token counts cannot give."""
    inp = _rate(prices.input_mtok)
    out = _rate(prices.output_mtok)
    priced = {k for k, v in vars(prices).items() if v is not None}
    if inp is None and out is None and priced - {"requests_kcount"}:
        return None
    inp = inp or _Rate(0.0)
    out = out or _Rate(0.0)
    read = _rate(prices.cache_read_mtok)
    write = _rate(prices.cache_write_mtok)
    thought = _rate(prices.output_reasoning_mtok)
    per_k = prices.requests_kcount
    price = Price(input=inp.base, output=out.base, cached_input=read.base if read else None,
                  cache_write=write.base if write else None, source="genai-prices",
                  reasoning=thought.base if thought else None)
    return _Entry(price, inp, out, read or inp, write or inp, thought,
                  float(per_k) / 1000 if isinstance(per_k, Decimal) else 0.0)


def _rate(value: object) -> _Rate | None:
    """genai-prices' USD per million tokens (a Decimal, or TieredPrices) -> USD per token."""
    from genai_prices.types import TieredPrices

    if isinstance(value, Decimal):
        return _Rate(float(value / _MILLION))
    if isinstance(value, TieredPrices):
        return _Rate(float(value.base / _MILLION),
                     tuple(sorted((t.start, float(t.price / _MILLION)) for t in value.tiers)))
    return None


def _output_cap(dep: Deployment, model: str, default: int = DEFAULT_OUTPUT_CAP) -> int:
    for where, keys in ((dep.defaults, _DEFAULT_CAPS), (dep.model_info, _MODEL_INFO_CAPS)):
        for key in keys:
            value = where.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    for ref in _refs(dep, model):
        bare = _bare_model(ref)
        best = max((p for p in _OUTPUT_CAPS if bare.startswith(p)), key=len, default=None)
        if best is not None:
            return _OUTPUT_CAPS[best]
    return default


def _bare_model(ref: str) -> str:
    """`us.anthropic.claude-3-5-sonnet-20240620-v1:0` -> `claude-3-5-sonnet-20240620`;
    `claude-3-5-haiku@20241022` -> `claude-3-5-haiku`; `openai/gpt-4o` -> `gpt-4o`."""
    bare = ref.lower().rsplit("/", 1)[-1].split("@", 1)[0]
    if "." in bare.split("-", 1)[0]:
        bare = _BEDROCK_VERSION.sub("", _BEDROCK_PREFIX.sub("", bare))
    return bare
