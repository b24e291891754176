"""`create_app(settings)`: the Quart application. Routes live in one blueprint per file."""

from __future__ import annotations

import logging

from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException

from pllm.config.model import Settings
from pllm.errors import ApiError, ConfigError, InvalidRequest, RequestTooLarge, RouteNotFound
from pllm.providers.registry import ProviderRegistry, default_registry
from pllm.router.dispatch import Dispatcher
from pllm.router.table import build_table
from pllm.server.admin import blueprint as admin_bp
from pllm.server.auth import Auth
from pllm.server.fastpath import FastPath
from pllm.server.inference import blueprint as inference_bp
from pllm.server.messages import blueprint as messages_bp
from pllm.server.models import blueprint as models_bp
from pllm.server.requests import request_id
from pllm.server.state import Gateway
from pllm.upstream import Upstream

__all__ = ["create_app", "error_response"]

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, registry: ProviderRegistry | None = None,
               upstream: Upstream | None = None) -> Quart:
    table, issues = build_table(settings, registry or default_registry())
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise ConfigError(issues)
    for issue in issues:
        log.warning("%s", issue)
    up = upstream or Upstream()
    state = Gateway(settings, table, up, Dispatcher(settings, table, up),
                    Auth(settings.server.master_key))

    app = Quart("pllm", static_folder=None)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.server.max_request_bytes,
        RESPONSE_TIMEOUT=None,  # streams may run for minutes; upstream timeouts bound them
        BODY_TIMEOUT=120,
        PROVIDE_AUTOMATIC_OPTIONS=False,
    )
    app.extensions["pllm"] = state
    app.register_blueprint(inference_bp)
    app.register_blueprint(models_bp)
    app.register_blueprint(messages_bp)
    app.register_blueprint(admin_bp)
    app.asgi_app = FastPath(app.asgi_app, state)  # type: ignore[method-assign,assignment,arg-type]

    @app.before_serving
    async def _start() -> None:
        await up.start()

    @app.after_serving
    async def _stop() -> None:
        await up.close()

    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    return app


def error_response(error: ApiError) -> Response:
    headers = error.response_headers()
    headers["x-request-id"] = request_id(request.headers)
    return Response(error.body_bytes(), status=error.status, headers=headers,
                    content_type="application/json")


async def _api_error(error: ApiError) -> Response:
    if error.status >= 500:
        log.warning("%s %s -> %d %s", request.method, request.path, error.status, error.message)
    return error_response(error)


async def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    mapped: ApiError
    if status == 404:
        mapped = RouteNotFound(f"Unknown request URL: {request.method} {request.path}")
    elif status == 405:
        mapped = InvalidRequest(f"Method {request.method} is not allowed on {request.path}",
                                status=405, code="method_not_allowed")
    elif status == 413:
        limit = request.max_content_length or 0
        mapped = RequestTooLarge(f"The request body is larger than the limit of {limit} bytes "
                                 "(server.max_request_size_mb)")
    else:
        mapped = ApiError(error.description or error.name, status=status,
                          error_type="invalid_request_error" if status < 500 else "api_error")
    return error_response(mapped)


async def _unexpected(error: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=error)
    return error_response(ApiError("The gateway hit an internal error", status=500,
                                   code="internal_error"))
