"""`GET /openapi.json` (pllm's OpenAPI 3.1 document) and `GET /swagger` (Swagger UI).

Swagger UI's files come from the installed `swagger-ui-bundle` package and are served by pllm
itself under `/swagger/static/`: no CDN, no request leaves the machine (a strict
Content-Security-Policy says so to the browser). The page's start-up script is a file too
(`/swagger/init.js`), so the policy needs no inline script. "Try it out" sends requests to this
same server; the key entered under "Authorize" (bearer or `X-API-Key`) is kept across reloads.

Swagger UI 4 (what the package ships) renders OpenAPI 3.0 only, so the page loads the same
document rewritten as 3.0 (`/swagger/openapi-3.0.json`, see `openapi_compat.py`); a bundle of
Swagger UI 5 or later would be given `/openapi.json` itself.

The document is built on first request and again whenever the routes or the gateway's
settings change (a reload), in a worker thread.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import orjson
from quart import Quart, Response, send_from_directory

from pllm.errors import NotImplementedByPllm, RouteNotFound
from pllm.server.openapi_compat import to_openapi_30
from pllm.server.openapi_spec import build_document
from pllm.server.state import Gateway, gateway

__all__ = ["CSP", "install", "swagger_assets"]

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; "
       "img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
_ASSET = re.compile(r"(swagger-ui[\w.-]*\.(js|css|map)|favicon-\d+x\d+\.png|index\.css)")
_JSON = "application/json"
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pllm API</title>
<link rel="stylesheet" href="swagger/static/swagger-ui.css">
<link rel="stylesheet" href="swagger/static/index.css">
<link rel="icon" type="image/png" href="swagger/static/favicon-32x32.png" sizes="32x32">
</head>
<body>
<div id="swagger-ui"></div>
<script src="swagger/static/swagger-ui-bundle.js" charset="utf-8"></script>
<script src="swagger/init.js" charset="utf-8"></script>
</body>
</html>
"""
_INIT = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: %s,
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    displayRequestDuration: true,
    filter: true,
    validatorUrl: null,
    queryConfigEnabled: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""


def swagger_assets() -> tuple[Path, int] | None:
    """The directory of Swagger UI's files in the installed package and its major version;
    None when the package is missing."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    path = Path(str(swagger_ui_path))
    found = re.search(r"(\d+)\.\d+", path.name)
    return (path, int(found.group(1)) if found else 0) if path.is_dir() else None


class _Cache:
    """The document (3.1 and 3.0 forms, encoded) for one set of routes and settings."""

    def __init__(self) -> None:
        self.key: tuple[int, int, int] | None = None
        self.lock = asyncio.Lock()
        self.bodies: dict[str, bytes] = {}

    async def get(self, app: Quart, gw: Gateway, form: str) -> bytes:
        key = (sum(1 for _ in app.url_map.iter_rules()), id(gw.settings), id(gw.gate))
        async with self.lock:
            if key != self.key:
                self.bodies = await asyncio.to_thread(_encode, app, gw)
                self.key = key
            return self.bodies[form]


def _encode(app: Quart, gw: Gateway) -> dict[str, bytes]:
    doc = build_document(app, gw)
    return {"3.1": orjson.dumps(doc), "3.0": orjson.dumps(to_openapi_30(doc))}


def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"x-content-type-options": "nosniff", "cache-control": "no-cache", **(extra or {})}


def install(app: Quart, gw: Gateway) -> None:
    """Register `/openapi.json`, `/swagger`, its start-up script, its 3.0 document and its
    static files on `app`."""
    cache = _Cache()
    assets = swagger_assets()

    def _ui() -> tuple[Path, int]:
        if assets is None:
            raise NotImplementedByPllm("Swagger UI is not available: the swagger-ui-bundle "
                                       "package is not installed")
        return assets

    async def openapi_json() -> Response:
        """This OpenAPI 3.1 document."""
        body = await cache.get(app, gateway(), "3.1")
        return Response(body, content_type=_JSON, headers=_headers())

    async def openapi_30() -> Response:
        """This document as OpenAPI 3.0.3, for Swagger UI 4."""
        body = await cache.get(app, gateway(), "3.0")
        return Response(body, content_type=_JSON, headers=_headers())

    async def swagger_page() -> Response:
        """Swagger UI for this gateway."""
        _ui()
        return Response(_PAGE, content_type="text/html; charset=utf-8",
                        headers=_headers({"content-security-policy": CSP,
                                          "referrer-policy": "no-referrer"}))

    async def swagger_init() -> Response:
        """Swagger UI's start-up script."""
        _, major = _ui()
        spec = "openapi.json" if major >= 5 else "swagger/openapi-3.0.json"
        return Response(_INIT % orjson.dumps(spec).decode(),
                        content_type="text/javascript; charset=utf-8", headers=_headers())

    async def swagger_static(filename: str) -> Response:
        """Swagger UI's files, from the swagger-ui-bundle package."""
        directory, _ = _ui()
        if not _ASSET.fullmatch(filename):
            raise RouteNotFound(f"Unknown request URL: GET /swagger/static/{filename}")
        response = await send_from_directory(directory, filename)
        response.headers["x-content-type-options"] = "nosniff"
        response.cache_control.public = True
        response.cache_control.max_age = 86400
        return response

    routes: list[tuple[str, Any]] = [
        ("/openapi.json", openapi_json), ("/swagger", swagger_page),
        ("/swagger/init.js", swagger_init), ("/swagger/openapi-3.0.json", openapi_30),
        ("/swagger/static/<path:filename>", swagger_static)]
    for rule, view in routes:
        app.add_url_rule(rule, f"openapi.{view.__name__}", view, methods=["GET"])
