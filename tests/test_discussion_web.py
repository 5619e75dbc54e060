"""The discussion over real HTTP (uvicorn) and real SMTP (aiosmtpd): comment, reply, mention, exactly-once
notification emails with one-click unsubscribe, edit/delete marks, comment votes, counts on cards and in the API,
CSRF, length and (harder for new accounts) rate limits, moderation roles and log, bans, feeds, the comments API."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import httpx
import pytest
from account_helpers import csrf, log_in, mails_to, path_of_link, verified_member
from conftest import HOSTILE_ID, make_site_pf
from smtp_servers import Sink, smtp_server

from paperfeed.discussion import roles
from paperfeed.mail.settings import MailSettings
from paperfeed.store import discussion as sql
from paperfeed.store import notifications as notes
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread

MAILBOX = Sink()
PAPER = "2510.99999"  # the hostile paper of conftest (listed 2025-10-01)


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    pf = make_site_pf(tmp_path_factory.mktemp("discussion"))
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
            yield url


def member(pf, base, email):
    user = verified_member(pf.store, email)
    c = httpx.Client(base_url=base, timeout=30)
    assert log_in(c, email).status_code == 303
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
    (a, ca), (b, cb), (m, cm) = (member(pf, base, f"{n}@talk.example") for n in ("ann", "bob", "meg"))
    MAILBOX.clear()
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
    # A second delivery run sends nothing again (exactly once).
    from paperfeed.discussion.notify import deliver

    assert deliver(pf.store, replace(MailSettings(port=0), base_url=base), "test-secret") == 0
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
