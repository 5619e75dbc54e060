"""Claiming authorship in a real browser (Debian's chromium via Playwright) against a real uvicorn server:
a member claims a paper and comments in one browser context, an operator approves the claim from
/moderation/claims in another, and the member sees "approved" and the "author" mark on their comment; then the
operator adds a rule, which approves a second member's waiting claim at once.  Screenshots go to shots/ (or
$PAPERFEED_SHOTS) for a person to look at."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from account_helpers import PASSWORD, verified_member
from conftest import ROOT, make_site_pf
from playwright.sync_api import Browser, Page, expect, sync_playwright

from paperfeed.people.handles import validate
from paperfeed.store import people
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SHOTS = Path(os.environ.get("PAPERFEED_SHOTS") or ROOT / "shots")


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    pf = make_site_pf(tmp_path_factory.mktemp("claims-browser"))
    yield pf
    pf.close()


@pytest.fixture(scope="module")
def base(pf) -> Iterator[str]:
    roomy = {k: (10_000, 100.0) for k in ("signup", "login", "comment", "comment_new", "claim")}
    with serve_in_thread(create_app(pf, WebSettings(secret="test-secret", rate_limits=roomy, arxiv_api_url=""))) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def shoot(page: Page, name: str, part: str | None = None) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    if part:
        page.locator(part).screenshot(path=str(SHOTS / f"{name}.png"))
    else:
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def member(pf, email: str, handle: str, role: str = "member") -> int:
    user = verified_member(pf.store, email)
    assert people.set_handle(pf.store, user.id, *validate(handle))
    if role != "member":
        people.set_role(pf.store, user.id, role)
    return user.id


def visitor(browser: Browser, base: str, email: str) -> Page:
    ctx = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/papers")
    return page


def test_journey_claim_a_paper_and_get_it_approved(pf, base, browser):
    found = pf.store.get_many(list(range(1, 60)))
    paper = next(p for _, p in sorted(found.items()) if len(p.authors) >= 3)
    member(pf, "ada@claims.example", "ada")
    member(pf, "ops@claims.example", "ops", role="operator")

    a = visitor(browser, base, "ada@claims.example")
    a.goto(f"/papers/{paper.id}")
    a.fill("#new-comment", "Happy to answer questions about section 2.")
    a.get_by_role("button", name="Post comment").click()
    a.wait_for_url("**#c-*")
    cid = int(a.url.rsplit("#c-", 1)[1])
    expect(a.locator(f"#c-{cid} .author-mark")).to_have_count(0)
    a.select_option("#claim-author", paper.authors[2])
    shoot(a, "claims-1-form", "#claim")
    a.locator("#claim").get_by_role("button", name="Claim authorship").click()
    a.wait_for_url("**#claim")
    expect(a.locator("#claim .my-claim")).to_have_text(f"Your claim to be {paper.authors[2]}: waiting for an operator.")
    shoot(a, "claims-2-waiting", "#claim")

    o = visitor(browser, base, "ops@claims.example")
    o.goto("/moderation")
    o.get_by_role("link", name="Authorship claims").click()
    o.wait_for_url("**/moderation/claims")
    row = o.locator("table.claims tbody tr").filter(has_text=paper.authors[2])
    expect(row).to_contain_text("ada")
    expect(row).to_contain_text("claims.example")
    expect(o.locator("main")).not_to_contain_text("ada@claims.example")  # the domain only
    shoot(o, "claims-3-queue")
    row.get_by_label("Reason").fill("matches the paper's affiliation")
    row.get_by_role("button", name="Approve").click()
    expect(o.locator(".notice")).to_contain_text("approved")
    expect(o.locator("table.claims")).to_have_count(0)  # the queue is empty now
    shoot(o, "claims-4-approved")

    a.goto(f"/papers/{paper.id}")
    expect(a.locator("#claim .my-claim")).to_have_text(
        f"Your claim to be {paper.authors[2]}: approved by an operator.")
    expect(a.locator("#claim ul.claimed")).to_contain_text(f"{paper.authors[2]} is @ada")
    expect(a.locator(f"#c-{cid} .author-mark")).to_have_text("author")
    a.locator("#claim").scroll_into_view_if_needed()
    shoot(a, "claims-5-member-sees-approved", "#claim")
    shoot(a, "claims-6-author-mark", "#discussion")

    # A second member's claim waits; the operator's new rule for their domain approves it at once.
    member(pf, "bo@lab.example", "bob")
    b = visitor(browser, base, "bo@lab.example")
    b.goto(f"/papers/{paper.id}")
    b.select_option("#claim-author", paper.authors[0])
    b.locator("#claim").get_by_role("button", name="Claim authorship").click()
    expect(b.locator("#claim .my-claim")).to_contain_text("waiting for an operator")
    o.goto("/moderation/claims")
    o.fill("#rule-domain", "lab.example")
    o.fill("#rule-pattern", "*")
    o.get_by_role("button", name="Add rule").click()
    expect(o.locator(".notice")).to_have_text("Rule added; 1 pending claim approved.")
    expect(o.locator("table.rules")).to_contain_text("lab.example")
    shoot(o, "claims-7-rule-added")
    b.reload()
    expect(b.locator("#claim .my-claim")).to_contain_text("approved automatically by rule")
    shoot(b, "claims-8-auto-approved", "#claim")
