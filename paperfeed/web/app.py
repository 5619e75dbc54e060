"""The papers site: `create_app(pf, settings)` builds the FastAPI application around one core.

HTML pages and the JSON API share one `WebState` (core, community tables, rate limiter,
templates).  Errors are rendered for whoever asked: a JSON `{"detail": ...}` under `/api`,
an HTML page elsewhere; an invalid parameter is always a 4xx, never a 500.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paperfeed.core import Paperfeed
from paperfeed.search.derived import IndexUnavailable
from paperfeed.store.engine import UNAVAILABLE
from paperfeed.store.secret import site_secret
from paperfeed.web import (
    accounts,
    api,
    claims,
    comments_api,
    discussion,
    discussion_feed,
    feeds,
    foryou,
    members,
    members_api,
    moderation,
    not_interested,
    notifications,
    onboarding,
    outbox,
    pages,
    profile_settings,
    signals_forms,
    subscribe,
    tokens,
)
from paperfeed.web import map as paper_map
from paperfeed.web.collection_files import router as collection_files
from paperfeed.web.collections import router as collection_pages
from paperfeed.web.collections_api import router as collections_api
from paperfeed.web.context import WebState, error_page
from paperfeed.web.docs import add_offline_docs
from paperfeed.web.library_import import router as library_import
from paperfeed.web.limits import RequestGuard
from paperfeed.web.settings import WebSettings
from paperfeed.web.status import database_unavailable, index_unavailable

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).with_name("static")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Scripts only from the site's own files (static/site.js: upvotes without reload; never inline); /docs sets
    # its own CSP ('self' + its inline script's hash; web/docs.py).
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'",
}


# The pages answer a bad parameter or an unknown paper with an HTML page; documented so the schema is complete.
HTML_ERRORS: dict[int | str, dict] = {
    400: {"description": "A bad parameter, explained on an HTML page", "content": {"text/html": {}}},
    404: {"description": "No such paper (an HTML page)", "content": {"text/html": {}}},
}


def _is_api(request: Request) -> bool:
    """Machine clients (API, feeds) get JSON errors; people get pages."""
    return request.url.path.startswith(("/api/", "/feeds/"))


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err.get("loc", ())[1:]) or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


class SecurityHeaders:
    """Pure ASGI middleware (no per-request task, unlike `@app.middleware`) adding the headers above."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in SECURITY_HEADERS.items():
                    headers.setdefault(k, v)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeadAsGet:
    """`HEAD` wherever `GET` works (RFC 9110 9.3.2): routed as a GET, the body dropped (FastAPI's routes list
    GET alone, so every page answered HEAD with 405)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


def create_app(pf: Paperfeed, settings: WebSettings | None = None) -> FastAPI:
    settings = settings or WebSettings()
    if settings.mail is not None:  # no SMTP server configured: mail goes to the outbox beside this database
        settings.mail = settings.mail.beside(pf.location)
    app = FastAPI(title="paperfeed", summary="Research papers: daily lists, search, trending.",
                  version="0.1.0", docs_url=None, redoc_url=None)
    add_offline_docs(app)
    app.state.web = WebState(pf, settings)
    pf.engine.heal_in_background()  # a corrupt index is rebuilt in a thread, never inside a request

    app.add_middleware(SessionMiddleware, secret_key=settings.secret or site_secret(pf.store),
                       session_cookie="paperfeed_session", same_site="lax", https_only=settings.https_only_cookies,
                       max_age=30 * 24 * 3600)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        page = error_page(request, exc.status_code, str(exc.detail))
        page.headers.update(exc.headers or {})  # e.g. the `Allow` a 405 must carry (RFC 9110)
        return page

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": jsonable_encoder(exc.errors(), exclude={"input", "ctx", "url"})},
                                status_code=422)
        return error_page(request, 400, _validation_message(exc))

    @app.exception_handler(IndexUnavailable)
    async def index_rebuilding(request: Request, exc: IndexUnavailable) -> Response:
        return index_unavailable(request, exc)  # 503 + Retry-After while a corrupt index is rebuilt

    for unavailable in UNAVAILABLE:  # PostgreSQL down or restarting, a pool exhausted: 503 + Retry-After
        app.add_exception_handler(unavailable, database_unavailable)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        if _is_api(request):
            return JSONResponse({"detail": "internal error"}, status_code=500)
        return HTMLResponse("<!doctype html><title>Error</title><h1>Something went wrong</h1>", status_code=500)

    app.add_middleware(SecurityHeaders)
    app.add_middleware(HeadAsGet)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.trusted_hosts(), www_redirect=False)
    # Outermost: body size per route and body time are checked before anything reads (web/limits.py).
    app.add_middleware(RequestGuard, body_timeout=settings.body_timeout)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.include_router(tokens.api)
    app.include_router(foryou.api)  # GET /api/recommendations (bearer token)
    app.include_router(foryou.router)  # before pages: /papers/{id:path} would swallow /papers/for-you
    app.include_router(signals_forms.router)
    app.include_router(comments_api.api)  # before api and pages: their /papers/{id:path} would swallow /comments
    app.include_router(discussion.pages)
    app.include_router(discussion_feed.pages)
    app.include_router(moderation.pages)
    app.include_router(notifications.pages)
    app.include_router(claims.api)  # before api and pages, like discussion: /papers/{id:path} would swallow /claims
    app.include_router(claims.pages)
    app.include_router(paper_map.router)  # before pages: /papers/{id:path} would swallow /papers/map
    app.include_router(onboarding.router)
    app.include_router(api.router)
    app.include_router(members_api.router)  # people: GET /api/members/{handle}
    app.include_router(feeds.router)
    app.include_router(pages.router, responses=HTML_ERRORS)
    app.include_router(accounts.router)
    app.include_router(not_interested.router)  # the digest's signed "not interested" links
    app.include_router(profile_settings.router)  # people: POST /profile/settings
    app.include_router(members.router)  # people: /members/{handle}
    app.include_router(tokens.pages)
    app.include_router(subscribe.router)
    app.include_router(outbox.router)
    app.include_router(collections_api)  # collections: API, files and feeds, pages, library import
    app.include_router(collection_files)
    app.include_router(collection_pages)
    app.include_router(library_import)
    return app
