"""Accounts and community actions over real HTTP: sign up, log in, CSRF, upvotes, trending, submit,
rate limits and no account enumeration.  Its own database, so votes never leak into other tests."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from conftest import make_site_pf

from paperfeed.web import WebSettings, create_app
from paperfeed.web.accounts import LOGIN_FAILED
from paperfeed.web.testing import serve_in_thread

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse battery"


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
def base(pf, arxiv_url):
    roomy = {k: (1000, 100.0) for k in ("signup", "login", "upvote", "submit")}  # limits have their own test
    settings = WebSettings(secret="test-secret", rate_limits=roomy, arxiv_api_url=arxiv_url)
    with serve_in_thread(create_app(pf, settings)) as url:
        yield url


def new_client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=60)


def csrf(c: httpx.Client, page: str = "/papers") -> str:
    m = _CSRF.search(c.get(page).text)
    assert m, page
    return m.group(1)


def sign_up(c: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return c.post("/signup", data={"email": email, "password": password, "csrf_token": csrf(c, "/signup"),
                                   "next": "/papers"})


def log_in(c: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return c.post("/login", data={"email": email, "password": password, "csrf_token": csrf(c, "/login")})


def upvotes_of(c: httpx.Client, pid: str) -> int:
    return c.get(f"/api/papers/{pid}").json()["upvotes"]


def test_sign_up_log_in_upvote_and_trending(base, pf):
    target = pf.engine.search("language models", limit=1)[0].paper.id
    with new_client(base) as c:
        assert "No upvotes in the past week yet" in c.get("/papers/trending").text
        r = sign_up(c, "Ada@Example.org")
        assert r.status_code == 303 and r.headers["location"] == "/papers"
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


def test_two_users_votes_add_up_and_order_trending(base, pf):
    a, b = (x.paper.id for x in pf.engine.search("graph", limit=2))
    with new_client(base) as c1, new_client(base) as c2:
        sign_up(c1, "one@example.org")
        sign_up(c2, "two@example.org")
        for c in (c1, c2):
            c.post(f"/papers/{b}/upvote", data={"csrf_token": csrf(c)})
        c1.post(f"/papers/{a}/upvote", data={"csrf_token": csrf(c1)})
        assert upvotes_of(c1, b) == 2 and upvotes_of(c1, a) == 1
        ids = re.findall(r'<h2 id="t-\d+"><a href="/papers/([^"]+)">', c1.get("/papers/trending?period=week").text)
        assert ids[:2] == [b, a]
        d = c1.get("/api/daily_papers", params={"week": "2025-W40", "sort": "trending", "limit": 3}).json()
        assert [x["id"] for x in d["papers"]][:2] == [b, a] and d["total"] == 301 and d["sort"] == "trending"


def test_missing_or_wrong_csrf_token_is_403(base, pf):
    pid = pf.engine.search("learning", limit=1)[0].paper.id
    with new_client(base) as c:
        before = upvotes_of(c, pid)
        sign_up(c, "csrf@example.org")
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


def test_no_account_enumeration(base):
    with new_client(base) as c:
        sign_up(c, "known@example.org")
    with new_client(base) as c:
        wrong = log_in(c, "known@example.org", "not the password")
        unknown = log_in(c, "nobody@example.org", "not the password")
        assert wrong.status_code == unknown.status_code == 400
        assert LOGIN_FAILED in wrong.text and LOGIN_FAILED in unknown.text
        strip = re.compile(r'value="[^"]*"')
        assert strip.sub("", wrong.text).replace("known", "") == strip.sub("", unknown.text).replace("nobody", "")
        taken = sign_up(c, "known@example.org")
        assert taken.status_code == 400 and "already" not in taken.text.split("If you")[0]


def test_anonymous_upvote_goes_to_log_in_and_bad_signups_are_refused(base, pf):
    pid = pf.engine.search("learning", limit=1)[0].paper.id
    with new_client(base) as c:
        before = upvotes_of(c, pid)
        r = c.post(f"/papers/{pid}/upvote", data={"csrf_token": csrf(c)})
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        assert upvotes_of(c, pid) == before
        assert sign_up(c, "not-an-email").status_code == 400
        assert sign_up(c, "short@example.org", "short").status_code == 400
        r = c.post("/login", data={"email": "a@b.cc", "password": "x" * 5000, "csrf_token": csrf(c, "/login")})
        assert 400 <= r.status_code < 500


def test_open_redirects_are_refused(base):
    with new_client(base) as c:
        r = c.post("/signup", data={"email": "redir@example.org", "password": PASSWORD,
                                    "csrf_token": csrf(c, "/signup"), "next": "//evil.example/x"})
        assert r.status_code == 303 and r.headers["location"] == "/papers"


def test_submit_a_paper_to_a_day(base, pf):
    pid = sorted(x.paper.id for x in pf.engine.search("graph", limit=5))[0]
    with new_client(base) as c:
        assert c.get("/submit").status_code == 303  # log in first
        sign_up(c, "submitter@example.org")
        token = csrf(c, "/submit")
        r = c.post("/submit", data={"paper": f"https://arxiv.org/abs/{pid}v2", "day": "2025-10-02",
                                    "csrf_token": token})
        pk = pf.store.pk_of(pid)  # back to the day's list, at the submitted paper's card
        assert r.status_code == 303 and r.headers["location"] == f"/papers?date=2025-10-02&submitted={pk}#p-{pk}"
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


def test_rate_limits_answer_429(pf):
    limits = {"login": (3, 0.001), "signup": (2, 0.001), "upvote": (2, 0.001), "submit": (1, 0.001)}
    pid = pf.engine.search("learning", limit=1)[0].paper.id
    settings = WebSettings(secret="test-secret", rate_limits=limits, arxiv_api_url=None)
    with serve_in_thread(create_app(pf, settings)) as url, new_client(url) as c:
        codes = [log_in(c, "nobody@example.org", "wrong password").status_code for _ in range(5)]
        assert codes[:3] == [400, 400, 400] and codes[3:] == [429, 429]
        assert sign_up(c, "rl1@example.org").status_code == 303
        c.post("/logout", data={"csrf_token": csrf(c)})
        assert sign_up(c, "rl2@example.org").status_code == 303
        assert sign_up(c, "rl3@example.org").status_code == 429
        codes = [c.post(f"/papers/{pid}/upvote", data={"csrf_token": csrf(c)}).status_code for _ in range(3)]
        assert codes == [303, 303, 429]
        r = c.post("/submit", data={"paper": pid, "day": "2025-10-03", "csrf_token": csrf(c)})
        assert r.status_code == 303
        assert c.post("/submit", data={"paper": pid, "day": "2025-10-04", "csrf_token": csrf(c)}).status_code == 429


def test_api_tokens_upvote_and_submit(base, pf):
    pid = sorted(x.paper.id for x in pf.engine.search("learning", limit=30))[-1]
    with new_client(base) as c:
        sign_up(c, "api@example.org")
        page = c.post("/tokens", data={"name": "my script", "csrf_token": csrf(c, "/tokens")}).text
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
