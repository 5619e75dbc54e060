""""For you" journeys in a real browser (Debian chromium via Playwright, a real uvicorn server, a real store):
dismiss a paper from the daily list (the card goes, the reader stays where they were, Undo is there),
save one from search results, and see the picks with their reasons.  Screenshots go to
/work/wt/shots/foryou/ (or $PAPERFEED_SHOTS) for a person to look at."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from account_helpers import PASSWORD, verified_member
from conftest import make_site_pf
from playwright.sync_api import Browser, Page, expect, sync_playwright

from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(os.environ.get("PAPERFEED_SHOTS") or "/work/wt/shots/foryou")
EARLIER = "2025-09-29"


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    pf = make_site_pf(tmp_path_factory.mktemp("foryou-browser"))
    yield pf
    pf.close()


@pytest.fixture(scope="module")
def base(pf) -> Iterator[str]:
    roomy = {k: (1000, 100.0) for k in ("signup", "login", "upvote", "submit", "preferences")}
    settings = WebSettings(secret="test-secret", rate_limits=roomy, arxiv_api_url="")
    with serve_in_thread(create_app(pf, settings)) as url:
        settings.base_url = url
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


_n = iter(range(1, 1000))


@pytest.fixture
def page(browser, base, pf) -> Iterator[Page]:
    """A logged-in member's tab (logged in through the real form)."""
    email = f"browser{next(_n)}@example.org"
    verified_member(pf.store, email)
    ctx = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(15_000)
    page = ctx.new_page()
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()
    yield page
    ctx.close()


def shoot(page: Page, name: str, full_page: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def submit(page: Page, button) -> None:  # type: ignore[no-untyped-def]
    with page.expect_event("framenavigated", lambda frame: frame == page.main_frame):
        button.click()
    page.wait_for_load_state()


def test_dismiss_from_the_daily_list_keeps_your_place(page, pf):
    page.goto(f"/papers?date={EARLIER}")
    cards = page.locator("main article.paper")
    target = cards.nth(8)  # well down the page
    pk = target.get_attribute("id")
    title = target.locator("h2 a").inner_text()
    target.scroll_into_view_if_needed()
    submit(page, target.get_by_role("button", name="Not interested"))
    stub = page.locator(f"#{pk}")
    expect(stub).to_have_class("paper dismissed")
    expect(stub).to_contain_text("Hidden (not interested)")
    expect(stub.get_by_role("button", name="Undo")).to_be_visible()
    assert page.evaluate("window.scrollY") > 300  # back at the card, not the top of the page
    assert page.url.endswith(f"#{pk}")
    expect(stub.locator("p.abstract")).to_have_count(0)  # the card's body is gone
    shoot(page, "daily-dismissed")
    submit(page, stub.get_by_role("button", name="Undo"))
    expect(page.locator(f"#{pk} h2 a")).to_have_text(title)


def test_save_from_search_then_for_you_shows_reasons(page, pf):
    page.goto("/papers?q=language+models")
    first = page.locator("main article.paper").first
    title = first.locator("h3 a").inner_text()
    submit(page, first.get_by_role("button", name="Save"))
    expect(page.locator("main article.paper").first.get_by_role("button", name="Saved ✓")).to_be_visible()
    shoot(page, "search-saved")
    submit(page, page.get_by_role("button", name="Follow this search in For you"))
    expect(page.get_by_role("button", name="Following ✓ (unfollow)")).to_be_visible()
    page.get_by_role("link", name="For you", exact=True).click()
    page.wait_for_url("**/papers/for-you")
    expect(page.locator("#used")).to_contain_text("1 saved")
    reasons = page.locator("p.reason")
    expect(reasons.first).to_be_visible()
    texts = reasons.all_inner_texts()
    assert any(t.startswith("Matches your search \u201clanguage models\u201d") for t in texts)
    shoot(page, "for-you", full_page=False)
    # "Fewer like this" on the first pick: it goes, a notice offers Undo.
    pick = page.locator("div.pick").first
    gone = pick.locator("article h2 a").inner_text()
    submit(page, pick.get_by_role("button", name="Fewer like this"))
    expect(page.locator("div.notice")).to_contain_text("It will not come back")
    assert gone not in page.locator("div.pick article h2 a").all_inner_texts()
    assert title not in page.locator("div.pick article h2 a").all_inner_texts()  # saved: not picked back
    shoot(page, "for-you-hidden")
    page.goto("/papers/for-you/settings")
    expect(page.get_by_text("language models")).to_be_visible()
    shoot(page, "settings", full_page=True)
