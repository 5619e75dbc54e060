"""The discussion over real HTTP (uvicorn) and real SMTP (aiosmtpd): comment, reply, mention, exactly-once
notification emails with one-click unsubscribe, edit/delete marks, comment votes, counts on cards and in the API,
CSRF, length and (harder for new accounts) rate limits, moderation roles and log, bans, feeds, the comments API;
mentions of chosen handles, bad parent ids (400 on the site, 4xx in the API), hidden comments that show neither
writer, text nor votes to ordinary readers.  Every test runs on SQLite and on PostgreSQL; the emails are sent by
the background sender (discussion/sender.py), as under `paperfeed serve`."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import httpx
import pytest
from account_helpers import csrf, log_in, mails_to, path_of_link, verified_member
from conftest import HOSTILE_ID, make_site_pf
from smtp_servers import Sink, smtp_server
from store_backends import BACKENDS

from paperfeed.discussion import roles
from paperfeed.discussion.sender import NotificationSender, send_pending
from paperfeed.mail.settings import MailSettings
from paperfeed.people import handles
from paperfeed.store import discussion as sql
from paperfeed.store import notifications as notes
from paperfeed.store import people
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

MAILBOX = Sink()
PAPER = "2510.99999"  # the hostile paper of conftest (listed 2025-10-01)


@pytest.fixture(scope="module", params=BACKENDS)
def pf(tmp_path_factory, request):
    pf = make_site_pf(tmp_path_factory.mktemp("discussion"), request.param)
    yield pf
    pf.close()


@pytest.fixture(scope="module")
def base(pf):
    roomy = {k: (1000, 100.0) for k in ("signup", "login", "upvote", "submit", "comment", "comment_vote", "report")}
    roomy["comment_new"] = (3, 1 / 3600)  # accounts under two days old: 3 comments, then one an hour
    with smtp_server(MAILBOX) as smtp:
        mail = MailSettings(port=smtp.port)
        settings = WebSettings(secret="test-secret", rate_limits=roomy, arxiv_api_url="", mail=mail)
        with serve_in_thread(create_app(pf, settings)) as url:
            settings.mail = replace(mail, base_url=url)
            with NotificationSender(pf.store, settings.mail, "test-secret", interval=0.5):
                yield url


def member(pf, base, email):
    user = verified_member(pf.store, email)
    c = httpx.Client(base_url=base, timeout=30)
    assert log_in(c, email).status_code == 303
    return user, c


def old_member(pf, base, email):
    """A member whose account is older than two days, so the ordinary comment limit applies (not comment_new)."""
    from datetime import timedelta

    from sqlalchemy import update

    from paperfeed.store.schema import users

    user, c = member(pf, base, email)
    with pf.store.write() as conn:
        conn.execute(update(users).where(users.c.id == user.id).values(created_at=user.created_at - timedelta(days=9)))
    return user, c


def post(c, body, parent=None, paper=PAPER):
    data = {"body": body, "csrf_token": csrf(c, f"/papers/{paper}")}
    if parent:
        data["parent"] = str(parent)
    return c.post(f"/papers/{paper}/comments", data=data)


def cid_of(r):
    assert r.status_code == 303, r.text
    return int(re.search(r"#c-(\d+)$", r.headers["location"]).group(1))


def test_comment_reply_mention_notify_once_and_unsubscribe(pf, base):
    MAILBOX.clear()
    (a, ca), (b, cb), (m, cm) = (member(pf, base, f"{n}@talk.example") for n in ("ann", "bob", "meg"))
    top = cid_of(post(ca, "A question about $O(n^2)$ **bounds**"))
    assert mails_to(MAILBOX, "ann@talk.example", wait=0.5) == []  # nobody is notified of their own comment
    # Bob replies to Ann and mentions Ann and Meg: Ann hears once (a reply), Meg once (a mention).
    reply = cid_of(post(cb, f"@member{a.id} see @member{m.id}, and @member{a.id} again", parent=top))
    to_ann, to_meg = mails_to(MAILBOX, "ann@talk.example"), mails_to(MAILBOX, "meg@talk.example")
    assert len(to_ann) == 1 and len(to_meg) == 1
    assert to_ann[0]["Subject"] == f"member{b.id} replied to you on paperfeed"
    assert to_meg[0]["Subject"] == f"member{b.id} mentioned you on paperfeed"
    assert to_ann[0]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = to_ann[0].get_body(("plain",)).get_content()
    assert f"#c-{reply}" in text and "see @member" in text
    html_part = to_ann[0].get_body(("html",)).get_content()
    assert "<script>" not in html_part  # the hostile paper's title is escaped in the HTML part
    # The on-site list, and the unread count in the header.
    page = ca.get("/papers").text
    assert 'aria-label="1 unread"' in page
    listed = ca.get("/notifications")
    assert listed.status_code == 200 and f"#c-{reply}" in listed.text and "replied to your comment" in listed.text
    assert 'aria-label="1 unread"' not in ca.get("/papers").text  # read now
    # A second delivery round sends nothing again (exactly once).
    assert send_pending(pf.store, replace(MailSettings(port=0), base_url=base), "test-secret").sent == 0
    assert len(mails_to(MAILBOX, "ann@talk.example")) == 1
    # One-click unsubscribe: a POST to the signed link with no cookie, as mail clients do (RFC 8058).
    unsub = path_of_link(to_ann[0], "/notifications/unsubscribe")
    assert httpx.post(base + unsub, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert not notes.email_enabled(pf.store, a.id)
    assert httpx.post(base + unsub + "x").status_code == 400  # an altered link does nothing
    cid_of(post(cb, "another reply", parent=top))
    assert len(mails_to(MAILBOX, "ann@talk.example", wait=0.5)) == 1  # setting off: on the site only
    assert notes.unread_count(pf.store, a.id) == 1


def test_thread_marks_votes_counts_and_limits(pf, base):
    (_, ca), (_, cb) = member(pf, base, "cat@talk.example"), member(pf, base, "dan@talk.example")
    paper = "2510.99999"
    first = cid_of(post(ca, "to be edited"))
    token = csrf(ca, f"/papers/{paper}")
    assert ca.post(f"/comments/{first}/edit", data={"body": "edited text", "csrf_token": token}).status_code == 303
    assert cb.post(f"/comments/{first}/edit", data={"body": "hijack", "csrf_token": csrf(cb)}).status_code == 404
    page = httpx.get(f"{base}/papers/{paper}").text  # anonymous: the cached page follows the discussion
    assert "edited text" in page and "(edited)" in page
    assert cb.post(f"/comments/{first}/upvote", data={"csrf_token": csrf(cb)}).status_code == 303
    assert sql.vote_counts(pf.store, [first]) == {first: 1}
    # no CSRF token: refused, nothing stored
    before = len(sql.thread(pf.store, pf.store.pk_of(paper)))
    assert cb.post(f"/papers/{paper}/comments", data={"body": "x"}).status_code == 403
    assert cb.post(f"/papers/{paper}/comments", data={"body": "y" * 4001, "csrf_token": csrf(cb)}).status_code == 400
    assert cb.post(f"/papers/{paper}/comments", data={"body": "   ", "csrf_token": csrf(cb)}).status_code == 400
    assert len(sql.thread(pf.store, pf.store.pk_of(paper))) == before
    # counts on the day's card and in the API
    pk = pf.store.pk_of(paper)
    n = sql.comment_counts(pf.store, [pk])[pk]
    day = httpx.get(f"{base}/papers?date=2025-10-01").text
    card = day[day.index(f'id="p-{pk}"'):]
    assert f"{n} comments" in card[: card.index("</article>")]
    assert httpx.get(f"{base}/api/papers/{paper}").json()["comments"] == n
    # delete: the place stays, marked
    assert ca.post(f"/comments/{first}/delete", data={"csrf_token": csrf(ca)}).status_code == 303
    assert "[deleted]" in ca.get(f"/papers/{paper}").text
    assert httpx.get(f"{base}/api/papers/{paper}").json()["comments"] == n - 1
    # a new account (under two days old) gets the harder limit: 3 comments, then 429
    codes = [post(cb, f"flood {i}").status_code for i in range(2)]  # Dan already wrote nothing: 3 allowed
    assert codes == [303, 303]
    assert post(cb, "flood 3").status_code == 303
    assert post(cb, "flood 4").status_code == 429


def test_moderation_roles_log_and_ban(pf, base):
    (w, cw), (r, cr), (m, cm) = (member(pf, base, f"{n}@mod.example") for n in ("writer", "reader", "mod"))
    bad = cid_of(post(cw, "buy cheap pills"))
    assert cr.post(f"/comments/{bad}/report", data={"reason": "spam", "csrf_token": csrf(cr)}).status_code == 200
    assert cm.get("/moderation").status_code == 403  # not a moderator yet
    assert cm.post(f"/moderation/comments/{bad}", data={"action": "hide", "csrf_token": csrf(cm)}).status_code == 403
    roles.set_role(pf.store, m.id, "moderator")
    queue = cm.get("/moderation")
    assert queue.status_code == 200 and "buy cheap pills" in queue.text and "spam" in queue.text
    assert "@mod.example" not in queue.text  # handles, never addresses
    assert cm.post(f"/moderation/comments/{bad}", data={"action": "hide", "note": "spam", "csrf_token": csrf(cm)},
                   ).status_code == 303
    assert "[hidden by a moderator]" in httpx.get(f"{base}/papers/{PAPER}").text
    assert "buy cheap pills" not in httpx.get(f"{base}/papers/{PAPER}").text
    assert cm.post("/moderation/ban", data={"comment_id": str(bad), "csrf_token": csrf(cm)}).status_code == 303
    assert roles.is_banned(pf.store, w.id)
    back = post(cw, "I am back")  # the ban ended the writer's sessions: they are sent to log in, nothing stored
    assert back.status_code == 303 and back.headers["location"].startswith("/login")
    assert [c.id for c in sql.thread(pf.store, pf.store.pk_of(PAPER)) if c.user_id == w.id] == [bad]
    ok = httpx.Client(base_url=base, timeout=30)
    if log_in(ok, "writer@mod.example").status_code == 303:  # if a banned member may log in at all, still no writing
        assert post(ok, "I am back").status_code == 403
    log = cm.get("/moderation").text
    assert "No open reports." in log and re.search(r"<td>ban</td>", log) and re.search(r"<td>hide</td>", log)


def test_feeds_and_api(pf, base):
    a, ca = member(pf, base, "api1@talk.example")
    cid_of(post(ca, "<script>alert(1)</script> feed me"))
    atom = httpx.get(f"{base}/papers/{HOSTILE_ID}/discussion.atom")
    assert atom.status_code == 200 and atom.headers["content-type"].startswith("application/atom+xml")
    titles = [e.text for e in ET.fromstring(atom.content).iter("{http://www.w3.org/2005/Atom}title")]
    assert any("<script>alert(1)</script> feed me" in (t or "") for t in titles)  # text, typed as text
    rss = httpx.get(f"{base}/papers/{HOSTILE_ID}/discussion.rss")
    assert rss.status_code == 200 and b"&lt;script&gt;" in rss.content and b"<script>" not in rss.content
    assert httpx.get(f"{base}/papers/no-such-paper/discussion.atom").status_code == 404

    page = ca.get("/tokens")
    tok = csrf(ca, "/tokens")
    made = ca.post("/tokens", data={"name": "bot", "scope": "comment", "expires_days": "30", "csrf_token": tok})
    token = re.search(r"pf_[A-Za-z0-9_-]{20,}", made.text).group(0)
    ro = ca.post("/tokens", data={"name": "ro", "scope": "read", "expires_days": "30", "csrf_token": tok})
    read_token = re.search(r"pf_[A-Za-z0-9_-]{20,}", ro.text).group(0)
    assert page.status_code == 200
    h = {"Authorization": f"Bearer {token}"}
    api = httpx.Client(base_url=base, timeout=30)
    assert api.post(f"/api/papers/{PAPER}/comments", json={"body": "hi"}).status_code == 401
    assert api.post(f"/api/papers/{PAPER}/comments", json={"body": "hi"},
                    headers={"Authorization": f"Bearer {read_token}"}).status_code == 403
    assert api.post(f"/api/papers/{PAPER}/comments", json={"body": ""}, headers=h).status_code == 422
    assert api.post(f"/api/papers/{PAPER}/comments", json={"body": "x" * 4001}, headers=h).status_code == 422
    made = api.post(f"/api/papers/{PAPER}/comments", json={"body": "from the **API**"}, headers=h)
    assert made.status_code == 201, made.text
    c = made.json()
    assert c["author"] == f"member{a.id}" and "<strong>API</strong>" in c["html"] and c["state"] == "visible"
    edited = api.patch(f"/api/comments/{c['id']}", json={"body": "edited by API"}, headers=h)
    assert edited.status_code == 200 and edited.json()["edited_at"] is not None
    listed = api.get(f"/api/papers/{PAPER}/comments").json()
    assert any(x["id"] == c["id"] and x["body"] == "edited by API" for x in listed)
    assert all("email" not in x and "@talk.example" not in str(x) for x in listed)
    assert api.delete(f"/api/comments/{c['id']}", headers=h).status_code == 204
    assert api.delete(f"/api/comments/{c['id']}", headers=h).status_code == 404
    gone = next(x for x in api.get(f"/api/papers/{PAPER}/comments").json() if x["id"] == c["id"])
    assert gone["state"] == "deleted" and gone["body"] == ""
    assert api.get("/api/papers/nope/comments").status_code == 404


def test_mentions_of_chosen_handles(pf, base):
    """`@handle` notifies the member who chose it (any case); a look-alike or unknown handle notifies nobody,
    and neither does a mention of oneself."""
    (h, ch), (w, cw) = old_member(pf, base, "handle@mention.example"), old_member(pf, base, "writer@mention.example")
    people.set_handle(pf.store, h.id, *handles.validate("chosen_handle"))
    people.set_handle(pf.store, w.id, *handles.validate("the_writer"))
    named = cid_of(post(cw, "Thanks @Chosen_Handle, see eq. $x_1$"))
    assert [(n.kind, n.comment_id) for n in notes.for_member(pf.store, h.id)] == [("mention", named)]
    mail = mails_to(MAILBOX, "handle@mention.example")
    assert len(mail) == 1 and mail[0]["Subject"] == "the_writer mentioned you on paperfeed"
    for body in ("@chosen_handl and @chosen_handle2 and @chosen-handle", "@nobody_at_all here",
                 f"`@chosen_handle` in code, and @member{h.id} (the old name of a member with a handle)"):
        cid_of(post(cw, body))
    cid_of(post(ch, "I, @chosen_handle, agree with myself"))
    assert len(notes.for_member(pf.store, h.id)) == 1  # still only the first
    assert notes.for_member(pf.store, w.id) == []
    assert len(mails_to(MAILBOX, "handle@mention.example", wait=1.0)) == 1


def test_reply_to_a_bad_parent_is_a_clear_4xx(pf, base):
    (_, cu), (o, co) = old_member(pf, base, "parent@bad.example"), old_member(pf, base, "other@bad.example")
    other_paper = pf.store.ids_of([7])[7]
    elsewhere = cid_of(post(cu, "on another paper", paper=other_paper))
    deleted = cid_of(post(cu, "soon deleted"))
    assert cu.post(f"/comments/{deleted}/delete", data={"csrf_token": csrf(cu)}).status_code == 303
    hidden = cid_of(post(cu, "soon hidden"))
    sql.moderate(pf.store, o.id, "hide", hidden, "test")
    pk = pf.store.pk_of(PAPER)
    before = len(sql.thread(pf.store, pk))
    for parent in (str(elsewhere), "99999999", str(deleted), str(hidden), "abc", "0", "-3", "99999999999",
                   "1e3", "١٢"):
        r = post(co, "a reply", parent=parent)
        assert r.status_code == 400, (parent, r.status_code)
        assert "not on this paper, or is gone" in r.text and "Traceback" not in r.text
    assert len(sql.thread(pf.store, pk)) == before  # nothing stored
    # The API: a 400 naming `parent` for an id that is no live comment here, a 422 for one that is no id.
    a, ca = old_member(pf, base, "apiparent@bad.example")
    tok = csrf(ca, "/tokens")
    made = ca.post("/tokens", data={"name": "p", "scope": "comment", "expires_days": "30", "csrf_token": tok})
    h = {"Authorization": "Bearer " + re.search(r"pf_[A-Za-z0-9_-]{20,}", made.text).group(0)}
    for parent in (elsewhere, 99999999, deleted, hidden):
        r = httpx.post(f"{base}/api/papers/{PAPER}/comments", json={"body": "x", "parent": parent}, headers=h)
        assert r.status_code == 400 and "parent" in r.json()["detail"], (parent, r.text)
    for parent in (0, -1, 2**31, "abc", 1.5):
        r = httpx.post(f"{base}/api/papers/{PAPER}/comments", json={"body": "x", "parent": parent}, headers=h)
        assert r.status_code == 422, (parent, r.text)
    assert len(sql.thread(pf.store, pk)) == before
    ok = httpx.post(f"{base}/api/papers/{other_paper}/comments", json={"body": "x", "parent": elsewhere}, headers=h)
    assert ok.status_code == 201 and ok.json()["parent"] == elsewhere  # the same id on its own paper is fine


def test_hidden_comment_shows_no_writer_text_or_votes(pf, base):
    (w, cw), (r, cr), (m, cm) = (old_member(pf, base, f"{n}@hide.example") for n in ("hwriter", "hreader", "hmod"))
    people.set_handle(pf.store, w.id, *handles.validate("loud_writer"))
    roles.set_role(pf.store, m.id, "moderator")
    paper = pf.store.ids_of([9])[9]
    secret_text = "unmistakable-hidden-words"
    bad = cid_of(post(cw, secret_text, paper=paper))
    keep = cid_of(post(cr, "a visible reply", parent=bad, paper=paper))
    assert cr.post(f"/comments/{bad}/upvote", data={"csrf_token": csrf(cr)}).status_code == 303
    assert cm.post(f"/moderation/comments/{bad}", data={"action": "hide", "csrf_token": csrf(cm)}).status_code == 303

    def article(html: str, cid: int) -> str:
        start = html.index(f'id="c-{cid}"')
        return html[start:html.index("</article>", start)]

    for who in (httpx.Client(base_url=base, timeout=30), cr, cw):  # anonymous (cached page), a reader, the writer
        page = who.get(f"/papers/{paper}").text
        gone = article(page, bad)
        assert "[hidden by a moderator]" in gone
        assert "loud_writer" not in gone and secret_text not in gone and "▲" not in gone
        assert "a visible reply" in article(page, keep)  # the thread keeps its shape
        assert secret_text not in page
    mod = article(cm.get(f"/papers/{paper}").text, bad)  # a moderator still sees it, to review or unhide
    assert "loud_writer" in mod and secret_text in mod and "▲ 1" in mod and "Unhide" in mod
    listed = {x["id"]: x for x in httpx.get(f"{base}/api/papers/{paper}/comments").json()}
    assert listed[bad]["state"] == "hidden"
    assert (listed[bad]["author"], listed[bad]["body"], listed[bad]["html"], listed[bad]["upvotes"]) == ("", "", "", 0)
    assert listed[keep]["author"] == f"member{r.id}"
    for fmt in ("atom", "rss"):
        feed = httpx.get(f"{base}/papers/{paper}/discussion.{fmt}").text
        assert secret_text not in feed and "loud_writer" not in feed and "a visible reply" in feed
    # the reader's notification of the reply is theirs; the writer's notification names a hidden comment? no:
    # the writer was notified of the reply, which is visible, so it is listed with its writer
    assert f"member{r.id}" in cw.get("/notifications").text
