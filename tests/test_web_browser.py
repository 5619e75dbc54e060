"""The papers site in a real browser: Debian's headless chromium driven by Playwright, against a real uvicorn
server on 127.0.0.1 over a real store (300 real papers plus a hostile one).  Each test is a visitor's flow, what
they type and click and what they then see, because the HTTP tests cannot tell whether a page actually works in
a browser: that forms submit, links lead somewhere, text renders as text and the layout fits a phone.

Screenshots of the main pages are saved for a person to look at: tests/artifacts/screenshots/, or
$PAPERFEED_ARTIFACTS/screenshots/ when that is set (CI can keep the folder)."""

from __future__ import annotations

import html
import itertools
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote

import pytest
from account_helpers import mails_to, path_of_link
from conftest import HOSTILE, HOSTILE_ID, ROOT, make_site_pf
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright
from smtp_servers import Sink, smtp_server

from paperfeed.mail.settings import MailSettings
from paperfeed.present.latex import to_text
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

CHROMIUM = "/usr/bin/chromium"  # Debian's, installed by scripts/ensure_chromium.sh; Playwright never downloads one
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(os.environ.get("PAPERFEED_ARTIFACTS") or ROOT / "tests" / "artifacts") / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
LATEST, EARLIER, EMPTY_DAY = "2025-10-01", "2025-09-29", "2025-09-30"
PASSWORD = "correct horse battery"
TITLE_LINKS = "article.paper .body > :is(h2, h3) > a"
_emails = itertools.count(1)


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    pf = make_site_pf(tmp_path_factory.mktemp("browser"))
    yield pf
    pf.close()


MAILBOX = Sink()  # sign-up confirms the address by an emailed link: the site mails this real SMTP server


@pytest.fixture(scope="module")
def base(pf) -> Iterator[str]:
    roomy = {k: (1000, 100.0) for k in ("signup", "login", "upvote", "submit")}  # limits have their own test
    with smtp_server(MAILBOX) as smtp:
        mail = MailSettings(port=smtp.port)
        settings = WebSettings(secret="test-secret", rate_limits=roomy, arxiv_api_url="", mail=mail)  # no arXiv
        with serve_in_thread(create_app(pf, settings)) as url:
            settings.mail = replace(mail, base_url=url)
            yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def new_context(browser, base) -> Iterator:
    """Open browser contexts (each its own cookie jar: one visitor) and close them all after the test."""
    opened: list[BrowserContext] = []

    def make(viewport: dict = DESKTOP, **kw) -> BrowserContext:
        ctx = browser.new_context(base_url=base, viewport=viewport, **kw)
        ctx.set_default_timeout(15_000)
        opened.append(ctx)
        return ctx

    yield make
    for ctx in opened:
        ctx.close()


@pytest.fixture
def page(new_context) -> Page:
    return new_context().new_page()


def shoot(page: Page, name: str, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def follow(page: Page, target: Locator) -> None:
    """Click a link or a form's button and wait until the page it leads to has loaded: a bare click returns
    before the new page is there, and a POST that redirects back to the same address changes no URL to wait for."""
    with page.expect_event("framenavigated", lambda frame: frame == page.main_frame):
        target.click()
    page.wait_for_load_state()


def plain(text: str) -> str:
    """Whitespace as a reader sees it: the browser collapses runs of spaces and newlines."""
    return " ".join(text.split())


def seen(target: Locator) -> str:
    """The text a reader sees, each formula as [math] (MathML draws α as 𝛼: glyphs differ from the source's
    letters); compare with `source(…)` of the stored text."""
    return plain(target.evaluate(
        "e => { const c = e.cloneNode(true); c.querySelectorAll('math').forEach(m => m.replaceWith('[math]'));"
        " return c.textContent }"))


def source(text: str) -> str:
    """Stored LaTeX as the page shows it (present/latex.py), formulas as [math]."""
    return plain(to_text(re.sub(r"\$\$.*?\$\$|\$[^$]+\$", "[math]", text)))


def listed_ids(page: Page, within: str = "main") -> list[str]:
    hrefs = page.locator(f"{within} {TITLE_LINKS}").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    return [unquote(h.rsplit("/papers/", 1)[1]) for h in hrefs]


def article(page: Page, pid: str):
    return page.locator("main article.paper").filter(has=page.locator(f'a[href="/papers/{pid}"]'))


def confirm_and_log_in(page: Page, email: str) -> None:
    """After the sign-up form: open the link the site emailed, then log in with the form it leads to."""
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    page.goto(path_of_link(mails_to(MAILBOX, email)[-1], "/verify"))
    page.wait_for_url("**/login?verified=1")
    expect(page.get_by_role("status")).to_contain_text("Your address is confirmed")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    follow(page, page.get_by_role("button", name="Log in"))
    page.wait_for_url("**/papers")


def sign_up(page: Page) -> str:
    """Create an account through the sign-up form and the emailed link; return the handle the site then shows."""
    page.goto("/signup")
    email = f"reader{next(_emails)}@example.org"
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    follow(page, page.get_by_role("button", name="Create account"))
    confirm_and_log_in(page, email)
    profile = page.locator('header.site a[href="/profile"]')
    expect(profile).to_have_text(re.compile(r"^member\d+$"))
    return profile.inner_text()


def test_search_highlights_then_open_a_paper_and_a_similar_one(page, pf):
    page.goto("/papers")
    box = page.get_by_role("searchbox", name="Search papers")
    box.fill("language models")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/papers\?q=language\+models$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Results for “language models”")
    expect(box).to_have_value("language models")  # the box keeps the query for refining it
    ids = listed_ids(page)
    assert ids == [r.paper.id for r in pf.engine.search("language models", limit=20)]
    marks = [m.lower() for m in page.locator("main article.paper mark").all_inner_texts()]
    assert marks and all(m.startswith(("language", "model")) for m in marks), marks[:20]
    for hit in page.locator("main article.paper").all():  # every hit that holds a query word shows it marked
        if re.search(r"\b(language|model)", hit.inner_text(), re.I):
            assert hit.locator("mark").count() >= 1, hit.inner_text()[:200]
    first = page.locator(f"main {TITLE_LINKS}").first
    assert first.locator("mark").count() >= 1  # the best hit names the words in its title
    assert page.get_by_role("link", name="RSS").get_attribute("href") == "/feeds/search.rss?q=language+models"
    shoot(page, "desktop-search-highlighted")

    paper = pf.store.get(ids[0])
    follow(page, first)
    page.wait_for_url(f"**/papers/{ids[0]}")
    assert seen(page.get_by_role("heading", level=1)) == source(paper.title)
    abstract = page.get_by_role("region", name="Abstract")
    assert seen(abstract.locator("p.abstract")) == source(paper.abstract)
    assert page.get_by_role("link", name="Abstract page").get_attribute("href") == f"https://arxiv.org/abs/{ids[0]}"
    assert page.get_by_role("link", name="PDF").get_attribute("href") == f"https://arxiv.org/pdf/{ids[0]}"
    expect(page.locator("dl.facts")).to_contain_text(paper.categories[0])
    similar = listed_ids(page, "section[aria-labelledby=similar-h]")
    assert len(similar) >= 3 and ids[0] not in similar
    assert similar == [x.paper.id for x in pf.engine.similar(ids[0], 6)]
    shoot(page, "desktop-paper-similar")

    follow(page, page.locator(f"section[aria-labelledby=similar-h] {TITLE_LINKS}").first)
    page.wait_for_url(f"**/papers/{similar[0]}")
    assert seen(page.get_by_role("heading", level=1)) == source(pf.store.get(similar[0]).title)


def test_sign_up_log_out_and_log_in_again(page):
    page.goto("/papers")
    follow(page, page.get_by_role("link", name="Sign up"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign up")
    shoot(page, "desktop-signup-form")
    email = f"reader{next(_emails)}@example.org"
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    follow(page, page.get_by_role("button", name="Create account"))
    confirm_and_log_in(page, email)
    handle = page.locator('header.site a[href="/profile"]').inner_text()
    assert re.fullmatch(r"member\d+", handle)
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.get_by_role("link", name="Log in")).to_have_count(0)

    follow(page, page.get_by_role("button", name="Log out"))
    page.wait_for_url("**/papers")
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    expect(page.get_by_role("link", name=handle)).to_have_count(0)

    follow(page, page.get_by_role("link", name="Log in"))
    page.get_by_label("Email").fill(email.upper())  # emails are case-insensitive
    page.get_by_label("Password").fill("not the password")
    follow(page, page.get_by_role("button", name="Log in"))
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_role("link", name=handle)).to_have_count(0)
    page.get_by_label("Password").fill(PASSWORD)
    follow(page, page.get_by_role("button", name="Log in"))
    page.wait_for_url("**/papers")
    expect(page.locator('header.site a[href="/profile"]')).to_have_text(handle)


def test_a_forged_form_is_refused_and_creates_nothing(page):
    page.goto("/signup")
    page.get_by_label("Email").fill("forger@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.locator('input[name="csrf_token"]').evaluate("e => e.value = 'forged-token'")
    follow(page, page.get_by_role("button", name="Create account"))
    expect(page.get_by_role("alert")).to_contain_text("did not come from this site")
    page.goto("/login")
    page.get_by_label("Email").fill("forger@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    follow(page, page.get_by_role("button", name="Log in"))
    expect(page.get_by_role("alert")).to_be_visible()  # no account was made
    expect(page.locator('header.site a[href="/profile"]')).to_have_count(0)


def test_upvotes_change_the_count_and_trending(new_context):
    ada, bob = new_context().new_page(), new_context().new_page()
    sign_up(ada)
    sign_up(bob)
    ada.goto("/papers/trending?period=day")
    before = listed_ids(ada)
    ada.goto(f"/papers?date={EARLIER}")
    x, y = [pid for pid in listed_ids(ada) if pid not in before][4:6]

    for pid in (x, y):
        button = article(ada, pid).locator("form.vote button")  # cards also have Save, Not interested
        expect(button.locator(".count")).to_have_text("0")
        expect(button).to_have_attribute("aria-pressed", "false")
        button.click()  # with JavaScript the vote is sent in place: no reload (test_web_pages_rich.py)
        expect(button.locator(".count")).to_have_text("1")
        assert ada.url.endswith(f"/papers?date={EARLIER}")
        expect(button).to_have_attribute("aria-pressed", "true")
        expect(button).to_have_accessible_name("Remove upvote (1 upvote)")

    bob.goto(f"/papers/{y}")
    bob.locator("article.paper-page form.vote button").click()
    expect(bob.locator("article.paper-page form.vote .count")).to_have_text("2")

    follow(bob, bob.get_by_role("link", name="Trending"))
    follow(bob, bob.get_by_role("link", name="Day"))
    bob.wait_for_url("**/papers/trending?period=day")
    after = listed_ids(bob)
    assert x in after and y in after and after.index(y) < after.index(x)  # two votes rank above one
    assert after[0] == y  # no paper in this store has more
    counts = [int(c) for c in bob.locator("main article.paper .count").all_inner_texts()]
    assert counts == sorted(counts, reverse=True) and counts[after.index(y)] == 2 and counts[after.index(x)] == 1
    expect(bob.get_by_role("status")).to_have_count(0)  # no "no upvotes yet" notice any more
    shoot(bob, "desktop-trending-voted")

    ada.goto("/profile")
    assert set(listed_ids(ada, "section[aria-labelledby=up-h]")) == {x, y}
    shoot(ada, "desktop-profile-votes")
    ada.goto(f"/papers/{x}")  # a second click takes the vote back
    ada.locator("article.paper-page form.vote button").click()
    expect(ada.locator("article.paper-page form.vote .count")).to_have_text("0")
    expect(ada.locator("article.paper-page form.vote button")).to_have_attribute("aria-pressed", "false")
    ada.goto("/papers/trending?period=day")
    now = listed_ids(ada)
    assert y in now and x not in now  # a paper nobody votes for no longer trends


def test_submit_a_paper_to_a_days_list(page, pf):
    handle = sign_up(page)
    page.goto(f"/papers?date={EARLIER}")
    pid = listed_ids(page)[7]
    follow(page, page.get_by_role("link", name="Submit"))
    expect(page.get_by_label("Day's list")).to_have_value(LATEST)  # the newest day unless told otherwise

    page.get_by_label("arXiv id or link").fill("2999.00001")  # not in the store, and nothing is fetched
    page.get_by_label("Day's list").fill(EMPTY_DAY)
    follow(page, page.get_by_role("button", name="Submit"))
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("arXiv id or link")).to_have_value("2999.00001")  # what was typed is kept

    page.get_by_label("arXiv id or link").fill(f"https://arxiv.org/abs/{pid}v2")
    follow(page, page.get_by_role("button", name="Submit"))
    page.wait_for_url(re.compile(rf"/papers\?date={EMPTY_DAY}&submitted=\d+#p-\d+$"))  # at the paper's card
    assert listed_ids(page) == [pid]
    expect(page.locator("main p.count")).to_have_text("1 paper")
    expect(article(page, pid).locator("p.meta")).to_contain_text(f"submitted by {handle}")
    assert seen(article(page, pid).locator("h2")) == source(pf.store.get(pid).title)

    page.goto("/profile")
    assert listed_ids(page, "section[aria-labelledby=sub-h]") == [pid]
    expect(page.get_by_role("region", name="Submitted")).to_contain_text(EMPTY_DAY)


def test_feeds_hold_what_the_pages_show(page, base, pf):
    page.goto("/papers")
    shown = listed_ids(page)
    titles = [seen(t) for t in page.locator(f"main {TITLE_LINKS}").all()]
    assert titles == [source(pf.store.get(i).title) for i in shown]
    href = page.locator('head link[rel="alternate"][type="application/rss+xml"]').get_attribute("href")
    rss = page.request.get(base + href)
    assert rss.ok and rss.headers["content-type"].startswith("application/rss+xml")
    items = ET.fromstring(rss.body()).findall("./channel/item")
    assert [i.findtext("link").rsplit("/papers/", 1)[1] for i in items] == shown
    # RSS readers render title text as HTML, so the feed gives HTML whose text is the title (web/feeds.py)
    assert [plain(html.unescape(i.findtext("title"))) for i in items] == [plain(to_text(pf.store.get(i).title))
                                                                          for i in shown]

    page.goto("/papers/trending")
    shown = listed_ids(page)
    atom = page.request.get(base + "/feeds/trending.atom")
    assert atom.ok and atom.headers["content-type"].startswith("application/atom+xml")
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entries = ET.fromstring(atom.body()).findall("a:entry", ns)
    ids = [e.findtext("a:id", namespaces=ns).rsplit("/papers/", 1)[1] for e in entries]
    assert shown and ids[: len(shown)] == shown
    link = entries[0].find("a:link", ns).get("href")
    page.goto(link)  # an entry's link opens the paper's page
    shown_title = plain(to_text(pf.store.get(ids[0]).title))
    assert plain(entries[0].findtext("a:title", "", ns)) == shown_title
    assert seen(page.get_by_role("heading", level=1)) == source(pf.store.get(ids[0]).title)


def test_hostile_text_renders_as_text(new_context):
    # CSP would block an injected script anyway; bypass it so escaping alone is what is tested.
    page = new_context(bypass_csp=True).new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.set_content("<script>alert('probe')</script>")  # the listener does catch a script's dialog
    assert dialogs == ["probe"]
    dialogs.clear()

    page.goto(f"/papers/{HOSTILE_ID}")
    assert seen(page.get_by_role("heading", level=1)) == source(HOSTILE["title"])  # LaTeX rendered, rest as text
    assert seen(page.locator("article.paper-page p.abstract")) == source(HOSTILE["abstract"])
    expect(page.locator("article.paper-page p.authors")).to_have_text(", ".join(HOSTILE["authors"]))
    assert page.locator("main script, main img, main b").count() == 0
    shoot(page, "desktop-hostile-paper")

    page.goto("/papers?q=hostile+alert")
    hit = article(page, HOSTILE_ID)
    assert seen(hit.locator("h3")) == source(HOSTILE["title"])
    assert [m.lower() for m in hit.locator("h3 mark").all_inner_texts()] == ["alert", "hostile"]
    for path in ("/papers", "/papers?week=2025-W40", "/papers/trending?period=month"):
        page.goto(path)
        assert page.locator("main script, main img").count() == 0, path
    page.goto("/papers")
    assert seen(article(page, HOSTILE_ID).locator("h2")) == source(HOSTILE["title"])
    assert dialogs == []


def no_horizontal_scroll(page: Page) -> bool:
    return page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")


def test_a_phone_fits_every_page_and_can_search(new_context, pf):
    page = new_context(PHONE, is_mobile=True, has_touch=True, device_scale_factor=2).new_page()
    page.goto("/papers")
    assert page.evaluate("window.innerWidth") == PHONE["width"]
    assert no_horizontal_scroll(page)
    box = page.get_by_role("searchbox", name="Search papers")
    rect, button = box.bounding_box(), page.get_by_role("button", name="Search").bounding_box()
    assert rect and button and rect["width"] >= 200 and rect["x"] >= 0
    assert button["x"] + button["width"] <= PHONE["width"]
    assert abs(button["y"] - rect["y"]) < rect["height"]  # the box and its button share a row
    box.tap()
    page.keyboard.type("graph neural networks")
    page.keyboard.press("Enter")
    page.wait_for_url("**/papers?q=graph+neural+networks")
    assert listed_ids(page) == [r.paper.id for r in pf.engine.search("graph neural networks", limit=20)]
    assert no_horizontal_scroll(page)
    shoot(page, "phone-search-typed", full_page=False)  # what the thumb sees first
    for path in ("/papers/trending", "/papers?week=2025-W40", "/status", "/login", f"/papers/{HOSTILE_ID}"):
        page.goto(path)
        assert no_horizontal_scroll(page), path
    shoot(page, "phone-hostile-paper")


def test_the_site_works_without_javascript(new_context, pf):
    page = new_context(java_script_enabled=False).new_page()
    page.set_content("<title>before</title><script>document.title = 'ran'</script>")
    assert page.title() == "before"  # scripts really are off
    page.goto("/papers")
    page.get_by_role("searchbox", name="Search papers").fill("reinforcement learning")
    follow(page, page.get_by_role("button", name="Search"))
    page.wait_for_url("**/papers?q=reinforcement+learning")
    ids = listed_ids(page)
    assert ids == [r.paper.id for r in pf.engine.search("reinforcement learning", limit=20)]
    page.get_by_label("Category").fill("cs.LG")
    follow(page, page.get_by_role("button", name="Filter"))
    assert listed_ids(page) and all("cs.LG" in pf.store.get(i).categories for i in listed_ids(page))

    page.goto("/papers")
    follow(page, page.get_by_role("link", name=f"← {EARLIER}"))
    page.wait_for_url(f"**/papers?date={EARLIER}")
    follow(page, page.get_by_role("link", name="Next page →"))
    page.wait_for_url(f"**/papers?date={EARLIER}&p=2")
    assert len(listed_ids(page)) == 20

    handle = sign_up(page)
    pid = listed_ids(page)[-1]
    page.goto(f"/papers/{pid}")
    follow(page, page.locator("article.paper-page form.vote button"))
    page.wait_for_url(re.compile(rf"/papers/{re.escape(pid)}#p-\d+$"))  # back at the paper, at its anchor
    expect(page.locator("article.paper-page form.vote .count")).to_have_text("1")
    follow(page, page.get_by_role("link", name=handle))
    assert listed_ids(page, "section[aria-labelledby=up-h]") == [pid]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_main_pages_are_styled_labelled_and_saved(new_context, viewport):
    """Every main page: the stylesheet applies, there is one h1, every form field has a label, nothing
    overflows sideways; and a screenshot of it is saved for a person to look at."""
    page = new_context(viewport).new_page()
    page.goto("/papers?q=transformer")
    query_page = page.url
    pid = listed_ids(page)[0]
    pages = [("daily", "/papers"), ("trending", "/papers/trending?period=month"), ("search", query_page),
             ("paper", f"/papers/{pid}"), ("signup", "/signup"), ("login", "/login")]
    for name, path in pages + [("profile", "/profile"), ("submit", "/submit")]:
        if name == "profile":
            sign_up(page)
            page.goto(f"/papers/{pid}")
            page.locator("article.paper-page form.vote button").click()
            expect(page.locator("article.paper-page form.vote button")).to_have_attribute("aria-pressed", "true")
        page.goto(path)
        assert page.evaluate("getComputedStyle(document.body).fontFamily").startswith("system-ui"), name
        assert page.locator("h1").count() == 1, name
        unlabelled = page.locator("input:not([type=hidden])").evaluate_all(
            "els => els.filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.name)")
        assert unlabelled == [], (name, unlabelled)
        assert no_horizontal_scroll(page), name
        shot = shoot(page, f"{'phone' if viewport is PHONE else 'desktop'}-{name}")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
