"""``/console``: the approval console and the case inbox, and ``/console/dashboard``, the
operations dashboard (server-rendered pages, vanilla JS and CSS, Chart.js served from here:
no CDN)."""

from __future__ import annotations

import hashlib
import html
from functools import lru_cache
from importlib import resources
from string import Template
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from govcx.api.deps import RuntimeDep
from govcx.api.errors import ApiError
from govcx.api.routers import StrictRoute
from govcx.api.schemas import package_version

router = APIRouter(include_in_schema=False, route_class=StrictRoute)

_ASSETS = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
    "inbox.js": "text/javascript; charset=utf-8",
    "inbox.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "chart.umd.min.js": "text/javascript; charset=utf-8",
}


@lru_cache(maxsize=8)
def _read(folder: str, name: str) -> bytes:
    return resources.files("govcx.api").joinpath(folder, name).read_bytes()


@lru_cache(maxsize=1)
def _asset_version() -> str:
    digest = hashlib.sha256()
    for name in sorted(_ASSETS):
        digest.update(_read("static", name))
    return digest.hexdigest()[:12]


def _page(runtime: RuntimeDep, template: str) -> HTMLResponse:
    page = Template(_read("templates", template).decode("utf-8")).substitute(
        pack=html.escape(runtime.agent.pack.name),
        policy_version=html.escape(runtime.agent.policy.version),
        version=html.escape(package_version()),
        asset_version=_asset_version(),
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


@router.get("/console", response_class=HTMLResponse)
def console_page(runtime: RuntimeDep) -> HTMLResponse:
    return _page(runtime, "console.html")


@router.get("/console/dashboard", response_class=HTMLResponse)
def dashboard_page(runtime: RuntimeDep) -> HTMLResponse:
    """The operations dashboard: GET /v1/report as charts (an auditor or admin key)."""
    return _page(runtime, "dashboard.html")


@router.get("/console/static/{name}")
def console_asset(
    name: str,
    v: Annotated[
        str | None, Query(max_length=64, description="Cache-busting asset version (ignored)")
    ] = None,
) -> Response:
    if name not in _ASSETS:
        raise ApiError(404, "not_found", f"no console asset {name!r}")
    return Response(
        _read("static", name),
        media_type=_ASSETS[name],
        headers={"Cache-Control": "public, max-age=86400"},
    )
