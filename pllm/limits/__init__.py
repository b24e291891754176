"""Access limits and spend: what requests cost and how many tokens they carry (pure maths over
injected clocks and settings; rate limits and budgets join this package later)."""

from pllm.limits.pricing import DEFAULT_OUTPUT_CAP, GENAI_PROVIDERS, Price, PriceSource, Pricing
from pllm.limits.tokens import (
    EXACT_LIMIT,
    MEDIA_TOKENS,
    OPENAI_TOKENIZED,
    estimate_prompt_tokens,
    estimate_text_tokens,
    tokenizer_available,
)
from pllm.limits.tokens import (
    preload as preload_tokenizer,
)

__all__ = [
    "DEFAULT_OUTPUT_CAP",
    "EXACT_LIMIT",
    "GENAI_PROVIDERS",
    "MEDIA_TOKENS",
    "OPENAI_TOKENIZED",
    "Price",
    "PriceSource",
    "Pricing",
    "estimate_prompt_tokens",
    "estimate_text_tokens",
    "preload_tokenizer",
    "tokenizer_available",
]
