"""The discussion in a real browser (Debian's chromium via Playwright) against a real uvicorn server and a
real SMTP sink: the OWASP XSS filter-evasion vectors (tests/data/xss_vectors.json) and the hostile strings of
the existing tests, posted as comments, render inert; and the journeys: comment, reply with a mention, be
notified (header count, /notifications, an email), report, and a moderator hides the comment.

The XSS page is loaded with the site's Content-Security-Policy bypassed, so what is tested is the sanitiser,
not the CSP behind it.  Screenshots go to shots/ (or $PAPERFEED_SHOTS) for a person to look at."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from account_helpers import PASSWORD, mails_to, verified_member
from conftest import HOSTILE, ROOT, make_site_pf
from playwright.sync_api import Browser, Page, expect, sync_playwright
from smtp_servers import Sink, smtp_server

from paperfeed.discussion import roles
from paperfeed.discussion.sender import NotificationSender
from paperfeed.mail.settings import MailSettings
from paperfeed.store import discussion as sql
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SHOTS = Path(os.environ.get("PAPERFEED_SHOTS") or ROOT / "shots")
VECTORS: list[str] = json.loads((Path(__file__).parent / "data" / "xss_vectors.json").read_text("utf-8"))
HOSTILE_STRINGS = [HOSTILE["title"], HOSTILE["abstract"], *HOSTILE["authors"]]
MAILBOX = Sink()
PAPER = "2510.99999"
TRAP = """
window.__xss = [];
for (const f of ['alert', 'confirm', 'prompt', 'print', 'open']) {
  window[f] = (...a) => { window.__xss.push(f + ':' + a.join(',')); };
}
"""
# Everything that could run script or fetch something, inside the comments.
INERT_CHECK = """
() => {
  const bad = [];
  for (const el of document.querySelectorAll('#discussion *')) {
    for (const at of el.attributes) {
      const v = at.value.trim().toLowerCase().replace(/[\\s\\u0000-\\u001f]/g, '');
      if (at.name.startsWith('on')) bad.push(el.tagName + ' ' + at.name);
      if (['href', 'src', 'action', 'formaction', 'xlink:href', 'data', 'background', 'style'].includes(at.name)
          && (v.startsWith('javascript:') || v.startsWith('vbscript:') || v.startsWith('data:')
              || at.name === 'style'))
        bad.push(el.tagName + ' ' + at.name + '=' + at.value);
    }
    if (['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED', 'IMG', 'SVG', 'STYLE', 'LINK', 'META', 'BASE', 'FRAME',
         'FRAMESET', 'INPUT', 'VIDEO', 'AUDIO', 'SOURCE', 'DETAILS', 'MARQUEE', 'TEMPLATE', 'BODY']
        .includes(el.tagName.toUpperCase()) && el.closest('.comment-body'))
      bad.push('element ' + el.tagName);
  }
  return bad;
}
"""


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    pf = make_site_pf(tmp_path_factory.mktemp("discussion-browser"))
    yield pf
    pf.close()


@pytest.fixture(scope="module")
def base(pf) -> Iterator[str]:
    roomy = {k: (10_000, 100.0) for k in ("signup", "login", "upvote", "submit", "comment", "comment_new",
                                          "comment_vote", "report")}
    with smtp_server(MAILBOX) as smtp:
        mail = MailSettings(port=smtp.port)
        settings = WebSettings(secret="test-secret", rate_limits=roomy, arxiv_api_url="", mail=mail)
        with serve_in_thread(create_app(pf, settings)) as url:
            settings.mail = replace(mail, base_url=url)
            with NotificationSender(pf.store, settings.mail, "test-secret", interval=0.5):  # as `serve` runs it
                yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def shoot(page: Page, name: str, part: str | None = None) -> None:
    """The page (or one part of it, e.g. the discussion) as a PNG in shots/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    if part:
        page.locator(part).screenshot(path=str(SHOTS / f"{name}.png"))
    else:
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def visitor(browser: Browser, base: str, email: str | None = None, **kw) -> Page:
    ctx = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900}, **kw)
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    if email:
        page.goto("/login")
        page.fill("#email", email)
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/papers")
    return page


def test_xss_vectors_render_inert(pf, base, browser):
    writer = verified_member(pf.store, "xss@talk.example")
    pk = pf.store.pk_of(PAPER)
    assert len(VECTORS) >= 60
    ids = [sql.add_comment(pf.store, pk, writer.id, v).id for v in [*VECTORS, *HOSTILE_STRINGS]]
    page = visitor(browser, base, "xss@talk.example", bypass_csp=True)
    # One vector also goes through the real form, as a person would post it.
    page.goto(f"/papers/{PAPER}")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.context.add_init_script(TRAP)
    page.fill("#new-comment", VECTORS[0])
    page.get_by_role("button", name="Post comment").click()
    page.wait_for_url(f"**/papers/{PAPER}#c-*")
    page.reload()
    page.wait_for_load_state("load")
    for el in page.locator(".comment-body a, .comment-body code").all()[:40]:  # hover and focus what is there
        el.hover()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") == [] and dialogs == []
    assert page.evaluate(INERT_CHECK) == []
    assert page.locator("#discussion article.comment").count() >= len(ids) + 1
    # the text is still there, as text
    expect(page.locator(f"#c-{ids[0]} .comment-body")).to_contain_text("<script>alert('XSS')</script>")
    page.set_viewport_size({"width": 1280, "height": 2400})
    page.locator("#discussion").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS.mkdir(parents=True, exist_ok=True) or SHOTS / "discussion-xss.png"))
    # the edit page puts the raw Markdown in a textarea: it must stay in it
    for cid in ids[:5] + [ids[VECTORS.index("</textarea><script>alert(1)</script>")]]:
        page.goto(f"/comments/{cid}/edit")
        assert page.evaluate("window.__xss") == [] and dialogs == []
        assert page.locator("script:not([src])").count() == 0
        assert page.locator("textarea#body").input_value() == sql.get_comment(pf.store, cid).body


def test_journey_comment_reply_notified_moderated(pf, base, browser):
    ann = verified_member(pf.store, "ann@journey.example")
    verified_member(pf.store, "bob@journey.example")
    mod = verified_member(pf.store, "mod@journey.example")
    roles.set_role(pf.store, mod.id, "moderator")
    MAILBOX.clear()
    paper = pf.store.ids_of([5])[5]  # not the XSS test's paper

    a = visitor(browser, base, "ann@journey.example")
    a.goto(f"/papers/{paper}")
    a.fill("#new-comment", "Does the bound $O(n^2)$ hold for **sparse** inputs?")
    a.get_by_role("button", name="Post comment").click()
    a.wait_for_url("**#c-*")
    top = int(a.url.rsplit("#c-", 1)[1])
    expect(a.locator(f"#c-{top} .comment-body strong")).to_have_text("sparse")
    expect(a.locator(f"#c-{top} .comment-body math")).to_have_count(1)
    shoot(a, "discussion-1-commented", "#discussion")

    b = visitor(browser, base, "bob@journey.example")
    b.goto(f"/papers/{paper}")
    b.locator(f"#c-{top} details.reply summary").click()
    b.fill(f"#reply-{top}", f"Yes, @member{ann.id}: see section 3.")
    b.locator(f"#c-{top} details.reply").get_by_role("button", name="Post reply").click()
    b.wait_for_url("**#c-*")
    reply = int(b.url.rsplit("#c-", 1)[1])
    expect(b.locator(f"#c-{reply}")).to_have_class("comment depth-1")
    shoot(b, "discussion-2-replied", "#discussion")

    # Ann is notified: the header count, the list, and exactly one email.
    a.goto("/papers")
    expect(a.locator("header .unread")).to_have_text("1")
    a.locator("header a.notes").click()
    a.wait_for_url("**/notifications")
    expect(a.locator("ul.notifications li").first).to_contain_text("replied to your comment")
    shoot(a, "discussion-3-notified")
    mails = mails_to(MAILBOX, "ann@journey.example")
    assert len(mails) == 1 and "see section 3" in mails[0].get_body(("plain",)).get_content()
    a.locator("ul.notifications li a").first.click()
    a.wait_for_url(f"**#c-{reply}")

    # Ann reports Bob's reply; the moderator hides it from the queue; everyone sees the mark.
    a.locator(f"#c-{reply} details.report summary").click()
    a.fill(f"#report-{reply}", "off topic")
    a.locator(f"#c-{reply} details.report").get_by_role("button", name="Report to moderators").click()
    expect(a.get_by_role("heading", level=1)).to_have_text("Thank you")

    m = visitor(browser, base, "mod@journey.example")
    m.goto("/moderation")
    item = m.locator("article.report-item").filter(has_text="off topic")
    expect(item).to_contain_text("see section 3")
    shoot(m, "discussion-4-moderation-queue")
    item.get_by_role("button", name="Hide").click()
    m.wait_for_url("**/moderation")
    expect(m.locator("table.modlog tbody tr").first).to_contain_text("hide")
    shoot(m, "discussion-5-moderation-log")

    anon = visitor(browser, base)
    anon.goto(f"/papers/{paper}")
    expect(anon.locator(f"#c-{reply}")).to_contain_text("[hidden by a moderator]")
    expect(anon.locator(f"#c-{reply}")).not_to_contain_text("see section 3")
    expect(anon.locator(f"#c-{reply}")).not_to_contain_text("member")  # no writer's handle either
    shoot(anon, "discussion-6-hidden", "#discussion")

    # The moderator bans Bob from the report queue's comment: Bob's open session ends at once.
    m.goto("/moderation")
    m.evaluate("""(cid) => { const f = document.createElement('form'); f.method = 'post'; f.action = '/moderation/ban';
        const token = document.querySelector('input[name=csrf_token]').value;
        for (const [k, v] of [['comment_id', cid], ['csrf_token', token]]) {
          const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i); }
        document.body.appendChild(f); f.submit(); }""", str(reply))
    m.wait_for_url("**/moderation")
    expect(m.locator("table.modlog tbody tr").first).to_contain_text("ban")
    shoot(m, "discussion-7-banned-log")
    bob = sql.get_comment(pf.store, reply)
    assert bob is not None and roles.is_banned(pf.store, bob.user_id)
    b.goto(f"/papers/{paper}")
    expect(b.locator("#new-comment")).to_have_count(0)  # logged out: no comment form
    expect(b.locator("#discussion")).to_contain_text("Log in")

    # Phone width: the thread and the notifications page stay readable.
    phone = visitor(browser, base, "ann@journey.example")
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"/papers/{paper}#discussion")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(phone, "discussion-8-phone-thread", "#discussion")
    phone.goto("/notifications")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(phone, "discussion-9-phone-notifications")
