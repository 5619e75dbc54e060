"""The journey "choose a handle" in a real browser (Debian's chromium via Playwright) against a real uvicorn
server and a real SMTP sink: sign up through the form, open the emailed link, log in, pick a handle on /profile
(first a taken one: the error is shown beside the field and what was typed is kept), see it in the header,
follow "Your profile" to /members/<handle>.  Desktop and phone (390x844) screenshots go to shots/profiles/
(or $PAPERFEED_SHOTS) for a person to look at."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from account_helpers import PASSWORD, mails_to, path_of_link, verified_member
from conftest import ROOT, make_site_pf
from playwright.sync_api import Browser, Page, expect, sync_playwright
from smtp_servers import Sink, smtp_server

from paperfeed.mail.settings import MailSettings
from paperfeed.store import people as P
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SHOTS = Path(os.environ.get("PAPERFEED_SHOTS") or ROOT / "shots") / "profiles"
MAILBOX = Sink()


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    pf = make_site_pf(tmp_path_factory.mktemp("people-browser"))
    yield pf
    pf.close()


@pytest.fixture(scope="module")
def base(pf) -> Iterator[str]:
    roomy = {k: (1000, 100.0) for k in ("signup", "login", "profile")}
    with smtp_server(MAILBOX) as smtp:
        mail = MailSettings(port=smtp.port)
        settings = WebSettings(secret="test-secret", rate_limits=roomy, arxiv_api_url="", mail=mail)
        with serve_in_thread(create_app(pf, settings)) as url:
            settings.mail = replace(mail, base_url=url)
            yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("size", [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_sign_up_and_choose_a_handle(pf, base, browser, size):
    w, h = size
    tag = "desktop" if w > 600 else "phone"
    email = f"lin-{tag}@people.example"
    handle = f"lin_{tag}"
    taken = verified_member(pf.store, f"taken-{tag}@people.example")
    assert P.set_handle(pf.store, taken.id, f"taken_{tag}", f"taken_{tag}")
    ctx = browser.new_context(base_url=base, viewport={"width": w, "height": h})
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    page.goto("/signup")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("main")).to_contain_text(email)
    msgs = mails_to(MAILBOX, email)
    assert msgs
    page.goto(path_of_link(msgs[-1], "/verify"))
    page.wait_for_url("**/login?verified=1")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/papers")
    page.goto("/profile")
    expect(page.locator("#public-h")).to_be_visible()
    # a taken handle first: the reason beside the field, the typed values kept, nothing saved
    page.fill("#handle", f"Taken_{tag}")
    page.fill("#display_name", "Lin Wei")
    page.fill("#bio", "Graphs, <b>sparsity</b> & proofs.")
    page.fill("#links", "https://lin.example/papers")
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("#handle-err")).to_contain_text("is taken")
    expect(page.locator("#display_name")).to_have_value("Lin Wei")
    assert page.locator("#handle").get_attribute("aria-invalid") == "true"
    shoot(page, f"profile-taken-{tag}")
    page.fill("#handle", handle)
    page.get_by_role("button", name="Save profile").click()
    page.wait_for_url("**/profile?saved=1")
    expect(page.get_by_role("status")).to_contain_text("saved")
    expect(page.locator("header.site")).to_contain_text(handle)
    shoot(page, f"profile-saved-{tag}")
    page.locator("header.site a.your-profile").click()
    page.wait_for_url(f"**/members/{handle}")
    expect(page.locator("h1")).to_have_text("Lin Wei")
    expect(page.locator(".handle")).to_have_text(f"@{handle}")
    expect(page.locator(".bio")).to_have_text("Graphs, <b>sparsity</b> & proofs.")  # as text, not markup
    link = page.locator(".member-links a")
    assert link.get_attribute("rel") == "nofollow ugc noopener"
    assert link.get_attribute("href") == "https://lin.example/papers"
    assert email not in page.content()
    # on a phone the page fits its width (no sideways scrolling)
    assert page.evaluate("document.documentElement.scrollWidth") <= w + 1
    shoot(page, f"member-{tag}")
    ctx.close()
