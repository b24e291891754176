"""Mock upstream servers that pllm's end-to-end tests point the gateway at."""

from .openai_family import Fault, MockUpstream, Recorded

__all__ = ["Fault", "MockUpstream", "Recorded"]
