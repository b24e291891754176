"""Provider name -> translator. Built-ins register here the way a plug-in would.

Config knows every provider *name* LiteLLM accepts (`pllm.config.catalog`); this registry knows
which of them this build can serve. A deployment of a recognised provider that is not served
here is reported at startup and answered 501, never silently dropped.
"""

from __future__ import annotations

from typing import Any

from pllm.config.litellm_names import OPENAI_COMPATIBLE_PROVIDERS
from pllm.config.model import Deployment
from pllm.providers.anthropic import Anthropic
from pllm.providers.azure import Azure
from pllm.providers.base import Provider
from pllm.providers.bedrock import Bedrock
from pllm.providers.cohere import Cohere
from pllm.providers.gemini import Gemini
from pllm.providers.groq import Groq
from pllm.providers.mock import MockProvider
from pllm.providers.openai import OpenAICompatible
from pllm.providers.vertex import Vertex

__all__ = ["ProviderRegistry", "default_registry"]

_CHAT_ONLY = frozenset({"chat"})
# Differences from plain OpenAI for some compatible servers (see docs/providers.md).
_TWEAKS: dict[str, dict[str, Any]] = {
    # Ollama's OpenAI routes live under /v1; LiteLLM configs give the bare host.
    "ollama": {"base_suffix": "/v1"},
    "ollama_chat": {"base_suffix": "/v1"},
    # Mistral rejects unknown request fields, stream_options included.
    "mistral": {"stream_usage": False, "endpoints": frozenset({"chat", "embeddings"})},
    "codestral": {"stream_usage": False},
    "perplexity": {"endpoints": _CHAT_ONLY},
    "deepseek": {"endpoints": _CHAT_ONLY},
}


class ProviderRegistry:
    def __init__(self) -> None:
        self._providers: dict[str, Provider] = {}

    def register(self, provider: Provider, *aliases: str) -> None:
        for name in (provider.name, *aliases):
            self._providers[name] = provider

    def get(self, name: str) -> Provider | None:
        return self._providers.get(name)

    def for_deployment(self, dep: Deployment) -> Provider | None:
        """LiteLLM answers every deployment with `mock_response` from the mock, whatever its
        provider; so does pllm."""
        if "mock_response" in dep.params:
            return self._providers["mock"]
        return self._providers.get(dep.provider)

    def names(self) -> list[str]:
        return sorted(self._providers)


def default_registry() -> ProviderRegistry:
    reg = ProviderRegistry()
    reg.register(OpenAICompatible("openai", "https://api.openai.com/v1"), "text-completion-openai")
    reg.register(Azure(), "azure_text")
    reg.register(Groq())
    reg.register(MockProvider())
    reg.register(Anthropic())
    reg.register(Bedrock())
    reg.register(Gemini())
    reg.register(Vertex())
    reg.register(Cohere(), "cohere_chat")
    for name, (base, _key_env) in OPENAI_COMPATIBLE_PROVIDERS.items():
        if reg.get(name) is None:
            reg.register(OpenAICompatible(name, base, **_TWEAKS.get(name, {})))
    reg.register(OpenAICompatible("vllm", ""))
    return reg
