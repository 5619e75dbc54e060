"""The API documentation (`/docs`, Swagger UI) served entirely by the app itself.

FastAPI's default page loads Swagger UI from a CDN, which fails offline and would need the CDN in the
Content-Security-Policy.  The fastapi-offline package ships the same Swagger UI files; they are mounted
at `/docs-assets` and the page is FastAPI's own `get_swagger_ui_html` pointed at them.  Its one inline
script (the `SwaggerUIBundle({...})` call) is allowed by its SHA-256 hash, so the page's CSP names no
host but 'self' and allows no other inline script.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_DIR = Path(fastapi_offline.__file__).with_name("static")
ASSETS_URL = "/docs-assets"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def docs_csp(html: str) -> str:
    """A CSP for the docs page: assets from 'self' only, plus the page's own inline scripts by hash.
    Swagger UI's stylesheet draws its icons as data: SVGs, hence `img-src data:`."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
                      for s in _INLINE_SCRIPT.findall(html))
    return (f"default-src 'self'; script-src 'self' {hashes}; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def add_offline_docs(app: FastAPI, docs_url: str = "/docs") -> None:
    """Serve Swagger UI at `docs_url` from local files; the app must be created with `docs_url=None`."""
    app.mount(ASSETS_URL, StaticFiles(directory=str(ASSETS_DIR)), name="docs-assets")

    @app.get(docs_url, include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} · API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png", oauth2_redirect_url=None,
            swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from validator.swagger.io
        )
        page.headers["Content-Security-Policy"] = docs_csp(bytes(page.body).decode())
        return page
