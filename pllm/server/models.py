"""Model listing and health routes."""

from __future__ import annotations

import orjson
from quart import Blueprint, Response, request

from pllm.errors import ModelNotFound
from pllm.server.state import gateway

__all__ = ["blueprint"]

blueprint = Blueprint("models", __name__)

_JSON = "application/json"
_OK = b'{"status":"ok"}'


@blueprint.get("/v1/models")
@blueprint.get("/models")
async def list_models() -> Response:
    gw = gateway()
    principal = await gw.gate.authenticate(request.headers, request.remote_addr)
    if principal.models is None:
        return Response(gw.models_body, content_type=_JSON)
    cards = [gw.model_card(m) for m in gw.settings.model_names() if principal.allows(m)]
    return Response(orjson.dumps({"object": "list", "data": cards}), content_type=_JSON)


@blueprint.get("/v1/models/<path:model_id>")
@blueprint.get("/models/<path:model_id>")
async def get_model(model_id: str) -> Response:
    gw = gateway()
    principal = await gw.gate.authenticate(request.headers, request.remote_addr)
    if gw.table.resolve(model_id) is None or not principal.allows(model_id):
        raise ModelNotFound(f"The model '{model_id}' does not exist", param="model")
    return Response(orjson.dumps(gw.model_card(model_id)), content_type=_JSON)


@blueprint.get("/health")
@blueprint.get("/health/liveliness")
@blueprint.get("/health/liveness")
async def health() -> Response:
    """Liveness: the process answers. No auth, no upstream calls."""
    return Response(_OK, content_type=_JSON)


@blueprint.get("/ready")
@blueprint.get("/health/readiness")
async def ready() -> Response:
    """Readiness: configuration loaded and the upstream client started."""
    gw = gateway()
    body = {"status": "ready", "models": len(gw.settings.model_names()),
            "deployments": len(gw.settings.deployments), "config": gw.settings.source}
    return Response(orjson.dumps(body), content_type=_JSON)
