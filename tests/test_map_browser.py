"""The map and the onboarding journey in a real browser (Debian's chromium via Playwright) against a real
uvicorn server: the map renders with its labels, hovering names a paper, clicking a point opens it; a new
member picks a category and a region, rates papers and lands on /papers/for-you.  Screenshots (desktop
and 390x844 phone) go to /work/wt/shots/map (or $PAPERFEED_SHOTS)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from account_helpers import PASSWORD, verified_member
from map_site import ROOMY, make_map_pf
from playwright.sync_api import expect, sync_playwright

from paperfeed.recommend.map_file import MapFile
from paperfeed.store import signals as sql
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
SHOTS = Path(os.environ.get("PAPERFEED_SHOTS") or "/work/wt/shots/map")


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    pf = make_map_pf(tmp_path_factory.mktemp("map-browser"))
    assert MapFile(pf.index_dir).ensure(pf.store)
    yield pf
    pf.close()


@pytest.fixture(scope="module")
def base(pf):
    with serve_in_thread(create_app(pf, WebSettings(secret="test-secret", rate_limits=ROOMY, arxiv_api_url=""))) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_map_renders_labels_and_a_click_opens_the_paper(pf, base, browser):
    sm = MapFile(pf.index_dir).state(pf.store)[1]
    for name, size in (("map-desktop", {"width": 1280, "height": 900}), ("map-phone", {"width": 390, "height": 844})):
        ctx = browser.new_context(base_url=base, viewport=size)
        page = ctx.new_page()
        page.goto("/papers/map")
        expect(page.locator("#map a.pt")).to_have_count(len(sm.map.ids))
        labels = page.locator("#map text.label")
        expect(labels).to_have_count(len(sm.map.labels))
        box = labels.first.bounding_box()
        assert box and box["width"] > 10 and box["height"] > 5  # drawn, not collapsed
        assert page.locator("ol.clusters li").count() == len(sm.map.labels)
        shot(page, name)
        ctx.close()
    page = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900}).new_page()
    page.goto("/papers/map")
    point = page.locator("#map a.pt").last  # drawn last: on top of any neighbour
    href = point.get_attribute("href")
    title = point.locator("title").text_content()
    point.hover()
    expect(page.locator("#map-hover")).to_have_text(title or "")
    point.click()
    page.wait_for_url(f"**{href}")
    assert pf.store.get(href.removeprefix("/papers/")).title[:30] in page.content()


def test_onboarding_journey_lands_on_for_you_with_picks(pf, base, browser):
    user = verified_member(pf.store, "journey@onb.example")
    ctx = browser.new_context(base_url=base, viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    page.goto("/login?next=/onboarding")
    page.fill("#email", "journey@onb.example")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/onboarding")
    shot(page, "onboarding-step1-phone")
    first_cat = page.locator('input[name="category"]').first
    cat = first_cat.get_attribute("value")
    first_cat.check()
    page.get_by_role("button", name="Follow these categories").click()
    page.wait_for_url("**/onboarding?done=categories*")
    page.locator("#regions li a").first.click()
    page.get_by_role("button", name="Pick this region").click()
    page.wait_for_url("**/onboarding?done=region*")
    page.get_by_role("link", name="Step 2: rate a few papers →").click()
    page.wait_for_url("**/onboarding/rate")
    expect(page.locator("fieldset.paper")).to_have_count(8)
    shot(page, "onboarding-rate-phone")
    page.locator("#rate-1").get_by_label("Interested", exact=True).check()
    page.locator("#rate-2").get_by_label("Not interested").check()
    page.get_by_role("button", name="Done: show my feed").click()
    page.wait_for_url("**/papers/for-you")
    raw = sql.raw_signals(pf.store, user.id)
    assert ("category", cat) in raw.follows
    assert len(raw.liked) == 4 and len(raw.dismissed) == 1  # 3 from the region, 1 rated
    ctx.close()
