"""Collections in a real browser (Debian's chromium via Playwright) against a real uvicorn server: a member
creates a collection, saves a paper from its page with the picker, opens the collection, shares it by link,
and an anonymous second browser context opens the share link (and is refused without the token).
Screenshots go to /work/wt/shots/collections (or $PAPERFEED_SHOTS) for a person to look at."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from account_helpers import PASSWORD, verified_member
from conftest import ROOT, make_site_pf
from playwright.sync_api import Browser, expect, sync_playwright

from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SHOTS = Path(os.environ.get("PAPERFEED_SHOTS") or ROOT.parent / "shots" / "collections")
PAPER = "2510.99999"  # the hostile paper of conftest: its title must show as text on every page


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    pf = make_site_pf(tmp_path_factory.mktemp("collections-browser"))
    yield pf
    pf.close()


@pytest.fixture(scope="module")
def base(pf) -> Iterator[str]:
    roomy = {k: (10_000, 100.0) for k in ("login", "collection", "library_import")}
    with serve_in_thread(create_app(pf, WebSettings(secret="test-secret", rate_limits=roomy, arxiv_api_url="",
                                                    mail=None))) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_create_save_open_and_share(pf, base, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    verified_member(pf.store, "carol@coll.example")
    ctx = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto("/login")
    page.fill("#email", "carol@coll.example")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Collections").click()
    page.fill("#name", "Reading group")
    page.select_option("#visibility", "link")
    page.get_by_role("button", name="Create collection").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reading group")
    page.goto(f"/papers/{PAPER}")
    page.select_option("#collect-to", label="Reading group")
    page.locator("section.collect").screenshot(path=str(SHOTS / "picker.png"))
    page.locator("section.collect").get_by_role("button", name="Save").click()
    expect(page.locator(".saved-in")).to_contain_text("Reading group")
    page.locator(".saved-in").get_by_role("link", name="Reading group").click()
    expect(page.locator("#items-h + article.paper h3 a")).to_contain_text("<script>alert('title')</script>")
    share = page.locator("#share").input_value()
    assert "token=" in share
    page.screenshot(path=str(SHOTS / "collection.png"), full_page=True)
    path = share.split("://", 1)[1].split("/", 1)[1]
    anon = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    other = anon.new_page()
    other.goto("/" + path)
    expect(other.get_by_role("heading", level=1)).to_have_text("Reading group")
    expect(other.locator("#items-h + article.paper")).to_have_count(1)
    expect(other.get_by_role("heading", name="Manage")).to_have_count(0)
    other.screenshot(path=str(SHOTS / "shared.png"), full_page=True)
    r = other.goto("/" + path.split("?", 1)[0])
    assert r is not None and r.status == 404
    other.screenshot(path=str(SHOTS / "no-token.png"))
    anon.close()
    ctx.close()
