"""Provider names as the config file uses them: which prefixes exist, where each reads its
credentials from the environment, and which provider a bare model name belongs to.

Pure data and string rules (config imports nothing from the rest of pllm); which providers this
build actually serves is the provider registry's business (`pllm.providers.registry`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pllm.config.litellm_names import LITELLM_PROVIDERS, OPENAI_COMPATIBLE_PROVIDERS

__all__ = [
    "ALIASES",
    "KNOWN_PROVIDERS",
    "PROVIDER_ENV",
    "ProviderEnv",
    "env_providers",
    "infer_providers",
    "split_model",
]

# pllm's own names on top of LiteLLM's: the built-in mock, and `vllm` as short for hosted_vllm.
KNOWN_PROVIDERS: frozenset[str] = LITELLM_PROVIDERS | {"mock", "vllm", "hosted_vllm", "ollama"}


@dataclass(frozen=True, slots=True)
class ProviderEnv:
    """Environment variables a provider falls back to when litellm_params leave a value out."""

    key: str | None = None
    base: str | None = None
    version: str | None = None
    key_required: bool = True
    base_required: bool = False


_NATIVE: dict[str, ProviderEnv] = {
    "openai": ProviderEnv(key="OPENAI_API_KEY", base="OPENAI_BASE_URL"),
    "text-completion-openai": ProviderEnv(key="OPENAI_API_KEY", base="OPENAI_BASE_URL"),
    "azure": ProviderEnv(key="AZURE_API_KEY", base="AZURE_API_BASE", version="AZURE_API_VERSION",
                         base_required=True),
    "azure_text": ProviderEnv(key="AZURE_API_KEY", base="AZURE_API_BASE",
                              version="AZURE_API_VERSION", base_required=True),
    "anthropic": ProviderEnv(key="ANTHROPIC_API_KEY", base="ANTHROPIC_API_BASE"),
    "cohere": ProviderEnv(key="COHERE_API_KEY", base="COHERE_API_BASE"),
    "cohere_chat": ProviderEnv(key="COHERE_API_KEY", base="COHERE_API_BASE"),
    "gemini": ProviderEnv(key="GEMINI_API_KEY"),
    "groq": ProviderEnv(key="GROQ_API_KEY", base="GROQ_API_BASE"),
    # Credential chains (AWS, Google ADC) rather than one key.
    "bedrock": ProviderEnv(key_required=False),
    "vertex_ai": ProviderEnv(key_required=False),
    "mock": ProviderEnv(key_required=False),
    "vllm": ProviderEnv(key=None, key_required=False),
    "hosted_vllm": ProviderEnv(key="HOSTED_VLLM_API_KEY", base="HOSTED_VLLM_API_BASE",
                               key_required=False),
    "ollama": ProviderEnv(key=None, base="OLLAMA_API_BASE", key_required=False),
    "ollama_chat": ProviderEnv(key=None, base="OLLAMA_API_BASE", key_required=False),
}


# Servers people run themselves: a key is optional.
_LOCAL = frozenset({"hosted_vllm", "lm_studio", "llamafile", "xinference", "litellm_proxy",
                    "ollama", "ollama_chat"})


def _compat_env(name: str, key_env: str | None) -> ProviderEnv:
    return ProviderEnv(key=key_env, key_required=key_env is not None and name not in _LOCAL)


PROVIDER_ENV: dict[str, ProviderEnv] = {
    **_NATIVE,
    **{n: _compat_env(n, k) for n, (_, k) in OPENAI_COMPATIBLE_PROVIDERS.items()
       if n not in _NATIVE},
}
# Second names for a provider already listed (same credentials): wildcards and discovery skip them.
ALIASES = frozenset({"text-completion-openai", "azure_text", "cohere_chat", "ollama_chat",
                     "hosted_vllm"})


def env_providers(env: Mapping[str, str]) -> list[str]:
    """Providers whose credentials the environment holds, in a stable order."""
    out = []
    for name, spec in PROVIDER_ENV.items():
        if name in ALIASES or not spec.key or not env.get(spec.key):
            continue
        if spec.base_required and not (spec.base and env.get(spec.base)):
            continue
        out.append(name)
    return out


def split_model(model: str) -> tuple[str | None, str]:
    """`openai/gpt-4o` -> ("openai", "gpt-4o"); a bare name -> (None, name).

    Only a known provider counts as a prefix: `facebook/opt-125m` has none. Unknown prefixes are
    reported by the caller, which knows whether a prefix was required.
    """
    prefix, sep, rest = model.partition("/")
    if sep and prefix in KNOWN_PROVIDERS:
        return prefix, rest
    return None, model


_BEDROCK_ID = re.compile(
    r"^(?:us\.|eu\.|apac\.|global\.|us-gov\.)?"
    r"(?:anthropic|amazon|meta|cohere|ai21|mistral|deepseek|writer|qwen|openai|twelvelabs)\."
)
_RULES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("gpt-", "o1", "o3", "o4", "chatgpt-", "text-embedding-", "ft:gpt", "davinci", "babbage",
      "text-davinci", "omni-moderation", "text-moderation", "dall-e", "whisper", "tts-",
      "codex-", "computer-use"), ("openai",)),
    (("claude-",), ("anthropic",)),
    (("gemini-", "gemma-", "text-embedding-004", "gemini-embedding"), ("gemini", "vertex_ai")),
    (("command", "embed-english", "embed-multilingual", "embed-v4", "rerank-"), ("cohere",)),
    (("mistral-", "open-mistral", "codestral", "pixtral", "ministral", "magistral"),
     ("mistral",)),
    (("deepseek-chat", "deepseek-reasoner"), ("deepseek",)),
    (("grok-",), ("xai",)),
)


def infer_providers(name: str) -> tuple[str, ...]:
    """Providers that can serve a requested model name, best first (LiteLLM's inference:
    `gpt-*` -> openai, `claude-*` -> anthropic, ...). A `provider/` prefix decides alone."""
    prefix, _ = split_model(name)
    if prefix is not None:
        return (prefix,)
    if _BEDROCK_ID.match(name):
        return ("bedrock",)
    for prefixes, providers in _RULES:
        if name.startswith(prefixes):
            return providers
    return ()
