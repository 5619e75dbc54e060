"""Pages as rich as the best papers sites (issue 10 §4), in a real browser (Debian's chromium through Playwright)
against a real uvicorn server over a real store: the site's 300 real papers plus the hostile one, a paper with
LaTeX and code links in its comment, and a paper whose LaTeX is hostile.  HTTP tests for the API beside them.

Each test is a visitor's journey: sorting the daily list, reading search snippets, LaTeX as it renders, an
author's page and following them, citing a paper, upvoting without losing one's place (with and without
JavaScript, and anonymously through the log-in), submitting and seeing where the paper landed, and a phone's
first screen.  Screenshots go where tests/test_web_browser.py puts them."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import quote, unquote

import httpx
import pytest
from conftest import HOSTILE_ID, make_site_pf, write_jsonl
from playwright.sync_api import Page, expect
from smtp_servers import smtp_server
from test_web_browser import (  # noqa: F401  (browser is a fixture)
    DESKTOP,
    EARLIER,
    LATEST,
    MAILBOX,
    PASSWORD,
    PHONE,
    TITLE_LINKS,
    article,
    browser,
    confirm_and_log_in,
    follow,
    listed_ids,
    no_horizontal_scroll,
    plain,
    seen,
    shoot,
    source,
)

from paperfeed.ingestion.pipeline import ingest_paths
from paperfeed.mail.digest import normalise_name
from paperfeed.mail.settings import MailSettings
from paperfeed.present.bibtex import paper_bibtex
from paperfeed.present.latex import to_text
from paperfeed.search.query import parse_query
from paperfeed.store.authors import papers_by_author
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

LATEX_ID, EVIL_ID = "2510.99998", "2510.99997"
CODE_URL = "https://github.com/example/fast-attn"
LATEX = {
    "id": LATEX_ID, "date": LATEST, "categories": ["cs.LG", "cs.CL"],
    "title": "Fast \\emph{sparse} attention: $4\\times$ speed-ups for Schr\\\"odinger solvers",
    "abstract": "We obtain $4\\times$ faster kernels with \\textbf{bold} claims and a $\\mathcal{O}(n \\log n)$ bound; "
                "50\\% fewer FLOPs~overall, and ``quoted'' results --- see \\url{https://example.org/fast}.",
    "authors": ["Zoë Müller", "Ada Lovelace"],
    "comment": f"ICLR 2026. Code: \\url{{{CODE_URL}}}; project page https://example.org/p. javascript:alert(6)",
}
EVIL = {  # hostile text that goes through the LaTeX renderer
    "id": EVIL_ID, "date": LATEST, "categories": ["cs.CR"],
    "title": "Inert $\\text{<img src=x onerror=alert(1)>}$ and \\href{javascript:alert(2)}{click me} \\emph{<b>x</b>}",
    "abstract": "\\url{javascript:alert(3)} $<script>alert(4)</script>$ \\textbf{\"><svg onload=alert(5)>} "
                "\\href{https://example.org/\" onmouseover=\"alert(8)}{hover} $\\href{javascript:alert(9)}{m}$",
    "authors": ["Eve <script>alert(10)</script>"],
    "comment": "see javascript:alert(6) and https://github.com/x/y\"onmouseover=alert(7)",
}
_emails = itertools.count(1)


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    d = tmp_path_factory.mktemp("rich")
    pf = make_site_pf(d)
    rep = ingest_paths(pf.store, [str(write_jsonl(d / "rich.jsonl", [LATEX, EVIL]))])
    assert rep.total("added") == 2
    pf.refresh_keyword_index()
    yield pf
    pf.close()


@pytest.fixture(scope="module")
def base(pf) -> Iterator[str]:
    roomy = {k: (1000, 100.0) for k in ("signup", "login", "upvote", "submit")}
    with smtp_server(MAILBOX) as smtp:  # sign-up confirms the address by an emailed link
        mail = MailSettings(port=smtp.port)
        settings = WebSettings(secret="rich-secret", rate_limits=roomy, arxiv_api_url="", mail=mail)
        with serve_in_thread(create_app(pf, settings)) as url:
            settings.mail = replace(mail, base_url=url)
            yield url


@pytest.fixture
def new_context(browser, base) -> Iterator:  # noqa: F811
    opened = []

    def make(viewport: dict = DESKTOP, **kw):
        ctx = browser.new_context(base_url=base, viewport=viewport, **kw)
        ctx.set_default_timeout(15_000)
        opened.append(ctx)
        return ctx

    yield make
    for ctx in opened:
        ctx.close()


def sign_up(page: Page) -> tuple[str, str]:
    email = f"rich{next(_emails)}@example.org"
    page.goto("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    follow(page, page.get_by_role("button", name="Create account"))
    confirm_and_log_in(page, email)
    expect(page.locator('header.site a[href="/profile"]')).to_be_visible()
    return email, page.locator('header.site a[href="/profile"]').inner_text()


def vote_count(page: Page, pid: str) -> int:
    return int(article(page, pid).locator("form.vote .count").inner_text())


def in_viewport(page: Page, selector: str) -> bool:
    rect = page.locator(selector).evaluate(
        "e => { const r = e.getBoundingClientRect(); return [r.top, r.bottom, window.innerHeight, window.scrollY] }")
    assert rect[1] > 0 and rect[0] < rect[2], (selector, rect)
    return True


# -- the daily list: sorts and compact cards --------------------------------------------------------------------

def test_daily_list_sorts_by_upvotes_trending_or_newest(new_context, pf, base):
    page = new_context().new_page()
    sign_up(page)
    page.goto(f"/papers?date={EARLIER}&sort=newest")
    newest = listed_ids(page)
    a, b = newest[9], newest[14]  # two papers low on the list
    for pid, count in ((a, "1"), (b, "1"), (b, "0"), (b, "1")):  # b: voted, taken back, voted again
        article(page, pid).locator("form.vote button").click()
        expect(article(page, pid).locator("form.vote .count")).to_have_text(count)
    other = new_context().new_page()
    sign_up(other)
    other.goto(f"/papers?date={EARLIER}&sort=newest")
    article(other, b).locator("form.vote button").click()
    expect(article(other, b).locator("form.vote .count")).to_have_text("2")

    page.goto(f"/papers?date={EARLIER}")  # the default order: most upvoted, as Hugging Face shows a day
    expect(page.get_by_role("navigation", name="Sort").locator("[aria-current]")).to_have_text("Most upvoted")
    ids = listed_ids(page)
    assert ids[:2] == [b, a]
    assert ids[2:] == [i for i in newest if i not in (a, b)][:18]  # ties keep the newest-first order
    assert [vote_count(page, i) for i in ids[:3]] == [2, 1, 0]
    shoot(page, "desktop-daily-by-upvotes")
    api = httpx.get(f"{base}/api/daily_papers", params={"date": EARLIER, "sort": "upvotes", "limit": 20}).json()
    assert [x["id"] for x in api["papers"]] == ids and api["sort"] == "upvotes"

    follow(page, page.get_by_role("navigation", name="Sort").get_by_role("link", name="Newest"))
    assert listed_ids(page) == newest and page.url.endswith("&sort=newest")
    api = httpx.get(f"{base}/api/daily_papers", params={"date": EARLIER, "sort": "newest", "limit": 20}).json()
    assert [x["id"] for x in api["papers"]] == newest
    follow(page, page.get_by_role("link", name="Next page →"))
    assert "sort=newest" in page.url and "p=2" in page.url  # the order is kept while paging
    follow(page, page.get_by_role("navigation", name="Sort").get_by_role("link", name="Trending"))
    trending = listed_ids(page)
    assert trending[:2] == [b, a]
    api = httpx.get(f"{base}/api/daily_papers", params={"date": EARLIER, "sort": "trending", "limit": 20}).json()
    assert [x["id"] for x in api["papers"]] == trending
    follow(page, page.get_by_role("link", name="Week"))
    assert "sort=trending" in page.url  # switching the period keeps the order
    bad = httpx.get(f"{base}/papers", params={"date": EARLIER, "sort": "sideways"})
    assert bad.status_code == 400 and "sort must be one of upvotes, trending, newest" in bad.text


def test_cards_are_compact_with_linked_authors_and_categories(new_context, pf):
    page = new_context().new_page()
    page.goto(f"/papers?date={EARLIER}&sort=newest")
    pid = listed_ids(page)[0]
    paper = pf.store.get(pid)
    card = article(page, pid)
    links = card.locator("p.authors a")
    assert links.count() == min(8, len(paper.authors))
    assert links.first.get_attribute("href") == "/authors/" + quote(paper.authors[0], safe="")
    assert [c for c in card.locator("p.meta a.cat").all_inner_texts()] == paper.categories[:4]
    shown = seen(card.locator("p.abstract"))
    assert len(shown) < len(paper.abstract) and shown.endswith("…")  # the first lines, not the whole abstract
    assert source(paper.abstract).startswith(shown.removesuffix(" …").removesuffix("…").strip()[:100])
    height = card.locator("p.abstract").evaluate("e => e.getBoundingClientRect().height")
    line = card.locator("p.abstract").evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
    assert height <= 3 * line + 1  # at most three lines on a card
    assert no_horizontal_scroll(page)


# -- search: snippets, a count, a sort --------------------------------------------------------------------------

def test_search_shows_snippets_a_count_and_sorts(new_context, pf):
    page = new_context().new_page()
    page.goto("/papers?q=language+models")
    status = page.locator("main p.count")
    lx = pf.engine.lexical
    total = lx.count(lx.build(parse_query("language models"), "or"))
    assert total > 20
    expect(status).to_have_text(f"{total:,} papers contain these words")
    hits = page.locator("main article.paper").all()
    assert len(hits) == 20
    for hit in hits:
        pid = unquote(hit.locator(TITLE_LINKS.split(" ", 1)[1]).get_attribute("href").rsplit("/papers/", 1)[1])
        abstract = pf.store.get(pid).abstract
        snippet = hit.locator("p.abstract")
        text = seen(snippet)
        if len(abstract) > 400:
            assert len(text) < len(abstract) * 0.8, pid  # a passage, not the whole abstract
        if re.search(r"\b(language|model)", abstract, re.I):
            assert snippet.locator("mark").count() >= 1, (pid, text)  # the passage that matched, words marked
    shoot(page, "desktop-search-snippets")

    follow(page, page.get_by_role("navigation", name="Sort").get_by_role("link", name="Newest"))
    expect(status).to_contain_text("the 200 most relevant results, newest first")
    days = [pf.store.get(i).listed or pf.store.get(i).published for i in listed_ids(page)]
    assert days == sorted(days, reverse=True)
    assert set(listed_ids(page)) <= {r.paper.id for r in pf.engine.search("language models", limit=200)}
    follow(page, page.get_by_role("navigation", name="Sort").get_by_role("link", name="Most upvoted"))
    assert "sort=upvotes" in page.url
    counts = [int(c) for c in page.locator("main article.paper .count").all_inner_texts()]
    assert counts == sorted(counts, reverse=True)
    page.get_by_label("Category").fill("cs.CL")  # a filter keeps the chosen order
    follow(page, page.get_by_role("button", name="Filter"))
    assert "sort=upvotes" in page.url and "cat=cs.CL" in page.url


# -- LaTeX ------------------------------------------------------------------------------------------------------

def test_latex_renders_on_pages_in_feeds_and_titles(new_context, base):
    page = new_context().new_page()
    page.goto(f"/papers/{LATEX_ID}")
    h1 = page.get_by_role("heading", level=1)
    expect(h1.locator("em")).to_have_text("sparse")
    assert h1.locator("math").count() == 1 and "\\" not in h1.inner_text() and "$" not in h1.inner_text()
    assert "Schrödinger" in h1.inner_text()
    assert page.title() == "Fast sparse attention: 4× speed-ups for Schrödinger solvers · paperfeed"
    abstract = page.locator("article.paper-page p.abstract")
    expect(abstract.locator("strong")).to_have_text("bold")
    assert abstract.locator("math").count() == 2
    text = abstract.inner_text()
    assert "50% fewer FLOPs\u00a0overall" in text and "“quoted” results — see" in text and "\\" not in text
    assert abstract.locator("a").get_attribute("href") == "https://example.org/fast"
    width = h1.locator("math").evaluate("e => e.getBoundingClientRect().width")
    assert width > 5  # Chromium lays the MathML out (MathML Core), it is not an unknown inline element
    shoot(page, "desktop-paper-latex")

    rss = httpx.get(f"{base}/feeds/daily.rss", params={"date": LATEST}).text
    assert "Fast sparse attention: 4× speed-ups for Schrödinger solvers" in rss and "\\emph" not in rss
    page.goto(f"/papers?date={LATEST}&sort=newest")
    expect(article(page, LATEX_ID).locator("h2 em")).to_have_text("sparse")


def test_hostile_text_through_the_latex_renderer_stays_inert(new_context):
    page = new_context(bypass_csp=True).new_page()  # escaping alone must keep it inert, not the CSP
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    for path in (f"/papers/{EVIL_ID}", f"/papers/{HOSTILE_ID}", "/papers?q=inert+click", f"/papers?date={LATEST}",
                 "/authors/" + quote(EVIL["authors"][0], safe="")):
        page.goto(path)
        main = page.locator("main")
        assert main.locator("script, img, svg, b, iframe, [onerror], [onload], [onmouseover]").count() == 0, path
        hrefs = main.locator("a[href]").evaluate_all("els => els.map(e => e.getAttribute('href'))")
        assert not [h for h in hrefs if not h.startswith(("/", "https://", "http://", "#"))], (path, hrefs)
        assert not [h for h in hrefs if '"' in h or " " in h], (path, hrefs)
        page.mouse.move(200, 300)
    page.goto(f"/papers/{EVIL_ID}")
    h1 = page.get_by_role("heading", level=1)
    assert "<img src=x onerror=alert(1)>" in h1.inner_text()  # shown as the text it is
    expect(h1.locator("em")).to_have_text("<b>x</b>")
    assert h1.locator("a").count() == 0 and "click me" in h1.inner_text()  # javascript: is no link
    assert page.locator("dd.code a").get_attribute("href") == "https://github.com/x/y"
    shoot(page, "desktop-hostile-latex")
    assert dialogs == []


# -- authors ----------------------------------------------------------------------------------------------------

def test_author_pages_list_papers_newest_first_and_follow_them(new_context, pf):
    page = new_context().new_page()
    page.goto(f"/papers/{LATEX_ID}")
    follow(page, page.locator("article.paper-page p.authors").get_by_role("link", name="Zoë Müller"))
    assert page.url.endswith("/authors/Zo%C3%AB%20M%C3%BCller")
    expect(page.get_by_role("heading", level=1)).to_have_text("Zoë Müller")
    assert listed_ids(page) == [LATEX_ID]

    # a prolific author of the real papers: everything they wrote here, newest first
    counts: dict[str, int] = {}
    for paper in pf.store.get_many(list(range(1, 304))).values():
        for a in paper.authors:
            counts[a] = counts.get(a, 0) + 1
    name = max(counts, key=lambda a: (counts[a], a))
    assert counts[name] >= 2
    page.goto(f"/papers?q=author:{quote(chr(34) + name + chr(34))}")
    follow(page, page.locator("main p.authors").get_by_role("link", name=name, exact=True).first)
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    ids = listed_ids(page)
    expected, total = papers_by_author(pf.store, name, normalise_name, 20, 0)
    assert ids == [p.id for _pk, p in expected] and len(ids) == min(total, 20) and total >= counts[name]
    days = [pf.store.get(i).listed or pf.store.get(i).published for i in ids]
    assert days == sorted(days, reverse=True)
    expect(page.locator("main p.count")).to_have_text(f"{total} papers, newest first")
    shoot(page, "desktop-author")
    page.goto("/authors/" + quote(name.upper(), safe=""))  # names compare without case, as the digest does
    assert listed_ids(page) == ids

    follow(page, page.get_by_role("link", name=f"Follow {name} in your email digest"))
    assert page.url.split("?")[0].endswith("/subscribe")
    expect(page.get_by_label("An author")).to_have_value(name)  # the subscription form, pre-filled


# -- cite -------------------------------------------------------------------------------------------------------

def test_cite_a_paper_from_its_page_and_the_api(new_context, pf, base):
    ctx = new_context(permissions=["clipboard-read", "clipboard-write"])
    page = ctx.new_page()
    page.goto(f"/papers/{LATEX_ID}")
    cite = page.get_by_role("region", name="Cite")
    expected = paper_bibtex(pf.store.get(LATEX_ID))
    assert cite.locator("pre").text_content() == expected
    assert expected.startswith("@misc{muller2025fast,") and "eprint = {2510.99998}" in expected
    cite.get_by_role("button", name="Copy BibTeX").click()
    expect(cite.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == expected
    shoot(page, "desktop-paper-cite")
    for url in (f"{base}/api/papers/{LATEX_ID}/bibtex", f"{base}/api/papers/{LATEX_ID}?format=bibtex"):
        r = httpx.get(url)
        assert r.status_code == 200 and r.headers["content-type"] == "application/x-bibtex; charset=utf-8"
        assert r.text == expected
    assert httpx.get(f"{base}/api/papers/{LATEX_ID}").json()["id"] == LATEX_ID  # JSON stays the default
    missing = httpx.get(f"{base}/api/papers/2999.00001/bibtex")
    assert missing.status_code == 404 and missing.json()["detail"].startswith("no paper")
    assert httpx.get(f"{base}/api/papers/{LATEX_ID}", params={"format": "pdf"}).status_code == 422

    code = page.locator("dl.facts dd.code a")
    assert code.evaluate_all("els => els.map(e => e.href)") == [CODE_URL]  # the code link from the comment
    comment = page.locator("dl.facts dd.comment")
    assert comment.locator("a").evaluate_all("els => els.map(e => e.href)") == [CODE_URL, "https://example.org/p"]
    assert "javascript:alert(6)" in comment.inner_text()  # text, not a link


def test_bibtex_of_hostile_and_awkward_text_parses():
    import bibtexparser

    from paperfeed.models import new_paper

    p = new_paper(title="Braces } { unbalanced & 50% #1 $\\alpha$", abstract="", arxiv_id="2501.00001",
                  authors=["Zoë Müller", "Eve } <script>"], categories=["cs.LG"], source="test")
    lib = bibtexparser.parse_string(paper_bibtex(p))
    assert not lib.failed_blocks and len(lib.entries) == 1
    fields = lib.entries[0].fields_dict
    title = fields["title"].value
    assert title.endswith("unbalanced \\& 50\\% \\#1 $\\alpha$") and "{" not in title and "}" not in title
    assert fields["author"].value == "Zoë Müller and Eve  <script>"
    assert fields["eprint"].value == "2501.00001"


# -- upvotes keep your place --------------------------------------------------------------------------------------

def test_an_upvote_keeps_your_place_with_and_without_javascript(new_context):
    page = new_context().new_page()
    sign_up(page)
    page.goto(f"/papers?date={EARLIER}&sort=newest")
    pid = listed_ids(page)[16]
    card = article(page, pid)
    card.scroll_into_view_if_needed()
    before_url, before_y = page.url, page.evaluate("window.scrollY")
    assert before_y > 300
    navigations: list[str] = []
    page.on("framenavigated", lambda f: navigations.append(f.url))
    card.locator("form.vote button").click()
    expect(card.locator("form.vote .count")).to_have_text("1")
    expect(card.locator("form.vote button")).to_have_attribute("aria-pressed", "true")
    assert navigations == [] and page.url == before_url  # no reload
    assert abs(page.evaluate("window.scrollY") - before_y) < 2  # nothing moved
    card.locator("form.vote button").click()
    expect(card.locator("form.vote .count")).to_have_text("0")

    nojs = new_context(java_script_enabled=False).new_page()
    sign_up(nojs)
    nojs.goto(f"/papers?date={EARLIER}&sort=newest")
    card = article(nojs, pid)
    anchor = card.get_attribute("id")
    follow(nojs, card.locator("form.vote button"))
    assert nojs.url.endswith(f"/papers?date={EARLIER}&sort=newest#{anchor}")  # back at the card
    assert in_viewport(nojs, f"#{anchor}")
    assert vote_count(nojs, pid) == 1
    shoot(nojs, "desktop-upvote-no-js-anchor", full_page=False)


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_an_anonymous_upvote_logs_in_comes_back_and_counts(new_context, pf, js):
    member = new_context().new_page()
    email, handle = sign_up(member)
    page = new_context(java_script_enabled=js).new_page()
    page.goto(f"/papers?date={EARLIER}&sort=newest")
    pid = listed_ids(page)[12 if js else 13]
    card = article(page, pid)
    anchor = card.get_attribute("id")
    card.scroll_into_view_if_needed()
    follow(page, card.locator("form.vote button"))
    page.wait_for_url(re.compile(r"/login\?pending="))
    notice = page.get_by_role("status")
    expect(notice).to_contain_text("to upvote")
    assert source(pf.store.get(pid).title)[:40] in seen(notice)  # it names the paper
    shoot(page, f"desktop-anonymous-upvote-login-{'js' if js else 'nojs'}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("wrong password")
    follow(page, page.get_by_role("button", name="Log in"))
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("to upvote")  # a typo does not lose the vote
    page.get_by_label("Password").fill(PASSWORD)
    follow(page, page.get_by_role("button", name="Log in"))
    assert page.url.endswith(f"/papers?date={EARLIER}&sort=newest#{anchor}")  # the same place
    expect(page.locator('header.site a[href="/profile"]')).to_have_text(handle)
    expect(article(page, pid).locator("form.vote button")).to_have_attribute("aria-pressed", "true")
    assert vote_count(page, pid) == 1 and in_viewport(page, f"#{anchor}")


def test_pending_votes_are_signed_and_stay_on_this_site(base, pf):
    """The log-in's return is a same-site path and only a vote the site signed is applied."""
    from itsdangerous import URLSafeTimedSerializer

    from paperfeed.store.accounts import AccountStore
    from paperfeed.web.security import hash_password

    assert AccountStore(pf.store).create_user("pending@example.org", hash_password(PASSWORD), verified=True)
    with httpx.Client(base_url=base) as c:
        pid = "2510.99998"
        pk = pf.store.pk_of(pid)
        forged = URLSafeTimedSerializer("not-the-secret", salt="pending-vote").dumps({"paper": pid, "next": "/x"})
        evil = URLSafeTimedSerializer("rich-secret", salt="pending-vote").dumps({"paper": pid, "next": "//evil.org"})
        other_salt = URLSafeTimedSerializer("rich-secret", salt="other").dumps({"paper": pid, "next": "/x"})
        for bad in (forged, other_salt, "garbage", forged[:-3] + "abc"):
            c.post("/logout", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"',
                                                             c.get("/papers").text).group(1)})
            page = c.get("/login", params={"pending": bad}).text
            assert "to upvote" not in page
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            r = c.post("/login", params={"pending": bad}, data={"email": "pending@example.org", "password": PASSWORD,
                                                                 "csrf_token": token, "next": "/papers"})
            assert r.status_code == 303 and r.headers["location"] == "/papers"
            assert pf.store.pk_of(pid) == pk and not c.get(f"/api/papers/{pid}").json()["upvotes"]
        c.post("/logout", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"',
                                                         c.get("/papers").text).group(1)})
        page = c.get("/login", params={"pending": evil}).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        r = c.post("/login", params={"pending": evil}, data={"email": "pending@example.org", "password": PASSWORD,
                                                              "csrf_token": token})
        assert r.status_code == 303 and r.headers["location"] == "/papers"  # never off-site
        # an anonymous JSON vote is told where to log in; the token it gets carries a same-site path
        anon = httpx.Client(base_url=base)
        token = re.search(r'name="csrf_token" value="([^"]+)"', anon.get("/papers").text).group(1)
        r = anon.post(f"/papers/{pid}/upvote", data={"csrf_token": token, "next": "https://evil.org/"},
                      headers={"Accept": "application/json"})
        assert r.status_code == 401 and r.json()["login"].startswith("/login?pending=")
        anon.close()


# -- submissions --------------------------------------------------------------------------------------------------

def test_a_submission_confirms_and_shows_where_it_landed(new_context, pf):
    page = new_context().new_page()
    sign_up(page)
    page.goto(f"/papers?date={EARLIER}&sort=newest")
    pid = listed_ids(page)[5]
    page.goto("/submit")
    page.get_by_label("arXiv id or link").fill(pid)
    page.get_by_label("Day's list").fill(LATEST)
    follow(page, page.get_by_role("button", name="Submit"))
    pk = pf.store.pk_of(pid)
    assert re.search(rf"/papers\?date={LATEST}(&p=\d+)?&submitted={pk}#p-{pk}$", page.url), page.url
    notice = page.get_by_role("status")
    expect(notice).to_contain_text("Submitted:")
    expect(notice).to_contain_text("is on the list of")
    assert notice.get_by_role("link").first.get_attribute("href") == f"#p-{pk}"
    assert in_viewport(page, f"#p-{pk}")
    expect(article(page, pid).locator("p.meta")).to_contain_text("submitted by member")
    shoot(page, "desktop-submission-landed", full_page=False)


# -- a phone ------------------------------------------------------------------------------------------------------

def test_on_a_phone_the_header_and_search_take_under_a_quarter_of_the_screen(new_context):
    page = new_context(PHONE, is_mobile=True, has_touch=True, device_scale_factor=2).new_page()
    for name, path in (("daily", "/papers"), ("search", "/papers?q=language+models"), ("paper", f"/papers/{LATEX_ID}"),
                       ("author", "/authors/" + quote("Zoë Müller", safe=""))):
        page.goto(path)
        bottom = page.locator("header.site").evaluate("e => e.getBoundingClientRect().bottom")
        assert bottom < PHONE["height"] / 4, (name, bottom)
        expect(page.get_by_role("searchbox", name="Search papers")).to_be_visible()
        expect(page.locator("header.site").get_by_role("link", name="Subscribe")).to_be_visible()
        assert no_horizontal_scroll(page), name
        shoot(page, f"phone-rich-{name}", full_page=False)
    assert plain(to_text(LATEX["title"])).startswith("Fast sparse attention")

