"""`create_app(settings)`: the Quart application. Routes live in one blueprint per file."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException

from pllm.access.ledger import retention_loop
from pllm.access.ledger_ipc import RemoteLedger
from pllm.config.model import Settings
from pllm.errors import ApiError, ConfigError, InvalidRequest, RequestTooLarge, RouteNotFound
from pllm.limits.tokens import preload as preload_tokenizer
from pllm.providers.registry import ProviderRegistry, default_registry
from pllm.router.dispatch import Dispatcher
from pllm.router.table import build_table
from pllm.server import metrics, openapi, reload, stats
from pllm.server.admin import blueprint as admin_bp
from pllm.server.admin_keys import blueprint as admin_keys_bp
from pllm.server.fastpath import FastPath
from pllm.server.inference import blueprint as inference_bp
from pllm.server.litellm_keys import blueprint as litellm_keys_bp
from pllm.server.messages import blueprint as messages_bp
from pllm.server.models import blueprint as models_bp
from pllm.server.reload_source import ConfigSource
from pllm.server.requests import request_id
from pllm.server.state import Gateway
from pllm.server.wiring import build_access
from pllm.store import Store
from pllm.upstream import Upstream

__all__ = ["create_app", "error_response"]

log = logging.getLogger(__name__)
_DRAIN_S = 1.0


def create_app(settings: Settings, *, registry: ProviderRegistry | None = None,
               upstream: Upstream | None = None, store: Store | None = None,
               ledger_socket: str | None = None, source: ConfigSource | None = None) -> Quart:
    """`ledger_socket`: a worker of several, whose limits and spend live in the supervisor.
    `source`: where `settings` came from, to read them again on a hot reload."""
    registry = registry or default_registry()
    table, issues = build_table(settings, registry)
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise ConfigError(issues)
    for issue in issues:
        log.warning("%s", issue)
    up = upstream or Upstream()
    access = build_access(settings, table, up, store=store, ledger_socket=ledger_socket)
    state = Gateway(settings, table, up, Dispatcher(settings, table, up), access.gate,
                    access.ledger, access.store, access.directory)
    background: list[asyncio.Task[None]] = []

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
    app.register_blueprint(admin_keys_bp)
    app.register_blueprint(litellm_keys_bp)
    app.extensions[reload.BUILD] = reload.Build(source, registry, access)
    # Operating pllm: each module registers its routes, serving hooks and request observers.
    for module in (metrics, openapi, stats, reload):
        module.install(app, state)
    app.asgi_app = FastPath(app.asgi_app, state)  # type: ignore[method-assign,assignment,arg-type]

    @app.before_serving
    async def _start() -> None:
        await up.start()
        access.fetch.loop = asyncio.get_running_loop()
        if isinstance(access.ledger, RemoteLedger):
            await access.ledger.start()
        else:
            background.append(asyncio.create_task(retention_loop(
                access.store, settings.access.audit.retention_days)))
        access.directory.start()
        await asyncio.to_thread(preload_tokenizer)
        await asyncio.to_thread(access.gate.pricing.preload)
        if access.jwt is not None and access.jwt.settings.jwks_url:
            await asyncio.to_thread(access.jwt.refresh)

    @app.after_serving
    async def _stop() -> None:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await access.directory.stop()
        await access.ledger.close()
        if access.jwt is not None:
            await access.jwt.aclose()
        await up.close()
        await asyncio.to_thread(access.store.close)  # the writer's last flush: nothing lost

    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    return app


def error_response(error: ApiError) -> Response:
    headers = error.response_headers()
    headers["x-request-id"] = request_id(request.headers)
    return Response(error.body_bytes(), status=error.status, headers=headers,
                    content_type="application/json")


async def _drain_body() -> None:
    """Receive the rest of a request refused before its body was read (an admin write with a
    key lacking the role, say). Hypercorn closes a keep-alive connection whose request was
    still arriving when the response ended, without `connection: close`, so the client's next
    request on it would fail ("server disconnected"). Quart buffers the body anyway (up to the
    request size limit); this only waits for it, briefly."""
    with contextlib.suppress(Exception):  # too large, too slow or gone: the connection closes
        await asyncio.wait_for(request.body, _DRAIN_S)


async def _api_error(error: ApiError) -> Response:
    if error.status >= 500:
        log.warning("%s %s -> %d %s", request.method, request.path, error.status, error.message)
    await _drain_body()
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
    if status != 413:
        await _drain_body()
    return error_response(mapped)


async def _unexpected(error: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=error)
    return error_response(ApiError("The gateway hit an internal error", status=500,
                                   code="internal_error"))
