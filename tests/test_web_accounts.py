"""Accounts and community actions over real HTTP and real SMTP: sign up (email verified by link), log in,
per-account throttling, NIST password rules, CSRF, upvotes, trending, submit, rate limits and no account
enumeration.  Its own database, so votes never leak into other tests."""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from account_helpers import (
    PASSWORD,
    csrf,
    log_in,
    mails_to,
    path_of_link,
    sign_up,
    sign_up_verified,
    verified_member,
    verify_from_mail,
)
from conftest import make_site_pf
from smtp_servers import Sink, smtp_server

from paperfeed.mail.settings import MailSettings
from paperfeed.web import WebSettings, create_app
from paperfeed.web.accounts import LOGIN_FAILED, NOT_VERIFIED
from paperfeed.web.testing import serve_in_thread


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    pf = make_site_pf(tmp_path_factory.mktemp("accounts"))
    yield pf
    pf.close()


FETCHABLE = "2501.01234"


def _atom(entries: str) -> bytes:
    os_ns = 'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"'
    n = entries.count("<entry>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>q</title><id>http://arxiv.org/api/x</id><updated>2025-01-31T00:00:00Z</updated>"
            f"<opensearch:totalResults {os_ns}>{n}</opensearch:totalResults>"
            f"<opensearch:startIndex {os_ns}>0</opensearch:startIndex>"
            f"<opensearch:itemsPerPage {os_ns}>1</opensearch:itemsPerPage>{entries}</feed>").encode()


class FakeArxiv(BaseHTTPRequestHandler):
    """export.arxiv.org/api/query on loopback: knows one paper, answers an empty feed for any other id."""

    def do_GET(self):  # noqa: N802
        ids = parse_qs(urlparse(self.path).query).get("id_list", [""])[0]
        entry = (f"<entry><id>http://arxiv.org/abs/{FETCHABLE}v1</id><updated>2025-01-05T10:00:00Z</updated>"
                 "<published>2025-01-02T18:59:59Z</published><title>A Fetched &lt;Paper&gt;</title>"
                 "<summary>Fetched from the API, $\\alpha$.</summary><author><name>Ada Lovelace</name></author>"
                 f'<link href="http://arxiv.org/abs/{FETCHABLE}v1" rel="alternate" type="text/html"/>'
                 '<category term="cs.CL" scheme="http://arxiv.org/schemas/atom"/></entry>')
        body = _atom(entry if ids == FETCHABLE else "")
        self.send_response(200)
        self.send_header("Content-Type", "application/atom+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def arxiv_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeArxiv)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/query"
    server.shutdown()


@pytest.fixture(scope="module")
def sink():
    handler = Sink()
    with smtp_server(handler) as controller:
        yield handler, controller.port


ROOMY = {k: (1000, 100.0) for k in ("signup", "login", "upvote", "submit", "subscribe")}  # limits: own test


@pytest.fixture(scope="module")
def base(pf, arxiv_url, sink):
    mail = MailSettings(port=sink[1], sender="accounts@paperfeed.test")
    settings = WebSettings(secret="test-secret", rate_limits=ROOMY, arxiv_api_url=arxiv_url, mail=mail)
    with serve_in_thread(create_app(pf, settings)) as url:
        settings.mail = replace(mail, base_url=url)
        yield url


@pytest.fixture()
def mailbox(sink) -> Sink:
    return sink[0]


def new_client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=60)


def upvotes_of(c: httpx.Client, pid: str) -> int:
    return c.get(f"/api/papers/{pid}").json()["upvotes"]


def test_sign_up_verify_log_in_upvote_and_trending(base, pf, mailbox):
    target = pf.engine.search("language models", limit=1)[0].paper.id
    with new_client(base) as c:
        assert "No upvotes in the past week yet" in c.get("/papers/trending").text
        r = sign_up(c, "Ada@Example.org")
        assert r.status_code == 200 and "Check your inbox" in r.text and "Log out" not in r.text
        assert log_in(c, "ada@example.org").text.count(NOT_VERIFIED.split(":")[0]) == 1  # not before the link
        assert "Log out" not in c.get("/papers").text
        r = verify_from_mail(c, mailbox, "ada@example.org")
        assert r.status_code == 303 and r.headers["location"] == "/login?verified=1"
        assert "Your address is confirmed" in c.get(r.headers["location"]).text
        assert log_in(c, "ada@example.org").status_code == 303
        assert "member" in c.get("/papers").text and "Log out" in c.get("/papers").text
        c.post("/logout", data={"csrf_token": csrf(c)})
        assert "Log in" in c.get("/papers").text
        assert log_in(c, "ada@example.org").status_code == 303  # emails are case-insensitive

        r = c.post(f"/papers/{target}/upvote", data={"csrf_token": csrf(c), "next": f"/papers/{target}"})
        assert r.status_code == 303 and r.headers["location"] == f"/papers/{target}"
        assert upvotes_of(c, target) == 1
        page = c.get(f"/papers/{target}").text
        assert 'aria-pressed="true"' in page and '<span class="count">1</span>' in page

        trending = c.get("/papers/trending?period=day").text
        assert "No upvotes" not in trending
        first = re.search(r'<h2 id="t-\d+"><a href="/papers/([^"]+)">', trending).group(1)
        assert first == target
        profile = c.get("/profile").text
        assert f'href="/papers/{target}"' in profile

        c.post(f"/papers/{target}/upvote", data={"csrf_token": csrf(c)})  # a second press takes it back
        assert upvotes_of(c, target) == 0
        assert "No upvotes in the past day yet" in c.get("/papers/trending?period=day").text


def test_two_users_votes_add_up_and_order_trending(base, pf, mailbox):
    a, b = (x.paper.id for x in pf.engine.search("graph", limit=2))
    with new_client(base) as c1, new_client(base) as c2:
        sign_up_verified(c1, mailbox, "one@example.org")
        sign_up_verified(c2, mailbox, "two@example.org")
        for c in (c1, c2):
            c.post(f"/papers/{b}/upvote", data={"csrf_token": csrf(c)})
        c1.post(f"/papers/{a}/upvote", data={"csrf_token": csrf(c1)})
        assert upvotes_of(c1, b) == 2 and upvotes_of(c1, a) == 1
        ids = re.findall(r'<h2 id="t-\d+"><a href="/papers/([^"]+)">', c1.get("/papers/trending?period=week").text)
        assert ids[:2] == [b, a]
        d = c1.get("/api/daily_papers", params={"week": "2025-W40", "sort": "trending", "limit": 3}).json()
        assert [x["id"] for x in d["papers"]][:2] == [b, a] and d["total"] == 301 and d["sort"] == "trending"


def test_missing_or_wrong_csrf_token_is_403(base, pf, mailbox):
    pid = pf.engine.search("learning", limit=1)[0].paper.id
    with new_client(base) as c:
        before = upvotes_of(c, pid)
        sign_up_verified(c, mailbox, "csrf@example.org")
        assert c.post(f"/papers/{pid}/upvote", data={}).status_code == 403
        assert c.post(f"/papers/{pid}/upvote", data={"csrf_token": "forged"}).status_code == 403
        assert c.post("/login", data={"email": "csrf@example.org", "password": PASSWORD}).status_code == 403
        assert c.post("/submit", data={"paper": pid}).status_code == 403
        assert upvotes_of(c, pid) == before
    with new_client(base) as other:  # another visitor's token is not valid in this session
        token = csrf(other)
    with new_client(base) as c:
        r = c.post("/login", data={"email": "x@example.org", "password": "y", "csrf_token": token})
        assert r.status_code == 403


def test_no_account_enumeration(base, mailbox):
    with new_client(base) as c:
        sign_up_verified(c, mailbox, "known@example.org")
    with new_client(base) as c:
        wrong = log_in(c, "known@example.org", "not the password")
        unknown = log_in(c, "nobody@example.org", "not the password")
        assert wrong.status_code == unknown.status_code == 400
        assert LOGIN_FAILED in wrong.text and LOGIN_FAILED in unknown.text
        strip = re.compile(r'value="[^"]*"')
        assert strip.sub("", wrong.text).replace("known", "") == strip.sub("", unknown.text).replace("nobody", "")
        # sign-up: the same answer for a taken and a new address; only the mailbox learns which it was
        before = len(mails_to(mailbox, "known@example.org"))
        taken = sign_up(c, "known@example.org", "another long passphrase")
        fresh = sign_up(c, "stranger@example.org", "another long passphrase")
        assert taken.status_code == fresh.status_code == 200
        assert strip.sub("", taken.text).replace("known", "") == strip.sub("", fresh.text).replace("stranger", "")
        note = mails_to(mailbox, "known@example.org")[before:]
        assert len(note) == 1 and "already has an account" in note[0].get_body(("plain",)).get_content()
        assert "/verify" not in note[0].get_body(("plain",)).get_content()
        assert "/verify?t=" in mails_to(mailbox, "stranger@example.org")[0].get_body(("plain",)).get_content()
        assert log_in(c, "known@example.org").status_code == 303  # a taken address's password is unchanged


def test_a_pre_registered_address_goes_to_its_owner(base, mailbox):
    """Someone signs up with another person's address: nothing they can use; the owner's own sign-up wins
    and voids the earlier link (it is bound to the password it was issued for)."""
    with new_client(base) as attacker, new_client(base) as owner:
        assert sign_up(attacker, "victim@example.org", "attacker chosen passphrase").status_code == 200
        first = path_of_link(mails_to(mailbox, "victim@example.org")[-1], "/verify")
        assert log_in(attacker, "victim@example.org", "attacker chosen passphrase").status_code == 400
        assert sign_up(owner, "victim@example.org", "the owners own passphrase").status_code == 200
        second = path_of_link(mails_to(mailbox, "victim@example.org")[-1], "/verify")
        assert first != second
        stale = owner.get(first)
        assert stale.status_code == 400 and "replaced this link" in stale.text
        assert owner.get(second).status_code == 303
        assert log_in(attacker, "victim@example.org", "attacker chosen passphrase").status_code == 400
        assert log_in(owner, "victim@example.org", "the owners own passphrase").status_code == 303
        assert owner.get("/verify?t=forged").status_code == 400


def test_passwords_follow_nist_800_63b(base, mailbox):
    with new_client(base) as c:
        too_short = sign_up(c, "short@example.org", "fourteen chars")  # 14: below the single-factor minimum
        assert too_short.status_code == 400 and "at least 15 characters" in too_short.text
        common = sign_up(c, "common@example.org", "123456789987654321")  # in zxcvbn's common-password list
        assert common.status_code == 400 and "most common" in common.text
        assert sign_up(c, "self@example.org", "self@example.org").status_code == 400
        too_long = sign_up(c, "long@example.org", "x" * 257)
        assert too_long.status_code == 400 and "at most 256" in too_long.text
        # no composition rules; any Unicode, compared after NFKC ("ﬁ" is "fi"); 64+ characters are fine
        assert sign_up(c, "nfkc@example.org", "ﬁve lowercase words ok").status_code == 200
        verify_from_mail(c, mailbox, "nfkc@example.org")
        assert log_in(c, "nfkc@example.org", "five lowercase words ok").status_code == 303
        long = "a sentence of more than sixty-four characters, with spaces and ünïcödé, is allowed"
        assert len(long) > 64 and sign_up(c, "longok@example.org", long).status_code == 200


def test_bad_email_addresses_are_refused_everywhere(base, pf, mailbox):
    with new_client(base) as c:
        for bad in ("a@b.c\x00", "not-an-email", "ada@example..org", "a b@example.org", "x@[127.0.0.1]"):
            r = sign_up(c, bad)
            assert r.status_code == 400 and "not a valid email address" in r.text, bad
            r = c.post("/subscribe", data={"email": bad, "csrf_token": csrf(c, "/subscribe")})
            assert r.status_code == 400 and "not a valid email address" in r.text, bad
    assert not [m for m in mailbox.received if any("\x00" in t or ".." in t for t in m.rcpt_tos)]
    from paperfeed.mail.subscriptions import SubscriptionError, Subscriptions

    with pytest.raises(SubscriptionError):  # the store's own entry point checks too
        Subscriptions(pf.store).subscribe("a@b.c\x00")


def test_log_in_is_throttled_per_account_whatever_the_address(base, mailbox):
    with new_client(base) as c:
        sign_up_verified(c, mailbox, "target@example.org")
    others = [httpx.Client(base_url=base, timeout=60, transport=httpx.HTTPTransport(local_address=f"127.0.0.{i}"))
              for i in (2, 3, 4)]
    try:
        codes = [log_in(others[i % 3], "target@example.org", f"guess number {i}").status_code for i in range(5)]
        assert codes == [400] * 5  # five free failures, from three client addresses
        codes = [log_in(others[i % 3], "target@example.org", f"guess number {i}").status_code for i in range(5, 7)]
        assert codes == [400, 429]  # the sixth locks the name; the next is refused unchecked
        r = log_in(others[2], "target@example.org")  # even the right password, from yet another address
        assert r.status_code == 429 and "for this account" in r.text and "try again in" in r.text
        for i in range(6):  # an unknown name is throttled exactly the same: the lock reveals nothing
            log_in(others[i % 3], "ghost@example.org", f"guess {i}")
        ghost = log_in(others[0], "ghost@example.org")
        assert ghost.status_code == 429 and "for this account" in ghost.text
        assert log_in(others[1], "known@example.org").status_code == 303  # other accounts are not affected
    finally:
        for o in others:
            o.close()


def test_lock_out_grows_and_a_success_clears_it(pf):
    from paperfeed.accounts.throttle import LoginThrottle

    t = LoginThrottle(pf.store, free=2, base=30.0, cap=300.0)
    assert [t.failed("grow@example.org", now=1000.0) for _ in range(2)] == [0, 0]
    locks = [t.failed("grow@example.org", now=1000.0) for _ in range(5)]
    assert locks == [30, 60, 120, 240, 300]  # doubling, capped
    assert t.wait("GROW@example.org ", now=1100.0) == 200  # the same name however it is typed
    assert t.wait("grow@example.org", now=1400.0) == 0
    t.succeeded("grow@example.org")
    assert t.failed("grow@example.org", now=2000.0) == 0  # counting starts again


def test_open_redirects_are_refused(base, mailbox):
    with new_client(base) as c:
        sign_up_verified(c, mailbox, "redir@example.org")
        r = log_in(c, "redir@example.org", next="//evil.example/x")
        assert r.status_code == 303 and r.headers["location"] == "/papers"


def test_submit_a_paper_to_a_day(base, pf, mailbox):
    pid = sorted(x.paper.id for x in pf.engine.search("graph", limit=5))[0]
    with new_client(base) as c:
        assert c.get("/submit").status_code == 303  # log in first
        sign_up_verified(c, mailbox, "submitter@example.org")
        token = csrf(c, "/submit")
        r = c.post("/submit", data={"paper": f"https://arxiv.org/abs/{pid}v2", "day": "2025-10-02",
                                    "csrf_token": token})
        assert r.status_code == 303 and r.headers["location"] == "/papers?date=2025-10-02"
        day = c.get("/papers?date=2025-10-02").text
        assert f'href="/papers/{pid}"' in day and "submitted by member" in day
        assert "Submitted by" in c.get(f"/papers/{pid}").text
        again = c.post("/submit", data={"paper": pid, "day": "2025-10-02", "csrf_token": token})
        assert again.status_code == 400 and "already on the list" in again.text
        missing = c.post("/submit", data={"paper": "2999.00001", "day": "", "csrf_token": token})
        assert missing.status_code == 400 and "arXiv has no paper 2999.00001" in missing.text
        fetched = c.post("/submit", data={"paper": f"https://arxiv.org/pdf/{FETCHABLE}v1", "day": "2025-10-02",
                                          "csrf_token": token})
        assert fetched.status_code == 303  # not in the store: fetched from (the fake) arXiv, then submitted
        day = c.get("/papers?date=2025-10-02").text
        assert f'href="/papers/{FETCHABLE}"' in day and "A Fetched &lt;Paper&gt;" in day
        assert pf.store.get(FETCHABLE).authors == ["Ada Lovelace"]
        bad = c.post("/submit", data={"paper": "hello", "day": "2025-10-02", "csrf_token": token})
        assert bad.status_code == 400
        for far in ("0001-01-01", "9999-12-31", "1991-08-13"):  # days no list can show
            r = c.post("/submit", data={"paper": pid, "day": far, "csrf_token": token})
            assert r.status_code == 400 and f"Day {far} has no list" in r.text and f'value="{far}"' in r.text
        assert "2025-10-02" in c.get("/profile").text
        d = c.get("/api/daily_papers", params={"date": "2025-10-02"}).json()
        assert {x["id"] for x in d["papers"]} == {pid, FETCHABLE}
        assert all(x["submitted_by"].startswith("member") for x in d["papers"])


def client_from(url: str, address: str) -> httpx.Client:
    """A client whose requests come from another loopback address: its own rate-limit buckets."""
    return httpx.Client(base_url=url, timeout=60, transport=httpx.HTTPTransport(local_address=address))


def test_rate_limits_answer_429(pf, sink):
    limits = {"login": (3, 0.001), "signup": (2, 0.001), "upvote": (2, 0.001), "submit": (1, 0.001)}
    pid = pf.engine.search("learning", limit=1)[0].paper.id
    verified_member(pf.store, "ratelimited@example.org")
    settings = WebSettings(secret="test-secret", rate_limits=limits, arxiv_api_url=None,
                           mail=MailSettings(port=sink[1]))
    with serve_in_thread(create_app(pf, settings)) as url, client_from(url, "127.0.0.9") as c:
        codes = [log_in(c, "nobody-rl@example.org", "wrong password").status_code for _ in range(5)]
        assert codes[:3] == [400, 400, 400] and codes[3:] == [429, 429]
        assert [sign_up(c, f"rl{i}@example.org").status_code for i in range(3)] == [200, 200, 429]
        with client_from(url, "127.0.0.10") as m:
            assert log_in(m, "ratelimited@example.org").status_code == 303
            codes = [m.post(f"/papers/{pid}/upvote", data={"csrf_token": csrf(m)}).status_code for _ in range(3)]
            assert codes == [303, 303, 429]
            r = m.post("/submit", data={"paper": pid, "day": "2025-10-03", "csrf_token": csrf(m)})
            assert r.status_code == 303
            r = m.post("/submit", data={"paper": pid, "day": "2025-10-04", "csrf_token": csrf(m)})
            assert r.status_code == 429


def test_api_tokens_upvote_and_submit(base, pf, mailbox):
    pid = sorted(x.paper.id for x in pf.engine.search("learning", limit=30))[-1]
    with new_client(base) as c:
        sign_up_verified(c, mailbox, "api@example.org")
        assert c.get("/tokens").headers["cache-control"] == "no-store"
        made = c.post("/tokens", data={"name": "my script", "csrf_token": csrf(c, "/tokens")})
        assert made.headers["cache-control"] == "no-store"  # the page that shows the token is never cached
        page = made.text
        token = re.search(r'<code class="token">(pf_[^<]+)</code>', page).group(1)
        assert c.post("/tokens", data={"name": "x"}).status_code == 403  # CSRF applies to the form
        before = upvotes_of(c, pid)
        # the session cookie alone never authorises an API write
        assert c.post(f"/api/papers/{pid}/upvote").status_code == 401
    with httpx.Client(base_url=base, timeout=60) as api:
        auth = {"Authorization": f"Bearer {token}"}
        r = api.post(f"/api/papers/{pid}/upvote", headers=auth)
        assert r.status_code == 200 and r.json() == {"id": pid, "upvoted": True, "upvotes": before + 1}
        assert api.post(f"/api/papers/{pid}/upvote", headers=auth).json()["upvoted"] is False
        bad = api.post(f"/api/papers/{pid}/upvote", headers={"Authorization": "Bearer pf_forged"})
        assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer" and "detail" in bad.json()
        assert api.post("/api/papers/2999.00001/upvote", headers=auth).status_code == 404

        r = api.post("/api/submissions", headers=auth, json={"paper": f"arXiv:{pid}", "day": "2025-10-05"})
        assert r.status_code == 201 and r.json() == {"id": pid, "day": "2025-10-05"}
        assert api.post("/api/submissions", headers=auth, json={"paper": pid, "day": "2025-10-05"}).status_code == 409
        assert api.post("/api/submissions", headers=auth, json={"paper": "2999.00001"}).status_code == 404
        r = api.post("/api/submissions", headers=auth, json={"paper": FETCHABLE, "day": "2025-10-06"})
        assert r.status_code == 201 and r.json()["id"] == FETCHABLE
        assert api.post("/api/submissions", headers=auth, json={"paper": "nonsense"}).status_code == 400
        far = api.post("/api/submissions", headers=auth, json={"paper": pid, "day": "9999-12-31"})
        assert far.status_code == 400 and "has no list" in far.json()["detail"]
        for body in ({"paper": pid, "day": "2025-02-30"}, {}, [], {"paper": "x" * 600}):
            r = api.post("/api/submissions", headers=auth, json=body)
            assert r.status_code == 422 and "detail" in r.json(), body
        assert api.post("/api/submissions", headers=auth, content=b"{not json").status_code == 422
        assert api.post("/api/submissions", json={"paper": pid}).status_code == 401

    with new_client(base) as c:
        log_in(c, "api@example.org")
        tokens_page = c.get("/tokens").text
        token_id = re.search(r'action="/tokens/(\d+)/revoke"', tokens_page).group(1)
        assert token not in tokens_page  # shown once, never again
        assert c.post(f"/tokens/{token_id}/revoke", data={"csrf_token": csrf(c, "/tokens")}).status_code == 303
        assert "revoked" in c.get("/tokens").text
    with httpx.Client(base_url=base, timeout=60) as api:
        assert api.post(f"/api/papers/{pid}/upvote", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    spec = httpx.get(base + "/openapi.json").json()
    assert "/api/submissions" in spec["paths"] and "HTTPBearer" in spec["components"]["securitySchemes"]


def test_unreachable_or_disabled_arxiv_says_so(tmp_path, pf):
    from paperfeed.web.fetch import find_or_fetch

    assert find_or_fetch(pf.store, "2999.00002", None)[1].endswith("(fetching from arXiv is turned off).")
    pk, problem = find_or_fetch(pf.store, "2999.00002", "http://127.0.0.1:9/api/query")  # nothing listens there
    assert pk is None and "could not be reached" in problem
    assert find_or_fetch(pf.store, pf.engine.search("graph", limit=1)[0].paper.id, None)[0] is not None
