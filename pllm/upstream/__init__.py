"""The only place pllm does HTTP to providers: one pooled client per process, transport errors
mapped to pllm's error tree at this boundary, stream framing (SSE) and the in-process mock."""

from pllm.upstream.client import Upstream, UpstreamStream

__all__ = ["Upstream", "UpstreamStream"]
