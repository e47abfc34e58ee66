"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served without any CDN.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so on a machine without
internet they stay blank. The assets come from the ``fastapi-offline`` package (MIT; it
bundles ``swagger-ui-bundle.js``, ``swagger-ui.css`` and ``redoc.standalone.js`` and is
kept in step with FastAPI's defaults) and are served here under ``/docs/static/``; the
pages carry a Content-Security-Policy that allows same-origin assets only, so a browser
refuses anything that would still reach out (ReDoc's footer links Redocly's logo from
their CDN: the policy refuses it and the image hides itself).
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from govcx.api.errors import ApiError
from govcx.api.routers import StrictRoute

router = APIRouter(include_in_schema=False, route_class=StrictRoute)

STATIC_PREFIX = "/docs/static"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
"""The files served under ``/docs/static/`` and their content types."""

SWAGGER_PARAMETERS: dict[str, Any] = {
    "validatorUrl": None,  # Swagger UI would otherwise call validator.swagger.io
    "persistAuthorization": True,
    "displayRequestDuration": True,
    "tryItOutEnabled": False,
}


@lru_cache(maxsize=len(ASSETS))
def asset(name: str) -> bytes:
    """The bytes of a bundled docs asset."""
    return resources.files("fastapi_offline").joinpath("static", name).read_bytes()


def _csp(html: bytes) -> str:
    """Same-origin only; the page's own inline scripts are allowed by their hashes."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in re.findall(rb"<script>(.*?)</script>", html, flags=re.S)
    )
    return (
        "default-src 'self'; "
        f"script-src 'self' {hashes}; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
        "connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'"
    )


def _page(html: HTMLResponse) -> tuple[bytes, str]:
    body = bytes(html.body)
    return body, _csp(body)


@lru_cache(maxsize=4)
def _swagger(root: str, title: str, openapi_url: str) -> tuple[bytes, str]:
    return _page(
        get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{title} - API docs",
            swagger_js_url=f"{root}{STATIC_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_PREFIX}/favicon.png",
            swagger_ui_parameters=SWAGGER_PARAMETERS,
        )
    )


@lru_cache(maxsize=4)
def _redoc(root: str, title: str, openapi_url: str) -> tuple[bytes, str]:
    return _page(
        get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{title} - API reference",
            redoc_js_url=f"{root}{STATIC_PREFIX}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_PREFIX}/favicon.png",
            with_google_fonts=False,
        )
    )


def _html(page: tuple[bytes, str]) -> HTMLResponse:
    body, csp = page
    return HTMLResponse(body, headers={"Content-Security-Policy": csp, "Cache-Control": "no-cache"})


def _where(request: Request) -> tuple[str, str, str]:
    app = request.app
    return (
        str(request.scope.get("root_path") or "").rstrip("/"),
        app.title,
        app.openapi_url or "/openapi.json",
    )


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI on the app's OpenAPI schema (authorize with an API key to try calls)."""
    return _html(_swagger(*_where(request)))


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc: the same schema as a reference page."""
    return _html(_redoc(*_where(request)))


@router.get(STATIC_PREFIX + "/{name}")
def docs_asset(name: str) -> Response:
    if name not in ASSETS:
        raise ApiError(
            404,
            "not_found",
            f"no docs asset {name!r}; the assets are {', '.join(sorted(ASSETS))}",
            details={"name": name},
        )
    return Response(
        asset(name), media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"}
    )
