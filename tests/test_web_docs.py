"""/docs works offline: Swagger UI's page, script and stylesheet are served by the app itself (from the
fastapi-offline package's files), under a CSP that names no host but 'self'.  Checked over real HTTP and in
Debian's headless chromium with every request to another host refused, as on a machine with no network."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import make_site_pf
from playwright.sync_api import sync_playwright

from paperfeed.web import WebSettings, create_app
from paperfeed.web.docs import docs_csp
from paperfeed.web.testing import serve_in_thread

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Iterator[str]:
    pf = make_site_pf(tmp_path_factory.mktemp("docs"))
    with serve_in_thread(create_app(pf, WebSettings(secret="docs-secret", arxiv_api_url=None))) as url:
        yield url
    pf.close()


def test_docs_and_every_asset_it_references_are_served_locally(base):
    r = httpx.get(f"{base}/docs")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    urls = re.findall(r'<script src="([^"]+)"', r.text) + re.findall(r'<link[^>]+href="([^"]+)"', r.text)
    assert any(u.endswith(".js") for u in urls) and any(u.endswith(".css") for u in urls), urls
    for url in urls:
        assert not urlsplit(url).netloc and url.startswith("/"), url  # same origin, no CDN
        asset = httpx.get(base + url)
        assert asset.status_code == 200 and len(asset.content) > 1000, url
    assert "javascript" in httpx.get(base + next(u for u in urls if u.endswith(".js"))).headers["content-type"]
    assert "'validatorUrl': null" in r.text.replace('"', "'")  # no badge from validator.swagger.io

    csp = r.headers["content-security-policy"]
    assert csp == docs_csp(r.text) and "http" not in csp and "'unsafe-inline'" not in csp
    assert "script-src 'self' 'sha256-" in csp and r.headers["x-frame-options"] == "DENY"
    assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "paperfeed"
    assert "script-src 'self';" in httpx.get(f"{base}/papers").headers["content-security-policy"]  # no hashes there


def test_swagger_ui_renders_in_a_browser_with_no_network(base):
    foreign: list[str] = []
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)

            def only_local(route) -> None:  # type: ignore[no-untyped-def]
                if route.request.url.startswith(base):
                    route.continue_()
                else:
                    foreign.append(route.request.url)
                    route.abort()

            page.route("**/*", only_local)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{base}/docs")
            page.locator(".opblock-summary-path", has_text="/api/papers/search").first.wait_for()
            assert page.locator(".opblock").count() >= 9  # every documented operation is listed
            page.locator(".opblock-summary", has_text="/api/daily_papers").first.click()
            page.get_by_text("The daily list (or a week's / month's)").first.wait_for()
        finally:
            browser.close()
    assert foreign == [] and problems == [], (foreign, problems)  # nothing fetched elsewhere, no CSP violation
