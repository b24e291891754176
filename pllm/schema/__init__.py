"""OpenAI-shaped types: the lingua franca between pllm's layers (imports nothing from pllm)."""

from pllm.schema.messages import Endpoint, GatewayRequest, Headers
from pllm.schema.results import Chunk, Completion, Usage

__all__ = ["Chunk", "Completion", "Endpoint", "GatewayRequest", "Headers", "Usage"]
