"""OpenAI inference routes as Quart views: chat completions, legacy completions, embeddings; each
also without the `/v1` prefix, as LiteLLM serves them.

In a running server `fastpath.py` answers these paths before Quart sees them; these views are
the same handler for Quart's test client and route map, and the fallback if the fast path is
off.
"""

from __future__ import annotations

import time

from quart import Blueprint, Response, request

from pllm.schema import Endpoint
from pllm.server.core import BodyReply, handle_inference
from pllm.server.state import gateway

__all__ = ["ROUTES", "blueprint"]

blueprint = Blueprint("inference", __name__)

ROUTES: dict[str, Endpoint] = {
    "/v1/chat/completions": "chat",
    "/chat/completions": "chat",
    "/v1/completions": "completions",
    "/completions": "completions",
    "/v1/embeddings": "embeddings",
    "/embeddings": "embeddings",
}


async def _view() -> Response:
    started = time.perf_counter()
    endpoint = ROUTES[request.path]
    body = await request.get_data(cache=False, as_text=False)
    assert isinstance(body, bytes)
    reply = await handle_inference(gateway(), endpoint, request.headers, body, started,
                                   request.remote_addr)
    if isinstance(reply, BodyReply):
        return Response(reply.body, status=reply.status, headers=reply.headers)
    response = Response(reply.body(), status=reply.status, headers=reply.headers)
    response.timeout = None
    return response


for _path, _endpoint in ROUTES.items():
    blueprint.add_url_rule(_path, f"{_endpoint}{_path.replace('/', '_')}", _view,
                           methods=["POST"])
