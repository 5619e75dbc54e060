"""Claiming authorship over real HTTP (uvicorn), on SQLite and on PostgreSQL: the paper page's claim form, the
operators' queue at /moderation/claims (approve, reject, rules that also settle the waiting claims), the
discussion's "author" mark, who may reach the queue, CSRF, bad input, and the claims API with its token scope."""

from __future__ import annotations

import re
import secrets
from html import unescape

import httpx
import pytest
from account_helpers import csrf, log_in, verified_member
from conftest import make_site_pf
from store_backends import BACKENDS

from paperfeed.accounts.passwords import hash_password
from paperfeed.people.handles import validate
from paperfeed.store import discussion as sql
from paperfeed.store import people
from paperfeed.store.accounts import AccountStore
from paperfeed.web import WebSettings, create_app
from paperfeed.web.testing import serve_in_thread


@pytest.fixture(scope="module", params=BACKENDS)
def pf(tmp_path_factory, request):
    pf = make_site_pf(tmp_path_factory.mktemp("claims"), request.param)
    yield pf
    pf.close()


@pytest.fixture(scope="module")
def base(pf):
    roomy = {k: (1000, 100.0) for k in ("signup", "login", "comment", "comment_new", "claim")}
    with serve_in_thread(create_app(pf, WebSettings(secret="test-secret", rate_limits=roomy, arxiv_api_url=""))) as url:
        yield url


@pytest.fixture(scope="module")
def papers(pf):
    """Papers of the site with at least two listed authors (each test takes its own, so claims never collide)."""
    found = pf.store.get_many(list(range(1, 120)))
    out = [p for _, p in sorted(found.items()) if len(p.authors) >= 2 and all("<" not in a for a in p.authors)]
    assert len(out) >= 12
    return iter(out)


def member(pf, base, handle, email, role="member"):
    user = verified_member(pf.store, email)
    h, key = validate(handle)
    assert people.set_handle(pf.store, user.id, h, key)
    if role != "member":
        people.set_role(pf.store, user.id, role)
    c = httpx.Client(base_url=base, timeout=30)
    assert log_in(c, email).status_code == 303
    return user, c


def claim(c, paper_id, author, token=True):
    data = {"author": author}
    if token:
        data["csrf_token"] = csrf(c, f"/papers/{paper_id}")
    return c.post(f"/papers/{paper_id}/claims", data=data)


def comment(c, paper_id, body):
    r = c.post(f"/papers/{paper_id}/comments", data={"body": body, "csrf_token": csrf(c, f"/papers/{paper_id}")})
    assert r.status_code == 303, r.text
    return int(re.search(r"#c-(\d+)$", r.headers["location"]).group(1))


def marked(html, cid):
    """Whether comment `cid` carries the "author" mark on the page."""
    m = re.search(rf'<article class="comment[^"]*" id="c-{cid}">(.*?)</article>', html, re.S)
    assert m, cid
    return 'class="author-mark"' in m.group(1)


def pending_of(pf, user_id):
    return [c for c in people.claims_of_member(pf.store, user_id) if c.status == "pending"]


def decide(c, claim_id, action, reason="", token=True):
    data = {"action": action, "reason": reason}
    if token:
        data["csrf_token"] = csrf(c, "/papers")
    return c.post(f"/moderation/claims/{claim_id}", data=data)


def test_claim_waits_then_an_operator_approves_and_the_author_mark_appears(pf, base, papers):
    paper, other = next(papers), next(papers)
    ada, ca = member(pf, base, "ada-w", "ada@claims.example")
    _, co = member(pf, base, "op-w", "op@ops.example", role="operator")
    anon = httpx.Client(base_url=base, timeout=30)
    assert "Log in</a> to claim authorship" in anon.get(f"/papers/{paper.id}").text  # anonymous: a log-in link
    page = ca.get(f"/papers/{paper.id}").text
    assert 'action="/papers/' in page and "Claim authorship" in page
    r = claim(ca, paper.id, paper.authors[1])
    assert r.status_code == 303 and r.headers["location"].endswith("#claim")
    page = unescape(ca.get(f"/papers/{paper.id}").text)
    assert f"Your claim to be {paper.authors[1]}: waiting for an operator." in re.sub(r"<[^>]+>", "", page)
    on_paper, on_other = comment(ca, paper.id, "I wrote this"), comment(ca, other.id, "I did not write this")
    assert not marked(anon.get(f"/papers/{paper.id}").text, on_paper)  # pending: no mark yet (and cached)
    (pending,) = pending_of(pf, ada.id)
    # The operator's queue: paper, name, handle, the email's domain only, never the address.
    queue = co.get("/moderation/claims")
    assert queue.status_code == 200 and queue.headers["cache-control"] == "no-store"
    row = re.search(rf'<tr id="claim-{pending.id}">(.*?)</tr>', queue.text, re.S).group(1)
    assert paper.id in row and "ada-w" in row and "claims.example" in row and "ada@" not in queue.text
    r = decide(co, pending.id, "approve", "checked the affiliation")
    assert r.status_code == 303 and r.headers["location"].startswith("/moderation/claims?")
    assert f"Claim {pending.id} approved." in co.get(r.headers["location"]).text
    assert people.claim(pf.store, pending.id).status == "approved"
    assert f"Your claim to be {paper.authors[1]}: approved by an operator." in re.sub(
        r"<[^>]+>", "", unescape(ca.get(f"/papers/{paper.id}").text))
    shown = anon.get(f"/papers/{paper.id}").text  # the cached anonymous page follows the approval
    assert marked(shown, on_paper) and "is <strong>@ada-w</strong>" in shown
    assert not marked(anon.get(f"/papers/{other.id}").text, on_other)  # not an author of the other paper
    api = anon.get(f"/api/papers/{paper.id}/comments").json()
    assert [c["author_mark"] for c in api if c["id"] == on_paper] == [True]
    log = co.get("/moderation").text
    assert "claim approve" in log and f"claim {pending.id}: " in unescape(log)
    # Deciding again: a clear 400, nothing changes.
    again = decide(co, pending.id, "reject", "changed my mind")
    assert again.status_code == 400 and "approved already" in again.text
    assert people.claim(pf.store, pending.id).status == "approved"
    # Someone else claiming the same author now gets told it is taken.
    _, cb = member(pf, base, "bob-w", "bob@claims.example")
    taken = claim(cb, paper.id, paper.authors[1])
    assert taken.status_code == 400 and "already claimed by another member" in unescape(taken.text)


def test_reject_path_shows_the_reason_and_refuses_a_second_claim(pf, base, papers):
    paper = next(papers)
    cat, cc = member(pf, base, "cat-w", "cat@claims.example")
    _, co = member(pf, base, "op2-w", "op2@ops.example", role="operator")
    assert claim(cc, paper.id, paper.authors[0]).status_code == 303
    (pending,) = pending_of(pf, cat.id)
    assert decide(co, pending.id, "reject", "not on the author list we know").status_code == 303
    text = re.sub(r"<[^>]+>", "", unescape(cc.get(f"/papers/{paper.id}").text))
    assert f"Your claim to be {paper.authors[0]}: rejected: not on the author list we know." in text
    again = claim(cc, paper.id, paper.authors[0])
    assert again.status_code == 400 and "was rejected" in again.text
    assert len(people.claims_of_member(pf.store, cat.id)) == 1
    assert "claim reject" in co.get("/moderation").text
    assert f'id="claim-{pending.id}"' not in co.get("/moderation/claims").text  # out of the queue
    assert decide(co, 2**31 - 1, "approve").status_code == 404
    assert decide(co, pending.id, "maybe").status_code == 400


def test_rules_auto_approve_verified_members_and_settle_the_queue(pf, base, papers):
    paper, second = next(papers), next(papers)
    dee, cd = member(pf, base, "dee-w", "dee@rules.example")
    _, co = member(pf, base, "op3-w", "op3@ops.example", role="operator")
    assert claim(cd, paper.id, paper.authors[0]).status_code == 303
    (waiting,) = pending_of(pf, dee.id)
    # A rule for the domain approves the waiting claim at once and says so.
    r = co.post("/moderation/claims/rules", data={"domain": "@Rules.Example", "pattern": "",
                                                  "csrf_token": csrf(co, "/moderation/claims")})
    assert r.status_code == 303
    assert "Rule added; 1 pending claim approved." in co.get(r.headers["location"]).text
    assert people.claim(pf.store, waiting.id).status == "approved"
    (rule,) = [x for x in people.rules(pf.store) if x.email_domain == "rules.example"]
    assert rule.author_pattern == "*"
    # A new claim by a verified member at the domain: approved automatically, naming the rule.
    assert claim(cd, second.id, second.authors[1]).status_code == 303
    text = re.sub(r"<[^>]+>", "", unescape(cd.get(f"/papers/{second.id}").text))
    assert f"approved automatically by rule {rule.id} (rules.example)" in text
    # An unverified account at the same domain (its API token made in the store: it cannot log in) is refused
    # and nothing is stored; once verified, with a handle, the same claim is approved by the rule.
    accounts = AccountStore(pf.store)
    eve = accounts.create_user("eve@rules.example", hash_password("correct horse battery"), verified=False)
    token = "pf_" + secrets.token_urlsafe(32)
    accounts.create_token(eve.id, "t", token, "claim")
    auth = {"Authorization": f"Bearer {token}"}
    people.set_handle(pf.store, eve.id, *validate("eve-w"))
    r = httpx.post(f"{base}/api/papers/{second.id}/claims", json={"author": second.authors[0]}, headers=auth)
    assert r.status_code == 403 and "verify your email" in r.json()["detail"]
    assert people.claims_of_member(pf.store, eve.id) == []
    assert accounts.mark_verified(eve.id, eve.password_hash)
    r = httpx.post(f"{base}/api/papers/{second.id}/claims", json={"author": second.authors[0]}, headers=auth)
    assert r.status_code == 201 and r.json()["status"] == "approved", r.text
    # A member elsewhere is not covered by the rule; deleting the rule keeps what it approved.
    fay, cf = member(pf, base, "fay-w", "fay@elsewhere.example")
    assert claim(cf, paper.id, paper.authors[1]).status_code == 303
    assert [c.status for c in people.claims_of_member(pf.store, fay.id)] == ["pending"]
    r = co.post(f"/moderation/claims/rules/{rule.id}/delete", data={"csrf_token": csrf(co, "/moderation/claims")})
    assert r.status_code == 303 and rule.id not in {x.id for x in people.rules(pf.store)}
    assert people.claim(pf.store, waiting.id).status == "approved"
    bad = co.post("/moderation/claims/rules", data={"domain": "not a domain", "csrf_token": csrf(co)})
    assert bad.status_code == 400 and "Not an email domain" in unescape(bad.text)
    assert "claim rule" in co.get("/moderation").text


def test_only_operators_reach_the_queue_and_forms_need_csrf(pf, base, papers):
    paper = next(papers)
    gus, cg = member(pf, base, "gus-w", "gus@claims.example")
    _, cm = member(pf, base, "mod-w", "mod@ops.example", role="moderator")
    _, co = member(pf, base, "op4-w", "op4@ops.example", role="operator")
    assert claim(cg, paper.id, paper.authors[0]).status_code == 303
    (pending,) = pending_of(pf, gus.id)
    anon = httpx.Client(base_url=base, timeout=30)
    r = anon.get("/moderation/claims")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    for c in (cg, cm):  # a member and a moderator: 403 for the page and for every decision
        assert c.get("/moderation/claims").status_code == 403
        assert decide(c, pending.id, "approve").status_code == 403
        r = c.post("/moderation/claims/rules", data={"domain": "claims.example", "csrf_token": csrf(c)})
        assert r.status_code == 403
    assert people.claim(pf.store, pending.id).status == "pending"
    assert not [x for x in people.rules(pf.store) if x.email_domain == "claims.example"]
    # The operator without the form's token: refused too.
    assert decide(co, pending.id, "approve", token=False).status_code == 403
    assert co.post("/moderation/claims/rules", data={"domain": "claims.example"}).status_code == 403
    assert people.claim(pf.store, pending.id).status == "pending"
    # A member's claim without the token: refused, nothing stored.
    assert claim(cg, paper.id, paper.authors[1], token=False).status_code == 403
    assert len(people.claims_of_member(pf.store, gus.id)) == 1


def test_bad_claims_get_clear_errors(pf, base, papers):
    paper = next(papers)
    hal, ch = member(pf, base, "hal-w", "hal@claims.example")
    r = claim(ch, paper.id, "Nobody In Particular")
    assert r.status_code == 400 and "not among the paper&#39;s authors" in r.text
    assert claim(ch, paper.id, "  ").status_code == 400
    r = ch.post("/papers/0000.00000/claims", data={"author": "x", "csrf_token": csrf(ch)})
    assert r.status_code == 404
    assert claim(ch, paper.id, paper.authors[0].upper()).status_code == 303  # matched to the listed spelling
    dup = claim(ch, paper.id, paper.authors[0])
    assert dup.status_code == 400 and "already claimed this author" in dup.text
    assert [c.author_name for c in people.claims_of_member(pf.store, hal.id)] == [paper.authors[0]]
    # A member without a handle sees why they cannot claim yet, and is refused.
    no_handle = verified_member(pf.store, "ivy@claims.example")
    ci = httpx.Client(base_url=base, timeout=30)
    assert log_in(ci, "ivy@claims.example").status_code == 303
    assert "choose a handle first" in ci.get(f"/papers/{paper.id}").text
    assert claim(ci, paper.id, paper.authors[0]).status_code == 403
    assert people.claims_of_member(pf.store, no_handle.id) == []
    anon = httpx.Client(base_url=base, timeout=30)
    r = claim(anon, paper.id, paper.authors[0])
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_claims_api(pf, base, papers):
    paper = next(papers)
    jo, _ = member(pf, base, "jo-w", "jo@api.example")
    kim, _ = member(pf, base, "kim-w", "kim@api.example")
    _, co = member(pf, base, "op5-w", "op5@ops.example", role="operator")
    accounts = AccountStore(pf.store)
    tokens = {}
    for who, scope in ((jo, "claim"), (kim, "write"), (jo, "read")):
        tokens[(who.id, scope)] = t = "pf_" + secrets.token_urlsafe(32)
        accounts.create_token(who.id, scope, t, scope)

    def post(who, scope, author, paper_id=paper.id):
        return httpx.post(f"{base}/api/papers/{paper_id}/claims", json={"author": author},
                          headers={"Authorization": f"Bearer {tokens[(who.id, scope)]}"})

    r = post(jo, "claim", paper.authors[0])
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["paper"], body["author"], body["status"]) == (paper.id, paper.authors[0], "pending")
    assert body["status_text"] == "waiting for an operator"
    dup = post(jo, "claim", paper.authors[0])
    assert dup.status_code == 409 and "already claimed this author" in dup.json()["detail"]
    unknown = post(jo, "claim", "Nobody In Particular")
    assert unknown.status_code == 400 and unknown.json()["detail"].startswith("author: ")
    assert post(jo, "claim", paper.authors[0], paper_id="0000.00000").status_code == 404
    assert post(jo, "claim", "").status_code == 422
    assert post(jo, "read", paper.authors[1]).status_code == 403  # a read-only token
    bad = httpx.post(f"{base}/api/papers/{paper.id}/claims", json={"author": paper.authors[1]},
                     headers={"Authorization": "Bearer pf_not-a-token"})
    assert bad.status_code == 401
    assert httpx.get(f"{base}/api/claims").status_code == 401
    assert decide(co, body["id"], "approve").status_code == 303
    taken = post(kim, "write", paper.authors[0])  # someone else's approved claim
    assert taken.status_code == 409 and "already claimed by another member" in taken.json()["detail"]
    mine = httpx.get(f"{base}/api/claims", headers={"Authorization": f"Bearer {tokens[(jo.id, 'read')]}"})
    assert mine.status_code == 200
    assert [(c["id"], c["status"], c["status_text"]) for c in mine.json()] == [
        (body["id"], "approved", "approved by an operator")]
    theirs = httpx.get(f"{base}/api/claims", headers={"Authorization": f"Bearer {tokens[(kim.id, 'write')]}"})
    assert theirs.json() == []  # only the caller's own claims
    assert sql.moderation_entries(pf.store)[0].action == "claim approve"
