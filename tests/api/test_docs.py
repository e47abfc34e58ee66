"""OpenAPI docs work offline: /docs and /redoc load their assets from govcx itself, and the
schema documents examples for the request and response bodies."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import LiveServer, assert_error

ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def _asset_urls(html: str) -> list[str]:
    """Every URL the page loads or links (src, href, spec-url, url: '...' in scripts)."""
    urls = re.findall(r'(?:src|href|spec-url)\s*=\s*"([^"]+)"', html)
    urls += re.findall(r"\burl:\s*'([^']+)'", html)
    return urls


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_only_same_origin_assets(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "cdn." not in html and "fonts.googleapis" not in html, html
    urls = _asset_urls(html)
    assert any(u.endswith(".js") for u in urls), urls
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} loads {url} from elsewhere"
        assert url.startswith("/"), url
    # The browser is told to refuse anything that is not same-origin.
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self' " in csp
    assert "http" not in csp and "unsafe-eval" not in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_assets_are_served_with_their_content_types(client: TestClient, page: str) -> None:
    for url in _asset_urls(client.get(page).text):
        response = client.get(url)
        assert response.status_code == 200, url
        if url == "/openapi.json":
            assert response.headers["content-type"] == "application/json"
            assert response.json()["info"]["title"] == "govcx"
            continue
        suffix = "." + url.rsplit(".", 1)[1]
        assert response.headers["content-type"].startswith(ASSET_TYPES[suffix]), url
        assert len(response.content) > 1000, url
    if page == "/docs":
        bundle = client.get("/docs/static/swagger-ui-bundle.js")
        assert b"SwaggerUIBundle" in bundle.content


def test_swagger_ui_calls_no_online_validator(client: TestClient) -> None:
    html = client.get("/docs").text
    assert '"validatorUrl": null' in html


def test_inline_script_hash_matches_the_page(client: TestClient) -> None:
    """The CSP allows exactly the page's inline script (by hash), so Swagger UI starts."""
    import base64
    import hashlib

    response = client.get("/docs")
    inline = re.findall(r"<script>(.*?)</script>", response.text, flags=re.S)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in response.headers["content-security-policy"]


def test_unknown_docs_asset_is_a_json_404(client: TestClient) -> None:
    error = assert_error(client.get("/docs/static/evil.js"), 404, "not_found")
    assert "swagger-ui-bundle.js" in error["message"]
    assert_error(client.get("/docs/static/..%2Fcore.py"), 404)


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
    ]


def _has_example(media: dict[str, Any], schema: dict[str, Any]) -> bool:
    """The media type shows an example, or its model (or its items' model) has examples."""
    if "example" in media or "examples" in media:
        return True
    ref = media.get("schema", {})
    ref = ref.get("items", ref)
    if "$ref" not in ref:
        return False
    model = schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
    return bool(model.get("examples") or model.get("example"))


def test_every_json_body_has_an_example(client: TestClient) -> None:
    """Request bodies and 200/201 JSON responses of every /v1 operation show an example."""
    schema = client.get("/openapi.json").json()
    missing = []
    for method, path, op in _operations(schema):
        if not path.startswith("/v1") and path not in ("/healthz",):
            continue
        body = op.get("requestBody", {}).get("content", {})
        for media_type, media in body.items():
            if media_type == "application/json" and not _has_example(media, schema):
                missing.append(f"{method} {path} request")
        for status in ("200", "201"):
            media = (
                op.get("responses", {}).get(status, {}).get("content", {}).get("application/json")
            )
            if media is not None and not _has_example(media, schema):
                missing.append(f"{method} {path} {status}")
    assert not missing, missing


def test_error_responses_document_the_error_shape(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    body = schema["components"]["schemas"]["ErrorBody"]
    assert "examples" in body or "example" in body
    for method, path, op in _operations(schema):
        if path.startswith("/v1"):
            assert "401" in op["responses"] and "422" in op["responses"], (method, path)


@pytest.mark.parametrize(
    ("page_path", "ready"),
    [
        ("/docs", ".opblock-summary-path"),
        ("/redoc", "[data-section-id^='tag/approvals']"),
    ],
)
def test_docs_render_in_a_browser_with_no_internet(
    live_server: LiveServer, browser: Any, page_path: str, ready: str
) -> None:
    """Any request to another origin is aborted (as offline) and recorded; the page must
    still render the API's operations, with no CSP violation in the console."""
    origin = live_server.url
    elsewhere: list[str] = []
    problems: list[str] = []
    page = browser.new_page()

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith(origin) or url.startswith(("data:", "blob:")):
            request_route.continue_()
        else:
            elsewhere.append(url)
            request_route.abort()

    page.route("**/*", route)
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(origin + page_path)
    page.wait_for_selector(ready, timeout=20_000)
    text = page.inner_text("body")
    assert (
        "/v1/conversations/{conversation_id}/messages" in text or "Post a customer message" in text
    )
    assert not elsewhere, elsewhere
    refused = [p for p in problems if "Content Security Policy" in p or "Refused" in p]
    # ReDoc's footer shows Redocly's logo from their CDN: the CSP refuses it before any
    # request is made, and the <img> removes itself on the error. Nothing else may be.
    refused = [p for p in refused if "cdn.redoc.ly/redoc/logo-mini.svg" not in p]
    assert not refused, problems
